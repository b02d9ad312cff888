//! The binder daemon, shared by the rpcgen servers and clients of one machine.
//!
//! ```text
//! cargo run -p rpc-binder -- 127.0.0.1:7700
//! ```

use std::net::SocketAddr;

use clap::Parser;

/// The rpcgen binder daemon: servers export names to it, clients look them up.
#[derive(Debug, Parser)]
#[command(name = "rpc-binder", version)]
struct Args {
    /// Where to listen (host:port).
    #[arg(default_value = "127.0.0.1:7700")]
    address: SocketAddr,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let server = rpc_binder::daemon::serve(&args.address.to_string()).await?;
    println!(
        "rpc-binder listening on {} (Ctrl-C stops it)",
        server.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
