//! What can go wrong with a call, told apart so a caller can act on it.

use std::convert::Infallible;
use std::time::Duration;

/// Whether a failed call ran on the server.
///
/// Exhaustive on purpose: a call ran, did not, or may have; code that retries matches on
/// all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server certainly did not run it: safe to retry any call.
    NotExecuted,
    /// It may or may not have run (e.g. no reply came): retry only an idempotent call.
    Unknown,
    /// It ran (and raised an exception, or failed while running).
    Executed,
}

/// Why a call did not return a value. `E` is the method's exception type (from
/// `raises`), [`Infallible`] when it has none.
///
/// `#[non_exhaustive]`: later versions may tell more failures apart, so a `match` needs a
/// `_` arm; [`CallError::outcome`] classifies every variant, present and future.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError<E = Infallible> {
    /// The method ran and raised its declared exception.
    #[error("the server raised: {0}")]
    Exception(E),
    /// No reply within the call's timeout.
    #[error("no reply within {0:?}; the call may or may not have run")]
    Timeout(Duration),
    /// The connection could not be made, or broke before the reply came, or the client
    /// gave up retrying. The operating system's error, when one caused it, is the
    /// [`source`](std::error::Error::source), not part of the text.
    #[error("connection failed{}: {reason}", attempts_text(*.attempts))]
    #[non_exhaustive]
    Connection {
        /// What failed, in words: "cannot connect to 127.0.0.1:7878", "the connection
        /// closed", "no reply in time", "the server is busy: ...".
        reason: String,
        /// How many attempts the client made before it gave up; `None` when a single
        /// failure ended the call.
        attempts: Option<u32>,
        /// The operating system's error behind the failure, when there is one.
        #[source]
        source: Option<std::io::Error>,
        /// Whether the request had been handed to the network.
        outcome: Outcome,
    },
    /// The peer sent bytes this runtime cannot understand, or refused ours as malformed.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server has no such method (or no such object) here.
    #[error("the server does not know method `{method}`: {message}")]
    UnknownMethod {
        /// The method called.
        method: &'static str,
        /// What the server said.
        message: String,
    },
    /// Client and server were generated from different versions of the method.
    #[error(
        "method `{method}` has another signature on the server (fingerprint {server:#018x}, \
         client {client:#018x}): regenerate the stubs from the same IDL"
    )]
    FingerprintMismatch {
        /// The method called.
        method: &'static str,
        /// The client's fingerprint.
        client: u64,
        /// The server's fingerprint.
        server: u64,
    },
    /// The server failed while running the method (it panicked).
    #[error("the server failed while running `{method}`: {message}")]
    ServerFault {
        /// The method called.
        method: &'static str,
        /// What the server said.
        message: String,
    },
    /// The request is larger than a frame may be; nothing was sent.
    #[error(
        "the request is {size} bytes, over the limit of {limit} bytes (over UDP the limit is one \
         datagram, 65,507 bytes: use TCP for larger calls)"
    )]
    TooLarge {
        /// The request's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The call ran, but its reply was lost and was too large for the server to keep:
    /// the results are gone.
    #[error("`{method}` ran, but its reply was lost and the server kept no copy")]
    ReplyLost {
        /// The method called.
        method: &'static str,
    },
    /// The server no longer knows the channel's session (it restarted, or forgot the
    /// session to stay within its memory bounds) and an earlier attempt of this
    /// at-most-once call went out in it: the call may or may not have run. It did not
    /// run twice. The channel has opened a new session for later calls.
    #[error(
        "the server forgot this client's session (it restarted, or ran short of memory): \
         `{method}` may or may not have run"
    )]
    SessionLost {
        /// The method called.
        method: &'static str,
    },
    /// No server could be bound for a name: none exports it, the binder failed, or the
    /// exports implement another version of the interface. Nothing was sent.
    #[error("cannot bind: {0}")]
    Unbound(String),
    /// The server is not the one this client was bound to (it restarted).
    #[error("the server refused the binding: {0}")]
    UnknownBinding(String),
    /// The object called is not on its server: it was collected (its leases ran out),
    /// never existed there (a forged or stale id), or the reference is null. Nothing ran.
    #[error("no such object: {0}")]
    UnknownObject(String),
    /// The call's metadata is over its bounds or names a key twice; nothing was sent.
    #[error("invalid metadata: {0}")]
    InvalidMetadata(String),
    /// The server stopped the call before it finished (its deadline passed there, or it
    /// was taken for an orphan): it may have done part of its work. An at-most-once call
    /// stopped this way is never run again: a retransmission gets this answer.
    #[error("the server stopped `{method}` before it finished: {reason}")]
    Killed {
        /// The method called.
        method: &'static str,
        /// Why, as the server said.
        reason: String,
    },
}

