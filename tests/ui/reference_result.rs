#[rpc_runtime::remote]
pub trait Names {
    async fn first(&self) -> &'static str;
}

fn main() {}
