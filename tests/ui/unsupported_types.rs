#[rpc_runtime::remote]
pub trait Shapes {
    async fn area(&self, sides: (f64, f64)) -> f64;
    async fn count(&self) -> usize;
    async fn index(&self, names: std::collections::BTreeMap<String, u32>);
    async fn pick(&self, values: [u8; 4]) -> char;
}

fn main() {}
