#[rpc_runtime::remote]
pub trait Greeter {
    async fn greet(&self, name: &String) -> String;
}

fn main() {}
