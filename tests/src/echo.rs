//! The `Echo` service of `idl/types.idl`, with counters the tests read.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::types::{Echo, Everything, Oops};

/// Sends things back, and counts.
#[derive(Debug, Default)]
pub struct EchoService {
    running: AtomicU32,
    most_running: AtomicU32,
    notes: Mutex<Vec<String>>,
}

impl EchoService {
    /// A fresh service.
    pub fn new() -> EchoService {
        EchoService::default()
    }

    /// The notes received by the `oneway` method.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Echo for EchoService {
    async fn everything(&self, value: Everything) -> Everything {
        value
    }

    async fn echo_bytes(&self, data: rpc_runtime::Bytes) -> rpc_runtime::Bytes {
        data
    }

    async fn swap(&self, a: &mut String, b: &mut String) {
        std::mem::swap(a, b);
    }

    async fn fill(&self, n: u32, data: &mut Vec<u64>, label: &mut String) -> u32 {
        *data = (0..u64::from(n)).collect();
        *label = format!("{n} numbers");
        n
    }

    async fn fail(&self, code: i32) -> Result<i32, Oops> {
        match code {
            0 => Err(Oops::Zero),
            c if c < 0 => Err(Oops::Negative { code: c }),
            c => Ok(c),
        }
    }

    async fn note(&self, text: String) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    async fn explode(&self, message: String) -> u32 {
        panic!("{message}")
    }

    async fn nap(&self, millis: u32) -> u32 {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(u64::from(millis))).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.most_running.load(Ordering::SeqCst)
    }
}
