//! Sessions: the server's memory of each client's calls, bounded by construction.
//!
//! A client opens a session with a handshake and gets an id and a 128-bit secret (see
//! [`crate::wire::tag`] for how the secret is used). The session has a fixed number of
//! slots; each remembers the last call made on it, so the session holds at most
//! one reply per slot, and memory is *sessions × slots × reply size*, whatever the
//! traffic (this is the design of NFSv4.1 sessions, RFC 8881 §2.10.6).
//!
//! Everything is charged at what it really costs, and bounded: stored replies per
//! session, bytes of all sessions, the number of sessions. When a bound would be
//! exceeded, whole sessions are forgotten, least recently used first, never single
//! replies: a request naming a forgotten session is refused with
//! [`Status::BadSession`](crate::wire::Status::BadSession), so its client learns that
//! its unanswered calls' outcome is unknown, and nothing runs twice. The only work done
//! beside a request is evicting a few sessions when a bound is crossed: there is no
//! periodic sweep.

mod slot;
mod window;

pub(crate) use slot::Verdict;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use slot::Slot;
use window::ReplayWindow;

use super::limits::Limits;
use super::reply_sink::ReplySink;
use super::running::Owner;
use crate::id::random_u64;
use crate::objects::reverse::ReverseLink;
use crate::wire::ONEWAY_SLOT;
use crate::wire::tag::Secret;

/// What a session costs besides its slots and replies: the session itself, its entry in
/// the table's map (with the map's spare capacity) and in the recency index.
pub const SESSION_COST: usize = std::mem::size_of::<Session>() + 2 * (8 + 8) + 64 + 32;

/// What one slot costs.
pub const SLOT_COST: usize = std::mem::size_of::<Slot>();

/// What the sessions hold and have done, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Sessions held now.
    pub sessions: usize,
    /// Bytes held now: sessions, slots and stored replies at their real cost.
    pub bytes: usize,
    /// Replies stored now.
    pub replies: usize,
    /// Sessions opened so far.
    pub opened: u64,
    /// Sessions forgotten to stay within [`Limits::history_bytes`] or
    /// [`Limits::max_sessions`] while still in use; their clients were told so.
    pub evicted: u64,
    /// Sessions forgotten after [`Limits::session_idle`] without use.
    pub expired: u64,
    /// Replies not stored because they were too large or their session was full.
    pub not_kept: u64,
}

struct Session {
    secret: Secret,
    slots: Box<[Slot]>,
    /// The oneway calls seen.
    oneway: ReplayWindow,
    /// Bytes of stored replies.
    stored: usize,
    /// Position in the recency index.
    tick: u64,
    /// When the client was last heard from in this session (a request, an
    /// acknowledgement, a renewal, a cancel).
    last_used: Instant,
    /// Opened over a stream connection (else over datagrams).
    stream: bool,
    /// Stream connections attached to it now.
    streams: u32,
    /// The client's identity key and epoch, if it announced them.
    client: Option<(u64, u64)>,
    /// How this server calls back the objects the client sent, once it has sent one:
    /// it lives as long as the session.
    callbacks: Option<Arc<ReverseLink>>,
}

impl Session {
    fn cost(&self) -> usize {
        SESSION_COST + self.slots.len() * SLOT_COST + self.stored
    }
}

#[derive(Default)]
struct Table {
    /// By id. Ids are chosen by this server at random, so a fast unkeyed hash is safe:
    /// a peer can name any id in a lookup, but cannot put one in the table.
    map: FxHashMap<u64, Session>,
    /// Sessions by last use, oldest first.
    recency: BTreeMap<u64, u64>,
    tick: u64,
    stats: SessionStats,
    /// The highest epoch seen of each client identity, by identity key; at most
    /// [`Limits::max_identities`].
    identities: FxHashMap<u64, u64>,
}

/// Every session of a server.
pub(crate) struct Sessions {
    limits: Limits,
    /// Keys request digests, so that no one can choose two requests with one digest.
    digest_seed: u64,
    /// The top 16 bits of every session id this incarnation opens: a session id with
    /// other top bits was never this incarnation's (the converse may err, once in 65,536
    /// restarts, on the safe side: a stranger taken for a forgotten session).
    incarnation: u64,
    /// Keys identity secrets into the table's keys (SipHash, keyed at random), so that
    /// the table never holds a secret and nobody can choose keys that collide.
    identities: std::hash::RandomState,
    table: Mutex<Table>,
}

