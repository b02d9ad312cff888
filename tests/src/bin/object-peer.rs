//! A second process for the remote object tests.
//!
//! ```text
//! object-peer hub            serves a hub on 127.0.0.1; prints `listening on ADDRESS`
//! object-peer hold ADDRESS N asks the hub at ADDRESS for N counters, holds them (leased)
//!                            and prints `held N`; then waits to be killed
//! ```
//!
//! Both run until killed, or until their standard input closes.

use std::time::Duration;

use rpc_runtime::{Channel, Server};
use tests::hub::HubService;
use tests::objects::{HubClient, HubServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["hub"] => {
            let server = Server::new()
                .add_service(HubServer::new(HubService::default()))
                .bind("127.0.0.1:0")
                .await?;
            println!("listening on {}", server.local_addr());
            wait_for_stdin_to_close().await;
        }
        ["hold", address, n] => {
            let hub = HubClient::new(Channel::connect(*address).await?);
            let counters = hub.make_counters(n.parse()?).await?;
            // Used once, so the references are known to work.
            for counter in &counters {
                counter.get().await?;
            }
            println!("held {}", counters.len());
            wait_for_stdin_to_close().await;
            drop(counters);
        }
        _ => return Err("usage: object-peer hub | object-peer hold ADDRESS N".into()),
    }
    Ok(())
}

/// Returns when the parent closes our standard input (or never, while it is open).
async fn wait_for_stdin_to_close() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}
