#[rpc_runtime::remote]
pub trait Journal {
    #[uncancellable]
    #[idempotent]
    #[uncancellable]
    async fn append(&self, line: String) -> u64;
    #[uncancellable(always)]
    async fn compact(&self);
}

fn main() {}
