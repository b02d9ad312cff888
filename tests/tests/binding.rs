//! Binding by name: servers export to a binder, clients look names up, spread calls,
//! fail over when a server dies and rebind when one restarts.

mod support;

use std::sync::Arc;

use std::time::Duration;
use support::{bound_ledger, serve_ledger};

use rpc_binder::{Binder, Registry};
use rpc_runtime::{CallError, ChannelConfig, Client, Server, Transport};
use tests::ledger::Counts;
use tests::ledger_idl::{LedgerClient, LedgerServer, ledger_interface};

/// A binder of its own for each test (the process-wide one would mix tests up).
fn binder() -> Binder {
    Binder::Embedded(Arc::new(Registry::new()))
}

#[tokio::test]
async fn calls_spread_over_exports_and_fail_over_when_one_dies() {
    let binder = binder();
    let (a_counts, b_counts) = (Arc::new(Counts::default()), Arc::new(Counts::default()));
    let a = serve_ledger(&a_counts, "127.0.0.1:0", Transport::Tcp).await;
    let b = serve_ledger(&b_counts, "127.0.0.1:0", Transport::Tcp).await;
    let _a_export = binder
        .export("ledger", &a, ledger_interface::FINGERPRINT)
        .await
        .unwrap();
    let _b_export = binder
        .export("ledger", &b, ledger_interface::FINGERPRINT)
        .await
        .unwrap();
    let ledger = bound_ledger(&binder, Transport::Tcp);
    for token in 1..=100 {
        assert_eq!(ledger.record(token).await.unwrap(), 1);
    }
    let (on_a, on_b) = (a_counts.all().len(), b_counts.all().len());
    assert_eq!(on_a + on_b, 100);
    assert!(
        on_a >= 40 && on_b >= 40,
        "calls spread: {on_a} on a, {on_b} on b"
    );

    // `a` dies without withdrawing its export: calls go to `b`. An at-most-once call
    // sent to `a` as it died may fail with an unknown outcome (it is not sent again
    // elsewhere); an idempotent one is simply sent to `b`.
    a.shutdown().await;
    let mut unknown = 0;
    for token in 101..=200 {
        match ledger.record(token).await {
            Ok(n) => assert_eq!(n, 1),
            Err(e) => {
                assert_eq!(e.outcome(), rpc_runtime::Outcome::Unknown, "{e}");
                unknown += 1;
            }
        }
        assert_eq!(
            ledger.touch(1000 + token).await.unwrap(),
            1,
            "idempotent calls fail over"
        );
    }
    assert!(unknown <= 2, "{unknown} calls were lost with `a`");
    for token in 1..=200 {
        assert!(
            a_counts.runs(token) + b_counts.runs(token) <= 1,
            "call {token} ran twice"
        );
    }
}

#[tokio::test]
async fn a_server_restarted_on_its_port_is_refused_by_uid_and_rebound() {
    let binder = binder();
    let counts = Arc::new(Counts::default());
    let first = serve_ledger(&counts, "127.0.0.1:0", Transport::Udp).await;
    let address = first.local_addr().to_string();
    let first_export = binder
        .export("ledger", &first, ledger_interface::FINGERPRINT)
        .await
        .unwrap();
    let ledger = bound_ledger(&binder, Transport::Udp);
    assert_eq!(ledger.record(1).await.unwrap(), 1);

    // Restart on the same port: a new incarnation with a new uid.
    first.shutdown().await;
    drop(first_export); // its lease is left to run out, as after a crash
    let second = serve_ledger(&counts, &address, Transport::Udp).await;
    assert_ne!(second.uid(), 0);
    let _second_export = binder
        .export("ledger", &second, ledger_interface::FINGERPRINT)
        .await
        .unwrap();

    // The client's first request names the old incarnation's session: refused. The new
    // incarnation never had that session and was serving before the request left (the
    // refusal says how long it has been up), so the call certainly did not run: the
    // client opens a new session, and the call goes through, once. (A request sent within
    // a round trip of the restart could not be told apart from one that reached the old
    // incarnation: it would fail as `SessionLost`, unknown.)
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(ledger.record(2).await.unwrap(), 1);
    assert_eq!(counts.runs(2), 1);
    assert_eq!(ledger.touch(3).await.unwrap(), 1);
}

#[tokio::test]
async fn a_fingerprint_mismatch_at_lookup_names_both_versions() {
    let binder = binder();
    let counts = Arc::new(Counts::default());
    let server = serve_ledger(&counts, "127.0.0.1:0", Transport::Tcp).await;
    let _export = binder.export("ledger", &server, 0xdead_beef).await.unwrap();
    let err = bound_ledger(&binder, Transport::Tcp)
        .record(1)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CallError::Unbound(_)), "{err:?}");
    assert!(
        text.contains("0x00000000deadbeef")
            && text.contains(&format!("{:#018x}", ledger_interface::FINGERPRINT)),
        "{text}"
    );
    let err = bound_ledger(&binder_with_nothing(), Transport::Tcp)
        .record(1)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no server exports `ledger`"),
        "{err}"
    );
    assert_eq!(counts.all().len(), 0);
}

