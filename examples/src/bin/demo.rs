//! The one-process demo: a bank server and a client over real loopback TCP, showing
//! each kind of call and what came back.

use examples::accounts::Accounts;
use examples::bank::{BankClient, BankError, BankServer};
use rpc_runtime::{CallError, Channel, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::new()
        .add_service(BankServer::new(Accounts::new()))
        .bind("127.0.0.1:0")
        .await?;
    println!("bank server listening on {}", server.local_addr());

    let bank = BankClient::new(Channel::connect(server.local_addr().to_string()).await?);

    let alice = bank.open("alice".into()).await?;
    println!("open(\"alice\")              -> {alice:?}");
    let bob = bank.open("bob".into()).await?;
    println!("open(\"bob\")                -> account {}", bob.id);

    let balance = bank.deposit(alice.id, 100).await?;
    println!(
        "deposit({}, 100)             -> balance {balance}   (at-most-once)",
        alice.id
    );

    let mut amount = 250;
    print!(
        "transfer({} -> {}, inout amount = {amount})",
        alice.id, bob.id
    );
    bank.transfer(alice.id, bob.id, &mut amount).await?;
    println!(" -> amount written back: {amount}   (copy/restore)");

    let balance = bank.balance(bob.id).await?;
    println!(
        "balance({})                  -> {balance}   (idempotent: at-least-once)",
        bob.id
    );

    match bank.balance(99).await {
        Err(CallError::Exception(BankError::NotFound { id })) => {
            println!("balance(99)                 -> exception NotFound {{ id: {id} }}")
        }
        other => println!("balance(99)                 -> unexpected {other:?}"),
    }

    let mut block = Vec::new();
    bank.read_block(7, &mut block).await?;
    println!(
        "read_block(7, out data)     -> data = {} bytes {:?}...",
        block.len(),
        &block[..8]
    );

    bank.audit("demo done".into()).await?;
    println!("audit(\"demo done\")          -> sent   (oneway: maybe, no reply)");

    let tick = bank.tick().await?;
    println!("tick()                      -> {tick}   (last-of-many)");

    server.shutdown().await;
    println!("server shut down");
    Ok(())
}
