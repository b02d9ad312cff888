//! A client of the bank server process.
//!
//! ```text
//! cargo run -p examples --bin bank-client -- 127.0.0.1:7878
//! cargo run -p examples --bin bank-client -- --udp 127.0.0.1:7878
//! cargo run -p examples --bin bank-client -- --unix /tmp/bank.sock
//! cargo run -p examples --bin bank-client -- --binder 127.0.0.1:7700
//! ```
//!
//! Talks TCP to the address given, or UDP with `--udp ADDR`, or over a Unix domain
//! socket with `--unix PATH`. With `--binder`, finds the bank by name through the binder
//! daemon (or etcd: `--binder etcd://host:port`, built with `--features etcd`; or
//! multicast discovery: `--binder multicast://GROUP:PORT`), and finds it again if it
//! restarts.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use examples::bank::{BankClient, bank_interface};
use rpc_runtime::{ChannelConfig, Client};

/// A client of the bank server process: opens an account, deposits, transfers.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server's TCP address.
    #[arg(default_value = "127.0.0.1:7878")]
    address: String,
    /// Talk to the server over UDP at this address instead.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["address", "unix"])]
    udp: Option<String>,
    /// Talk to the server over the Unix domain socket at this path instead.
    #[arg(long, value_name = "PATH", conflicts_with = "address")]
    unix: Option<PathBuf>,
    /// Find the server as `bank` through the binder daemon at ADDR, through etcd as
    /// `etcd://host:port` (built with `--features etcd`), or by multicast discovery as
    /// `multicast://GROUP:PORT`.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["address", "udp", "unix"])]
    binder: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (bank, address) = match &args.binder {
        Some(binder) => {
            let resolver = Arc::new(rpc_binder::Binder::from_spec(binder).await?);
            let client = Client::bound(
                resolver,
                "bank",
                &bank_interface::SPEC,
                ChannelConfig::default(),
            );
            (
                BankClient::from_client(client),
                format!("`bank` via the binder at {binder}"),
            )
        }
        None => {
            let (channel, address) =
                examples::cli::connect(&args.address, args.udp.as_deref(), args.unix.as_deref())
                    .await?;
            (BankClient::new(channel), address)
        }
    };
    let account = bank.open("carol").await?;
    println!("opened {account:?} at {address}");
    let balance = bank.deposit(account.id, 42).await?;
    println!("deposited 42: balance {balance}");
    let mut amount = 10;
    match bank.transfer(account.id, 1, &mut amount).await {
        Ok(()) => println!("transferred {amount} to account 1"),
        Err(e) => println!("transfer to account 1 failed: {e}"),
    }
    println!("balance now {}", bank.balance(account.id).await?);
    Ok(())
}
