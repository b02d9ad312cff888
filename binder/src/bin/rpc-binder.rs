//! The binder daemon, shared by the rpcgen servers and clients of one machine.
//!
//! ```text
//! cargo run -p rpc-binder -- 127.0.0.1:7700
//! ```

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7700".into());
    let server = rpc_binder::daemon::serve(&address).await?;
    println!(
        "rpc-binder listening on {} (Ctrl-C stops it)",
        server.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
