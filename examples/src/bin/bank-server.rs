//! The bank as a server process.
//!
//! ```text
//! cargo run -p examples --bin bank-server -- 127.0.0.1:7878
//! cargo run -p examples --bin bank-server -- 127.0.0.1:0 --binder 127.0.0.1:7700
//! ```
//!
//! With `--binder`, exports itself as `bank` to the binder daemon at that address (or to
//! etcd, as `--binder etcd://host:port`, built with `--features etcd`) and keeps the
//! export's lease renewed. Serves until Ctrl-C, then shuts down gracefully
//! (running calls finish).

use examples::accounts::Accounts;
use examples::bank::{BankServer, bank_interface};
use rpc_runtime::{Server, Transport};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7878".into());
    let server = Server::new()
        .add_service(BankServer::new(Accounts::new()))
        .bind(&address)
        .await?;
    println!(
        "bank server listening on {} (Ctrl-C stops it)",
        server.local_addr()
    );
    let export = match args
        .iter()
        .position(|a| a == "--binder")
        .and_then(|i| args.get(i + 1))
    {
        Some(binder) => {
            let binder = rpc_binder::Binder::from_spec(binder).await?;
            let export = binder
                .export("bank", &server, Transport::Tcp, bank_interface::FINGERPRINT)
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
    server.shutdown().await;
    println!("bank server stopped");
    Ok(())
}
