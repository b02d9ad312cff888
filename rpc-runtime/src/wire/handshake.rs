//! The payloads of the session handshake: [`Kind::Open`](super::Kind::Open) and
//! [`Kind::Attach`](super::Kind::Attach) requests and the server's answer to an Open.
//!
//! `docs/PROTOCOL.md` §4 gives their bytes and the rules around them.

use serde::{Deserialize, Serialize};

use super::tag::Secret;

/// The smallest Open datagram a server answers: its answer must not be larger than the
/// datagram that asked for it, so that nobody can use the server to flood a forged
/// source address with more bytes than they sent.
pub const MIN_OPEN_DATAGRAM: usize = 128;

/// Payload of an Open request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequest {
    /// How many slots (calls in flight at once) the client would like.
    pub slots: u32,
    /// The client's identity and epoch, if it has one (reincarnation): a server that
    /// sees a higher epoch of an identity than before stops that identity's calls of
    /// older epochs, as its configuration says.
    pub client: Option<ClientEpoch>,
    /// Zero bytes that make an Open datagram at least [`MIN_OPEN_DATAGRAM`] long; empty
    /// over streams.
    #[serde(with = "serde_bytes")]
    pub padding: Vec<u8>,
}

/// Payload of the reply (status Ok) to an Open; the reply's `session` field carries the
/// new session's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    /// The session's secret: over UDP it keys every datagram's tag; over a stream, an
    /// Attach on a new connection shows it.
    pub secret: Secret,
    /// How many slots the server granted (at least 1, at most what was asked).
    pub slots: u32,
}

/// Payload of a [`Status::BadSession`](super::Status::BadSession) refusal: what the
/// server knows of the session it refused, so that the client can tell whether the call
/// may have run in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUnknown {
    /// The session was opened by this server incarnation and has been forgotten (to
    /// stay within its memory bounds): calls of it may have run here. False: this
    /// incarnation never had it (it was opened by an earlier one, or never).
    pub forgotten: bool,
    /// How long this server incarnation has been running, in microseconds. A client
    /// whose call's first request was sent less long ago than this knows that every copy
    /// of it reached this incarnation (or none), which never had the session: the call
    /// did not run.
    pub uptime_micros: u64,
}

/// Payload of an Attach request; the request's `session` field names the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachRequest {
    /// The secret the session was opened with.
    pub secret: Secret,
}

/// A client identity and the epoch it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientEpoch {
    /// The identity's secret: only its holders can announce its epochs (servers keep a
    /// keyed hash of it, never the secret).
    pub identity: Secret,
    /// Grows at every start of a client with this identity.
    pub epoch: u64,
}

/// The most calls one [`ExterminateRequest`] names.
pub const MAX_EXTERMINATE_CALLS: usize = 4096;

/// Payload of an Exterminate request; the request's `session` field names the session,
/// its `seq` a nonce the answer copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExterminateRequest {
    /// The session's secret: proves that the sender owned the calls.
    pub secret: Secret,
    /// The calls to stop: (slot, seq) pairs, at most [`MAX_EXTERMINATE_CALLS`].
    pub calls: Vec<(u32, u64)>,
}

/// Payload of the answer (status Ok) to an Exterminate request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exterminated {
    /// Calls that were running and were stopped.
    pub killed: u32,
    /// Calls that were running and opted out of cancellation: they run to their end.
    pub uncancellable: u32,
    /// Calls that were not running (finished, never arrived, or unknown).
    pub not_running: u32,
}
