//! The bank as a server process.
//!
//! ```text
//! cargo run -p examples --bin bank-server -- 127.0.0.1:7878
//! cargo run -p examples --bin bank-server -- 127.0.0.1:7878 --udp 127.0.0.1:7878 --unix /tmp/bank.sock
//! cargo run -p examples --bin bank-server -- 127.0.0.1:0 --binder 127.0.0.1:7700
//! ```
//!
//! Serves on TCP, and also over UDP with `--udp ADDR` and over a Unix domain socket with
//! `--unix PATH`: one bank, the same accounts on every transport. With `--binder`,
//! exports its TCP address as `bank` to the binder daemon at that address (or to etcd, as
//! `--binder etcd://host:port`, built with `--features etcd`, or by multicast
//! announcements, as `--binder multicast://GROUP:PORT`) and keeps the export's lease
//! renewed. Serves until Ctrl-C, then shuts down gracefully (running calls finish).

use std::path::PathBuf;

use clap::Parser;
use examples::accounts::Accounts;
use examples::bank::{BankServer, bank_interface};
use examples::cli::Listeners;
use rpc_runtime::Server;

/// The bank as a server process: serves until Ctrl-C.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The TCP address to listen on.
    #[arg(default_value = "127.0.0.1:7878")]
    address: String,
    /// Also serve over UDP, on this address.
    #[arg(long, value_name = "ADDR")]
    udp: Option<String>,
    /// Also serve over a Unix domain socket, at this path (a stale socket there is
    /// removed first).
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
    /// Export the TCP address as `bank` to the binder daemon at ADDR, to etcd as
    /// `etcd://host:port` (built with `--features etcd`), or by multicast announcements
    /// as `multicast://GROUP:PORT`.
    #[arg(long, value_name = "ADDR")]
    binder: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // One bank behind an `Arc`: each transport's server holds a clone of it.
    let bank = BankServer::new(Accounts::new());
    let listeners = Listeners::bind(
        || Server::new().add_service(bank.clone()),
        &args.address,
        args.udp.as_deref(),
        args.unix.as_deref(),
    )
    .await?;
    println!("bank server listening on (Ctrl-C stops it):");
    for line in listeners.addresses() {
        println!("  {line}");
    }
    let export = match &args.binder {
        Some(binder) => {
            let binder = rpc_binder::Binder::from_spec(binder).await?;
            let export = binder
                .export("bank", &listeners.tcp, bank_interface::FINGERPRINT)
                .await?;
            println!("exported as `bank` (binding uid {:#x})", export.uid());
            Some(export)
        }
        None => None,
    };
    tokio::signal::ctrl_c().await?;
    if let Some(export) = export {
        export.withdraw().await;
    }
    listeners.shutdown().await;
    println!("bank server stopped");
    Ok(())
}
