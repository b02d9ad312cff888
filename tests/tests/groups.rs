//! Group invocation over loopback: the replicated store's members (`examples`'
//! `idl/replica.idl`) called all at once, with each policy; slow, killed, added and
//! disagreeing members; and at-most-once per member through a lossy path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::replica::{Entry, StoreClient, StoreServer, store_interface};
use examples::replicas::Replica;
use rpc_binder::{Binder, Exported};
use rpc_runtime::group::{Group, GroupError, Policy};
use rpc_runtime::{
    CallError, ChannelConfig, Endpoint, Resolver, Server, ServerConfig, ServerHandle, Transport,
};

/// A member serving `replica` on a loopback TCP port, exported under `name`.
async fn member(name: &str, replica: Arc<Replica>) -> (ServerHandle, Exported) {
    member_with(name, replica, ServerConfig::default()).await
}

/// [`member`] with a server configuration of its own.
async fn member_with(
    name: &str,
    replica: Arc<Replica>,
    config: ServerConfig,
) -> (ServerHandle, Exported) {
    let server = Server::with_config(config)
        .add_service(StoreServer::from_arc(replica))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let exported = Binder::embedded()
        .export(name, &server, store_interface::FINGERPRINT)
        .await
        .unwrap();
    (server, exported)
}

/// The group of `name`'s members, whose calls each have `timeout`.
fn group(name: &str, timeout: Duration) -> Group<StoreClient> {
    let binder: Arc<dyn Resolver> = Arc::new(Binder::embedded());
    let config = ChannelConfig {
        timeout,
        ..ChannelConfig::default()
    };
    Group::bound(binder, name, config).with_refresh(Duration::from_millis(100))
}

