//! The bank as a server process.
//!
//! ```text
//! cargo run -p examples --bin bank-server -- 127.0.0.1:7878
//! ```
//!
//! Serves until Ctrl-C, then shuts down gracefully (running calls finish).

use examples::accounts::Accounts;
use examples::bank::BankServer;
use rpc_runtime::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7878".into());
    let server = Server::new()
        .add_service(BankServer::new(Accounts::new()))
        .bind(&address)
        .await?;
    println!(
        "bank server listening on {} (Ctrl-C stops it)",
        server.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    println!("bank server stopped");
    Ok(())
}
