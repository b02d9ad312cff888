//! The multicast binder over real sockets: servers exported through one
//! `Binder::multicast` are called by clients bound through another; exports appear within
//! an announcement period, disappear when withdrawn (at once) or no longer announced
//! (within a lease), a restarted server is bound again, and a flood of hostile datagrams
//! leaves the cache and the process's memory bounded.
//!
//! Each test has a group port of its own, so that tests running in parallel do not hear
//! each other. Where this machine has no multicast route (a datagram sent to the group does
//! not come back within a second), a test says so and returns.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use std::time::{Duration, Instant};
use support::{bound_ledger, serve_ledger};

use rpc_binder::multicast::{self, Announce, Datagram, MulticastConfig};
use rpc_binder::{Binder, Exported};
use rpc_runtime::{Endpoint, Resolver, ServerHandle, Transport};
use tests::ledger::Counts;
use tests::ledger_idl::ledger_interface;

const ANNOUNCE_EVERY: Duration = Duration::from_millis(200);
const LEASE: Duration = Duration::from_millis(600);

/// Fast announcements and short leases on a port of the test's own.
fn config(port: u16) -> MulticastConfig {
    MulticastConfig {
        group: SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), port),
        loopback: true,
        announce_every: ANNOUNCE_EVERY,
        lease: LEASE,
        query_wait: Duration::from_millis(200),
        ..MulticastConfig::default()
    }
}

/// Whether multicast loops back on this machine; if not, says why the test is skipped.
async fn multicast_works(config: &MulticastConfig, test: &str) -> bool {
    match multicast::probe(config, Duration::from_secs(1)).await {
        Ok(true) => true,
        Ok(false) => {
            eprintln!(
                "SKIPPED {test}: a datagram sent to {} did not come back within 1 s \
                 (no multicast route with loopback here)",
                config.group
            );
            false
        }
        Err(e) => {
            eprintln!(
                "SKIPPED {test}: cannot use multicast group {}: {e}",
                config.group
            );
            false
        }
    }
}

async fn export(binder: &Binder, server: &ServerHandle) -> Exported {
    binder
        .export("ledger", server, ledger_interface::FINGERPRINT)
        .await
        .unwrap()
}

async fn resolve(binder: &Binder, name: &str) -> Vec<Endpoint> {
    binder.resolve(name).await.unwrap()
}