impl Sessions {
    pub fn new(limits: Limits) -> Sessions {
        Sessions {
            limits,
            digest_seed: random_u64(),
            incarnation: random_u64() >> 48,
            identities: std::hash::RandomState::new(),
            table: Mutex::new(Table::default()),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Every update is whole under the lock; a panic elsewhere cannot tear it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The digest of a request: what must match for a copy to be a duplicate.
    pub fn digest(
        &self,
        object: u64,
        method: u32,
        fingerprint: u64,
        flags: u8,
        args: &[u8],
    ) -> u64 {
        let seed = self.digest_seed ^ object.rotate_left(17) ^ u64::from(method).rotate_left(41);
        xxhash_rust::xxh3::xxh3_64_with_seed(args, seed ^ fingerprint ^ u64::from(flags))
    }

    /// Opens a session of at most `slots` slots, over a stream connection (attached to
    /// it) or datagrams: its id, secret and slot count.
    pub fn open(&self, slots: u32, stream: bool, now: Instant) -> (u64, Secret, u32) {
        let slots = slots.clamp(1, self.limits.max_slots.max(1));
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&random_u64().to_le_bytes());
        secret[8..].copy_from_slice(&random_u64().to_le_bytes());
        let mut table = self.table();
        table.expire_idle(self.limits.session_idle, now);
        while table.map.len() >= self.limits.max_sessions.max(1) {
            if !table.evict_oldest(None) {
                break;
            }
        }
        let id = loop {
            let id = (self.incarnation << 48) | (random_u64() & ((1 << 48) - 1));
            if id != 0 && !table.map.contains_key(&id) {
                break id;
            }
        };
        let session = Session {
            secret,
            slots: (0..slots).map(|_| Slot::EMPTY).collect(),
            oneway: ReplayWindow::default(),
            stored: 0,
            tick: 0,
            last_used: now,
            stream,
            streams: u32::from(stream),
            client: None,
            callbacks: None,
        };
        table.stats.bytes += session.cost();
        table.stats.opened += 1;
        table.map.insert(id, session);
        table.touch(id, now);
        table.evict_over(self.limits.history_bytes, id);
        (id, secret, slots)
    }

    /// Whether session `id` was opened by this incarnation (held or forgotten since).
    pub fn opened_here(&self, id: u64) -> bool {
        id >> 48 == self.incarnation
    }

    /// The secret of session `id`, if it is held.
    pub fn secret(&self, id: u64) -> Option<Secret> {
        self.table().map.get(&id).map(|s| s.secret)
    }

    /// Judges request (`id`, `slot`, `seq`) with `digest` from `peer`; see [`Verdict`].
    /// A oneway call in [`ONEWAY_SLOT`] goes through the session's replay window.
    #[allow(clippy::too_many_arguments)]
    pub fn begin(
        &self,
        (id, slot, seq): (u64, u32, u64),
        digest: u64,
        peer: u64,
        oneway: bool,
        redirect: Option<Arc<dyn ReplySink>>,
        now: Instant,
    ) -> Verdict {
        let mut guard = self.table();
        let table = &mut *guard; // one borrow per field below
        let Some(session) = table.map.get_mut(&id) else {
            return Verdict::NoSession;
        };
        if oneway && slot == ONEWAY_SLOT {
            let verdict = if session.oneway.admit(seq) {
                Verdict::Run
            } else {
                Verdict::Done
            };
            table.touch(id, now);
            return verdict;
        }
        let Some(slot) = session.slots.get_mut(slot as usize) else {
            return Verdict::NoSlot;
        };
        let before = Held::of(slot);
        let verdict = slot.begin(seq, digest, peer, oneway, redirect);
        let after = Held::of(slot);
        Held::charge(&mut session.stored, &mut table.stats, before, after);
        table.touch(id, now);
        verdict
    }

    /// Records the end of call (`id`, `slot`, `seq`) with its reply (the whole message)
    /// when it has one to send again; returns a connection to also send it to.
    pub fn finish(
        &self,
        (id, slot, seq): (u64, u32, u64),
        reply: Option<&[u8]>,
    ) -> Option<Arc<dyn ReplySink>> {
        let mut guard = self.table();
        let table = &mut *guard; // one borrow per field below
        let max_reply = self.limits.max_stored_reply;
        let session_bytes = self.limits.session_bytes;
        let session = table.map.get_mut(&id)?;
        let stored = session.stored;
        let slot = session.slots.get_mut(slot as usize)?;
        let before = Held::of(slot);
        let wanted = reply.is_some();
        let redirect = slot.finish(seq, reply, |cost, held| {
            cost <= max_reply + 32 && stored - before.bytes + held <= session_bytes
        });
        let after = Held::of(slot);
        Held::charge(&mut session.stored, &mut table.stats, before, after);
        if after.reply {
            table.evict_over(self.limits.history_bytes, id);
        } else if wanted {
            table.stats.not_kept += 1;
        }
        redirect
    }

    /// The client of session `id` has the reply of (`slot`, `seq`): drop it.
    pub fn acknowledge(&self, (id, slot, seq): (u64, u32, u64)) {
        let mut guard = self.table();
        let table = &mut *guard; // one borrow per field below
        let Some(session) = table.map.get_mut(&id) else {
            return;
        };
        let Some(slot) = session.slots.get_mut(slot as usize) else {
            return;
        };
        let before = Held::of(slot);
        slot.acknowledge(seq);
        let after = Held::of(slot);
        Held::charge(&mut session.stored, &mut table.stats, before, after);
    }

    /// The client of session `id` was heard from (a renewal, an acknowledgement...).
    pub fn heard(&self, id: u64, now: Instant) {
        self.table().touch(id, now);
    }

    /// When the client of session `id` was last heard from; None if it is not held.
    pub fn last_heard(&self, id: u64) -> Option<tokio::time::Instant> {
        let table = self.table();
        let session = table.map.get(&id)?;
        Some(tokio::time::Instant::from_std(session.last_used))
    }

    /// A stream connection attached session `id`.
    pub fn attached(&self, id: u64) {
        if let Some(session) = self.table().map.get_mut(&id) {
            session.streams += 1;
        }
    }

    /// The callback link of session `id`, made by `make` on first use; None if the
    /// session is not held.
    pub fn callback_link(
        &self,
        id: u64,
        make: impl FnOnce() -> Arc<ReverseLink>,
    ) -> Option<Arc<ReverseLink>> {
        let mut table = self.table();
        let session = table.map.get_mut(&id)?;
        Some(session.callbacks.get_or_insert_with(make).clone())
    }

    /// The callback link of session `id`, if it has one.
    pub fn existing_callback_link(&self, id: u64) -> Option<Arc<ReverseLink>> {
        self.table().map.get(&id)?.callbacks.clone()
    }

    /// A stream connection that had `ids` attached is gone.
    pub fn detach(&self, ids: &[u64]) {
        let mut table = self.table();
        for id in ids {
            if let Some(session) = table.map.get_mut(id) {
                session.streams = session.streams.saturating_sub(1);
            }
        }
    }

    /// Who owns session `id`'s calls: its secret and client.
    pub fn owner_of(&self, id: u64) -> Option<Owner> {
        let table = self.table();
        let session = table.map.get(&id)?;
        Some(Owner {
            secret: session.secret,
            client: session.client,
        })
    }

    /// The key of a client identity in this server's tables.
    pub fn identity_key(&self, identity: &Secret) -> u64 {
        use std::hash::BuildHasher;
        self.identities.hash_one(identity)
    }

    /// Records that session `id` belongs to identity `key` in `epoch`; whether that
    /// epoch is newer than any this server saw of the identity (so that its older
    /// epochs' calls are orphans).
    pub fn announce(&self, id: u64, key: u64, epoch: u64) -> bool {
        let mut guard = self.table();
        let table = &mut *guard;
        if let Some(session) = table.map.get_mut(&id) {
            session.client = Some((key, epoch));
        }
        let newer = table.identities.get(&key).is_none_or(|&seen| epoch > seen);
        if newer {
            if !table.identities.contains_key(&key)
                && table.identities.len() >= self.limits.max_identities.max(1)
            {
                // Full: forget one. At worst, an old epoch of that identity announced
                // again later is taken for a new one and stops calls of even older
                // epochs, which are orphans all the same.
                let victim = table.identities.keys().next().copied();
                if let Some(victim) = victim {
                    table.identities.remove(&victim);
                }
            }
            table.identities.insert(key, epoch);
        }
        newer
    }

    /// Whether the client of session `id` cannot be found: the session is forgotten; or
    /// it was opened over a stream and no stream connection is attached to it any more;
    /// or it uses datagrams and was not heard from for [`Limits::owner_silence`].
    pub fn owner_gone(&self, id: u64, now: Instant) -> bool {
        let table = self.table();
        match table.map.get(&id) {
            None => true,
            Some(s) if s.stream => s.streams == 0,
            Some(s) => now.duration_since(s.last_used) >= self.limits.owner_silence,
        }
    }

    pub fn stats(&self) -> SessionStats {
        let table = self.table();
        SessionStats {
            sessions: table.map.len(),
            ..table.stats
        }
    }
}

impl Table {
    /// Marks session `id` used now.
    fn touch(&mut self, id: u64, now: Instant) {
        let latest = self.tick;
        if let Some(session) = self.map.get_mut(&id) {
            session.last_used = now;
            // Ticks start at 1: a new session's 0 is not in the index yet.
            if session.tick == latest && latest != 0 {
                return; // already the most recent: the index stays as it is
            }
            self.tick += 1;
            self.recency.remove(&session.tick);
            session.tick = self.tick;
            self.recency.insert(self.tick, id);
        }
    }

