//! Real processes: a binder daemon, a server process killed and restarted on another
//! port while a client keeps calling. The client rebinds; no at-most-once call runs
//! twice; the test reports how long the client saw errors.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc_binder::Binder;
use rpc_runtime::{ChannelConfig, Client, RetryPolicy};
use tests::ledger_idl::{LedgerClient, ledger_interface};

/// A child process that is killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program` with `args` and waits for its `listening on ADDRESS` line.
fn start(program: &str, args: &[&str]) -> (Process, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the process");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read its first line");
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Process(child), address)
}

fn tokens(log: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_daemon_a_killed_and_restarted_server_is_rebound_and_no_call_runs_twice() {
    let (_daemon, address) = start(env!("CARGO_BIN_EXE_binder-daemon"), &["127.0.0.1:0"]);
    let binder = Binder::daemon(address.clone()).await.unwrap();
    restart_scenario("daemon", &address, binder).await;
}

#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_etcd_a_killed_and_restarted_server_is_rebound_and_no_call_runs_twice() {
    let endpoint = std::env::var("RPCGEN_ETCD")
        .expect("RPCGEN_ETCD names the etcd to test against (.ci/run starts one)");
    let binder = Binder::etcd(&[endpoint.as_str()]).await.unwrap();
    restart_scenario("etcd", &format!("etcd://{endpoint}"), binder).await;
}

/// Starts a server exporting to `server_binder`, calls it through `binder` from eight
/// callers, kills it with calls in flight, starts another on another port, and checks
/// that the client rebinds and no call ran twice.
async fn restart_scenario(kind: &str, server_binder: &str, binder: Binder) {
    let dir = std::env::temp_dir().join(format!("rpcgen-restart-{kind}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (first_log, second_log) = (dir.join("first.log"), dir.join("second.log"));
    let _ = std::fs::remove_file(&first_log);
    let _ = std::fs::remove_file(&second_log);

    let server = env!("CARGO_BIN_EXE_ledger-server");
    let (first, _) = start(server, &[server_binder, first_log.to_str().unwrap()]);
    let config = ChannelConfig {
        retry: RetryPolicy {
            first_wait: Duration::from_millis(20),
            max_attempts: 6,
            ..RetryPolicy::default()
        },
        timeout: Duration::from_secs(5),
        ..ChannelConfig::default()
    };
    let ledger = LedgerClient::from_client(Client::bound(
        Arc::new(binder),
        "ledger",
        &ledger_interface::SPEC,
        config,
    ));

    // Eight callers keep calling, so that calls are in flight when the server dies.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let callers: Vec<_> = (0..8u64)
        .map(|caller| {
            let ledger = ledger.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut results = Vec::new();
                let mut token = caller << 32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    token += 1;
                    let ok = ledger.record(token).await.is_ok();
                    results.push((token, Instant::now(), ok));
                    if !ok {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                results
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(first); // killed, with calls in flight
    let second = start(server, &[server_binder, second_log.to_str().unwrap()]).0;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut results: Vec<(u64, Instant, bool)> = Vec::new();
    for caller in callers {
        results.extend(caller.await.unwrap());
    }
    results.sort_by_key(|r| r.1);
    drop(second);

    let (ran_first, ran_second) = (tokens(&first_log), tokens(&second_log));
    let mut runs = std::collections::HashMap::<u64, u32>::new();
    for t in ran_first.iter().chain(&ran_second) {
        *runs.entry(*t).or_default() += 1;
    }
    for (token, _, ok) in &results {
        let n = runs.get(token).copied().unwrap_or(0);
        assert!(n <= 1, "call {token} ran {n} times");
        if *ok {
            assert_eq!(n, 1, "call {token} returned Ok");
        }
    }
    let failed: Vec<&(u64, Instant, bool)> = results.iter().filter(|(_, _, ok)| !ok).collect();
    let window = match (failed.first(), failed.last()) {
        (Some(a), Some(b)) => b.1.duration_since(a.1),
        _ => Duration::ZERO,
    };
    eprintln!(
        "restart with the {kind}: {} calls, {} failed, errors seen for {window:?}; first server ran {}, second ran {}",
        results.len(),
        failed.len(),
        ran_first.len(),
        ran_second.len()
    );
    assert!(
        !ran_second.is_empty(),
        "the client rebound to the restarted server"
    );
    assert!(window < Duration::from_secs(2), "errors lasted {window:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
