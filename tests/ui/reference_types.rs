// References: a `Ref` of something other than an interface's client, and a method named
// like the `into_ref` every generated trait provides.
#[rpc_runtime::remote]
pub trait Node {
    async fn adopt(&self, child: rpc_runtime::objects::Ref<u8>);
    async fn into_ref(&self) -> NodeRef;
}

fn main() {}