    /// Forgets the least recently used session other than `keep`; false if none.
    fn evict_oldest(&mut self, keep: Option<u64>) -> bool {
        let oldest = self
            .recency
            .iter()
            .map(|(_, &id)| id)
            .find(|&id| Some(id) != keep);
        let Some(id) = oldest else {
            return false;
        };
        self.forget(id);
        self.stats.evicted += 1;
        true
    }

    /// Forgets sessions while over `budget` bytes, keeping `keep` (the one being charged;
    /// its own bounds are the slot count and the per-session reply bytes).
    fn evict_over(&mut self, budget: usize, keep: u64) {
        while self.stats.bytes > budget {
            if !self.evict_oldest(Some(keep)) {
                break;
            }
        }
    }

    /// Forgets a few sessions idle for `idle` or longer (a few per call, so that the
    /// work is spread over the calls that open sessions).
    fn expire_idle(&mut self, idle: std::time::Duration, now: Instant) {
        for _ in 0..4 {
            let Some((_, &id)) = self.recency.first_key_value() else {
                return;
            };
            let idle_long = self
                .map
                .get(&id)
                .is_some_and(|s| now.duration_since(s.last_used) >= idle);
            if !idle_long {
                return;
            }
            self.forget(id);
            self.stats.expired += 1;
        }
    }

