//! Where replies wait for their calls: one cell per slot of the connection's session.
//!
//! A call holds its slot for its whole life, and a slot carries one call at a time, so
//! a fixed table indexed by slot number is all the matching needs: no map to insert
//! into, no channel to allocate per call. A cell remembers which sequence number it
//! waits for, so a late reply to an earlier call of the same slot finds nobody and is
//! dropped. The handshake, which runs before the session has slots, has a cell of its
//! own.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::connection::Incoming;
use crate::error::Outcome;
use crate::wire::HANDSHAKE_SLOT;

/// A reply, or why none will come.
pub(crate) type ReplyResult = Result<Incoming, (String, Outcome)>;

/// What one slot's cell holds.
#[derive(Debug, Default)]
enum Cell {
    /// No call waits.
    #[default]
    Idle,
    /// Call `seq` waits; `waker` is its task once it has polled.
    Waiting { seq: u64, waker: Option<Waker> },
    /// Call `seq`'s answer, not yet taken.
    Ready { seq: u64, result: ReplyResult },
}

/// The reply cells of one connection.
#[derive(Debug)]
pub(crate) struct Replies {
    /// One per slot, then the handshake's.
    cells: Box<[Mutex<Cell>]>,
    /// Cells with a call waiting (a hint for batching writes).
    waiting: AtomicUsize,
}

impl Replies {
    /// Cells for `slots` slots and the handshake.
    pub fn new(slots: u32) -> Replies {
        Replies {
            cells: (0..=slots).map(|_| Mutex::default()).collect(),
            waiting: AtomicUsize::new(0),
        }
    }

    fn cell(&self, slot: u32) -> Option<MutexGuard<'_, Cell>> {
        let index = if slot == HANDSHAKE_SLOT {
            self.cells.len() - 1
        } else {
            usize::try_from(slot)
                .ok()
                .filter(|&i| i + 1 < self.cells.len())?
        };
        // A cell is replaced whole under its lock; a panic cannot leave it torn.
        Some(
            self.cells[index]
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// How many calls wait for a reply.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Starts waiting for the reply to (`slot`, `seq`), before its request is sent.
    /// The returned future resolves to it; dropping the future stops waiting.
    pub fn register(&self, slot: u32, seq: u64) -> Reply<'_> {
        if let Some(mut cell) = self.cell(slot) {
            if !matches!(*cell, Cell::Waiting { .. }) {
                self.waiting.fetch_add(1, Ordering::Relaxed);
            }
            *cell = Cell::Waiting { seq, waker: None };
        }
        Reply {
            replies: self,
            slot,
            seq,
        }
    }

    /// Hands `incoming` to call (`slot`, `seq`); false when nobody waits for it.
    pub fn deliver(&self, slot: u32, seq: u64, incoming: Incoming) -> bool {
        let Some(mut cell) = self.cell(slot) else {
            return false;
        };
        match &mut *cell {
            Cell::Waiting {
                seq: waiting,
                waker,
            } if *waiting == seq => {
                let waker = waker.take();
                *cell = Cell::Ready {
                    seq,
                    result: Ok(incoming),
                };
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                drop(cell);
                if let Some(waker) = waker {
                    waker.wake();
                }
                true
            }
            _ => false,
        }
    }

    /// Fails every waiting call with `why`; returns how many there were.
    pub fn fail_all(&self, why: &str) -> usize {
        let mut failed = 0;
        for cell in self.cells.iter() {
            let mut cell = cell.lock().unwrap_or_else(PoisonError::into_inner);
            if let Cell::Waiting { seq, waker } = &mut *cell {
                let waker = waker.take();
                *cell = Cell::Ready {
                    seq: *seq,
                    result: Err((why.to_string(), Outcome::Unknown)),
                };
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                failed += 1;
                drop(cell);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
        failed
    }

    /// Stops waiting for (`slot`, `seq`), dropping its reply if it came.
    fn forget(&self, slot: u32, seq: u64) {
        if let Some(mut cell) = self.cell(slot) {
            match &*cell {
                Cell::Waiting { seq: s, .. } if *s == seq => {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    *cell = Cell::Idle;
                }
                Cell::Ready { seq: s, .. } if *s == seq => *cell = Cell::Idle,
                _ => {}
            }
        }
    }
}

/// The reply to one call, once it comes. Dropping it stops waiting.
#[derive(Debug)]
pub(crate) struct Reply<'a> {
    replies: &'a Replies,
    slot: u32,
    seq: u64,
}

impl Future for Reply<'_> {
    type Output = ReplyResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ReplyResult> {
        let gone = || {
            Poll::Ready(Err((
                "the call stopped waiting".to_string(),
                Outcome::Unknown,
            )))
        };
        let Some(mut cell) = self.replies.cell(self.slot) else {
            return Poll::Ready(Err((
                format!("slot {} is beyond the connection's slots", self.slot),
                Outcome::NotExecuted,
            )));
        };
        match &mut *cell {
            Cell::Waiting { seq, waker } if *seq == self.seq => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Cell::Ready { seq, .. } if *seq == self.seq => match std::mem::take(&mut *cell) {
                Cell::Ready { result, .. } => Poll::Ready(result),
                _ => gone(),
            },
            // Another call of the slot replaced this one: it was forgotten.
            _ => gone(),
        }
    }
}

impl Drop for Reply<'_> {
    fn drop(&mut self) {
        self.replies.forget(self.slot, self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Header, Kind};

    fn incoming(slot: u32, seq: u64) -> Incoming {
        Incoming {
            header: Header::control(Kind::Reply, 1, slot, seq),
            message: crate::wire::received::Received::new(Vec::new()),
            payload_at: 0,
        }
    }

    #[tokio::test]
    async fn a_reply_reaches_the_call_of_its_slot_and_number_only() {
        let replies = Replies::new(4);
        let reply = replies.register(2, 7);
        assert!(
            !replies.deliver(2, 6, incoming(2, 6)),
            "an older call's reply"
        );
        assert!(!replies.deliver(3, 7, incoming(3, 7)), "another slot");
        assert!(!replies.deliver(9, 7, incoming(9, 7)), "no such slot");
        assert_eq!(replies.waiting(), 1);
        assert!(replies.deliver(2, 7, incoming(2, 7)));
        assert!(!replies.deliver(2, 7, incoming(2, 7)), "a duplicate");
        assert_eq!(reply.await.unwrap().header.seq, 7);
        assert_eq!(replies.waiting(), 0);
    }

    #[tokio::test]
    async fn the_handshake_has_a_cell_and_closing_fails_every_waiting_call() {
        let replies = Replies::new(2);
        let handshake = replies.register(HANDSHAKE_SLOT, 99);
        let call = replies.register(0, 1);
        assert_eq!(replies.fail_all("gone"), 2);
        assert!(handshake.await.is_err());
        assert_eq!(call.await.unwrap_err().0, "gone");
    }

    #[tokio::test]
    async fn a_dropped_call_leaves_its_cell_idle() {
        let replies = Replies::new(1);
        drop(replies.register(0, 1));
        assert_eq!(replies.waiting(), 0);
        assert!(
            !replies.deliver(0, 1, incoming(0, 1)),
            "nobody waits any more"
        );
    }
}
