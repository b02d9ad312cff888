//! The members of the replicated store (`idl/replica.idl`): each a map of keys to
//! entries, optionally slow to answer (to show a member that misses a quorum's
//! deadline).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::replica::{Entry, Store};

/// One member's copy of the store.
#[derive(Default)]
pub struct Replica {
    entries: Mutex<HashMap<String, Entry>>,
    /// How long each call waits before it answers.
    delay: Duration,
    /// Writes applied so far.
    writes: AtomicU64,
}

impl Replica {
    /// An empty member that answers at once.
    pub fn new() -> Replica {
        Replica::default()
    }

    /// An empty member that waits `delay` before each answer.
    pub fn slow(delay: Duration) -> Replica {
        Replica {
            delay,
            ..Replica::default()
        }
    }

    /// Writes this member applied so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

impl Store for Replica {
    async fn put(&self, key: String, value: String) -> u64 {
        tokio::time::sleep(self.delay).await;
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.entry(key).or_insert_with(|| Entry {
            value: String::new(),
            version: 0,
        });
        entry.value = value;
        entry.version += 1;
        entry.version
    }

    async fn get(&self, key: String) -> Entry {
        tokio::time::sleep(self.delay).await;
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&key).cloned().unwrap_or(Entry {
            value: String::new(),
            version: 0,
        })
    }
}
