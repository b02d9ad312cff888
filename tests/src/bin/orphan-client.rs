//! A client process for the orphan tests: makes COUNT long calls to a `Worker` server
//! and waits, to be killed in the middle; started again, it applies its remedy.
//!
//! ```text
//! orphan-client SERVER REMEDY STATE_DIR COUNT MILLIS
//! ```
//!
//! REMEDY is `expiration` (calls with a 300 ms quantum), `extermination` (calls logged
//! in STATE_DIR/calls.log; at start, the calls a previous run left there are
//! exterminated) or `reincarnation` (sessions carry the identity of
//! STATE_DIR/identity; at start, the new epoch is announced to the servers it knew).
//!
//! Prints one line per step: `exterminated K` or `announced N` (at start), then
//! `calling`, then `done OK` once every call returned (OK of them succeeded).

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::client::orphans::{self, CallLog, Incarnation};
use rpc_runtime::{Channel, ChannelConfig};
use tests::orphans::WorkerClient;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, remedy, dir, count, millis] = &args[..] else {
        return Err("usage: orphan-client SERVER REMEDY STATE_DIR COUNT MILLIS".into());
    };
    let (count, millis): (usize, u64) = (count.parse()?, millis.parse()?);
    let dir = std::path::Path::new(dir);
    let mut config = ChannelConfig {
        timeout: Duration::from_secs(120),
        ..ChannelConfig::default()
    };
    match remedy.as_str() {
        "expiration" => config.quantum = Some(Duration::from_millis(300)),
        "extermination" => {
            let (log, leftovers) = CallLog::open(dir.join("calls.log"))?;
            let report = orphans::exterminate(&leftovers, Duration::from_secs(5)).await;
            log.forget_leftovers()?;
            println!("exterminated {}", report.killed);
            config.call_log = Some(Arc::new(log));
        }
        "reincarnation" => {
            let incarnation = Arc::new(Incarnation::start(dir.join("identity"))?);
            let announced = orphans::announce(&incarnation, Duration::from_secs(5)).await;
            println!("announced {announced}");
            config.incarnation = Some(incarnation);
        }
        other => return Err(format!("unknown remedy {other}").into()),
    }
    let client = WorkerClient::new(Channel::connect_with(server.clone(), config).await?);
    println!("calling");
    let calls: Vec<_> = (0..count)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.work(millis).await })
        })
        .collect();
    let mut ok = 0;
    for call in calls {
        if matches!(call.await, Ok(Ok(_))) {
            ok += 1;
        }
    }
    println!("done {ok}");
    Ok(())
}