/// A binder where nothing is exported.
fn binder_with_nothing() -> Binder {
    binder()
}

#[tokio::test]
async fn an_export_whose_lease_is_not_renewed_disappears() {
    let binder = binder();
    let exported = binder
        .export_at(
            "gone",
            "127.0.0.1:1",
            42,
            Transport::Tcp,
            7,
            Duration::from_millis(150),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        binder.lookup("gone").await.unwrap().len(),
        1,
        "renewed while the export lives"
    );
    drop(exported); // the server died: no more renewals
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(binder.lookup("gone").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_export_the_binder_forgot_is_exported_again_at_the_next_renewal() {
    let table = Arc::new(Registry::new());
    let binder = Binder::Embedded(table.clone());
    let _exported = binder
        .export_at(
            "again",
            "127.0.0.1:1",
            77,
            Transport::Tcp,
            7,
            Duration::from_millis(150),
        )
        .await
        .unwrap();
    table.unexport(77); // as if the binder daemon had restarted with an empty table
    assert!(binder.lookup("again").await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        binder.lookup("again").await.unwrap().len(),
        1,
        "exported again"
    );
}

#[tokio::test]
async fn a_server_on_a_unix_socket_is_exported_at_its_path() {
    let binder = binder();
    let counts = Arc::new(Counts::default());
    let path = std::env::temp_dir().join(format!("rpcgen-binding-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server = Server::new()
        .add_service(LedgerServer::new(counts.clone()))
        .bind_unix(&path)
        .unwrap();
    assert_eq!(server.transport(), Transport::Unix);
    assert_eq!(server.address(), path.display().to_string());
    let _export = binder
        .export("ledger", &server, ledger_interface::FINGERPRINT)
        .await
        .unwrap();
    // The client's configuration says TCP; the export says where and how.
    let ledger = bound_ledger(&binder, Transport::Tcp);
    assert_eq!(ledger.record(5).await.unwrap(), 1);
    assert_eq!(counts.runs(5), 1);
    server.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_client_follows_the_binder_and_keeps_its_servers_when_the_binder_is_gone() {
    use std::process::{Command, Stdio};
    // The binder is a daemon process, so that it can be killed.
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_binder-daemon"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the binder daemon");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(daemon.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let binder = Binder::daemon(address).await.unwrap();
    let counts: Vec<Arc<Counts>> = (0..3).map(|_| Arc::new(Counts::default())).collect();
    let mut servers = Vec::new();
    for c in &counts {
        servers.push(serve_ledger(c, "127.0.0.1:0", Transport::Tcp).await);
    }
    let first = binder
        .export("ledger", &servers[0], ledger_interface::FINGERPRINT)
        .await
        .unwrap();
    let _second = binder
        .export("ledger", &servers[1], ledger_interface::FINGERPRINT)
        .await
        .unwrap();
    let config = ChannelConfig {
        refresh: Duration::from_millis(100),
        ..ChannelConfig::default()
    };
    let ledger = LedgerClient::from_client(Client::bound(
        Arc::new(binder.clone()),
        "ledger",
        &ledger_interface::SPEC,
        config,
    ));
    let ran_on =
        |i: usize, tokens: std::ops::Range<u64>| tokens.filter(|&t| counts[i].runs(t) > 0).count();
    for token in 0..20 {
        ledger.record(token).await.unwrap();
    }
    assert!(ran_on(0, 0..20) > 0 && ran_on(1, 0..20) > 0);
    // Withdrawn while it still serves, and a third exported: the client follows the
    // binder within a refresh, with no call failing.
    first.withdraw().await;
    let _third = binder
        .export("ledger", &servers[2], ledger_interface::FINGERPRINT)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The first call after the lookup went stale looks the name up again in the
    // background (and may still go to a server known before).
    ledger.record(100).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for token in 101..120 {
        ledger.record(token).await.unwrap();
    }
    assert_eq!(
        ran_on(0, 101..120),
        0,
        "the withdrawn server is no longer called"
    );
    assert!(ran_on(2, 100..120) > 0, "the new server is called");
    // The binder gone: the servers known keep being called.
    let _ = daemon.kill();
    let _ = daemon.wait();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for token in 200..220 {
        ledger.record(token).await.unwrap();
    }
    assert_eq!(ran_on(1, 200..220) + ran_on(2, 200..220), 20);
}
