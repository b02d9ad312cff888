#[rpc_runtime::remote]
pub trait Clock {
    fn now(&self) -> u64;
}

fn main() {}
