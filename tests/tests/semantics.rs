//! The proof of the call semantics: thousands of calls through a proxy that loses 30% of
//! datagrams, duplicates 10% and delays (so reorders) up to 20 ms each way, and over TCP
//! through a proxy that keeps cutting connections. The server counts how often each
//! call ran (by a token unique to the call).
//!
//! - at-most-once: a call that returned Ok ran exactly once; no call ran twice;
//! - at-least-once: a call that returned Ok ran at least once;
//! - last-of-many: the result returned is the last attempt's;
//! - maybe: no call ran more than once.

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::chaos::{Faults, Proxy};
use rpc_runtime::{CallError, Channel, Limits, Server, ServerConfig, ServerHandle, Transport};
use tests::ledger::Counts;
use tests::ledger_idl::{LedgerClient, LedgerServer};
use tests::lossy::{client_config, faults};

const CALLS: u64 = 2_000;
const CONCURRENCY: usize = 32;
/// The history's byte cap in these runs: small (the default is 64 MiB), to see that it
/// holds, yet room enough for the replies in flight, so that nothing needed is evicted.
const HISTORY_CAP: usize = 1 << 20;

fn server_config() -> ServerConfig {
    ServerConfig {
        limits: Limits {
            history_bytes: HISTORY_CAP,
            ..Limits::default()
        },
        ..ServerConfig::default()
    }
}

struct Lossy {
    server: ServerHandle,
    counts: Arc<Counts>,
    proxy: Proxy,
    client: LedgerClient,
}

async fn over_udp(seed: u64) -> Lossy {
    let counts = Arc::new(Counts::default());
    let server = Server::with_config(server_config())
        .add_service(LedgerServer::new(counts.clone()))
        .bind_udp("127.0.0.1:0")
        .await
        .unwrap();
    let proxy = Proxy::udp(server.local_addr(), faults(seed)).await.unwrap();
    let channel = Channel::connect_with(
        proxy.local_addr().to_string(),
        client_config(Transport::Udp),
    )
    .await
    .unwrap();
    Lossy {
        server,
        counts,
        proxy,
        client: LedgerClient::new(channel),
    }
}

