//! Callbacks where the network gets in the way: over UDP (to the client's own socket),
//! through a lossy and duplicating path, and across cut connections, for clients that
//! keep calling and for clients that only listen.
//!
//! Each notification is an at-most-once call with a sequence number; a listener counts
//! what it receives and what arrives out of order, so a notification run twice (or
//! skipped) shows.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rpc_runtime::chaos::{Faults, Proxy};
use rpc_runtime::{Channel, Limits, RetryPolicy, Transport};
use support::hub_server_on;
use tests::hub::{CountingListener, Subscribed, subscribe_while_calling};
use tests::objects::{HubClient, Listener, ListenerRef};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_reach_a_udp_client_through_its_own_socket() {
    let server = hub_server_on(Limits::default(), Transport::Udp).await;
    let hub = HubClient::new(
        Channel::connect_udp(server.local_addr().to_string())
            .await
            .unwrap(),
    );
    // Forward calls on the same socket while the callbacks come the other way.
    let Subscribed {
        listener,
        acknowledged,
        forward,
    } = subscribe_while_calling(&hub, 2_000).await;
    assert_eq!(acknowledged.unwrap(), 2_000);
    assert_eq!(listener.received.load(Ordering::Relaxed), 2_000);
    assert_eq!(listener.out_of_order.load(Ordering::Relaxed), 0);
    assert!(forward > 0, "the client called while it was called back");
    // A re-entrant chain over datagrams: client → server → client → server.
    let chained = Arc::new(CountingListener::new(Some(hub.clone())));
    let reference = chained.into_ref();
    let result = tokio::time::timeout(Duration::from_secs(10), hub.relay(&reference, 7)).await;
    assert_eq!(result.expect("no deadlock").unwrap(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_over_a_lossy_udp_path_run_exactly_once() {
    let server = hub_server_on(Limits::default(), Transport::Udp).await;
    let (hub, proxy) = support::lossy_udp_hub(&server, 23).await;
    let listener = Arc::new(CountingListener::new(None));
    let reference: ListenerRef = listener.clone().into_ref();
    // In calls of 25 notifications: a long call over datagrams is retransmitted while
    // it runs, and a client gives up after its policy's attempts.
    let mut acknowledged = 0;
    for _ in 0..12 {
        // Each call numbers its notifications from 0 again.
        listener.last.store(0, Ordering::Relaxed);
        acknowledged += hub.subscribe(&reference, 25).await.unwrap();
    }
    assert_eq!(acknowledged, 300, "every notification went through");
    assert_eq!(
        listener.received.load(Ordering::Relaxed),
        300,
        "and ran once: the duplicates were answered from the callback table's history"
    );
    assert_eq!(listener.out_of_order.load(Ordering::Relaxed), 0);
    let stats = proxy.stats();
    assert!(stats.dropped > 0 && stats.duplicated > 0, "{stats:?}");
}

/// A proxy in front of `server` that cuts every connection 30–120 ms after it opens.
async fn cutting_proxy(server: &rpc_runtime::ServerHandle, seed: u64) -> Proxy {
    let faults = Faults {
        cut_after: Some((Duration::from_millis(30), Duration::from_millis(120))),
        seed,
        ..Faults::default()
    };
    Proxy::tcp(server.local_addr(), faults).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_survive_cut_connections_of_a_client_that_keeps_calling() {
    let server = hub_server_on(Limits::default(), Transport::Tcp).await;
    let proxy = cutting_proxy(&server, 7).await;
    // The subscribe call spans many cuts, each costing it an attempt (a reconnection).
    let hub = HubClient::new(
        Channel::connect(proxy.local_addr().to_string())
            .await
            .unwrap(),
    )
    .with_retry(RetryPolicy {
        max_attempts: 1_000,
        ..RetryPolicy::default()
    });
    let listener = Arc::new(CountingListener::new(None));
    let reference: ListenerRef = listener.clone().into_ref();
    let subscribed = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.subscribe(&reference, 1_000).await })
    };
    while !subscribed.is_finished() {
        let _ = hub.echo(1).await;
    }
    let outcome = subscribed.await.unwrap();
    assert_eq!(outcome.unwrap(), 1_000, "every notification acknowledged");
    assert!(proxy.stats().cut > 2, "{:?}", proxy.stats());
    assert_eq!(listener.received.load(Ordering::Relaxed), 1_000);
    assert_eq!(
        listener.out_of_order.load(Ordering::Relaxed),
        0,
        "no notification ran twice or was skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_only_listens_is_called_back_after_its_connection_is_cut() {
    let server = hub_server_on(Limits::default(), Transport::Tcp).await;
    let proxy = cutting_proxy(&server, 9).await;
    let listening = HubClient::new(
        Channel::connect(proxy.local_addr().to_string())
            .await
            .unwrap(),
    );
    let listener = Arc::new(CountingListener::new(None));
    let reference: ListenerRef = listener.clone().into_ref();
    assert_eq!(listening.keep(&vec![reference]).await.unwrap(), 1);
    // From here the listening client makes no call: only the hub calls it, while
    // another client (not through the proxy) makes the hub do so.
    let other = HubClient::new(
        Channel::connect(server.local_addr().to_string())
            .await
            .unwrap(),
    );
    let mut total = 0;
    for _ in 0..4 {
        total += other.broadcast(200).await.unwrap();
        // Long enough for a cut to fall between two broadcasts too.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(proxy.stats().cut > 2, "{:?}", proxy.stats());
    assert_eq!(total, 800, "every notification was acknowledged");
    assert_eq!(listener.received.load(Ordering::Relaxed), 800);
    other.release().await.unwrap();
    drop(listening);
}