    fn forget(&mut self, id: u64) {
        if let Some(session) = self.map.remove(&id) {
            self.recency.remove(&session.tick);
            self.stats.bytes -= session.cost();
            self.stats.replies -= session.slots.iter().filter(|s| s.has_reply()).count();
        }
    }
}

/// What a slot holds, before and after an operation on it, so that the difference is
/// charged to its session and to the table in one place.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// Bytes of its reply buffer.
    bytes: usize,
    /// Whether it holds a reply to send again.
    reply: bool,
}

impl Held {
    fn of(slot: &Slot) -> Held {
        Held {
            bytes: slot.held(),
            reply: slot.has_reply(),
        }
    }

    fn charge(stored: &mut usize, stats: &mut SessionStats, before: Held, after: Held) {
        *stored = *stored - before.bytes + after.bytes;
        stats.bytes = stats.bytes - before.bytes + after.bytes;
        stats.replies = stats.replies - usize::from(before.reply) + usize::from(after.reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_slots: 4,
            ..Limits::default()
        }
    }

    #[test]
    fn a_session_runs_each_call_once_and_other_sessions_are_apart() {
        let sessions = Sessions::new(limits());
        let now = Instant::now();
        let (a, _, slots) = sessions.open(100, false, now);
        assert_eq!(slots, 4, "the grant is capped");
        let (b, _, _) = sessions.open(4, false, now);
        let begin = |id, slot, seq| sessions.begin((id, slot, seq), 1, 0, false, None, now);
        assert_eq!(begin(a, 0, 1), Verdict::Run);
        assert_eq!(begin(b, 0, 1), Verdict::Run, "another session's slot 0");
        assert_eq!(begin(a, 4, 1), Verdict::NoSlot);
        assert_eq!(begin(99, 0, 1), Verdict::NoSession);
        sessions.finish((a, 0, 1), Some(b"ok"));
        assert_eq!(begin(a, 0, 1), Verdict::Replay(Box::from(&b"ok"[..])));
        let stats = sessions.stats();
        assert_eq!((stats.sessions, stats.replies), (2, 1));
        assert_eq!(
            stats.bytes,
            2 * (SESSION_COST + 4 * SLOT_COST) + slot::stored_cost(2)
        );
        sessions.acknowledge((a, 0, 1));
        assert_eq!(sessions.stats().bytes, 2 * (SESSION_COST + 4 * SLOT_COST));
    }

