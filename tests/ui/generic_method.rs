#[rpc_runtime::remote]
pub trait Store {
    async fn put<T>(&self, value: T);
}

fn main() {}
