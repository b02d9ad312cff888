//! The runtime under rpcgen's generated stubs.
//!
//! Generated code — from an IDL file through `rpcgen`, or from a trait through
//! `#[remote]` — needs only this crate: it re-exports what the generated code uses.
//! What runs:
//!
//! - [`wire`]: the message format (a header with the invocation id and target, then a
//!   postcard payload) and stream framing; `docs/PROTOCOL.md` specifies it byte by byte;
//! - [`Channel`] and [`Client`]: one connection (TCP, UDP or a Unix socket) carrying many
//!   concurrent calls, replies matched by invocation id; retransmission by each method's
//!   call semantics ([`RetryPolicy`], `docs/SEMANTICS.md`); clients bound by name through
//!   a binder ([`Client::bound`], [`Resolver`]) that rebind when a server restarts;
//! - [`Server`]: concurrent or sequential dispatch to [`Service`]s, per-client sessions
//!   that keep at-most-once promises under duplication, restarts and hostile peers, every
//!   resource bounded by [`Limits`], counters in [`ServerStats`],
//!   graceful shutdown, panics turned into error replies;
//! - the message-passing layer under the stubs, public for callers and servers without
//!   generated code: doOperation ([`Client::do_operation`], with [`client::Typed`] or
//!   [`client::Encoded`] arguments), getRequest and sendReply ([`server::mailbox`]);
//!   `docs/DYNAMIC.md` describes it;
//! - [`CallError`]: every way a call can fail, with whether it ran ([`Outcome`]);
//! - `chaos` (feature `chaos`): proxies that lose, duplicate, delay and reorder datagrams
//!   or cut connections, seeded, for tests.
//!
//! # Examples
//!
//! Including the code rpcgen generated from `bank.idl` in a build script:
//!
//! ```ignore
//! pub mod bank {
//!     rpc_runtime::include_idl!("bank");
//! }
//! ```

#[doc(hidden)]
#[path = "codegen.rs"]
pub mod __codegen;
mod buffers;
#[cfg(feature = "chaos")]
pub mod chaos;
pub mod client;
mod error;
pub mod group;
mod id;
mod metadata;
pub mod objects;
mod outbox;
pub mod server;
mod shared_bytes;
mod spec;
pub mod trace;
pub mod wire;

pub use client::{
    Acknowledge, Channel, ChannelConfig, Client, Endpoint, ResolveError, Resolver, RetryPolicy,
    Transport,
};
pub use error::{CallError, ConnectError, Outcome};
pub use metadata::Metadata;
pub use server::{
    Concurrency, Limits, Reply, Server, ServerConfig, ServerHandle, ServerStats, Service,
    SessionStats,
};
pub use shared_bytes::Bytes;
pub use spec::{InterfaceSpec, MethodSpec, Semantics};

#[cfg(feature = "macros")]
pub use rpc_macros::remote;

/// serde, re-exported: generated code derives its traits through this path, and so can
/// the types of a `#[remote]` trait (`#[serde(crate = "rpc_runtime::serde")]`), so that
/// `rpc-runtime` is their only dependency.
pub use serde;

/// Includes the Rust code rpcgen generated in a build script.
///
/// - `include_idl!("bank")` includes the code of IDL package `bank`, the file
///   `$OUT_DIR/bank.rs` that `rpcgen::compile` writes;
/// - `include_idl!(path = "v2/bank.rs")` includes a file by its path relative to
///   `$OUT_DIR`: for code written into a subfolder (`rpcgen::configure().out_subdir("v2")`),
///   e.g. when two generators would both write `bank.rs`.
///
/// Put each package in a module of its own, all as siblings, since generated code refers
/// to other packages as `super::<package>`:
///
/// ```ignore
/// pub mod bank { rpc_runtime::include_idl!("bank"); }
/// pub mod common { rpc_runtime::include_idl!("common"); }
/// pub mod bank_v2 { rpc_runtime::include_idl!(path = "v2/bank.rs"); }
/// ```
#[macro_export]
macro_rules! include_idl {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
    (path = $path:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $path));
    };
}

/// The wire form of a reference to a remote object (`docs/PROTOCOL.md` §5): where the
/// object lives and which it is. Generated code carries references as typed
/// [`objects::Ref`]s; this is what they are on the wire, and what callers without
/// generated code (`rpc-dynamic`) see.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ObjectRef {
    /// How to reach the object's server: `host:port` (TCP), `udp://host:port`,
    /// `unix:PATH`, or empty: the peer that sent the message carrying the reference.
    pub address: String,
    /// The server incarnation's binding uid.
    pub binding: u64,
    /// The object's id on that server.
    pub object: u64,
    /// The interface's full name, `package.Interface`.
    pub interface: String,
    /// Set by the exporting side when it sends the reference: the receiver names it in
    /// its first lease (`dirty`), so the exporter knows this copy arrived; 0 on copies
    /// passed on by a holder.
    pub token: u64,
}
