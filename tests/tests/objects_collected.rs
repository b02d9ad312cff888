//! Distributed garbage collection at volume, and against a peer that does not play
//! along: 10,000 references created and dropped leave both object tables (the server's,
//! and this process's callback table) empty; a full table refuses with a clear error and
//! keeps serving; references taken and never leased are collected within a lease, with
//! memory read from `/proc/self/status`.
//!
//! One test, alone in its process: the callback table and the held references are
//! process-wide.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rpc_runtime::client::Encoded;
use rpc_runtime::objects::{callback_stats, held_stats};
use rpc_runtime::{CallError, Channel, Client, Limits};
use support::{eventually, hub_server};
use tests::hub::{COUNTERS_ALIVE, CountingListener};
use tests::objects::{HubClient, Listener, ListenerRef, hub_interface};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_tables_return_to_zero_and_stay_bounded() {
    let lease = Duration::from_millis(1500);
    let server = hub_server(Limits {
        lease,
        ..Limits::default()
    })
    .await;
    let channel = Channel::connect(server.local_addr().to_string())
        .await
        .unwrap();
    let hub = HubClient::new(channel.clone());

    // 10,000 references to server objects, held, used, dropped.
    let mut counters = Vec::new();
    for _ in 0..100 {
        counters.extend(hub.make_counters(100).await.unwrap());
    }
    assert_eq!(counters.len(), 10_000);
    assert_eq!(counters[9_999].add(1).await.unwrap(), 100);
    assert!(
        eventually(Duration::from_secs(10), || server.stats().objects.leases
            == 10_000)
        .await,
        "{:?}",
        server.stats().objects
    );
    assert_eq!(held_stats().references, 10_000);
    assert_eq!(COUNTERS_ALIVE.load(Ordering::Relaxed), 10_000);
    drop(counters);
    assert!(
        eventually(Duration::from_secs(10), || server.stats().objects.exported
            == 0)
        .await,
        "the server's table after the drop: {:?}",
        server.stats().objects
    );
    assert_eq!(
        COUNTERS_ALIVE.load(Ordering::Relaxed),
        0,
        "the objects themselves dropped"
    );
    assert!(eventually(Duration::from_secs(5), || held_stats().references == 0).await);

    // 10,000 callback objects sent to the server, kept there, released there.
    let listeners: Vec<ListenerRef> = (0..10_000)
        .map(|_| Arc::new(CountingListener::new(None)).into_ref())
        .collect();
    for batch in listeners.chunks(500) {
        hub.keep(&batch.to_vec()).await.unwrap();
    }
    drop(listeners);
    assert!(
        eventually(Duration::from_secs(10), || callback_stats().leases
            == 10_000)
        .await,
        "{:?}",
        callback_stats()
    );
    assert_eq!(callback_stats().exported, 10_000);
    hub.release().await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || callback_stats().exported == 0).await,
        "the callback table after the server let go: {:?}",
        callback_stats()
    );
    assert_eq!(callback_stats().collected_total, 10_000);

    // A peer that takes references and never leases them: they wait in transit for two
    // leases, no longer, and at most `max_objects` of them.
    drop(server);
    let server = hub_server(Limits {
        lease,
        max_objects: 5_000,
        ..Limits::default()
    })
    .await;
    let raw = Client::new(
        Channel::connect(server.local_addr().to_string())
            .await
            .unwrap(),
        &hub_interface::SPEC,
    );
    let (before, _) = support::memory();
    let mut refused = 0;
    for _ in 0..50 {
        // make_counters(1000), its reply read as bytes: no reference is ever decoded.
        let reply = raw
            .do_operation(
                &hub_interface::methods::MAKE_COUNTERS,
                &Encoded(&[0xe8, 0x07]),
            )
            .await
            .unwrap()
            .expect("a reply");
        match reply.outcome(&hub_interface::methods::MAKE_COUNTERS, |_| Ok(())) {
            Ok(_) => {}
            Err(CallError::ServerFault { message, .. }) => {
                assert!(message.contains("object table is full"), "{message}");
                refused += 1;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let stats = server.stats().objects;
    assert_eq!(stats.exported, 5_000, "{stats:?}");
    assert_eq!((stats.leases, refused), (0, 45), "{stats:?}");
    // The full server still serves, and other clients' calls work.
    let other = HubClient::new(
        Channel::connect(server.local_addr().to_string())
            .await
            .unwrap(),
    );
    assert_eq!(other.echo(3).await.unwrap(), 3);
    assert!(
        // A copy in transit waits two leases from its export, then a sweep.
        eventually(lease * 3, || server.stats().objects.exported == 0).await,
        "unleased references are collected within two leases: {:?}",
        server.stats().objects
    );
    let counter = other.make_counter(9).await.unwrap();
    assert_eq!(counter.get().await.unwrap(), 9, "room again");
    let grown = support::memory().0.saturating_sub(before);
    assert!(grown < 64 << 20, "memory grew by {} KiB", grown >> 10);
}
