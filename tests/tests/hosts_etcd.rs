//! The binder's etcd backend across several hosts: network namespaces on a bridge
//! (`tests::netns`), built only with the `etcd` feature.
//!
//! - host 0 runs an etcd of its own, on its own address (the CI's etcd on 127.0.0.1 is
//!   not reachable from inside namespaces);
//! - hosts 1 to 3 each run a `ledger-server` that exports "ledger" to that etcd with a
//!   900 ms lease and logs the token of every call it runs;
//! - host 4 runs `ledger-caller`, a client bound to "ledger" through the same etcd,
//!   making at-most-once calls (`record`, every token new) from four callers without
//!   pause.
//!
//! The client runs on a host of its own (it could as well run in this process, the
//! bridge, itself a host on the network). A cut link drops packets and refuses nothing:
//! the client notices it by its requests staying unacknowledged
//! (`ChannelConfig::unacknowledged_timeout`, here 500 ms; TCP's own limit is about 15
//! minutes), so the calls stuck on the cut server fail and the connection is dropped;
//! it connects with a 100 ms timeout, so a server that cannot be reached is soon
//! forgotten; and it stops choosing a server within its refresh once the binder no
//! longer names it (`ChannelConfig::refresh`).
//!
//! The scenario: one server host's link is cut. Its lease in etcd runs out, as it cannot
//! keep it alive; the client's calls stuck on it fail (those that may have run with an
//! unknown outcome) and the client goes on with the other two within the lease and a
//! second. Then the etcd host's link is cut: the client's bindings, known already, keep
//! working without the binder. At the end no token is in the servers' logs twice (no
//! at-most-once call ran twice), every call that returned Ok ran exactly once, and every
//! call that failed with an unknown outcome ran at most once.
//!
//! Where namespaces cannot be made (not root), the test prints why and passes.

#![cfg(feature = "etcd")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use tests::netns::Network;

/// The export lease `ledger-server` asks for.
const LEASE: Duration = Duration::from_millis(900);
/// Callers in the client, calling at once.
const CALLERS: &str = "4";
/// A call's whole time, and a connection attempt's (as the client is given them).
const CALL_TIMEOUT: &str = "3000";
const CONNECT_TIMEOUT: &str = "100";
/// How long the client's connections may leave data unacknowledged before they are given
/// up: what notices a server behind a cut link.
const UNACKNOWLEDGED: &str = "500";
/// How long anything here may take to start.
const START: Duration = Duration::from_secs(15);

/// A process on a host; killed on drop (declared after the network, so dropped first).
struct Process {
    child: Child,
    what: &'static str,
}

