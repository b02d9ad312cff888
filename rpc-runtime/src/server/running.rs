//! The calls running as tasks, so that they can be stopped: by their client (a cancel
//! message), by their deadline, by their expiration quantum, or as orphans (an
//! extermination request, a new epoch of their client's identity).
//!
//! A call enters the table only when it must wait: one that finishes in the poll that
//! admitted it has nothing left to stop, and costs the table nothing. The table holds at
//! most one entry per permit of the server's semaphore, so it is bounded by
//! `max_in_flight`.
//!
//! Stopping a call is dropping its handler's future (every `.await` in it is a
//! cancellation point), then answering `Killed`; for an at-most-once call that answer is
//! what its slot keeps, so a retransmission gets it again instead of a second run.
//! A method marked `[uncancellable]` is never dropped: it only sees the request through
//! [`CallContext::is_cancelled`](super::CallContext::is_cancelled).

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::wire::tag::Secret;

/// Why a call was stopped before it finished.
///
/// `#[non_exhaustive]`: other reasons may come, so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum KillReason {
    /// Its client cancelled it (dropped the call, or gave up waiting).
    Cancelled = 1,
    /// The caller's deadline passed.
    Deadline = 2,
    /// Nothing was heard from its client within its expiration quantum.
    Expired = 3,
    /// Its client, restarted, asked for it to be stopped (extermination).
    Exterminated = 4,
    /// Its client's identity started a new epoch (reincarnation).
    Reincarnation = 5,
}

impl KillReason {
    fn from_code(code: u8) -> Option<KillReason> {
        Some(match code {
            1 => KillReason::Cancelled,
            2 => KillReason::Deadline,
            3 => KillReason::Expired,
            4 => KillReason::Exterminated,
            5 => KillReason::Reincarnation,
            _ => return None,
        })
    }

    /// The text of the `Killed` reply.
    pub fn text(self) -> &'static str {
        match self {
            KillReason::Cancelled => "the call was cancelled by its client",
            KillReason::Deadline => "the call's deadline passed on the server",
            KillReason::Expired => {
                "the call expired: its client was not heard from within its quantum"
            }
            KillReason::Exterminated => {
                "the call was an orphan, stopped at its restarted client's request"
            }
            KillReason::Reincarnation => "the call was an orphan of an earlier epoch of its client",
        }
    }
}

/// A running call's stop request: set once, seen by the call's supervisor (which drops
/// the handler) and by the handler itself through its context.
#[derive(Debug, Default)]
pub(crate) struct KillSwitch {
    reason: AtomicU8,
    notify: Notify,
}

impl KillSwitch {
    /// Asks the call to stop; false if it was asked before.
    pub fn kill(&self, reason: KillReason) -> bool {
        let first = self
            .reason
            .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if first {
            self.notify.notify_waiters();
            self.notify.notify_one();
        }
        first
    }

    /// Why the call was asked to stop, if it was.
    pub fn reason(&self) -> Option<KillReason> {
        KillReason::from_code(self.reason.load(Ordering::Acquire))
    }

    /// Waits until the call is asked to stop.
    pub async fn killed(&self) -> KillReason {
        loop {
            let notified = self.notify.notified();
            if let Some(reason) = self.reason() {
                return reason;
            }
            notified.await;
        }
    }
}

/// Whose a running call is, as far as orphan remedies go: its session's secret
/// (extermination requests must show it) and its client's identity and epoch
/// (reincarnation). Copied from the session when the call starts, so that the call can
/// be stopped even after its session was forgotten.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    pub secret: Secret,
    /// The identity's key (see `Sessions::identity_key`) and the epoch.
    pub client: Option<(u64, u64)>,
}

/// One running call.
struct Entry {
    switch: Arc<KillSwitch>,
    cancellable: bool,
    owner: Option<Owner>,
}

/// Calls stopped so far, by reason.
#[derive(Debug, Default)]
pub(crate) struct KillCounts {
    counts: [AtomicU64; 6],
}

