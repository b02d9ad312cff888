#[rpc_runtime::remote]
pub trait Counter {
    #[idempotent]
    #[last_of_many]
    async fn read(&self) -> u64;
}

fn main() {}
