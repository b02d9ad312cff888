//! One slot of a session: the last call made on it and, once it ran, its reply.
//!
//! A session has a fixed number of slots, and a client makes at most one call per slot
//! at a time, numbering the calls of each slot upwards. So the server needs to remember
//! one call per slot to keep every at-most-once promise:
//!
//! - a request numbered above the slot's last call is new: it runs, and the client, by
//!   moving on, has told the server it is done with the previous reply, which is freed;
//! - a request with the slot's number is a duplicate: it gets the stored reply again, or
//!   is dropped while the call runs (or after the client acknowledged the reply);
//! - a request numbered below is older than the slot's last call: it never runs.
//!
//! Gaps are allowed (a client may give up on a call whose request never arrived), since
//! numbers only go up: whatever was skipped can never run later.

use std::sync::Arc;

use crate::server::reply_sink::ReplySink;

/// What the slot knows of its last call.
pub(super) enum State {
    /// No call yet.
    Empty,
    /// Running; `redirect` is a connection a retransmission came on, to send the reply
    /// to as well (the connection of the first copy may be gone).
    Running {
        redirect: Option<Arc<dyn ReplySink>>,
    },
    /// Ran; `kept` when its reply is in the slot's buffer (not when it was too large).
    Done { kept: bool },
    /// Ran, and the client acknowledged the reply: it was dropped.
    Acked,
    /// A oneway call: ran, no reply.
    Oneway,
}

/// One slot.
pub(super) struct Slot {
    /// The number of the slot's last call (0: none yet).
    pub seq: u64,
    /// Digest of that call's request (object, method, fingerprint, flags, arguments).
    pub digest: u64,
    /// Who made it, for datagrams (a hash of the source address; 0 over streams): a
    /// stored reply goes to no other address.
    pub peer: u64,
    pub state: State,
    /// The last reply kept (header and payload), valid while the state is `Done {
    /// kept: true }`. Its capacity stays with the slot for the next call's reply, so a
    /// steady stream of at-most-once calls stores replies without allocating; what it
    /// holds is charged to the session ([`Slot::held`]) all the same.
    reply: Vec<u8>,
}

/// What to do with a request, as its slot sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New: run it (and report its end with `finish`). The slot's previous reply, if
    /// any, is gone.
    Run,
    /// A duplicate of the running call: drop it (its reply will come).
    Running,
    /// A duplicate of a finished call: send this reply again.
    Replay(Box<[u8]>),
    /// A duplicate of a finished call whose reply was not kept.
    ReplyLost,
    /// A duplicate of a call whose reply the client already has (acknowledged, or a
    /// oneway call): drop it.
    Done,
    /// A duplicate from another address than the call's: drop it.
    OtherPeer,
    /// Older than the slot's last call: it must not run.
    Stale,
    /// The slot's number with another request: refuse it.
    Reused,
    /// The session has no such slot.
    NoSlot,
    /// No such session (never opened, or forgotten).
    NoSession,
}

impl Slot {
    pub const EMPTY: Slot = Slot {
        seq: 0,
        digest: 0,
        peer: 0,
        state: State::Empty,
        reply: Vec::new(),
    };

    /// Judges request `seq` with `digest` from `peer`; a new call takes the slot (running,
    /// or done at once when `oneway`), and the previous reply is gone.
    pub fn begin(
        &mut self,
        seq: u64,
        digest: u64,
        peer: u64,
        oneway: bool,
        redirect: Option<Arc<dyn ReplySink>>,
    ) -> Verdict {
        if seq > self.seq {
            self.seq = seq;
            self.digest = digest;
            self.peer = peer;
            self.state = if oneway {
                State::Oneway
            } else {
                State::Running { redirect: None }
            };
            self.reply.clear();
            return Verdict::Run;
        }
        if seq < self.seq || matches!(self.state, State::Empty) {
            return Verdict::Stale;
        }
        if digest != self.digest {
            return Verdict::Reused;
        }
        match &mut self.state {
            State::Empty => Verdict::Stale,
            State::Running { redirect: to } => {
                if redirect.is_some() {
                    *to = redirect;
                }
                Verdict::Running
            }
            State::Done { .. } if peer != self.peer => Verdict::OtherPeer,
            State::Done { kept: true } => Verdict::Replay(self.reply.as_slice().into()),
            State::Done { kept: false } => Verdict::ReplyLost,
            State::Acked | State::Oneway => Verdict::Done,
        }
    }