    #[test]
    fn over_the_budget_whole_sessions_go_least_recently_used_first() {
        let one = SESSION_COST + 4 * SLOT_COST;
        let sessions = Sessions::new(Limits {
            history_bytes: 3 * one + 100,
            ..limits()
        });
        let now = Instant::now();
        let ids: Vec<u64> = (0..3).map(|_| sessions.open(4, false, now).0).collect();
        // Use the first, so the second is the least recently used.
        assert_eq!(
            sessions.begin((ids[0], 0, 1), 1, 0, false, None, now),
            Verdict::Run
        );
        sessions.finish((ids[0], 0, 1), Some(&[0; 200]));
        assert!(sessions.secret(ids[1]).is_none(), "evicted");
        assert!(sessions.secret(ids[0]).is_some() && sessions.secret(ids[2]).is_some());
        let stats = sessions.stats();
        assert_eq!(stats.evicted, 1);
        assert!(stats.bytes <= 3 * one + 100, "{stats:?}");
        assert_eq!(
            sessions.begin((ids[1], 0, 1), 1, 0, false, None, now),
            Verdict::NoSession,
            "refused, not run again"
        );
    }

    #[test]
    fn the_session_cap_and_idle_time_forget_sessions() {
        let sessions = Sessions::new(Limits {
            max_sessions: 2,
            session_idle: std::time::Duration::from_secs(5),
            ..limits()
        });
        let t = Instant::now();
        let a = sessions.open(1, false, t).0;
        let b = sessions.open(1, false, t).0;
        let c = sessions.open(1, false, t).0;
        assert!(sessions.secret(a).is_none() && sessions.secret(b).is_some());
        let later = t + std::time::Duration::from_secs(6);
        sessions.open(1, false, later);
        let stats = sessions.stats();
        assert!(sessions.secret(b).is_none() && sessions.secret(c).is_none());
        assert_eq!((stats.evicted, stats.expired, stats.sessions), (1, 2, 1));
    }

    #[test]
    fn replies_beyond_the_session_bytes_are_not_kept() {
        let sessions = Sessions::new(Limits {
            session_bytes: 100,
            ..limits()
        });
        let now = Instant::now();
        let (id, _, _) = sessions.open(4, false, now);
        for slot in 0..2 {
            sessions.begin((id, slot, 1), 1, 0, false, None, now);
            sessions.finish((id, slot, 1), Some(&[0; 60]));
        }
        assert_eq!(
            sessions.begin((id, 0, 1), 1, 0, false, None, now),
            Verdict::Replay(vec![0; 60].into())
        );
        assert_eq!(
            sessions.begin((id, 1, 1), 1, 0, false, None, now),
            Verdict::ReplyLost
        );
        assert_eq!(sessions.stats().not_kept, 1);
    }

    #[test]
    fn a_buffer_kept_for_the_next_reply_still_counts_against_the_session() {
        let sessions = Sessions::new(Limits {
            session_bytes: 100,
            ..limits()
        });
        let now = Instant::now();
        let (id, _, _) = sessions.open(4, false, now);
        sessions.begin((id, 0, 1), 1, 0, false, None, now);
        sessions.finish((id, 0, 1), Some(&[0; 60]));
        let held = sessions.stats().bytes;
        // The slot moves on: its reply is gone, its buffer is not, nor what it costs.
        sessions.begin((id, 0, 2), 2, 0, false, None, now);
        assert_eq!(sessions.stats().replies, 0);
        assert_eq!(sessions.stats().bytes, held);
        // So another slot's reply that would pass the bound with it is not kept.
        sessions.begin((id, 1, 1), 1, 0, false, None, now);
        sessions.finish((id, 1, 1), Some(&[0; 60]));
        assert_eq!(
            sessions.begin((id, 1, 1), 1, 0, false, None, now),
            Verdict::ReplyLost
        );
        assert_eq!(sessions.stats().bytes, held);
    }
}
