//! The reply history: how a server keeps at-most-once promises when requests come twice.
//!
//! Every at-most-once call, and every oneway call (so that a duplicated datagram does
//! not run it twice), is recorded by invocation id (client id, sequence number).
//! A request whose id is running is a duplicate: dropped, the client keeps waiting. One
//! whose id is done gets the stored reply again, without running. One below the client's
//! watermark is a stale duplicate (the client has finished with it): dropped.
//!
//! Memory is bounded three ways. The watermark each request carries (the client's
//! lowest unfinished sequence number) and acknowledgements purge what clients no longer
//! need; entries older than `max_age` go; and over `max_bytes` the oldest finished
//! entries are evicted first. An evicted entry at or above its client's watermark might
//! still have been needed (a retransmission of it would run again): each such eviction is
//! counted in [`HistoryStats::evicted`]. Replies larger than `max_stored_reply` are not
//! kept: a duplicate of such a call is answered [`crate::wire::Status::ReplyLost`]
//! (it ran; its results are gone) rather than run again.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Bounds of the reply history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Most bytes of stored replies (plus a fixed cost per entry).
    pub max_bytes: usize,
    /// Entries older than this are dropped.
    pub max_age: Duration,
    /// Replies larger than this are not stored (their calls still run at most once).
    pub max_stored_reply: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(120),
            max_stored_reply: 64 << 10,
        }
    }
}

/// What the history holds and has done, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryStats {
    /// Entries held now (running and finished).
    pub entries: usize,
    /// Bytes held now, by the documented accounting (reply bytes + [`ENTRY_COST`]).
    pub bytes: usize,
    /// Finished entries dropped by the byte cap or by age while at or above their
    /// client's watermark: replies that a retransmission might still have needed.
    pub evicted: u64,
}

/// Bytes charged per entry besides its reply: the map node, the id and the bookkeeping.
pub const ENTRY_COST: usize = 64;

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New: run it (and call [`History::finish`]).
    Run,
    /// A duplicate of a running call: drop it.
    Running,
    /// A duplicate of a finished call: send this reply again.
    Replay(Vec<u8>),
    /// A duplicate of a finished call whose reply was too large to keep.
    ReplyLost,
    /// Below the client's watermark: a stale duplicate, drop it.
    Stale,
}

#[derive(Debug)]
enum Entry {
    Running,
    Done {
        /// The reply message (header and payload), or None when too large to keep.
        reply: Option<Vec<u8>>,
    },
}

#[derive(Debug)]
struct Client {
    /// Every sequence number below this is finished for the client.
    watermark: u64,
    entries: BTreeMap<u64, Entry>,
    /// Oneway calls seen. A oneway request may arrive after later requests (whose
    /// watermark passed it), so these go by age and cap only, never by watermark.
    oneways: std::collections::HashSet<u64>,
    last_seen: Instant,
}

/// Replies of at-most-once calls, per client.
#[derive(Debug)]
pub(crate) struct History {
    config: HistoryConfig,
    clients: HashMap<u64, Client>,
    /// Finished entries in the order they finished, for age and cap eviction; an id
    /// may already be gone (purged by a watermark), which is skipped.
    finished: VecDeque<(Instant, u64, u64)>,
    bytes: usize,
    entries: usize,
    evicted: u64,
    last_sweep: Instant,
}

impl History {
    pub fn new(config: HistoryConfig) -> History {
        History {
            config,
            clients: HashMap::new(),
            finished: VecDeque::new(),
            bytes: 0,
            entries: 0,
            evicted: 0,
            last_sweep: Instant::now(),
        }
    }

