//! The at-most-once proof at scale: many calls over UDP through a proxy that loses 30%
//! of datagrams, duplicates 10%, reorders (delays up to 20 ms) and replays old datagrams
//! long after their calls were answered and acknowledged, with RR and RRA clients at
//! once, and the server restarted (a new incarnation, no sessions) in the middle.
//!
//! Every call is classified: Ok calls ran exactly once; failed calls say whether they
//! ran (not executed: never; unknown: at most once); no call runs twice. CI runs 4,000
//! calls; set `RPCGEN_PROOF_CALLS=100000` for the full run (the figures are in the notes
//! of the change that added this test).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::chaos::{Faults, Proxy};
use rpc_runtime::{
    Acknowledge, CallError, Channel, ChannelConfig, Limits, Outcome, Server, ServerConfig,
    ServerHandle, Transport,
};
use tests::ledger::Counts;
use tests::ledger_idl::{LedgerClient, LedgerServer};
use tests::lossy::{client_config, faults};

const CONCURRENCY: usize = 64;

fn calls() -> u64 {
    std::env::var("RPCGEN_PROOF_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4_000)
}

async fn serve(address: SocketAddr, counts: &Arc<Counts>) -> ServerHandle {
    let config = ServerConfig {
        limits: Limits {
            history_bytes: 4 << 20,
            ..Limits::default()
        },
        shutdown_grace: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    Server::with_config(config)
        .add_service(LedgerServer::new(counts.clone()))
        .bind_udp(address)
        .await
        .expect("bind the server's port")
}

async fn client(proxy: SocketAddr, acknowledge: Acknowledge) -> LedgerClient {
    let config = ChannelConfig {
        acknowledge,
        ..client_config(Transport::Udp)
    };
    LedgerClient::new(
        Channel::connect_with(proxy.to_string(), config)
            .await
            .expect("connect through the proxy"),
    )
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Ok,
    NotExecuted,
    Unknown,
    Executed,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_once_holds_at_scale_with_late_replays_and_a_restart() {
    let total = calls();
    let counts = Arc::new(Counts::default());
    let first = serve("127.0.0.1:0".parse().unwrap(), &counts).await;
    let address = first.local_addr();
    let faults = Faults {
        replay: 0.05,
        replay_after: Duration::from_millis(1500),
        ..faults(21)
    };
    let proxy = Proxy::udp(address, faults).await.unwrap();
    let rr = client(proxy.local_addr(), Acknowledge::Rr).await;
    let rra = client(proxy.local_addr(), Acknowledge::Rra).await;

    // Halfway through, the server restarts on the same port: a new incarnation that
    // knows none of the sessions.
    let restarter = {
        let counts = counts.clone();
        tokio::spawn(async move {
            while (counts.all().len() as u64) < total / 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let before = first.stats();
            first.shutdown().await;
            (before, serve(address, &counts).await)
        })
    };

    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::new();
    let started = std::time::Instant::now();
    for token in 1..=total {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let client = if token % 2 == 0 {
            rr.clone()
        } else {
            rra.clone()
        };
        tasks.push(tokio::spawn(async move {
            let result = client.record(token).await;
            drop(permit);
            (token, result)
        }));
    }
    let mut results: Vec<(u64, Result<u64, CallError>)> = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    // Let the late replays arrive: none of them may run anything.
    tokio::time::sleep(faults.replay_after + Duration::from_millis(200)).await;
    let (before_restart, second) = restarter.await.unwrap();

    let mut classes: BTreeMap<Class, u64> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for (token, result) in &results {
        let runs = counts.runs(*token);
        assert!(runs <= 1, "call {token} ran {runs} times");
        let class = match result {
            Ok(n) => {
                assert_eq!((*n, runs), (1, 1), "call {token} returned Ok");
                Class::Ok
            }
            Err(e) => {
                *errors.entry(kind(e)).or_default() += 1;
                match e.outcome() {
                    Outcome::NotExecuted => {
                        assert_eq!(runs, 0, "call {token} said it did not run: {e}");
                        Class::NotExecuted
                    }
                    Outcome::Executed => {
                        assert_eq!(runs, 1, "call {token} said it ran: {e}");
                        Class::Executed
                    }
                    Outcome::Unknown => Class::Unknown,
                }
            }
        };
        *classes.entry(class).or_default() += 1;
    }
    let ran_twice = counts.all().values().filter(|&&n| n > 1).count();
    assert_eq!(ran_twice, 0);
    let after = second.stats();
    eprintln!(
        "{total} at-most-once calls (RR and RRA) over UDP in {elapsed:.1?}: {classes:?}; errors {errors:?}; \
         0 ran twice\n  proxy {:?}\n  server before the restart {before_restart:?}\n  server after {after:?}",
        proxy.stats()
    );
    assert!(proxy.stats().replayed > 0 && proxy.stats().dropped > 0);
    assert!(
        before_restart.duplicates_filtered > 0 && before_restart.replies_resent > 0,
        "the sessions did their work: {before_restart:?}"
    );
    assert!(
        classes.get(&Class::Ok).copied().unwrap_or(0) > total * 9 / 10,
        "most calls succeed: {classes:?}"
    );
    second.shutdown().await;
}

/// The error's variant, for the tally.
fn kind(e: &CallError) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("?")
        .to_string()
}
