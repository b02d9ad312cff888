//! Remote objects over real sockets: references returned and used, passed through a
//! third process, callbacks over the client's own connection (a stream of them while
//! the client keeps calling, a re-entrant chain), references to a restarted server,
//! forged ids, and a holder process killed.
//!
//! The tests of what both object tables hold at the end (which are process-wide for the
//! callback table) are in `objects_collected.rs`, alone in their process.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rpc_runtime::objects::{Interface, Ref};
use rpc_runtime::{
    CallError, Channel, Client, Limits, ObjectRef, Server, ServerConfig, ServerHandle,
};
use support::{eventually, hub_server};
use tests::hub::{CountingListener, HubService, Subscribed, subscribe_while_calling};
use tests::objects::{CounterClient, CounterRef, HubClient, HubServer, Listener, ListenerRef};

async fn hub_client(server: &ServerHandle) -> HubClient {
    HubClient::new(
        Channel::connect(server.local_addr().to_string())
            .await
            .expect("connect"),
    )
}

/// A child process of `object-peer`, killed when dropped.
struct Peer(Child);

impl Peer {
    /// Starts `object-peer ARGS` and waits for its first line.
    fn start(args: &[&str]) -> (Peer, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_object-peer"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start object-peer");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("its first line");
        (Peer(child), line.trim().to_string())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_returned_by_one_call_is_used_in_the_next() {
    let server = hub_server(Limits::default()).await;
    let hub = hub_client(&server).await;
    let counter = hub.make_counter(5).await.unwrap();
    assert!(!counter.is_local() && !counter.is_null());
    assert_eq!(counter.add(3).await.unwrap(), 8);
    assert_eq!(counter.get().await.unwrap(), 8);
    // Sent back to its own server, it is the server's object again: called there directly.
    assert_eq!(hub.read(&counter).await.unwrap(), 8);
    // Leased in the background, in the next batch of its channel.
    let leased = || {
        let stats = server.stats().objects;
        (stats.exported, stats.leases, stats.in_transit) == (1, 1, 0)
    };
    assert!(
        eventually(Duration::from_secs(5), leased).await,
        "{:?}",
        server.stats().objects
    );
    // A clone is the same reference, leased once.
    let copy = counter.clone();
    assert_eq!(copy, counter);
    drop(counter);
    assert_eq!(copy.get().await.unwrap(), 8, "a copy keeps the object");
    drop(copy);
    assert!(
        eventually(Duration::from_secs(5), || server.stats().objects.exported
            == 0)
        .await,
        "released when the last copy went: {:?}",
        server.stats().objects
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_passed_through_a_third_process_calls_its_owner() {
    let server = hub_server(Limits::default()).await;
    let hub = hub_client(&server).await;
    let (_peer, line) = Peer::start(&["hub"]);
    let address = line
        .strip_prefix("listening on ")
        .expect("the peer's address");
    let other = HubClient::new(Channel::connect(address).await.unwrap());
    let counter = hub.make_counter(41).await.unwrap();
    counter.add(1).await.unwrap();
    // The other process gets the reference and calls the counter on our server.
    assert_eq!(other.read(&counter).await.unwrap(), 42);
    // It leased it while it held it; it let go when its call ended.
    assert!(
        eventually(Duration::from_secs(5), || server.stats().objects.leases
            == 1)
        .await,
        "{:?}",
        server.stats().objects
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_stream_reaches_the_client_while_it_keeps_calling() {
    let server = hub_server(Limits::default()).await;
    let hub = hub_client(&server).await;
    // Forward calls on the same connection while the callbacks flow the other way.
    let Subscribed {
        listener,
        acknowledged,
        forward,
    } = subscribe_while_calling(&hub, 10_000).await;
    assert_eq!(acknowledged.unwrap(), 10_000);
    assert_eq!(listener.received.load(Ordering::Relaxed), 10_000);
    assert_eq!(listener.out_of_order.load(Ordering::Relaxed), 0);
    assert!(forward > 0, "the client called while it was called back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_entrant_chain_client_server_client_server_does_not_deadlock() {
    let server = hub_server(Limits::default()).await;
    let hub = hub_client(&server).await;
    let listener = Arc::new(CountingListener::new(Some(hub.clone())));
    let reference = listener.into_ref();
    // client → relay (server) → step (client) → echo (server): 7, then +1, +1.
    let result = tokio::time::timeout(Duration::from_secs(10), hub.relay(&reference, 7)).await;
    assert_eq!(result.expect("no deadlock").unwrap(), 9);
    // Many at once, sharing the one connection both ways.
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let (hub, reference) = (hub.clone(), reference.clone());
            tokio::spawn(async move { hub.relay(&reference, i).await })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), i as u32 + 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_reference_sent_back_to_its_owner_is_local_again() {
    let server = hub_server(Limits::default()).await;
    let hub = hub_client(&server).await;
    let listener = Arc::new(CountingListener::new(None));
    let reference: ListenerRef = listener.clone().into_ref();
    let back = hub.bounce(&reference).await.unwrap();
    assert!(back.is_local(), "{back:?}");
    assert_eq!(back.notify(0, "direct").await.unwrap(), 0);
    assert_eq!(listener.received.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_to_a_restarted_server_fails_with_unknown_binding() {
    let server = hub_server(Limits::default()).await;
    let address = server.local_addr();
    let hub = hub_client(&server).await;
    let counter = hub.make_counter(1).await.unwrap();
    server.shutdown().await;
    let restarted = Server::new()
        .add_service(HubServer::new(HubService::default()))
        .bind(address)
        .await
        .expect("the same port again");
    match counter.get().await {
        Err(CallError::UnknownBinding(_)) => {}
        other => panic!("expected UnknownBinding, got {other:?}"),
    }
    assert_eq!(
        restarted.stats().executions,
        0,
        "nothing ran on the new server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_object_id_is_refused() {
    let server = hub_server(Limits::default()).await;
    let hub = hub_client(&server).await;
    let real = hub.make_counter(7).await.unwrap();
    let wire = real.to_wire().expect("a remote reference has a wire form");
    let channel = Channel::connect(server.local_addr().to_string())
        .await
        .unwrap();
    // The right server, binding and interface, a guessed id: as a peer never given one.
    for forged in [wire.object ^ 1, wire.object.wrapping_add(1), 1, u64::MAX] {
        let guessed = ObjectRef {
            object: forged,
            ..wire.clone()
        };
        let reference: CounterRef = Ref::from_wire(guessed).unwrap();
        match reference.get().await {
            Err(CallError::UnknownObject(_)) => {}
            other => panic!("a forged id {forged:#x} was not refused: {other:?}"),
        }
        let client = CounterClient::from_client(
            Client::new(channel.clone(), CounterClient::spec()).with_target(wire.binding, forged),
        );
        assert!(matches!(
            client.add(1).await,
            Err(CallError::UnknownObject(_))
        ));
    }
    assert_eq!(real.get().await.unwrap(), 7, "the real one was untouched");
    // The null reference fails without a call.
    let null = CounterRef::default();
    assert!(null.is_null());
    assert!(matches!(null.get().await, Err(CallError::UnknownObject(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_s_objects_are_collected_within_two_leases() {
    let lease = Duration::from_millis(800);
    let server = hub_server(Limits {
        lease,
        ..Limits::default()
    })
    .await;
    let address = server.local_addr().to_string();
    let (holder, line) = Peer::start(&["hold", &address, "100"]);
    assert_eq!(line, "held 100");
    let stats = server.stats().objects;
    assert_eq!((stats.exported, stats.leases), (100, 100), "{stats:?}");
    // Its leases are renewed while it lives.
    tokio::time::sleep(lease * 2).await;
    assert_eq!(server.stats().objects.exported, 100, "renewed");
    drop(holder); // killed: no clean, no more renewals
    let killed = Instant::now();
    assert!(
        eventually(lease * 3, || server.stats().objects.exported == 0).await,
        "{:?}",
        server.stats().objects
    );
    assert!(
        killed.elapsed() <= lease * 2 + Duration::from_millis(300),
        "{:?}",
        killed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_over_a_lossy_path_neither_leak_nor_are_freed_twice() {
    // Long beside the retransmission waits (100 ms growing to 1 s), as leases should be.
    let lease = Duration::from_secs(3);
    let config = ServerConfig {
        limits: Limits {
            lease,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::with_config(config)
        .add_service(HubServer::new(HubService::default()))
        .bind_udp("127.0.0.1:0")
        .await
        .unwrap();
    let (hub, proxy) = support::lossy_udp_hub(&server, 11).await;
    // Held through all the churn: lost, duplicated and late lease messages of the
    // others must not free it.
    let keeper = hub.make_counter(100).await.unwrap();
    for _ in 0..10 {
        let counters = hub.make_counters(10).await.unwrap();
        for (i, counter) in counters.iter().enumerate() {
            assert_eq!(
                counter.add(1).await.unwrap(),
                i as u64 + 1,
                "ran exactly once"
            );
        }
        drop(counters);
    }
    assert_eq!(keeper.add(1).await.unwrap(), 101);
    assert!(
        eventually(lease * 3, || server.stats().objects.exported == 1).await,
        "only the one held is left: {:?}",
        server.stats().objects
    );
    tokio::time::sleep(lease).await;
    assert_eq!(
        keeper.get().await.unwrap(),
        101,
        "renewed over the lossy path"
    );
    drop(keeper);
    assert!(
        eventually(lease * 3, || server.stats().objects.exported == 0).await,
        "{:?}",
        server.stats().objects
    );
    let stats = proxy.stats();
    assert!(stats.dropped > 0 && stats.duplicated > 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_survive_cut_connections() {
    use rpc_runtime::chaos::{Faults, Proxy};
    let server = hub_server(Limits::default()).await;
    let faults = Faults {
        cut_after: Some((Duration::from_millis(30), Duration::from_millis(120))),
        seed: 5,
        ..Faults::default()
    };
    let proxy = Proxy::tcp(server.local_addr(), faults).await.unwrap();
    let hub = HubClient::new(
        Channel::connect(proxy.local_addr().to_string())
            .await
            .unwrap(),
    );
    let counter = hub.make_counter(0).await.unwrap();
    let started = Instant::now();
    let mut added = 0;
    while started.elapsed() < Duration::from_millis(800) {
        // Idempotent reads go through whatever the cuts do; adds may fail with an
        // unknown outcome but never run twice.
        let _ = counter.get().await.unwrap();
        if counter.add(1).await.is_ok() {
            added += 1;
        }
    }
    assert!(proxy.stats().cut > 0, "the proxy cut connections");
    assert!(counter.get().await.unwrap() >= added);
    assert_eq!(server.stats().objects.exported, 1);
}
