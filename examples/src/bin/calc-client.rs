//! A client of the `#[remote]` calculator.
//!
//! ```text
//! cargo run -p examples --bin calc-client -- 127.0.0.1:7879
//! cargo run -p examples --bin calc-client -- --udp 127.0.0.1:7879
//! cargo run -p examples --bin calc-client -- --unix /tmp/calc.sock
//! ```
//!
//! Talks TCP to the address given, or UDP with `--udp ADDR`, or over a Unix domain
//! socket with `--unix PATH`.

use std::path::PathBuf;

use clap::Parser;
use examples::calc::{CalcClient, CalcError};
use rpc_runtime::CallError;

/// A client of the `#[remote]` calculator: calls each of its methods once.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server's TCP address.
    #[arg(default_value = "127.0.0.1:7879")]
    address: String,
    /// Talk to the server over UDP at this address instead.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["address", "unix"])]
    udp: Option<String>,
    /// Talk to the server over the Unix domain socket at this path instead.
    #[arg(long, value_name = "PATH", conflicts_with = "address")]
    unix: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (channel, address) =
        examples::cli::connect(&args.address, args.udp.as_deref(), args.unix.as_deref()).await?;
    println!("calculator at {address}");
    let calc = CalcClient::new(channel);
    println!("add(2, 40)     -> {}", calc.add(2, 40).await?);
    println!("divide(84, 2)  -> {}", calc.divide(84, 2).await?);
    match calc.divide(1, 0).await {
        Err(CallError::Exception(CalcError::DivideByZero)) => {
            println!("divide(1, 0)   -> exception: division by zero")
        }
        other => println!("divide(1, 0)   -> {other:?}"),
    }
    let mut value = 21;
    calc.double(&mut value).await?;
    println!("double(&mut 21) -> value is now {value}");
    calc.store(value).await?;
    println!("store({value})    -> sent (oneway)");
    println!("recall()       -> {}", calc.recall().await?);
    Ok(())
}