    /// Records the end of call `seq` with its reply, if `keep` allows what storing it
    /// would cost: the reply's own cost and what the slot would then hold. Returns the
    /// connection to also send it to.
    pub fn finish(
        &mut self,
        seq: u64,
        reply: Option<&[u8]>,
        keep: impl FnOnce(usize, usize) -> bool,
    ) -> Option<Arc<dyn ReplySink>> {
        if seq != self.seq {
            return None; // the client moved on while it ran: nobody will ask again
        }
        let State::Running { redirect } = &mut self.state else {
            return None;
        };
        let redirect = redirect.take();
        let reply = reply.filter(|r| {
            let held = stored_cost(r.len().max(self.reply.capacity()));
            keep(stored_cost(r.len()), held)
        });
        if let Some(reply) = reply {
            self.reply.clear();
            self.reply.extend_from_slice(reply);
        }
        self.state = State::Done {
            kept: reply.is_some(),
        };
        redirect
    }

    /// The client has the reply of `seq`: drop it and its buffer, keeping the number.
    pub fn acknowledge(&mut self, seq: u64) {
        if seq == self.seq && matches!(self.state, State::Done { .. }) {
            self.state = State::Acked;
            self.reply = Vec::new();
        }
    }

    /// Bytes the slot's reply buffer costs, whether or not it holds a reply now.
    pub fn held(&self) -> usize {
        match self.reply.capacity() {
            0 => 0,
            capacity => stored_cost(capacity),
        }
    }

    /// Whether the slot holds a reply to send again.
    pub fn has_reply(&self) -> bool {
        matches!(self.state, State::Done { kept: true })
    }
}

/// What storing a reply of `len` bytes really costs: the allocator rounds a block up to
/// 16 bytes and keeps a header beside it.
pub(super) fn stored_cost(len: usize) -> usize {
    len.next_multiple_of(16) + 16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(slot: &mut Slot, seq: u64, digest: u64) -> Verdict {
        slot.begin(seq, digest, 0, false, None)
    }

    #[test]
    fn a_slot_runs_each_number_once_and_replays_its_reply() {
        let mut slot = Slot::EMPTY;
        assert_eq!(run(&mut slot, 0, 1), Verdict::Stale, "numbers start at 1");
        assert_eq!(run(&mut slot, 1, 1), Verdict::Run);
        assert_eq!(run(&mut slot, 1, 1), Verdict::Running);
        slot.finish(1, Some(b"reply"), |_, _| true);
        assert_eq!(
            run(&mut slot, 1, 1),
            Verdict::Replay(Box::from(&b"reply"[..]))
        );
        assert_eq!(
            run(&mut slot, 1, 2),
            Verdict::Reused,
            "same id, other request"
        );
        assert!(slot.has_reply());
        slot.acknowledge(1);
        assert!(!slot.has_reply());
        assert_eq!(slot.held(), 0, "acknowledged: the buffer goes too");
        assert_eq!(
            run(&mut slot, 1, 1),
            Verdict::Done,
            "acked: a late copy stays dropped"
        );
        assert_eq!(run(&mut slot, 5, 3), Verdict::Run, "gaps are allowed");
        assert_eq!(
            run(&mut slot, 3, 3),
            Verdict::Stale,
            "what was skipped never runs"
        );
        assert_eq!(run(&mut slot, 1, 1), Verdict::Stale);
    }

    #[test]
    fn a_reply_not_kept_is_reported_lost_and_other_peers_get_nothing() {
        let mut slot = Slot::EMPTY;
        assert_eq!(slot.begin(1, 1, 9, false, None), Verdict::Run);
        slot.finish(1, Some(b"too large"), |_, _| false);
        assert_eq!(slot.begin(1, 1, 9, false, None), Verdict::ReplyLost);
        let mut slot = Slot::EMPTY;
        slot.begin(1, 1, 9, false, None);
        slot.finish(1, Some(b"r"), |_, _| true);
        assert_eq!(slot.begin(1, 1, 8, false, None), Verdict::OtherPeer);
    }

    #[test]
    fn the_next_reply_reuses_the_buffer_of_the_last() {
        let mut slot = Slot::EMPTY;
        slot.begin(1, 1, 0, false, None);
        slot.finish(1, Some(&[1; 100]), |_, _| true);
        let (at, held) = (slot.reply.as_ptr(), slot.held());
        slot.begin(2, 2, 0, false, None);
        assert!(!slot.has_reply(), "a new call: the old reply is gone");
        assert_eq!(slot.held(), held, "but its buffer stays, and is charged");
        slot.finish(2, Some(&[2; 60]), |_, _| true);
        assert_eq!(slot.reply.as_ptr(), at, "no new allocation");
        assert_eq!(
            slot.begin(2, 2, 0, false, None),
            Verdict::Replay(vec![2; 60].into())
        );
    }

    #[test]
    fn oneway_calls_are_filtered_by_the_same_numbers() {
        let mut slot = Slot::EMPTY;
        assert_eq!(slot.begin(1, 1, 0, true, None), Verdict::Run);
        assert_eq!(slot.begin(1, 1, 0, true, None), Verdict::Done);
        assert_eq!(slot.begin(2, 1, 0, true, None), Verdict::Run);
    }
}
