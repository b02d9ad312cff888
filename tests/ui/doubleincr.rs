// The copy/restore trap: in C, `doubleincr(&a, &a)` with copy/restore increments `a`
// once instead of twice, because both copies are restored over each other. In Rust the
// call does not compile: two `&mut` borrows of one variable.

#[rpc_runtime::remote]
pub trait Counter {
    async fn doubleincr(&self, x: &mut i64, y: &mut i64);
}

async fn call(counter: CounterClient) {
    let mut a = 0;
    counter.doubleincr(&mut a, &mut a).await.unwrap();
}

fn main() {
    let _ = call;
}