/// Waits up to `within` for `binder`'s endpoints of `ledger` to satisfy `done`; returns
/// how long it took.
async fn until(
    binder: &Binder,
    within: Duration,
    what: &str,
    done: impl Fn(&[Endpoint]) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let found = resolve(binder, "ledger").await;
        if done(&found) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{what}: not within {within:?}; endpoints {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn uids(found: &[Endpoint]) -> Vec<u64> {
    found.iter().map(|e| e.binding).collect()
}

/// The tests of this file run one at a time: the flood would otherwise delay the
/// others' datagrams past their time bounds, and their allocations would count in the
/// flood's reading of this process's memory.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_come_and_go_and_calls_follow() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let config = config(27_711);
    if !multicast_works(&config, "servers_come_and_go_and_calls_follow").await {
        return;
    }
    // Three binders, as three processes would have: two exporting, one resolving.
    let exporting_a = Binder::multicast(config.clone()).await.unwrap();
    let exporting_b = Binder::multicast(config.clone()).await.unwrap();
    let resolving = Binder::multicast(config.clone()).await.unwrap();

    let (a_counts, b_counts, c_counts) = (
        Arc::new(Counts::default()),
        Arc::new(Counts::default()),
        Arc::new(Counts::default()),
    );
    let a = serve_ledger(&a_counts, "127.0.0.1:0", Transport::Tcp).await;
    let a_export = export(&exporting_a, &a).await;

    // A client bound by name through another binder: its first call queries the group.
    let ledger = bound_ledger(&resolving, Transport::Tcp);
    assert_eq!(ledger.record(1).await.unwrap(), 1);
    assert_eq!(a_counts.runs(1), 1);
    let found = resolve(&resolving, "ledger").await;
    assert_eq!(uids(&found), vec![a.uid()]);
    assert_eq!(found[0].address, a.local_addr().to_string());
    assert_eq!(found[0].fingerprint, ledger_interface::FINGERPRINT);

    // A second server, exported while the client runs: heard within one announcement
    // period (its first announcement goes out as it is exported).
    let b = serve_ledger(&b_counts, "127.0.0.1:0", Transport::Tcp).await;
    let b_export = export(&exporting_b, &b).await;
    let took = until(&resolving, ANNOUNCE_EVERY, "b discovered", |f| f.len() == 2).await;
    eprintln!("second server discovered in {took:?}");
    let spread = bound_ledger(&resolving, Transport::Tcp);
    for token in 100..140 {
        assert_eq!(spread.touch(token).await.unwrap(), 1);
    }
    let (on_a, on_b) = (a_counts.all().len(), b_counts.all().len());
    assert!(
        on_a >= 15 && on_b >= 15,
        "calls spread: {on_a} on a, {on_b} on b"
    );

    // `a` withdraws and stops: gone from the cache at once, and the calls move to `b`.
    a_export.withdraw().await;
    // Well within the lease (a withdrawal is applied when heard, not when the lease ends).
    let took = until(&resolving, Duration::from_millis(300), "a withdrawn", |f| {
        uids(f) == vec![b.uid()]
    })
    .await;
    eprintln!("withdrawal applied in {took:?}");
    a.shutdown().await;
    let before = b_counts.all().len();
    for token in 200..220 {
        assert_eq!(ledger.touch(token).await.unwrap(), 1, "calls move to b");
        assert_eq!(spread.touch(token + 1000).await.unwrap(), 1);
    }
    assert_eq!(b_counts.all().len(), before + 40);

    // A server listening on every interface: its address is announced as 0.0.0.0:port,
    // and listeners substitute the address the announcement came from.
    let c = serve_ledger(&c_counts, "0.0.0.0:0", Transport::Tcp).await;
    let _c_export = export(&exporting_a, &c).await;
    until(&resolving, ANNOUNCE_EVERY, "c discovered", |f| f.len() == 2).await;
    let found = resolve(&resolving, "ledger").await;
    let at_c = found.iter().find(|e| e.binding == c.uid()).unwrap();
    assert!(
        !at_c.address.starts_with("0.0.0.0"),
        "the source address replaces 0.0.0.0: {}",
        at_c.address
    );
    assert!(
        at_c.address
            .ends_with(&format!(":{}", c.local_addr().port()))
    );

    // `b` dies without withdrawing (its export is dropped): forgotten within a lease.
    drop(b_export);
    b.shutdown().await;
    let took = until(
        &resolving,
        LEASE + ANNOUNCE_EVERY,
        "b forgotten after its lease",
        |f| uids(f) == vec![c.uid()],
    )
    .await;
    eprintln!("dropped export forgotten in {took:?}");
    assert!(
        took + ANNOUNCE_EVERY >= LEASE / 2,
        "not forgotten before its lease: {took:?}"
    );
    for token in 300..320 {
        assert_eq!(ledger.touch(token).await.unwrap(), 1, "calls move to c");
    }
    assert!(c_counts.all().len() >= 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_bound_again() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let config = config(27_712);
    if !multicast_works(&config, "a_restarted_server_is_bound_again").await {
        return;
    }
    let exporting = Binder::multicast(config.clone()).await.unwrap();
    let resolving = Binder::multicast(config.clone()).await.unwrap();
    let counts = Arc::new(Counts::default());
    let first = serve_ledger(&counts, "127.0.0.1:0", Transport::Udp).await;
    let address = first.local_addr().to_string();
    let first_uid = first.uid();
    let first_export = export(&exporting, &first).await;
    let ledger = bound_ledger(&resolving, Transport::Udp);
    assert_eq!(ledger.record(1).await.unwrap(), 1);

    // A crash and a restart on the same port: a new incarnation, a new uid.
    first.shutdown().await;
    drop(first_export);
    let second = serve_ledger(&counts, &address, Transport::Udp).await;
    assert_ne!(second.uid(), first_uid);
    let _second_export = export(&exporting, &second).await;
    until(
        &resolving,
        ANNOUNCE_EVERY,
        "the new incarnation heard",
        |f| f.iter().any(|e| e.binding == second.uid()),
    )
    .await;

    // The old uid is refused by the new incarnation; the client forgets it and calls the
    // new one (the old export may still be cached until its lease runs out).
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(ledger.record(2).await.unwrap(), 1);
    assert_eq!(counts.runs(2), 1);
    assert_eq!(ledger.touch(3).await.unwrap(), 1);
    until(
        &resolving,
        LEASE + ANNOUNCE_EVERY,
        "the old uid forgotten",
        |f| uids(f) == vec![second.uid()],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_announcements_and_garbage_leaves_the_cache_bounded() {
    let _alone = ONE_AT_A_TIME.lock().await;
    const MAX: usize = 1_024;
    let config = MulticastConfig {
        max_endpoints: MAX,
        ..config(27_713)
    };
    if !multicast_works(
        &config,
        "a_flood_of_announcements_and_garbage_leaves_the_cache_bounded",
    )
    .await
    {
        return;
    }
    let exporting = Binder::multicast(config.clone()).await.unwrap();
    let resolving = Binder::multicast(config.clone()).await.unwrap();
    let Binder::Multicast(cache) = &resolving else {
        unreachable!()
    };
    let counts = Arc::new(Counts::default());
    let honest = serve_ledger(&counts, "127.0.0.1:0", Transport::Tcp).await;
    let _honest_export = export(&exporting, &honest).await;
    let ledger = bound_ledger(&resolving, Transport::Tcp);
    assert_eq!(ledger.touch(1).await.unwrap(), 1);
    // Heard at least twice (renewed) before the flood.
    tokio::time::sleep(ANNOUNCE_EVERY * 2).await;

    let (rss_before, _) = support::memory();
    let group = config.group;
    let flooding = tokio::task::spawn_blocking(move || {
        let raw = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        raw.set_multicast_loop_v4(true).unwrap();
        raw.set_multicast_ttl_v4(1).unwrap();
        let mut garbage = 0u64;
        for i in 0..100_000u64 {
            let announce = Announce {
                name: format!("flood-{i}"),
                address: format!("10.9.{}.{}:{}", (i >> 8) & 0xff, i & 0xff, 1 + i % 60_000),
                transport: (i % 3) as u8,
                binding: 0x5eed_0000_0000 + i,
                fingerprint: i,
                // An hour: clamped to ten leases.
                lease_micros: 3_600_000_000,
            };
            let bytes = multicast::encode_datagram(&Datagram::Announce(announce)).unwrap();
            let _ = raw.send_to(&bytes, group);
            if i % 10 == 0 {
                let junk: Vec<u8> = match i % 50 {
                    0 => vec![0xff; 2_000],                     // too long
                    10 => b"RPCx\x01\x00\x01a".to_vec(),        // bad magic
                    20 => b"RPCd\x02\x01\x01a".to_vec(),        // another version
                    30 => b"RPCd\x01\x07\xff\xff\xff".to_vec(), // undecodable
                    _ => {
                        let mut long = b"RPCd\x01\x01".to_vec(); // a 300-byte name
                        long.extend_from_slice(&[0xac, 0x02]);
                        long.extend(std::iter::repeat_n(b'n', 300));
                        long
                    }
                };
                let _ = raw.send_to(&junk, group);
                garbage += 1;
            }
            if i % 1_000 == 0 {
                // Let the receivers keep up a little (the kernel drops what they cannot).
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        garbage
    });
    let mut most = 0;
    while !flooding.is_finished() {
        most = most.max(cache.cached_endpoints());
        assert!(most <= MAX, "cache over its bound: {most}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let garbage = flooding.await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    most = most.max(cache.cached_endpoints());
    let (rss_after, _) = support::memory();
    let grew = rss_after.saturating_sub(rss_before);
    eprintln!(
        "flood: cache peaked at {most} of {MAX}; {} of {garbage} garbage datagrams dropped \
         (some lost in socket buffers); RSS grew by {} KiB",
        cache.dropped_datagrams(),
        grew / 1024
    );
    assert!(most <= MAX);
    assert!(most >= MAX / 2, "the flood reached the cache: {most}");
    assert!(cache.dropped_datagrams() > 0, "garbage was dropped");
    assert!(grew < 64 << 20, "RSS grew by {grew} bytes");

    // The honest export, renewed before the flood, is still there, and called.
    let found = resolve(&resolving, "ledger").await;
    assert_eq!(uids(&found), vec![honest.uid()]);
    assert_eq!(ledger.touch(2).await.unwrap(), 1);
    // A newcomer after the flood is heard too (it evicts a flood entry heard only once),
    // and a fresh client bound to it works.
    let late_counts = Arc::new(Counts::default());
    let late = serve_ledger(&late_counts, "127.0.0.1:0", Transport::Tcp).await;
    let _late_export = exporting
        .export("late", &late, ledger_interface::FINGERPRINT)
        .await
        .unwrap();
    let start = Instant::now();
    while resolve(&resolving, "late").await.is_empty() {
        assert!(
            start.elapsed() < ANNOUNCE_EVERY * 3,
            "late export not heard"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(cache.cached_endpoints() <= MAX);
}
