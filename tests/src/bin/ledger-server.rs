//! A ledger server process for restart tests: exports itself to the binder daemon and
//! appends the token of every call it runs to a log file.
//!
//! ```text
//! ledger-server BINDER LOG_FILE [LISTEN]
//! ```
//!
//! BINDER is the daemon's `host:port`, or `etcd://host:port` (with the `etcd` feature).
//! LISTEN is the address to serve on, `127.0.0.1:0` unless given (a host's own address
//! when the server runs in a network namespace, so that other hosts can reach it).
//!
//! Prints `listening on ADDRESS` once exported, and serves until killed.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use rpc_runtime::{Server, Transport};
use tests::ledger_idl::{Ledger, LedgerServer, ledger_interface};

/// Appends each token run to the log, flushed at once (the process may be killed).
struct Logged {
    log: Mutex<std::fs::File>,
}

impl Logged {
    fn run(&self, token: u64) -> u64 {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(log, "{token}");
        let _ = log.flush();
        1
    }
}

impl Ledger for Logged {
    async fn record(&self, token: u64) -> u64 {
        self.run(token)
    }
    async fn touch(&self, token: u64) -> u64 {
        self.run(token)
    }
    async fn stamp(&self, token: u64) -> u64 {
        self.run(token)
    }
    async fn mark(&self, token: u64) {
        self.run(token);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(binder), Some(log)) = (args.next(), args.next()) else {
        eprintln!("usage: ledger-server BINDER_ADDRESS LOG_FILE [LISTEN]");
        std::process::exit(2);
    };
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".to_string());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let service = Logged {
        log: Mutex::new(log),
    };
    let server = Server::new()
        .add_service(LedgerServer::new(service))
        .bind(listen.as_str())
        .await?;
    let binder = rpc_binder::Binder::from_spec(&binder).await?;
    let _export = binder
        .export_at(
            "ledger",
            &server.local_addr().to_string(),
            server.uid(),
            Transport::Tcp,
            ledger_interface::FINGERPRINT,
            Duration::from_millis(900),
        )
        .await?;
    println!("listening on {}", server.local_addr());
    std::future::pending::<()>().await;
    Ok(())
}
