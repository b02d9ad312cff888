//! A member of the replicated store (`examples`' `idl/replica.idl`) for the tests of
//! several hosts: serves the store on `--listen`, exports it under `--name` by multicast
//! announcements on `--interface`, prints `ready ADDRESS UID`, and runs until its stdin
//! closes or it is killed.
//!
//! ```text
//! group-member --listen 10.77.1.1:7000 --interface 10.77.1.1 --group 239.255.77.78:7778 \
//!     --name store [--announce-ms 200]
//! ```

use std::io::BufRead;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use examples::replica::{StoreServer, store_interface};
use examples::replicas::Replica;
use rpc_binder::Binder;
use rpc_binder::MulticastConfig;
use rpc_runtime::Server;

/// The value following `flag` on the command line.
fn arg(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let need = |flag: &str| arg(&args, flag).ok_or_else(|| format!("{flag} is required"));
    let listen = need("--listen")?;
    let interface: Ipv4Addr = need("--interface")?.parse()?;
    let group: SocketAddrV4 = need("--group")?.parse()?;
    let name = need("--name")?;
    let every = Duration::from_millis(arg(&args, "--announce-ms").map_or(Ok(200), |s| s.parse())?);
    let config = MulticastConfig {
        group,
        interface,
        announce_every: every,
        lease: every * 3,
        ..MulticastConfig::default()
    };
    let binder = Binder::multicast(config).await?;
    let server = Server::new()
        .add_service(StoreServer::new(Replica::new()))
        .bind(&listen)
        .await?;
    let exported = binder
        .export(&name, &server, store_interface::FINGERPRINT)
        .await?;
    println!("ready {} {:#x}", server.local_addr(), server.uid());
    // Until the test closes stdin (or kills this process).
    tokio::task::spawn_blocking(|| {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            if line.is_err() {
                break;
            }
        }
    })
    .await?;
    exported.withdraw().await;
    server.shutdown().await;
    Ok(())
}