impl<E> CallError<E> {
    /// Whether the call ran on the server.
    pub fn outcome(&self) -> Outcome {
        match self {
            CallError::Exception(_)
            | CallError::ServerFault { .. }
            | CallError::ReplyLost { .. } => Outcome::Executed,
            CallError::Timeout(_) => Outcome::Unknown,
            CallError::Connection { outcome, .. } => *outcome,
            CallError::Protocol(_) | CallError::SessionLost { .. } | CallError::Killed { .. } => {
                Outcome::Unknown
            }
            CallError::UnknownMethod { .. }
            | CallError::FingerprintMismatch { .. }
            | CallError::TooLarge { .. }
            | CallError::InvalidMetadata(_)
            | CallError::Unbound(_)
            | CallError::UnknownBinding(_)
            | CallError::UnknownObject(_) => Outcome::NotExecuted,
        }
    }

    /// The same error with the exception mapped by `f`; the other variants carry over.
    /// For a call with no exception, `err.map_exception(|never| match never {})` turns a
    /// `CallError` into a `CallError<E>` of any `E`.
    pub fn map_exception<F>(self, f: impl FnOnce(E) -> F) -> CallError<F> {
        match self {
            CallError::Exception(e) => CallError::Exception(f(e)),
            CallError::Timeout(d) => CallError::Timeout(d),
            CallError::Connection {
                reason,
                attempts,
                source,
                outcome,
            } => CallError::Connection {
                reason,
                attempts,
                source,
                outcome,
            },
            CallError::Protocol(m) => CallError::Protocol(m),
            CallError::UnknownMethod { method, message } => {
                CallError::UnknownMethod { method, message }
            }
            CallError::FingerprintMismatch {
                method,
                client,
                server,
            } => CallError::FingerprintMismatch {
                method,
                client,
                server,
            },
            CallError::ServerFault { method, message } => {
                CallError::ServerFault { method, message }
            }
            CallError::TooLarge { size, limit } => CallError::TooLarge { size, limit },
            CallError::ReplyLost { method } => CallError::ReplyLost { method },
            CallError::SessionLost { method } => CallError::SessionLost { method },
            CallError::Unbound(m) => CallError::Unbound(m),
            CallError::UnknownBinding(m) => CallError::UnknownBinding(m),
            CallError::UnknownObject(m) => CallError::UnknownObject(m),
            CallError::Killed { method, reason } => CallError::Killed { method, reason },
            CallError::InvalidMetadata(m) => CallError::InvalidMetadata(m),
        }
    }
}

impl<E> CallError<E> {
    /// A short name of the error's kind, for spans and logs.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            CallError::Exception(_) => "exception",
            CallError::Timeout(_) => "timeout",
            CallError::Connection { .. } => "connection",
            CallError::Protocol(_) => "protocol",
            CallError::UnknownMethod { .. } => "unknown method",
            CallError::FingerprintMismatch { .. } => "fingerprint mismatch",
            CallError::ServerFault { .. } => "server fault",
            CallError::TooLarge { .. } => "too large",
            CallError::ReplyLost { .. } => "reply lost",
            CallError::SessionLost { .. } => "session lost",
            CallError::Unbound(_) => "unbound",
            CallError::UnknownBinding(_) => "unknown binding",
            CallError::UnknownObject(_) => "unknown object",
            CallError::InvalidMetadata(_) => "invalid metadata",
            CallError::Killed { .. } => "killed",
        }
    }

    /// The same connection error with another outcome (e.g. unknown, once a request of
    /// the call has gone out).
    pub fn with_outcome(self, outcome: Outcome) -> CallError<E> {
        match self {
            CallError::Connection {
                reason,
                attempts,
                source,
                ..
            } => CallError::Connection {
                reason,
                attempts,
                source,
                outcome,
            },
            other => other,
        }
    }

    /// A connection failure told in words, with no operating system error behind it.
    pub(crate) fn connection(reason: impl Into<String>, outcome: Outcome) -> CallError<E> {
        CallError::Connection {
            reason: reason.into(),
            attempts: None,
            source: None,
            outcome,
        }
    }

    /// The client gave up after `attempts` attempts; `reason` is what ended the last.
    pub(crate) fn gave_up(attempts: u32, reason: String, outcome: Outcome) -> CallError<E> {
        CallError::Connection {
            reason,
            attempts: Some(attempts),
            source: None,
            outcome,
        }
    }
}

/// " after N attempts", for the text of [`CallError::Connection`].
fn attempts_text(attempts: Option<u32>) -> String {
    match attempts {
        Some(1) => " after 1 attempt".to_string(),
        Some(n) => format!(" after {n} attempts"),
        None => String::new(),
    }
}

impl<E> From<ConnectError> for CallError<E> {
    /// A connection that could not be made: nothing was sent. The operating system's
    /// error becomes the source.
    fn from(e: ConnectError) -> Self {
        CallError::Connection {
            reason: format!("cannot connect to {}", e.address),
            attempts: None,
            source: Some(e.source),
            outcome: Outcome::NotExecuted,
        }
    }
}

/// A connection could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {address}: {source}")]
pub struct ConnectError {
    /// Where to.
    pub address: String,
    /// What the operating system said.
    #[source]
    pub source: std::io::Error,
}
