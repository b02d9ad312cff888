#[rpc_runtime::remote]
pub trait Log {
    #[oneway]
    async fn write(&self, line: String) -> u64;
    #[oneway]
    async fn rotate(&self, generation: &mut u32);
}

fn main() {}
