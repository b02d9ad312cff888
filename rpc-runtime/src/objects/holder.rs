//! The holding side of distributed garbage collection: the references this process
//! holds to objects of other processes, counted, and leased from their owners.
//!
//! Every owner (a channel and the binding uid of the server behind it) has one
//! *leaser*, a task that sends that owner's lease messages in batches: one `dirty` for
//! all the references that arrived since its last round (with their transit tokens),
//! one `clean` for all those whose last local copy was dropped, and one `dirty` for
//! everything held every third of a lease (a renewal that fails is tried again at once,
//! so two can fail before a lease runs out). A holder that crashes sends nothing more,
//! and its leases run out at the owner.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::HeldStats;
use super::dgc::{self, Clean, Dirty, Leased, MAX_LEASE_BATCH};
use crate::client::{Channel, Client};
use crate::error::CallError;

/// The lease assumed until an owner says how long its leases last.
const FIRST_LEASE: Duration = Duration::from_secs(30);

/// How long references arriving together are gathered into one `dirty`.
const GATHER: Duration = Duration::from_millis(2);

/// One group of local copies of a reference (the copies of one decoded reference share
/// it): while it lives, the object is leased.
pub(crate) struct Held {
    leaser: Arc<Leaser>,
    object: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.leaser.release(self.object);
    }
}

/// The references held from one owner, and the task that leases them.
struct Leaser {
    key: (usize, u64),
    client: Client,
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// Groups of copies per object.
    held: FxHashMap<u64, usize>,
    /// Arrived since the last round: object and transit token.
    fresh: Vec<(u64, u64)>,
    /// Released since the last round.
    released: Vec<u64>,
    /// The task has stopped; a new reference needs a new leaser.
    finished: bool,
}

/// The leaser of each owner: by channel and binding uid.
type Leasers = FxHashMap<(usize, u64), Arc<Leaser>>;

fn leasers() -> MutexGuard<'static, Leasers> {
    static LEASERS: OnceLock<Mutex<Leasers>> = OnceLock::new();
    LEASERS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Lease message numbers: one counter for the process, so that every owner sees them
/// grow whichever leaser sends them.
fn next_seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(1);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Holds object `object` of the server behind `channel` with binding uid `binding`,
/// which arrived with transit token `token`: leased until the returned handle (and all
/// its clones) are dropped. None outside a tokio runtime, where nothing can lease.
pub(crate) fn hold(channel: &Channel, binding: u64, object: u64, token: u64) -> Option<Arc<Held>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let key = (channel.key(), binding);
    let mut all = leasers();
    let leaser = match all.get(&key) {
        Some(leaser) if !leaser.state().finished => leaser.clone(),
        _ => {
            let leaser = Arc::new(Leaser {
                key,
                client: Client::new(channel.clone(), &dgc::SPEC)
                    .with_target(binding, dgc::SPEC.object),
                state: Mutex::default(),
                wake: Notify::new(),
            });
            all.insert(key, leaser.clone());
            runtime.spawn(leaser.clone().run());
            leaser
        }
    };
    drop(all);
    {
        let mut state = leaser.state();
        *state.held.entry(object).or_default() += 1;
        state.fresh.push((object, token));
    }
    leaser.wake.notify_one();
    Some(Arc::new(Held { leaser, object }))
}

/// What this process holds now.
pub(crate) fn stats() -> HeldStats {
    let all = leasers();
    HeldStats {
        owners: all.len(),
        references: all.values().map(|l| l.state().held.len()).sum(),
    }
}