impl KillCounts {
    fn add(&self, reason: KillReason) {
        self.counts[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many calls were stopped for `reason`.
    pub fn get(&self, reason: KillReason) -> u64 {
        self.counts[reason as usize].load(Ordering::Relaxed)
    }
}

/// The running calls of a server, by invocation id.
#[derive(Default)]
pub(crate) struct Running {
    calls: Mutex<FxHashMap<(u64, u32, u64), Entry>>,
    pub killed: KillCounts,
}

/// What asking a set of calls to stop did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopped {
    pub killed: u32,
    pub uncancellable: u32,
    pub not_running: u32,
}

impl Running {
    fn calls(&self) -> MutexGuard<'_, FxHashMap<(u64, u32, u64), Entry>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enters call `id`; its entry goes when the returned guard is dropped. Session 0
    /// (calls outside a session) cannot be named by a stop request and is not entered.
    pub fn enter(
        self: &Arc<Self>,
        id: (u64, u32, u64),
        switch: Arc<KillSwitch>,
        cancellable: bool,
        owner: Option<Owner>,
    ) -> Registered {
        if id.0 != 0 {
            self.calls().insert(
                id,
                Entry {
                    switch: switch.clone(),
                    cancellable,
                    owner,
                },
            );
        }
        Registered {
            running: self.clone(),
            id,
            switch,
        }
    }

    /// Asks call `id` to stop.
    pub fn stop(&self, id: (u64, u32, u64), reason: KillReason) -> Stopped {
        let calls = self.calls();
        let mut stopped = Stopped::default();
        match calls.get(&id) {
            Some(entry) => stopped.note(entry, reason),
            None => stopped.not_running += 1,
        }
        stopped
    }

    /// Asks call `id` to stop if its session's secret is `secret`; a call that is not
    /// there and one whose secret differs both count as not running.
    pub fn stop_owned(&self, id: (u64, u32, u64), secret: &Secret, reason: KillReason) -> Stopped {
        let calls = self.calls();
        let mut stopped = Stopped::default();
        match calls.get(&id) {
            Some(entry)
                if entry
                    .owner
                    .is_some_and(|o| crate::wire::tag::same_secret(&o.secret, secret)) =>
            {
                stopped.note(entry, reason)
            }
            _ => stopped.not_running += 1,
        }
        stopped
    }

    /// Asks every call that `doomed` picks, by session and client (identity key and
    /// epoch), to stop.
    pub fn stop_where(
        &self,
        doomed: impl Fn(u64, (u64, u64)) -> bool,
        reason: KillReason,
    ) -> Stopped {
        let calls = self.calls();
        let mut stopped = Stopped::default();
        for (id, entry) in calls.iter() {
            if let Some(client) = entry.owner.and_then(|o| o.client)
                && doomed(id.0, client)
            {
                stopped.note(entry, reason);
            }
        }
        stopped
    }

