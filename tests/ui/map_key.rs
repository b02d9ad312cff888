// The same rule as the IDL's, from the same check: floats and lists are no map keys.
#[rpc_runtime::remote]
pub trait Prices {
    async fn by_weight(&self, prices: std::collections::HashMap<f64, u32>);
    async fn by_tags(&self) -> Option<std::collections::HashMap<Vec<String>, u32>>;
}

fn main() {}