    /// Records a request of `client` numbered `seq`, carrying watermark `ack`, and says
    /// what to do with it.
    pub fn begin(&mut self, client: u64, seq: u64, ack: u64, now: Instant) -> Verdict {
        self.expire(now);
        let state = self.client(client, now);
        if ack > state.watermark {
            state.watermark = ack;
            let keep = state.entries.split_off(&ack);
            let purged = std::mem::replace(&mut state.entries, keep);
            for (_, entry) in purged {
                self.entries -= 1;
                self.bytes -= cost(&entry);
            }
        }
        let Some(state) = self.clients.get_mut(&client) else {
            return Verdict::Run; // just inserted: unreachable, and running is safe
        };
        if seq < state.watermark {
            return Verdict::Stale;
        }
        match state.entries.get(&seq) {
            Some(Entry::Running) => Verdict::Running,
            Some(Entry::Done { reply: Some(reply) }) => Verdict::Replay(reply.clone()),
            Some(Entry::Done { reply: None }) => Verdict::ReplyLost,
            None => {
                state.entries.insert(seq, Entry::Running);
                self.entries += 1;
                self.bytes += ENTRY_COST;
                Verdict::Run
            }
        }
    }

    /// Records a oneway request; false for a duplicate (a copy already ran).
    pub fn begin_oneway(&mut self, client: u64, seq: u64, now: Instant) -> bool {
        self.expire(now);
        let state = self.client(client, now);
        if !state.oneways.insert(seq) {
            return false;
        }
        self.entries += 1;
        self.bytes += ENTRY_COST;
        self.finished.push_back((now, client, seq));
        self.evict_over_cap();
        true
    }

    /// The state of `client`, made on first sight, marked seen `now`.
    fn client(&mut self, client: u64, now: Instant) -> &mut Client {
        let state = self.clients.entry(client).or_insert_with(|| Client {
            watermark: 0,
            entries: BTreeMap::new(),
            oneways: std::collections::HashSet::new(),
            last_seen: now,
        });
        state.last_seen = now;
        state
    }

    /// Records that a call ran, with its reply (the whole message) when it has one to
    /// send again.
    pub fn finish(&mut self, client: u64, seq: u64, reply: Option<&[u8]>, now: Instant) {
        let reply = reply.filter(|r| r.len() <= self.config.max_stored_reply);
        let Some(entry) = self
            .clients
            .get_mut(&client)
            .and_then(|c| c.entries.get_mut(&seq))
        else {
            return; // purged by a watermark while running: nobody will ask again
        };
        *entry = Entry::Done {
            reply: reply.map(<[u8]>::to_vec),
        };
        self.bytes += reply.map_or(0, <[u8]>::len);
        self.finished.push_back((now, client, seq));
        self.evict_over_cap();
    }

    /// Forgets one finished call (the client acknowledged its reply). An ack for a call
    /// still running changes nothing.
    pub fn acknowledge(&mut self, client: u64, seq: u64) {
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        if matches!(c.entries.get(&seq), Some(Entry::Done { .. }))
            && let Some(entry) = c.entries.remove(&seq)
        {
            self.entries -= 1;
            self.bytes -= cost(&entry);
        }
    }

    pub fn stats(&self) -> HistoryStats {
        HistoryStats {
            entries: self.entries,
            bytes: self.bytes,
            evicted: self.evicted,
        }
    }

    /// Drops finished entries older than `max_age`, and (once a second) clients idle
    /// that long with nothing stored. Compacts the finish order when most of it names
    /// entries already purged, so that it stays proportional to what is held.
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, client, seq)) = self.finished.front() {
            if now.duration_since(at) < self.config.max_age {
                break;
            }
            self.finished.pop_front();
            self.drop_finished(client, seq);
        }
        if now.duration_since(self.last_sweep) >= Duration::from_secs(1) {
            self.last_sweep = now;
            let max_age = self.config.max_age;
            self.clients.retain(|_, c| {
                !c.entries.is_empty()
                    || !c.oneways.is_empty()
                    || now.duration_since(c.last_seen) < max_age
            });
        }
        if self.finished.len() > 2 * self.entries + 1024 {
            let clients = &self.clients;
            self.finished.retain(|(_, client, seq)| {
                clients
                    .get(client)
                    .is_some_and(|c| c.entries.contains_key(seq))
            });
        }
    }

    /// Evicts the oldest finished entries while over the byte cap.
    fn evict_over_cap(&mut self) {
        while self.bytes > self.config.max_bytes {
            let Some((_, client, seq)) = self.finished.pop_front() else {
                break; // only running entries left: they are not evictable
            };
            self.drop_finished(client, seq);
        }
    }

    fn drop_finished(&mut self, client: u64, seq: u64) {
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        if let Some(entry @ Entry::Done { .. }) = c.entries.remove(&seq) {
            self.entries -= 1;
            self.bytes -= cost(&entry);
            // Still at or above the watermark: a retransmission could have wanted it.
            self.evicted += 1;
        }
    }
}