    /// The sessions whose calls of identity `key` from before `epoch` run now (each
    /// once).
    pub fn sessions_before(&self, key: u64, epoch: u64) -> Vec<u64> {
        let mut sessions: Vec<u64> = self
            .calls()
            .iter()
            .filter(|(_, e)| {
                e.owner
                    .and_then(|o| o.client)
                    .is_some_and(|(k, ep)| k == key && ep < epoch)
            })
            .map(|(id, _)| id.0)
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    /// How many calls run as tasks now.
    pub fn len(&self) -> usize {
        self.calls().len()
    }
}

impl Stopped {
    fn note(&mut self, entry: &Entry, reason: KillReason) {
        if !entry.cancellable {
            entry.switch.kill(reason);
            self.uncancellable += 1;
        } else if entry.switch.kill(reason) {
            self.killed += 1;
        } else {
            self.not_running += 1; // being stopped already
        }
    }
}

/// A call's place in the table, given back when the call ends.
pub(crate) struct Registered {
    running: Arc<Running>,
    id: (u64, u32, u64),
    switch: Arc<KillSwitch>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if self.id.0 != 0 {
            let mut calls = self.running.calls();
            // Only this call's entry: a newer call with the same id cannot exist while
            // this one runs (its slot is busy), but a stray entry must not be removed by
            // someone else's guard.
            if calls
                .get(&self.id)
                .is_some_and(|e| Arc::ptr_eq(&e.switch, &self.switch))
            {
                calls.remove(&self.id);
            }
        }
    }
}

/// When a call must stop on its own: its deadline, and its expiration quantum with a way
/// to learn when its session was last heard from.
pub(crate) struct Limits<'a> {
    pub deadline: Option<Instant>,
    pub quantum: Option<(Duration, &'a (dyn Fn() -> Option<Instant> + Send + Sync))>,
}

/// Runs `call` until it finishes or must stop; `Err` says why it was stopped (its future
/// is dropped by then). An uncancellable call always finishes.
pub(crate) async fn supervise<F: Future + Unpin>(
    mut call: F,
    switch: &KillSwitch,
    cancellable: bool,
    limits: Limits<'_>,
    counts: &KillCounts,
) -> Result<F::Output, KillReason> {
    if !cancellable {
        return Ok(call.await);
    }
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let mut expiry = match limits.quantum {
        Some((quantum, _)) => Instant::now() + quantum,
        None => far,
    };
    let deadline = limits.deadline.unwrap_or(far);
    let reason = loop {
        tokio::select! {
            biased;
            reason = switch.killed() => break reason,
            _ = tokio::time::sleep_until(deadline), if limits.deadline.is_some() => {
                switch.kill(KillReason::Deadline);
                break KillReason::Deadline;
            }
            _ = tokio::time::sleep_until(expiry), if limits.quantum.is_some() => {
                let Some((quantum, last_heard)) = limits.quantum else { continue };
                match last_heard() {
                    Some(heard) if heard + quantum > Instant::now() => expiry = heard + quantum,
                    // Not heard from within the quantum, or its session is forgotten.
                    _ => {
                        switch.kill(KillReason::Expired);
                        break KillReason::Expired;
                    }
                }
            }
            // Last: a handler whose own wait ends at its deadline (a call it made, which
            // inherited the deadline) is stopped, not let go on past it.
            output = &mut call => return Ok(output),
        }
    };
    drop(call);
    counts.add(reason);
    Err(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_drops_the_call_and_a_kill_reaches_it() {
        let counts = KillCounts::default();
        let switch = KillSwitch::default();
        let slow = Box::pin(tokio::time::sleep(Duration::from_secs(10)));
        let limits = Limits {
            deadline: Some(Instant::now() + Duration::from_millis(50)),
            quantum: None,
        };
        let started = Instant::now();
        let result = supervise(slow, &switch, true, limits, &counts).await;
        assert_eq!(result, Err(KillReason::Deadline));
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        assert_eq!(counts.get(KillReason::Deadline), 1);

        let running = Arc::new(Running::default());
        let switch = Arc::new(KillSwitch::default());
        let entered = running.enter((7, 0, 1), switch.clone(), true, None);
        assert_eq!(running.len(), 1);
        let stopped = running.stop((7, 0, 1), KillReason::Cancelled);
        assert_eq!(stopped.killed, 1);
        let slow = Box::pin(tokio::time::sleep(Duration::from_secs(10)));
        let none = Limits {
            deadline: None,
            quantum: None,
        };
        let result = supervise(slow, &switch, true, none, &counts).await;
        assert_eq!(result, Err(KillReason::Cancelled));
        drop(entered);
        assert_eq!(running.len(), 0);
        assert_eq!(
            running.stop((7, 0, 1), KillReason::Cancelled).not_running,
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quantum_is_renewed_by_news_of_the_client_and_expires_without() {
        let counts = KillCounts::default();
        let switch = KillSwitch::default();
        let started = Instant::now();
        // Heard from until 300 ms in; then silence.
        let heard = move || Some(started + Duration::from_millis(300).min(started.elapsed()));
        let slow = Box::pin(tokio::time::sleep(Duration::from_secs(10)));
        let limits = Limits {
            deadline: None,
            quantum: Some((Duration::from_millis(100), &heard)),
        };
        let result = supervise(slow, &switch, true, limits, &counts).await;
        assert_eq!(result, Err(KillReason::Expired));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(400) && took <= Duration::from_millis(500),
            "{took:?}"
        );
        // An uncancellable call runs to its end whatever happens.
        let switch = KillSwitch::default();
        switch.kill(KillReason::Cancelled);
        let quick = Box::pin(async { 5 });
        let none = Limits {
            deadline: Some(Instant::now()),
            quantum: None,
        };
        assert_eq!(supervise(quick, &switch, false, none, &counts).await, Ok(5));
    }
}
