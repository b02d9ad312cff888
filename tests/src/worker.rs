//! The `Worker` service of `idl/orphans.idl`: long calls that count how they end (ran to
//! their end, or dropped in the middle), note the context they saw, and, for `relay`,
//! call the next server of a chain (it returns how many servers the call went through).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rpc_runtime::Metadata;

use crate::orphans::{Worker, WorkerClient};

/// What the calls did.
#[derive(Debug, Default)]
pub struct Work {
    /// Handlers started.
    pub started: AtomicU64,
    /// Handlers that ran to their end.
    pub finished: AtomicU64,
    /// Handlers dropped before their end.
    pub dropped: AtomicU64,
    /// When each dropped handler was dropped.
    dropped_at: Mutex<Vec<Instant>>,
    /// The context of each call, as its handler saw it at its start.
    seen: Mutex<Vec<Seen>>,
    /// `[uncancellable]` calls that saw, at their end, that they had been cancelled.
    pub saw_cancelled: AtomicU64,
    /// The next server of a chain, for `relay`.
    next: Option<WorkerClient>,
}

/// What a handler saw of its call's context.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The metadata.
    pub metadata: Metadata,
    /// How long the caller would still wait, at the handler's start.
    pub remaining: Option<Duration>,
}

impl Work {
    /// A worker at the end of a chain (or alone).
    pub fn new() -> Arc<Work> {
        Arc::new(Work::default())
    }

    /// A worker that relays to `next`.
    pub fn relaying_to(next: WorkerClient) -> Arc<Work> {
        Arc::new(Work {
            next: Some(next),
            ..Work::default()
        })
    }

    /// Handlers started, finished, dropped.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.started.load(Ordering::SeqCst),
            self.finished.load(Ordering::SeqCst),
            self.dropped.load(Ordering::SeqCst),
        )
    }

    /// When the handlers that were dropped were dropped.
    pub fn dropped_at(&self) -> Vec<Instant> {
        self.dropped_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The contexts seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts a start, notes the context, and returns the guard that counts the end.
    fn start(self: &Arc<Self>) -> Tracker {
        self.started.fetch_add(1, Ordering::SeqCst);
        if let Some(context) = rpc_runtime::server::context() {
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Seen {
                    metadata: context.metadata().clone(),
                    remaining: context.remaining(),
                });
        }
        Tracker {
            work: self.clone(),
            done: false,
        }
    }

    async fn nap(self: &Arc<Self>, millis: u64) -> u64 {
        let tracker = self.start();
        tokio::time::sleep(Duration::from_millis(millis)).await;
        tracker.finish();
        millis
    }
}

/// Counts how a handler ended when it is dropped.
struct Tracker {
    work: Arc<Work>,
    done: bool,
}

impl Tracker {
    fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if self.done {
            self.work.finished.fetch_add(1, Ordering::SeqCst);
        } else {
            self.work.dropped.fetch_add(1, Ordering::SeqCst);
            self.work
                .dropped_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Instant::now());
        }
    }
}

impl Worker for Arc<Work> {
    async fn nap(&self, millis: u64) -> u64 {
        Work::nap(self, millis).await
    }

    async fn work(&self, millis: u64) -> u64 {
        Work::nap(self, millis).await
    }

    async fn steady(&self, millis: u64) -> u64 {
        let tracker = self.start();
        tokio::time::sleep(Duration::from_millis(millis)).await;
        if rpc_runtime::server::context().is_some_and(|c| c.is_cancelled()) {
            self.saw_cancelled.fetch_add(1, Ordering::SeqCst);
        }
        tracker.finish();
        millis
    }

    async fn relay(&self, hops: u32, millis: u64) -> u64 {
        let tracker = self.start();
        let further = match (&self.next, hops) {
            (Some(next), 1..) => next.relay(hops - 1, millis).await.unwrap_or(0),
            _ => {
                tokio::time::sleep(Duration::from_millis(millis)).await;
                0
            }
        };
        tracker.finish();
        further + 1
    }
}
