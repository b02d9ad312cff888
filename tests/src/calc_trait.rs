//! The calculator of `idl/calc.idl`, declared as a `#[remote]` trait instead: the
//! generated code is the same, and clients of one form call servers of the other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};

use rpc_runtime::Bytes;

/// A calculator that keeps a running total.
#[rpc_runtime::remote(package = "calc")]
pub trait Calc {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// The running total.
    #[idempotent]
    async fn total(&self) -> i64;
    /// Adds every value to `acc` and to the total.
    async fn accumulate(&self, values: Vec<i64>, acc: &mut i64);
    /// Splits text into words, and counts them.
    async fn words(&self, text: String, #[out] count: &mut u32) -> Vec<String>;
    /// Sets the total back to zero.
    #[oneway]
    async fn reset(&self);
    /// Named figures.
    #[last_of_many]
    async fn stats(&self) -> HashMap<String, f64>;
    /// The bytes back, labelled.
    // Both spellings of `bytes` (the generated trait, implemented below, has `Bytes`).
    async fn echo(&self, data: Vec<u8>, label: Option<String>) -> rpc_runtime::Bytes;
}

/// A calculator implementing the trait form.
#[derive(Debug, Default)]
pub struct Calculator {
    total: AtomicI64,
}

impl Calc for Calculator {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn total(&self) -> i64 {
        self.total.load(Ordering::SeqCst)
    }

    async fn accumulate(&self, values: Vec<i64>, acc: &mut i64) {
        let sum: i64 = values.iter().sum();
        *acc += sum;
        self.total.fetch_add(sum, Ordering::SeqCst);
    }

    async fn words(&self, text: String, count: &mut u32) -> Vec<String> {
        let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        *count = words.len() as u32;
        words
    }

    async fn reset(&self) {
        self.total.store(0, Ordering::SeqCst);
    }

    async fn stats(&self) -> HashMap<String, f64> {
        HashMap::from([(
            "total".to_string(),
            self.total.load(Ordering::SeqCst) as f64,
        )])
    }

    async fn echo(&self, data: Bytes, label: Option<String>) -> Bytes {
        let mut data = Vec::from(data);
        data.extend(label.unwrap_or_default().into_bytes());
        data.into()
    }
}
