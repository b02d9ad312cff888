//! A client of the `#[remote]` calculator.
//!
//! ```text
//! cargo run -p examples --bin calc-client -- 127.0.0.1:7879
//! ```

use examples::calc::{CalcClient, CalcError};
use rpc_runtime::{CallError, Channel};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7879".into());
    let calc = CalcClient::new(Channel::connect(address).await?);
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