/// Runs `call(token)` for tokens 1..=CALLS, CONCURRENCY at a time; returns the results.
async fn run_all<T, F, Fut>(client: &LedgerClient, call: F) -> Vec<(u64, Result<T, CallError>)>
where
    T: Send + 'static,
    F: Fn(LedgerClient, u64) -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::new();
    for token in 1..=CALLS {
        let permit = slots.clone().acquire_owned().await.unwrap();
        let call = call(client.clone(), token);
        tasks.push(tokio::spawn(async move {
            let result = call.await;
            drop(permit);
            (token, result)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}

/// At-most-once: every call ran at most once, and exactly once if it returned Ok.
fn assert_at_most_once(results: &[(u64, Result<u64, CallError>)], counts: &Counts) {
    for (token, result) in results {
        let runs = counts.runs(*token);
        assert!(runs <= 1, "call {token} ran {runs} times");
        if let Ok(n) = result {
            assert_eq!((runs, *n), (1, 1), "call {token} returned Ok");
        }
    }
}

/// Enough Ok results that the run says something.
fn assert_mostly_ok<T>(results: &[(u64, Result<T, CallError>)]) -> usize {
    let ok = results.iter().filter(|(_, r)| r.is_ok()).count();
    assert!(
        ok as u64 > CALLS * 9 / 10,
        "only {ok} of {CALLS} calls succeeded"
    );
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_once_holds_under_loss_duplication_and_reordering() {
    let lossy = over_udp(11).await;
    let results = run_all(
        &lossy.client,
        |c, token| async move { c.record(token).await },
    )
    .await;
    let ok = assert_mostly_ok(&results);
    assert_at_most_once(&results, &lossy.counts);
    tokio::time::sleep(Duration::from_millis(100)).await; // late duplicates arrive, and must not run
    assert!(lossy.counts.all().values().all(|&n| n == 1));
    let stats = lossy.server.stats();
    let proxy = lossy.proxy.stats();
    eprintln!("at-most-once over UDP: {ok}/{CALLS} Ok; server {stats:?}; proxy {proxy:?}");
    assert!(
        proxy.dropped > 0 && proxy.duplicated > 0,
        "the proxy did its work: {proxy:?}"
    );
    assert!(
        stats.duplicates_filtered > 0 && stats.replies_resent > 0,
        "{stats:?}"
    );
    assert!(
        stats.sessions.bytes <= HISTORY_CAP,
        "history over its cap: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_runs_every_ok_call_at_least_once() {
    let lossy = over_udp(12).await;
    let results = run_all(
        &lossy.client,
        |c, token| async move { c.touch(token).await },
    )
    .await;
    let ok = assert_mostly_ok(&results);
    let mut twice = 0;
    for (token, result) in &results {
        let runs = lossy.counts.runs(*token);
        if result.is_ok() {
            assert!(runs >= 1, "call {token} returned Ok but never ran");
        }
        twice += usize::from(runs > 1);
    }
    eprintln!(
        "at-least-once over UDP: {ok}/{CALLS} Ok, {twice} calls ran more than once; server {:?}",
        lossy.server.stats()
    );
    assert_eq!(
        lossy.server.stats().sessions.replies,
        0,
        "idempotent calls keep no history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_of_many_returns_the_last_attempts_result() {
    let lossy = over_udp(13).await;
    let results = run_all(
        &lossy.client,
        |c, token| async move { c.stamp(token).await },
    )
    .await;
    let ok = assert_mostly_ok(&results);
    for (token, result) in &results {
        if let Ok(seq) = result {
            assert_eq!(
                Some(*seq),
                lossy.counts.highest_attempt(*token),
                "call {token}: the result is not from its last attempt"
            );
        }
    }
    eprintln!(
        "last-of-many over UDP: {ok}/{CALLS} Ok; server {:?}",
        lossy.server.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maybe_runs_each_call_at_most_once() {
    let lossy = over_udp(14).await;
    for token in 1..=CALLS {
        lossy.client.mark(token).await.unwrap();
        // Paced, so that what is lost is the proxy's doing, not full socket buffers.
        if token % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let counts = lossy.counts.all();
    assert!(counts.values().all(|&n| n == 1), "a oneway call ran twice");
    let ran = counts.len() as u64;
    eprintln!(
        "maybe over UDP: {ran}/{CALLS} ran (the rest were lost); server {:?}",
        lossy.server.stats()
    );
    assert!(
        ran < CALLS && ran > CALLS / 2,
        "with 30% loss about 70% run, not {ran}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_once_holds_over_tcp_with_connections_cut() {
    let counts = Arc::new(Counts::default());
    let server = Server::with_config(server_config())
        .add_service(LedgerServer::new(counts.clone()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let faults = Faults {
        cut_after: Some((Duration::from_millis(1), Duration::from_millis(10))),
        seed: 15,
        ..Faults::default()
    };
    let proxy = Proxy::tcp(server.local_addr(), faults).await.unwrap();
    let channel = Channel::connect_with(
        proxy.local_addr().to_string(),
        client_config(Transport::Tcp),
    )
    .await
    .unwrap();
    let client = LedgerClient::new(channel);
    let results = run_all(&client, |c, token| async move { c.record(token).await }).await;
    let ok = assert_mostly_ok(&results);
    assert_at_most_once(&results, &counts);
    let stats = server.stats();
    eprintln!(
        "at-most-once over TCP with cuts: {ok}/{CALLS} Ok; server {stats:?}; proxy {:?}",
        proxy.stats()
    );
    assert!(
        proxy.stats().cut >= 5,
        "the proxy cut connections: {:?}",
        proxy.stats()
    );
    assert!(stats.sessions.bytes <= HISTORY_CAP, "{stats:?}");
}