fn cost(entry: &Entry) -> usize {
    ENTRY_COST
        + match entry {
            Entry::Done { reply: Some(r) } => r.len(),
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(max_bytes: usize) -> History {
        History::new(HistoryConfig {
            max_bytes,
            max_age: Duration::from_secs(10),
            max_stored_reply: 100,
        })
    }

    #[test]
    fn duplicates_are_filtered_and_replayed() {
        let mut h = history(1 << 20);
        let t = Instant::now();
        assert_eq!(h.begin(1, 5, 0, t), Verdict::Run);
        assert_eq!(h.begin(1, 5, 0, t), Verdict::Running);
        h.finish(1, 5, Some(b"reply"), t);
        assert_eq!(h.begin(1, 5, 0, t), Verdict::Replay(b"reply".to_vec()));
        // Another client's seq 5 is another call.
        assert_eq!(h.begin(2, 5, 0, t), Verdict::Run);
    }

    #[test]
    fn the_watermark_purges_and_makes_older_requests_stale() {
        let mut h = history(1 << 20);
        let t = Instant::now();
        for seq in 1..=3 {
            assert_eq!(h.begin(1, seq, 0, t), Verdict::Run);
            h.finish(1, seq, Some(b"r"), t);
        }
        assert_eq!(h.stats().entries, 3);
        assert_eq!(h.begin(1, 4, 3, t), Verdict::Run);
        assert_eq!(h.stats().entries, 2, "seqs 1 and 2 purged; 3 and 4 kept");
        assert_eq!(h.begin(1, 2, 0, t), Verdict::Stale);
        assert_eq!(h.stats().evicted, 0);
    }

    #[test]
    fn the_cap_evicts_oldest_first_and_counts_it() {
        let mut h = history(3 * (ENTRY_COST + 10));
        let t = Instant::now();
        for seq in 1..=4 {
            assert_eq!(h.begin(1, seq, 0, t), Verdict::Run);
            h.finish(1, seq, Some(&[0; 10]), t);
        }
        let s = h.stats();
        assert!(s.bytes <= 3 * (ENTRY_COST + 10), "{s:?}");
        assert_eq!(s.evicted, 1);
        // The evicted one would run again: that is what the counter warns about.
        assert_eq!(h.begin(1, 1, 0, t), Verdict::Run);
        assert_eq!(h.begin(1, 4, 0, t), Verdict::Replay(vec![0; 10]));
    }

    #[test]
    fn oneway_requests_run_once_even_behind_the_watermark() {
        let mut h = history(1 << 20);
        let t = Instant::now();
        assert_eq!(h.begin(1, 11, 11, t), Verdict::Run);
        assert!(
            h.begin_oneway(1, 10, t),
            "a reordered oneway request still runs"
        );
        assert!(!h.begin_oneway(1, 10, t), "its duplicate does not");
    }

    #[test]
    fn old_entries_expire_and_large_replies_are_not_kept() {
        let mut h = history(1 << 20);
        let t = Instant::now();
        assert_eq!(h.begin(1, 1, 0, t), Verdict::Run);
        h.finish(1, 1, Some(&[0; 200]), t);
        assert_eq!(h.begin(1, 1, 0, t), Verdict::ReplyLost);
        assert_eq!(h.begin(1, 2, 0, t + Duration::from_secs(11)), Verdict::Run);
        assert_eq!(h.stats().entries, 1, "seq 1 expired");
        h.acknowledge(1, 2);
        assert_eq!(
            h.stats().entries,
            1,
            "seq 2 is still running: the ack changes nothing"
        );
        h.finish(1, 2, Some(b"x"), t);
        h.acknowledge(1, 2);
        assert_eq!(
            h.stats(),
            HistoryStats {
                entries: 0,
                bytes: 0,
                evicted: 1
            }
        );
    }
}
