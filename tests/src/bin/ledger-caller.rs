//! A client of the ledger for the tests of several hosts: binds to "ledger" by name
//! through a binder and makes at-most-once calls (`record`, every token new) from
//! several concurrent callers, without pause, until its stdin closes.
//!
//! ```text
//! ledger-caller BINDER CALLERS TIMEOUT_MS CONNECT_TIMEOUT_MS UNACKNOWLEDGED_MS
//! ```
//!
//! BINDER is as for `ledger-server`: the daemon's `host:port`, or `etcd://host:port`
//! (with the `etcd` feature). Each call may take TIMEOUT_MS in all, a connection
//! attempt CONNECT_TIMEOUT_MS, and a connection whose data stays unacknowledged for
//! UNACKNOWLEDGED_MS is given up (`ChannelConfig::unacknowledged_timeout`).
//!
//! Prints `ready` once the binder is connected, then one line per call as it ends:
//! `ok TOKEN`, or `err TOKEN OUTCOME WHY` (OUTCOME `not-executed`: it certainly did not
//! run; `unknown`: it may have; `executed`: it ran and failed), and `done` once every
//! caller has stopped.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rpc_binder::Binder;
use rpc_runtime::{ChannelConfig, Client, Outcome, RetryPolicy};
use tests::ledger_idl::{LedgerClient, ledger_interface};

/// The numeric command-line argument `value`, named `what` in the error.
fn number(value: Option<String>, what: &str) -> Result<u64, String> {
    value
        .ok_or_else(|| format!("missing {what}"))?
        .parse()
        .map_err(|e| format!("{what}: {e}"))
}

/// Writes one line to stdout at once (the test reads lines as they come).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(spec) = args.next() else {
        eprintln!(
            "usage: ledger-caller BINDER CALLERS TIMEOUT_MS CONNECT_TIMEOUT_MS UNACKNOWLEDGED_MS"
        );
        std::process::exit(2);
    };
    let callers = number(args.next(), "CALLERS")?;
    let timeout = Duration::from_millis(number(args.next(), "TIMEOUT_MS")?);
    let connect_timeout = Duration::from_millis(number(args.next(), "CONNECT_TIMEOUT_MS")?);
    let unacknowledged = Duration::from_millis(number(args.next(), "UNACKNOWLEDGED_MS")?);
    let binder = Binder::from_spec(&spec).await?;
    let config = ChannelConfig {
        retry: RetryPolicy {
            first_wait: Duration::from_millis(20),
            max_attempts: 6,
            ..RetryPolicy::default()
        },
        timeout,
        connect_timeout,
        unacknowledged_timeout: Some(unacknowledged),
        ..ChannelConfig::default()
    };
    let ledger = LedgerClient::from_client(Client::bound(
        Arc::new(binder),
        "ledger",
        &ledger_interface::SPEC,
        config,
    ));

    // Stops the callers when stdin closes (or says anything).
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            stop.store(true, Ordering::Relaxed);
        });
    }
    say("ready");

    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let ledger = ledger.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut token = (caller + 1) << 32;
                while !stop.load(Ordering::Relaxed) {
                    token += 1;
                    match ledger.record(token).await {
                        Ok(_) => say(&format!("ok {token}")),
                        Err(e) => {
                            let outcome = match e.outcome() {
                                Outcome::NotExecuted => "not-executed",
                                Outcome::Unknown => "unknown",
                                Outcome::Executed => "executed",
                            };
                            let why = e.to_string().replace('\n', " ");
                            say(&format!("err {token} {outcome} {why}"));
                            // Not a busy loop while nothing answers.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    say("done");
    Ok(())
}