impl Process {
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The lines a process prints, each with the time it was read, from a thread of their
/// own (so that every wait for them is bounded).
fn lines_of(child: &mut Child) -> Receiver<(Instant, String)> {
    let stdout = child.stdout.take().expect("its stdout is piped");
    let (send, receive) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    receive
}

/// The next line from `lines` within `within`, or a panic naming `process`.
fn next_line(lines: &Receiver<(Instant, String)>, within: Duration, process: &str) -> String {
    match lines.recv_timeout(within) {
        Ok((_, line)) => line,
        Err(e) => panic!("{process} said nothing within {within:?} ({e:?})"),
    }
}

/// Starts etcd on host 0, on its own address, and waits until its client port accepts
/// connections from this process.
fn start_etcd(network: &Network, dir: &Path) -> Process {
    let address = network.hosts()[0].address;
    let client = format!("http://{address}:2379");
    let peer = format!("http://{address}:2380");
    let data = dir.join("etcd-data");
    let log = dir.join("etcd.log");
    let mut etcd = Process {
        child: network.spawn(
            0,
            "etcd",
            &[
                "--data-dir",
                data.to_str().expect("a UTF-8 path"),
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &format!("default={peer}"),
                "--logger",
                "zap",
                "--log-outputs",
                log.to_str().expect("a UTF-8 path"),
            ],
        ),
        what: "etcd",
    };
    let port = SocketAddr::from((address, 2379));
    let end = Instant::now() + START;
    while TcpStream::connect_timeout(&port, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = etcd.child.try_wait() {
            panic!(
                "etcd exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < end,
            "etcd did not listen on {port} within {START:?}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    etcd
}

/// Starts a ledger server on `host`, serving on the host's address, logging to `log`,
/// exported to the etcd at `etcd`; waits for it to say it is exported.
fn start_server(network: &Network, host: usize, etcd: &str, log: &Path) -> Process {
    let listen = format!("{}:7000", network.hosts()[host].address);
    let mut child = network.spawn(
        host,
        env!("CARGO_BIN_EXE_ledger-server"),
        &[etcd, log.to_str().expect("a UTF-8 path"), &listen],
    );
    let lines = lines_of(&mut child);
    let server = Process {
        child,
        what: "ledger-server",
    };
    let line = next_line(&lines, START, server.what);
    assert_eq!(line, format!("listening on {listen}"), "host {host}");
    server
}

/// What the client said of its calls so far.
#[derive(Default)]
struct Calls {
    /// Each call as it ended: when, its token, and `ok` or its outcome.
    ended: Vec<(Instant, u64, String)>,
    /// Whether the client said `done`.
    done: bool,
}

impl Calls {
    /// Takes what the client said until `until`.
    fn take_until(&mut self, lines: &Receiver<(Instant, String)>, until: Instant) -> Vec<usize> {
        let first = self.ended.len();
        loop {
            let wait = until.saturating_duration_since(Instant::now());
            match lines.recv_timeout(wait) {
                Ok((at, line)) => {
                    let mut words = line.split(' ');
                    match (words.next(), words.next(), words.next()) {
                        (Some("ok"), Some(token), _) => {
                            self.ended.push((at, token.parse().unwrap(), "ok".into()));
                        }
                        (Some("err"), Some(token), Some(outcome)) => {
                            self.ended
                                .push((at, token.parse().unwrap(), outcome.to_string()));
                            eprintln!("  call failed: {line}");
                        }
                        (Some("done"), _, _) => self.done = true,
                        _ => panic!("the client said {line:?}"),
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(wait);
                    break;
                }
            }
        }
        (first..self.ended.len()).collect()
    }
}

/// The tokens a server logged, in the order it ran them.
fn tokens(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().expect("a token per line"))
        .collect()
}

#[test]
fn etcd_bound_calls_fail_over_from_a_cut_host_and_outlive_the_binder_and_none_runs_twice() {
    let Some(network) = Network::create("etc", 92, 5) else {
        return;
    };
    let dir: PathBuf =
        std::env::temp_dir().join(format!("rpcgen-hosts-etcd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let etcd_address: Ipv4Addr = network.hosts()[0].address;
    let binder = format!("etcd://{etcd_address}:2379");

    let mut etcd = start_etcd(&network, &dir);
    let logs: Vec<PathBuf> = (1..=3)
        .map(|h| dir.join(format!("server-{h}.log")))
        .collect();
    let mut servers: Vec<Process> = (1..=3)
        .map(|host| start_server(&network, host, &binder, &logs[host - 1]))
        .collect();

    let mut child = network.spawn(
        4,
        env!("CARGO_BIN_EXE_ledger-caller"),
        &[
            &binder,
            CALLERS,
            CALL_TIMEOUT,
            CONNECT_TIMEOUT,
            UNACKNOWLEDGED,
        ],
    );
    let lines = lines_of(&mut child);
    let mut client = Process {
        child,
        what: "ledger-caller",
    };
    assert_eq!(next_line(&lines, START, client.what), "ready");
    let mut calls = Calls::default();

    // Calls go round the three servers.
    let warm = calls.take_until(&lines, Instant::now() + Duration::from_secs(1));
    assert!(
        warm.iter().all(|&i| calls.ended[i].2 == "ok"),
        "calls failed with every host up"
    );
    for log in &logs {
        assert!(!tokens(log).is_empty(), "{} ran no call", log.display());
    }
    eprintln!("all hosts up: {} calls in 1 s, all Ok", warm.len());

    // Host 1 cut off: its calls fail, the client goes on with hosts 2 and 3.
    network.cut(1);
    let cut = Instant::now();
    let phase = calls.take_until(&lines, cut + LEASE + Duration::from_secs(3));
    let failed: Vec<usize> = phase
        .iter()
        .copied()
        .filter(|&i| calls.ended[i].2 != "ok")
        .collect();
    let last_error = failed.last().map(|&i| calls.ended[i].0);
    let back = phase
        .iter()
        .map(|&i| &calls.ended[i])
        .find(|(at, _, result)| result == "ok" && last_error.is_none_or(|e| *at > e))
        .map(|(at, _, _)| at.duration_since(cut))
        .expect("calls succeed after host 1 is cut");
    let errors_for = match (failed.first(), failed.last()) {
        (Some(&a), Some(&b)) => calls.ended[b].0.duration_since(calls.ended[a].0),
        _ => Duration::ZERO,
    };
    eprintln!(
        "host 1 cut: {} calls, {} failed (errors seen for {errors_for:?}, the last {:?} after the cut); calls Ok again {back:?} after the cut",
        phase.len(),
        failed.len(),
        last_error.map(|e| e.duration_since(cut)),
    );
    assert!(
        back <= LEASE + Duration::from_secs(1),
        "calls came back {back:?} after the cut"
    );
    let ok_after = phase
        .iter()
        .filter(|&&i| calls.ended[i].2 == "ok" && calls.ended[i].0 > cut + back)
        .count();
    assert!(ok_after > 0, "no call succeeded after failing over");

    // The etcd host cut off: the bindings the client has keep working without it.
    network.cut(0);
    let blind = calls.take_until(&lines, Instant::now() + Duration::from_secs(2));
    let ok = blind.iter().filter(|&&i| calls.ended[i].2 == "ok").count();
    eprintln!("etcd cut off: {} calls in 2 s, {ok} Ok", blind.len());
    assert!(ok > 0, "no call succeeded with etcd cut off");
    assert_eq!(ok, blind.len(), "calls failed with etcd cut off");

    // Healed, then stopped: the client first, so that every call has ended.
    network.heal(0);
    network.heal(1);
    drop(client.child.stdin.take());
    let end = Instant::now() + Duration::from_millis(3000 + 5000);
    while !calls.done && Instant::now() < end {
        calls.take_until(
            &lines,
            (Instant::now() + Duration::from_millis(100)).min(end),
        );
    }
    assert!(calls.done, "the client did not stop");
    client.stop();
    for server in &mut servers {
        server.stop();
    }
    etcd.stop();

    // No at-most-once call ran twice, and every call that returned Ok ran once.
    let mut runs = HashMap::<u64, u32>::new();
    for log in &logs {
        for token in tokens(log) {
            *runs.entry(token).or_default() += 1;
        }
    }
    let twice: Vec<(&u64, &u32)> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "calls ran more than once: {twice:?}");
    let mut made = HashMap::<u64, &str>::new();
    for (_, token, result) in &calls.ended {
        assert!(
            made.insert(*token, result.as_str()).is_none(),
            "token {token} used twice"
        );
        let n = runs.get(token).copied().unwrap_or(0);
        match result.as_str() {
            "ok" => assert_eq!(n, 1, "call {token} returned Ok"),
            "not-executed" => assert_eq!(n, 0, "call {token} failed as not executed"),
            _ => assert!(n <= 1, "call {token} ran {n} times"),
        }
    }
    let unknown = made.values().filter(|r| **r == "unknown").count();
    let unknown_ran = made
        .iter()
        .filter(|(t, r)| **r == "unknown" && runs.contains_key(t))
        .count();
    for token in runs.keys() {
        assert!(
            made.contains_key(token),
            "token {token} ran but was never called"
        );
    }
    eprintln!(
        "in all: {} calls, {} ran; {unknown} failed with an unknown outcome, {unknown_ran} of them ran",
        made.len(),
        runs.len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
