// Names the generated code would define twice: the client's own `new`, two methods that
// become one constant and one wire struct, and a parameter named like a generated variable.
#[rpc_runtime::remote]
pub trait Store {
    async fn new(&self) -> u8;
    #[allow(non_snake_case)]
    async fn readBlock(&self, id: u64) -> Vec<u8>;
    async fn read_block(&self, id: u64) -> Vec<u8>;
    async fn put(&self, __reply: &mut u8);
}

fn main() {}
