//! What a handler can know about the call it runs in, without a parameter for it: the
//! generated traits stay as the IDL says, and the context is found the way
//! [`context()`] finds it, in the handler's scope.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Invocation;
use super::running::{KillReason, KillSwitch};
use crate::metadata::{self, Metadata};

/// Who sent a call.
///
/// `#[non_exhaustive]`: other transports may come, so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Peer {
    /// A TCP connection from this address.
    Tcp(SocketAddr),
    /// A datagram from this address.
    Udp(SocketAddr),
    /// A Unix domain socket connection (its peers have no address).
    Unix,
    /// The server of a connection this process opened, calling back an object this
    /// process sent it (a callback over the client's own connection).
    Reverse,
    /// This process: a call through a reference to a local object.
    Local,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "tcp {addr}"),
            Peer::Udp(addr) => write!(f, "udp {addr}"),
            Peer::Unix => f.write_str("unix peer"),
            Peer::Reverse => f.write_str("the server called back"),
            Peer::Local => f.write_str("this process"),
        }
    }
}

/// The context of one call, as its handler sees it.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub(crate) invocation: Invocation,
    pub(crate) object: u64,
    pub(crate) interface: &'static str,
    pub(crate) method: &'static str,
    pub(crate) deadline: Option<Instant>,
    pub(crate) peer: Peer,
    /// None when the caller sent none (most calls: no allocation for them).
    pub(crate) metadata: Option<Arc<Metadata>>,
    /// Set once the call waits (a call that finishes in its first poll cannot be
    /// stopped, and needs none).
    pub(crate) switch: Option<Arc<KillSwitch>>,
    /// Where objects the handler's reply carries are exported: the server's table.
    pub(crate) exports: Option<Arc<crate::objects::table::ObjectTable>>,
}

impl CallContext {
    /// The call's invocation id.
    pub fn invocation(&self) -> Invocation {
        self.invocation
    }

    /// The object called: its id on this server.
    pub fn object(&self) -> u64 {
        self.object
    }

    /// The interface called (`package.Interface`).
    pub fn interface(&self) -> &'static str {
        self.interface
    }

    /// The method called.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// When the caller stops waiting, as this server's clock has it (the caller's
    /// remaining time, counted from the request's arrival); None if it sent none.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// How long until the deadline (zero once it passed); None without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Who sent the call.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// The caller's metadata (empty if it sent none).
    pub fn metadata(&self) -> &Metadata {
        self.metadata.as_deref().unwrap_or(&metadata::EMPTY)
    }

    /// Whether the call was asked to stop (cancelled by its client, past its deadline,
    /// or an orphan). A cancellable handler is dropped at its next `.await` and never
    /// sees this; an `[uncancellable]` one runs on and may check it at safe points.
    pub fn is_cancelled(&self) -> bool {
        self.cancel_reason().is_some() || self.deadline.is_some_and(|d| d <= Instant::now())
    }

    /// Why the call was asked to stop, if it was (a passed deadline is only reported here
    /// once the server acted on it; see [`CallContext::is_cancelled`]).
    pub fn cancel_reason(&self) -> Option<KillReason> {
        self.switch.as_ref().and_then(|s| s.reason())
    }

    /// Waits until the call is asked to stop (for `[uncancellable]` handlers that want to
    /// stop early at a point of their choosing). Never returns for a call that cannot be
    /// stopped any more (it is about to finish).
    pub async fn cancelled(&self) -> KillReason {
        match &self.switch {
            Some(switch) => switch.killed().await,
            None => std::future::pending().await,
        }
    }
}

tokio::task_local! {
    pub(crate) static CONTEXT: CallContext;
}

/// The context of the call this code runs in, inside a server method; None elsewhere.
///
/// # Examples
///
/// ```no_run
/// fn caller_token() -> Option<String> {
///     let context = rpc_runtime::server::context()?;
///     context.metadata().get("token").map(str::to_owned)
/// }
/// ```
pub fn context() -> Option<CallContext> {
    CONTEXT.try_with(CallContext::clone).ok()
}

/// The invocation id of the call this code runs in, inside a server method; None
/// elsewhere.
pub fn invocation() -> Option<Invocation> {
    CONTEXT.try_with(|c| c.invocation).ok()
}

/// The table the reply of the call this code runs in exports its objects into.
pub(crate) fn exports() -> Option<Arc<crate::objects::table::ObjectTable>> {
    CONTEXT.try_with(|c| c.exports.clone()).ok().flatten()
}

/// The part of the context a call made from inside a handler inherits: its deadline and
/// its metadata (the trace context among them).
pub(crate) fn inherited() -> Option<(Option<Instant>, Option<Arc<Metadata>>)> {
    CONTEXT.try_with(|c| (c.deadline, c.metadata.clone())).ok()
}