impl Leaser {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, object: u64) {
        {
            let mut state = self.state();
            let Some(count) = state.held.get_mut(&object) else {
                return;
            };
            *count -= 1;
            if *count > 0 {
                return;
            }
            state.held.remove(&object);
            state.released.push(object);
        }
        self.wake.notify_one();
    }

    /// Sends lease messages until nothing is held any more, or the owner is gone.
    async fn run(self: Arc<Self>) {
        let mut lease = FIRST_LEASE;
        let mut renewal = Instant::now() + lease / 3;
        loop {
            tokio::select! {
                _ = self.wake.notified() => tokio::time::sleep(GATHER).await,
                _ = tokio::time::sleep_until(renewal) => {}
            }
            let renew = Instant::now() >= renewal;
            let (fresh, released, all) = {
                let mut state = self.state();
                let all: Vec<(u64, u64)> = if renew {
                    state.held.keys().map(|&id| (id, 0)).collect()
                } else {
                    Vec::new()
                };
                // A reference released and received again since the last round is
                // held: its clean would go after the new copy's dirty, and free it.
                let mut released = std::mem::take(&mut state.released);
                released.retain(|id| !state.held.contains_key(id));
                (std::mem::take(&mut state.fresh), released, all)
            };
            let mut failed = false;
            // A new reference's copy waits two leases at its owner: a lease of
            // retransmissions fits. A renewal has a third of one.
            let (fresh_budget, renewal_budget) = (lease, lease / 3);
            let batches: Vec<(&[(u64, u64)], Duration)> = fresh
                .chunks(MAX_LEASE_BATCH)
                .map(|b| (b, fresh_budget))
                .chain(all.chunks(MAX_LEASE_BATCH).map(|b| (b, renewal_budget)))
                .collect();
            let mut renewed = renew;
            for (batch, budget) in batches {
                match self.dirty(batch, budget).await {
                    Ok(granted) => {
                        // The owner decides how long its leases last.
                        lease = granted;
                        renewal = renewal.min(Instant::now() + lease / 3);
                    }
                    Err(Gone) => return self.finish(),
                    Err(Retry) if budget == renewal_budget => renewed = false,
                    Err(Retry) => failed = true,
                }
            }
            for batch in released.chunks(MAX_LEASE_BATCH) {
                let clean = Clean {
                    seq: next_seq(),
                    objects: batch.to_vec(),
                };
                match self.client.call::<_, ()>(&dgc::CLEAN, &clean).await {
                    Ok(()) => {}
                    Err(e) if owner_gone(&e) => return self.finish(),
                    // Not released there: its lease runs out instead.
                    Err(e) => tracing::debug!("a clean failed: {e}"),
                }
            }
            if failed {
                // Tried again soon; what arrived stays in transit at the owner meanwhile.
                {
                    let mut state = self.state();
                    let retry: Vec<(u64, u64)> = fresh
                        .into_iter()
                        .filter(|(id, _)| state.held.contains_key(id))
                        .collect();
                    state.fresh.extend(retry);
                }
                self.wake.notify_one();
                tokio::time::sleep(lease / 8).await;
            }
            if renewed {
                renewal = Instant::now() + lease / 3;
            } else if renew {
                renewal = Instant::now(); // at once: the lease is running out
            }
            if self.idle() {
                return;
            }
        }
    }

    /// Leases `batch`, trying for at most `budget`; the lease the owner granted.
    async fn dirty(&self, batch: &[(u64, u64)], budget: Duration) -> Result<Duration, Failure> {
        let dirty = Dirty {
            seq: next_seq(),
            objects: batch.to_vec(),
        };
        let client = self.client.clone().with_timeout(budget);
        match client.call::<_, Leased>(&dgc::DIRTY, &dirty).await {
            Ok(leased) => {
                if !leased.refused.is_empty() {
                    tracing::debug!(
                        objects = leased.refused.len(),
                        "the owner refused leases: those references are dead"
                    );
                    // Not renewed again; their calls fail with UnknownObject there.
                    let mut state = self.state();
                    for id in &leased.refused {
                        state.held.remove(id);
                    }
                }
                Ok(Duration::from_micros(leased.lease_micros).max(Duration::from_millis(10)))
            }
            Err(e) if owner_gone(&e) => Err(Gone),
            Err(e) => {
                tracing::debug!("a dirty failed: {e}");
                Err(Retry)
            }
        }
    }

    /// Whether nothing is left to lease or release; then the leaser is gone.
    fn idle(&self) -> bool {
        let mut all = leasers();
        let mut state = self.state();
        let idle = state.held.is_empty() && state.fresh.is_empty() && state.released.is_empty();
        if idle {
            self.unregister(&mut all, &mut state);
        }
        idle
    }

    /// The owner restarted or went away for good: its references are all dead.
    fn finish(&self) {
        let mut all = leasers();
        let mut state = self.state();
        state.held.clear();
        state.fresh.clear();
        state.released.clear();
        self.unregister(&mut all, &mut state);
    }

    /// Leaves the registry (if a newer leaser has not taken its place): the next
    /// reference from this owner starts a new leaser.
    fn unregister(&self, all: &mut Leasers, state: &mut State) {
        state.finished = true;
        if all.get(&self.key).is_some_and(|l| std::ptr::eq(&**l, self)) {
            all.remove(&self.key);
        }
    }
}

/// How a lease message failed.
enum Failure {
    /// The owner is not there any more: nothing it held lives.
    Gone,
    /// It may go through later.
    Retry,
}
use Failure::{Gone, Retry};

/// Whether a lease call's error means that the owner's objects are all gone: a new
/// incarnation, or a peer that serves no leases.
fn owner_gone<E>(error: &CallError<E>) -> bool {
    matches!(
        error,
        CallError::UnknownBinding(_)
            | CallError::UnknownObject(_)
            | CallError::UnknownMethod { .. }
    )
}
