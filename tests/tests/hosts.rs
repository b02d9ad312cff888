//! Several hosts for real: network namespaces on a bridge (`tests::netns`), with members
//! of the replicated store as processes on them, found by multicast announcements that
//! cross the bridge, and called as a group from this process (itself a host on the
//! bridge). A member is killed mid-call, one is added while calls go on, and one is cut
//! off by its link going down and comes back when it is healed.
//!
//! Where namespaces cannot be made (not root), each test prints why and passes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddrV4;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::replica::StoreClient;
use rpc_binder::Binder;
use rpc_binder::MulticastConfig;
use rpc_runtime::group::{Group, MemberId, Policy};
use rpc_runtime::{CallError, ChannelConfig, Resolver};
use tests::netns::Network;

/// How often members announce themselves; their exports last three of these.
const ANNOUNCE: Duration = Duration::from_millis(200);

/// A member process on a host; killed on drop.
struct Member {
    child: Child,
    /// `ADDRESS UID`, as it printed them.
    ready: String,
}

impl Member {
    fn start(network: &Network, host: usize, group: SocketAddrV4) -> Member {
        let address = network.hosts()[host].address;
        let mut child = network.spawn(
            host,
            env!("CARGO_BIN_EXE_group-member"),
            &[
                "--listen",
                &format!("{address}:7000"),
                "--interface",
                &address.to_string(),
                "--group",
                &group.to_string(),
                "--name",
                "store",
                "--announce-ms",
                &ANNOUNCE.as_millis().to_string(),
            ],
        );
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("its first line");
        assert!(line.starts_with("ready "), "the member said {line:?}");
        Member {
            child,
            ready: line.trim().to_string(),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits up to `within` for the group to have `count` members; the members then.
async fn members_become(
    stores: &Group<StoreClient>,
    count: usize,
    within: Duration,
) -> Vec<MemberId> {
    let end = Instant::now() + within;
    loop {
        let members = stores.members().await.unwrap_or_default();
        if members.len() == count || Instant::now() >= end {
            return members;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn put(store: StoreClient, value: String) -> Result<u64, CallError> {
    store.put("k", &value).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_found_by_multicast_across_hosts_survives_kills_additions_and_partitions() {
    let Some(mut network) = Network::create("grp", 91, 3) else {
        return;
    };
    let group: SocketAddrV4 = "239.255.77.91:7791".parse().unwrap();
    let mut members: Vec<Member> = (0..3)
        .map(|host| Member::start(&network, host, group))
        .collect();
    let binder = Binder::multicast(MulticastConfig {
        group,
        interface: network.bridge_address(),
        loopback: false,
        announce_every: ANNOUNCE,
        lease: ANNOUNCE * 3,
        ..MulticastConfig::default()
    })
    .await
    .expect("a multicast binder on the bridge");
    let resolver: Arc<dyn Resolver> = Arc::new(binder);
    let config = ChannelConfig {
        timeout: Duration::from_secs(2),
        ..ChannelConfig::default()
    };
    let stores: Group<StoreClient> =
        Group::bound(resolver, "store", config).with_refresh(Duration::from_millis(50));

    // Found across the bridge: three hosts announce, this host hears them.
    let found = members_become(&stores, 3, ANNOUNCE * 5).await;
    assert_eq!(
        found.len(),
        3,
        "found {found:?}; members said {:?}",
        members.iter().map(|m| &m.ready).collect::<Vec<_>>()
    );
    for i in 1..=5u64 {
        let written = stores
            .call_with(Policy::All, |s| put(s, format!("v{i}")))
            .await
            .unwrap();
        assert_eq!(written.value, Some(i), "{:?}", written.replies);
    }

    // A member killed mid-call fails alone; the quorum holds.
    let call = {
        let stores = &stores;
        async move {
            stores
                .call_with(Policy::Quorum(2), |s| put(s, "v6".into()))
                .await
        }
    };
    let (written, ()) = tokio::join!(call, async {
        members[0].kill();
    });
    let written = written.expect("two members are left for the quorum");
    assert_eq!(written.value, Some(6));
    // Its export runs out within one lease (three announcements); the group drops it.
    let left = members_become(&stores, 2, ANNOUNCE * 3 + Duration::from_millis(500)).await;
    assert_eq!(left.len(), 2, "{left:?}");

    // A member added while calls go on is found within one announcement period.
    let added = network.add_host().expect("another host");
    let started = Instant::now();
    members.push(Member::start(&network, added, group));
    let grown = members_become(&stores, 3, ANNOUNCE * 4).await;
    assert_eq!(grown.len(), 3, "{grown:?}");
    assert!(started.elapsed() < ANNOUNCE * 4, "{:?}", started.elapsed());

    // A partition: host 1's link goes down. Its calls fail or time out, its export runs
    // out, and the group goes on with the two others.
    network.cut(1);
    let cut_at = Instant::now();
    let left = members_become(&stores, 2, ANNOUNCE * 3 + Duration::from_secs(1)).await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(cut_at.elapsed() < ANNOUNCE * 3 + Duration::from_secs(1));
    // (The added member missed the earlier writes: its versions lag, so this is not a
    // quorum of equal replies, but every reachable member takes the write.)
    let written = stores
        .call_with(Policy::All, |s| put(s, "v7".into()))
        .await
        .unwrap();
    assert_eq!(written.replies.len(), 2, "{:?}", written.replies);
    assert!(
        written.replies.iter().all(|r| r.result.is_ok()),
        "{:?}",
        written.replies
    );
    // Healed: it announces again and is found again.
    network.heal(1);
    let back = members_become(&stores, 3, ANNOUNCE * 5).await;
    assert_eq!(back.len(), 3, "{back:?}");
    let all = stores
        .call_with(Policy::All, |s| async move { s.get("k").await })
        .await
        .unwrap();
    assert_eq!(all.replies.len(), 3);
    // Each write ran exactly once on each member it reached: the member up throughout
    // took all seven, the one cut off the first six, the one added only the last.
    let mut versions: Vec<u64> = all
        .replies
        .iter()
        .map(|r| r.result.as_ref().expect("every member answers").version)
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, [1, 6, 7], "{:?}", all.replies);
    drop(members);
}
