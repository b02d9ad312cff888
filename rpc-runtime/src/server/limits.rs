//! Every bound a server keeps, in one place, with its default.
//!
//! Each resource a peer can make the server spend (memory for frames, replies and
//! sessions; file descriptors; time) has a limit here, enforced where the resource is
//! taken. The defaults suit a server with a few gigabytes of memory; the worst case they
//! allow is worked out in `docs/SEMANTICS.md` ("Memory bounds").

use std::time::Duration;

use crate::wire::DEFAULT_MAX_FRAME;

/// The bounds of a server. `Limits::default()` documents each default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request accepted, in bytes; a larger one closes its connection.
    /// Default 16 MiB.
    pub max_frame: usize,
    /// Stream connections open at once; a connection beyond it is closed as soon as it
    /// is accepted. Default 4,096.
    pub max_connections: usize,
    /// A connection with no call running that sends nothing for this long is closed.
    /// Default 5 minutes.
    pub idle_timeout: Duration,
    /// A frame must arrive whole within this long of its first byte; a peer that stalls
    /// mid-frame is disconnected (at the latest one and a half times this after the
    /// frame's first byte). Default 30 s.
    pub frame_timeout: Duration,
    /// Bytes of large frames (over 64 KiB) being read at once, over all connections. A
    /// connection waits for its share before it reads such a frame. Never less than
    /// `max_frame`. Default 256 MiB.
    pub read_budget: usize,
    /// Reply bytes queued on one connection but not yet taken by the socket (a client
    /// that does not read its replies): the server stops reading that connection's
    /// requests until they drain. Default 8 MiB.
    pub max_unsent: usize,
    /// Sessions held at once. Opening one more forgets the least recently used.
    /// Default 16,384.
    pub max_sessions: usize,
    /// Sessions one stream connection may open or attach. Default 16.
    pub sessions_per_connection: usize,
    /// Slots (calls in flight, each with one stored reply) per session. Default 256.
    pub max_slots: u32,
    /// Bytes of all sessions together (their slot tables and stored replies, counted at
    /// what they really cost). Over it, the least recently used sessions are forgotten.
    /// Default 64 MiB.
    pub history_bytes: usize,
    /// Bytes of stored replies one session may hold; a reply that would exceed it is not
    /// kept (a duplicate of its call gets `ReplyLost`, never a second run).
    /// Default 4 MiB.
    pub session_bytes: usize,
    /// Replies larger than this are not kept. Default 64 KiB.
    pub max_stored_reply: usize,
    /// A session unused for this long may be forgotten when sessions are opened.
    /// Default 10 minutes.
    pub session_idle: Duration,
    /// Client identities whose latest epoch is remembered (reincarnation). Over it, one
    /// is forgotten. Default 16,384.
    pub max_identities: usize,
    /// Gentle reincarnation: the client of a datagram session not heard from for this
    /// long cannot be found (a stream session's client cannot be found once no
    /// connection is attached to it). Default 5 s.
    pub owner_silence: Duration,
    /// Objects exported at once (references sent in replies, or callback objects sent
    /// in requests); exporting one more fails the call that sends it, with a clear
    /// error. Default 65,536.
    pub max_objects: usize,
    /// Leases and references in transit one exported object may have at once; a lease
    /// beyond it is refused (the holder's reference then fails with `UnknownObject`).
    /// Default 1,024.
    pub max_holders: usize,
    /// How long a lease lasts: a holder renews it at half of this, and an object whose
    /// leases all ran out (its holders crashed or were cut off) is collected. A reference
    /// sent but not yet leased is kept for two leases (its receiver's first lease call
    /// may need retransmissions). Default 30 s.
    pub lease: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: DEFAULT_MAX_FRAME,
            max_connections: 4096,
            idle_timeout: Duration::from_secs(300),
            frame_timeout: Duration::from_secs(30),
            read_budget: 256 << 20,
            max_unsent: 8 << 20,
            max_sessions: 16_384,
            sessions_per_connection: 16,
            max_slots: 256,
            history_bytes: 64 << 20,
            session_bytes: 4 << 20,
            max_stored_reply: 64 << 10,
            session_idle: Duration::from_secs(600),
            max_identities: 16_384,
            owner_silence: Duration::from_secs(5),
            max_objects: 65_536,
            max_holders: 1_024,
            lease: Duration::from_secs(30),
        }
    }
}
