//! The `#[remote]` calculator as a server process.
//!
//! ```text
//! cargo run -p examples --bin calc-server -- 127.0.0.1:7879
//! ```

use examples::calc::{CalcServer, Calculator};
use rpc_runtime::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7879".into());
    let server = Server::new()
        .add_service(CalcServer::new(Calculator::default()))
        .bind(&address)
        .await?;
    println!(
        "calculator listening on {} (Ctrl-C stops it)",
        server.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
