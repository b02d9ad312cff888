#[rpc_runtime::remote]
pub trait Journal {
    /// Appends a line and syncs it: must not stop between the two.
    #[uncancelable]
    async fn append(&self, line: String) -> u64;
}

fn main() {}