async fn put(store: StoreClient, key: &'static str, value: &'static str) -> Result<u64, CallError> {
    store.put(key, value).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_write_reaches_every_member_and_a_first_read_answers() {
    let replicas: Vec<Arc<Replica>> = (0..3).map(|_| Arc::new(Replica::new())).collect();
    let mut members = Vec::new();
    for replica in &replicas {
        members.push(member("groups-quorum", replica.clone()).await);
    }
    let stores = group("groups-quorum", Duration::from_secs(5));
    let written = stores
        .call_with(Policy::Quorum(2), |s| put(s, "k", "v1"))
        .await
        .unwrap();
    assert_eq!(written.value, Some(1), "two members agree on version 1");
    assert!(written.replies.len() >= 2);
    assert_eq!(written.replies.len() + written.pending.len(), 3);
    // The members still running when the quorum was met finish in the background.
    let end = Instant::now() + Duration::from_secs(5);
    while replicas.iter().any(|r| r.writes() < 1) && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        replicas.iter().all(|r| r.writes() == 1),
        "every member wrote once"
    );
    let read = stores
        .call_with(Policy::First, |s| async move { s.get("k").await })
        .await
        .unwrap();
    assert_eq!(
        read.value,
        Some(Entry {
            value: "v1".into(),
            version: 1
        })
    );
    // All: every member's outcome, and the value they all agree on.
    let all = stores
        .call_with(Policy::All, |s| async move { s.get("k").await })
        .await
        .unwrap();
    assert_eq!(all.replies.len(), 3);
    assert!(all.pending.is_empty());
    assert_eq!(all.value.map(|e| e.value), Some("v1".to_string()));
    assert_eq!(stores.members().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_member_is_reported_not_waited_for() {
    let fast = [Arc::new(Replica::new()), Arc::new(Replica::new())];
    let slow = Arc::new(Replica::slow(Duration::from_secs(3)));
    let _members = [
        member("groups-slow", fast[0].clone()).await,
        member("groups-slow", fast[1].clone()).await,
        member("groups-slow", slow.clone()).await,
    ];
    let stores = group("groups-slow", Duration::from_millis(500));
    // A quorum of the two fast members returns without waiting for the slow one.
    let started = Instant::now();
    let written = stores
        .call_with(Policy::Quorum(2), |s| put(s, "k", "v"))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(written.value, Some(1));
    assert_eq!(written.pending.len(), 1, "the slow member is still running");
    // All waits for every member, but no longer than the call's timeout: the slow one
    // is reported with its timeout.
    let started = Instant::now();
    let all = stores
        .call_with(Policy::All, |s| async move { s.get("k").await })
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(all.replies.len(), 3);
    let timed_out: Vec<_> = all
        .replies
        .iter()
        .filter(|r| matches!(r.result, Err(CallError::Timeout(_))))
        .collect();
    assert_eq!(timed_out.len(), 1, "{:?}", all.replies);
    assert_eq!(all.value, None, "not every member answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_mid_call_fails_alone_and_the_quorum_holds() {
    let replicas: Vec<Arc<Replica>> = (0..2).map(|_| Arc::new(Replica::new())).collect();
    let mut members = Vec::new();
    for replica in &replicas {
        members.push(member("groups-killed", replica.clone()).await);
    }
    // Killed at once: its running calls get no grace.
    let abrupt = ServerConfig {
        shutdown_grace: Duration::ZERO,
        ..ServerConfig::default()
    };
    let doomed = member_with(
        "groups-killed",
        Arc::new(Replica::slow(Duration::from_millis(300))),
        abrupt,
    )
    .await;
    let stores = group("groups-killed", Duration::from_secs(2));
    let call = tokio::spawn(async move {
        stores
            .call_with(Policy::All, |s| put(s, "k", "v"))
            .await
            .map(|reply| {
                reply
                    .replies
                    .into_iter()
                    .map(|r| r.result.is_ok())
                    .collect::<Vec<_>>()
            })
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The slow member's server goes away while its call runs.
    let (server, exported) = doomed;
    drop(exported);
    server.shutdown().await;
    let outcomes = call.await.unwrap().unwrap();
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 2, "{outcomes:?}");
    assert_eq!(outcomes.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_added_while_clients_run_is_called_after_one_refresh() {
    let first = member("groups-added", Arc::new(Replica::new())).await;
    let stores = group("groups-added", Duration::from_secs(2));
    let one = stores
        .call_with(Policy::All, |s| async move { s.get("k").await })
        .await
        .unwrap();
    assert_eq!(one.replies.len(), 1);
    let second = member("groups-added", Arc::new(Replica::new())).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let two = stores
        .call_with(Policy::All, |s| async move { s.get("k").await })
        .await
        .unwrap();
    assert_eq!(two.replies.len(), 2, "the new member was called");
    drop((first, second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_that_disagree_are_no_quorum() {
    let behind = Arc::new(Replica::new());
    let ahead = Arc::new(Replica::new());
    let members = [
        member("groups-disagree", behind.clone()).await,
        member("groups-disagree", ahead.clone()).await,
    ];
    // One member wrote the key once already (outside the group): the versions differ.
    let direct = StoreClient::new(
        rpc_runtime::Channel::connect(members[1].0.local_addr().to_string())
            .await
            .unwrap(),
    );
    direct.put("k", "old").await.unwrap();
    let stores = group("groups-disagree", Duration::from_secs(2));
    match stores
        .call_with(Policy::Quorum(2), |s| put(s, "k", "new"))
        .await
    {
        Err(GroupError::NotMet(reply)) => {
            let mut versions: Vec<u64> = reply
                .replies
                .iter()
                .filter_map(|r| r.result.as_ref().ok().copied())
                .collect();
            versions.sort_unstable();
            assert_eq!(versions, [1, 2]);
            assert!(reply.value.is_none());
        }
        other => panic!("expected no quorum, got {other:?}"),
    }
    // Members of another version of the interface would refuse every call: a group of
    // only such members says so.
    let other_version: Group<StoreClient> = Group::of(
        vec![Endpoint {
            address: members[0].0.local_addr().to_string(),
            transport: Transport::Tcp,
            binding: members[0].0.uid(),
            fingerprint: store_interface::FINGERPRINT ^ 1,
        }],
        ChannelConfig::default(),
    );
    match other_version
        .call_with(Policy::First, |s| async move { s.get("k").await })
        .await
    {
        Err(GroupError::Unbound(why)) => assert!(why.contains("another version"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A group of nobody has no members.
    let empty: Group<StoreClient> = group("groups-nobody", Duration::from_secs(1));
    assert!(matches!(
        empty
            .call_with(Policy::First, |s| async move { s.get("k").await })
            .await,
        Err(GroupError::NoMembers)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_member_runs_an_at_most_once_write_once_over_a_lossy_path() {
    use rpc_runtime::chaos::{Faults, Proxy};
    let replicas: Vec<Arc<Replica>> = (0..3).map(|_| Arc::new(Replica::new())).collect();
    let mut servers = Vec::new();
    let mut proxies = Vec::new();
    let mut endpoints = Vec::new();
    for (i, replica) in replicas.iter().enumerate() {
        let server = Server::new()
            .add_service(StoreServer::from_arc(replica.clone()))
            .bind_udp("127.0.0.1:0")
            .await
            .unwrap();
        let faults = Faults {
            loss: 0.15,
            duplicate: 0.2,
            max_delay: Duration::from_millis(5),
            seed: 40 + i as u64,
            ..Faults::default()
        };
        let proxy = Proxy::udp(server.local_addr(), faults).await.unwrap();
        endpoints.push(Endpoint {
            address: proxy.local_addr().to_string(),
            transport: Transport::Udp,
            binding: server.uid(),
            fingerprint: store_interface::FINGERPRINT,
        });
        servers.push(server);
        proxies.push(proxy);
    }
    let config = ChannelConfig {
        transport: Transport::Udp,
        timeout: Duration::from_secs(10),
        ..ChannelConfig::default()
    };
    let stores: Group<StoreClient> = Group::of(endpoints, config);
    for i in 1..=30u64 {
        let reply = stores
            .call_with(Policy::All, |s| put(s, "k", "v"))
            .await
            .unwrap();
        assert_eq!(reply.value, Some(i), "{:?}", reply.replies);
    }
    for replica in &replicas {
        assert_eq!(
            replica.writes(),
            30,
            "each write ran exactly once on each member"
        );
    }
    assert!(
        proxies
            .iter()
            .all(|p| p.stats().dropped > 0 && p.stats().duplicated > 0)
    );
}
