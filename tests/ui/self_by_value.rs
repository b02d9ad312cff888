#[rpc_runtime::remote]
pub trait Door {
    async fn close(self);
}

fn main() {}
