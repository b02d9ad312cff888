//! The binder daemon, built with the tests so that they can run it as a process.
//! Prints `listening on ADDRESS` and serves until killed.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let server = rpc_binder::daemon::serve(&address).await?;
    println!("listening on {}", server.local_addr());
    std::future::pending::<()>().await;
    Ok(())
}
