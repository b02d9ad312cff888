//! A client of the bank server process.
//!
//! ```text
//! cargo run -p examples --bin bank-client -- 127.0.0.1:7878
//! cargo run -p examples --bin bank-client -- --binder 127.0.0.1:7700
//! ```
//!
//! With `--binder`, finds the bank by name through the binder daemon (or etcd:
//! `--binder etcd://host:port`, built with `--features etcd`), and finds it again if it
//! restarts.

use std::sync::Arc;

use examples::bank::{BankClient, bank_interface};
use rpc_runtime::{Channel, ChannelConfig, Client};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bank, address) = match args.as_slice() {
        [flag, binder] if flag == "--binder" => {
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
        _ => {
            let address = args
                .first()
                .cloned()
                .unwrap_or_else(|| "127.0.0.1:7878".into());
            (
                BankClient::new(Channel::connect(address.clone()).await?),
                address,
            )
        }
    };
    let account = bank.open("carol".into()).await?;
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
