//! The `Ledger` service of `idl/ledger.idl`: counts executions per token, and for
//! last-of-many calls remembers the highest attempt that ran.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ledger_idl::Ledger;

/// Execution counts by token.
#[derive(Debug, Default)]
pub struct Counts {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    runs: HashMap<u64, u64>,
    highest_attempt: HashMap<u64, u64>,
}

impl Counts {
    /// How many times the call of `token` ran.
    pub fn runs(&self, token: u64) -> u64 {
        self.state().runs.get(&token).copied().unwrap_or(0)
    }

    /// The highest sequence number of a last-of-many attempt for `token` that ran.
    pub fn highest_attempt(&self, token: u64) -> Option<u64> {
        self.state().highest_attempt.get(&token).copied()
    }

    /// Every token that ran, with its count.
    pub fn all(&self) -> HashMap<u64, u64> {
        self.state().runs.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, token: u64) -> u64 {
        let mut state = self.state();
        let n = state.runs.entry(token).or_default();
        *n += 1;
        *n
    }
}

impl Ledger for std::sync::Arc<Counts> {
    async fn record(&self, token: u64) -> u64 {
        self.run(token)
    }

    async fn touch(&self, token: u64) -> u64 {
        self.run(token)
    }

    async fn stamp(&self, token: u64) -> u64 {
        self.run(token);
        let seq = rpc_runtime::server::invocation().map_or(0, |i| i.seq);
        let mut state = self.state();
        let highest = state.highest_attempt.entry(token).or_default();
        *highest = (*highest).max(seq);
        seq
    }

    async fn mark(&self, token: u64) {
        self.run(token);
    }
}
