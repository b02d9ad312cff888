//! The `#[remote]` calculator as a server process.
//!
//! ```text
//! cargo run -p examples --bin calc-server -- 127.0.0.1:7879
//! cargo run -p examples --bin calc-server -- 127.0.0.1:7879 --udp 127.0.0.1:7879 --unix /tmp/calc.sock
//! ```
//!
//! Serves on TCP, and also over UDP with `--udp ADDR` and over a Unix domain socket with
//! `--unix PATH`: one calculator, the same memory on every transport.

use std::path::PathBuf;

use clap::Parser;
use examples::calc::{CalcServer, Calculator};
use examples::cli::Listeners;
use rpc_runtime::Server;

/// The `#[remote]` calculator as a server process: serves until Ctrl-C.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The TCP address to listen on.
    #[arg(default_value = "127.0.0.1:7879")]
    address: String,
    /// Also serve over UDP, on this address.
    #[arg(long, value_name = "ADDR")]
    udp: Option<String>,
    /// Also serve over a Unix domain socket, at this path (a stale socket there is
    /// removed first).
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // One calculator behind an `Arc`: each transport's server holds a clone of it.
    let calc = CalcServer::new(Calculator::default());
    let listeners = Listeners::bind(
        || Server::new().add_service(calc.clone()),
        &args.address,
        args.udp.as_deref(),
        args.unix.as_deref(),
    )
    .await?;
    println!("calculator listening on (Ctrl-C stops it):");
    for line in listeners.addresses() {
        println!("  {line}");
    }
    tokio::signal::ctrl_c().await?;
    listeners.shutdown().await;
    Ok(())
}
