//! An in-memory bank: the server side of `idl/bank.idl`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bank::{Account, Bank, BankError};

/// Accounts held in memory, behind a mutex (each operation is short).
#[derive(Debug, Default)]
pub struct Accounts {
    accounts: Mutex<HashMap<u64, Account>>,
    next_id: AtomicU64,
    ticks: AtomicU64,
    audit: Mutex<Vec<String>>,
}

impl Accounts {
    /// An empty bank.
    pub fn new() -> Accounts {
        Accounts::default()
    }

    /// The audit lines received so far.
    pub fn audit_log(&self) -> Vec<String> {
        self.audit.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u64, Account>) -> T) -> T {
        f(&mut self.accounts.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Bank for Accounts {
    async fn balance(&self, id: u64) -> Result<i64, BankError> {
        self.with(|a| {
            a.get(&id)
                .map(|acc| acc.balance)
                .ok_or(BankError::NotFound { id })
        })
    }

    async fn deposit(&self, id: u64, amount: i64) -> Result<i64, BankError> {
        self.with(|a| {
            let acc = a.get_mut(&id).ok_or(BankError::NotFound { id })?;
            acc.balance += amount;
            Ok(acc.balance)
        })
    }

    async fn audit(&self, line: String) {
        self.audit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    /// Moves up to `amount` from `from` to `to`, and writes back how much moved: all of
    /// it, or what `from` had.
    async fn transfer(&self, from: u64, to: u64, amount: &mut i64) -> Result<(), BankError> {
        self.with(|a| {
            if !a.contains_key(&to) {
                return Err(BankError::NotFound { id: to });
            }
            let source = a.get_mut(&from).ok_or(BankError::NotFound { id: from })?;
            if source.balance <= 0 {
                return Err(BankError::Insufficient {
                    needed: *amount,
                    available: source.balance,
                });
            }
            let moved = (*amount).min(source.balance);
            source.balance -= moved;
            if let Some(target) = a.get_mut(&to) {
                target.balance += moved;
            }
            *amount = moved;
            Ok(())
        })
    }

    async fn read_block(&self, id: u64, data: &mut rpc_runtime::Bytes) {
        *data = id.to_le_bytes().repeat(4).into();
    }

    async fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::Relaxed) + 1
    }

    async fn open(&self, owner: String) -> Account {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let account = Account {
            id,
            owner,
            balance: 0,
            tags: vec!["new".into()],
            note: None,
        };
        self.with(|a| a.insert(id, account.clone()));
        account
    }
}
