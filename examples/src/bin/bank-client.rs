//! A client of the bank server process.
//!
//! ```text
//! cargo run -p examples --bin bank-client -- 127.0.0.1:7878
//! ```

use examples::bank::BankClient;
use rpc_runtime::Channel;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7878".into());
    let bank = BankClient::new(Channel::connect(address.clone()).await?);
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
