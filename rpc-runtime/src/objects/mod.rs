//! Remote objects: references to objects as parameters and results, callbacks over the
//! connection the client opened, and distributed garbage collection by leases.
//!
//! An IDL interface used as a type is a [`Ref`] in generated code: a typed reference to
//! one object, which dereferences to the interface's generated client (calls through it
//! go to that object), and which the runtime exports when it is sent. What lives where:
//!
//! - `table`: the objects a side exports, with their leases and transit tokens, bounded
//!   by [`Limits`](crate::Limits) (`max_objects`, `max_holders`, `lease`);
//! - `dgc`: the lease calls `dirty` and `clean`, served by every server;
//! - `holder`: the references this process holds, leased in batches per owner;
//! - `reverse`: callbacks, the server's side: a channel per client session, relayed
//!   over the connection (or to the UDP address) the client uses;
//! - `callback_link`: callbacks, the client's side: what the server sends that is not a
//!   reply goes to the process's callback table;
//! - `callbacks`: the process's own table of objects sent in requests;
//! - `scope`: what encoding and decoding a message needs to know about references.
//!
//! `docs/OBJECTS.md` describes the model and what happens on failures;
//! `docs/PROTOCOL.md` the wire form of a reference and of the lease calls.

pub(crate) mod callback_link;
mod callbacks;
mod dgc;
mod holder;
mod reference;
pub(crate) mod reverse;
pub(crate) mod scope;
pub(crate) mod table;

pub use callbacks::{AlreadyStarted, callback_stats, configure_callbacks};
pub use dgc::MAX_LEASE_BATCH;
pub use reference::Ref;

pub(crate) use callbacks::table as callback_table;
pub(crate) use dgc::Dgc;
pub(crate) use reference::reference_address;

use crate::client::Client;
use crate::spec::InterfaceSpec;

/// A generated client stub of an interface: what a [`Ref`] to an object of that
/// interface dereferences to. Generated code implements it for every `...Client`.
pub trait Interface: Clone + Send + Sync + 'static {
    /// The interface's wire facts.
    fn spec() -> &'static InterfaceSpec;
    /// The stub over a runtime client already aimed at the object.
    fn from_client(client: Client) -> Self;
}

/// What an object table (a server's, or the callback table) holds now, and has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectStats {
    /// Objects exported now.
    pub exported: usize,
    /// Leases held on them now, over all holders.
    pub leases: usize,
    /// Copies of references sent and not yet leased by their receivers.
    pub in_transit: usize,
    /// Objects exported so far.
    pub exported_total: u64,
    /// Objects collected so far (released by every holder, or their leases ran out).
    pub collected_total: u64,
    /// Exports refused because the table was full.
    pub refused: u64,
}

/// What this process holds of other processes' objects now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldStats {
    /// Owners (a server, or a client called back) this process leases objects from.
    pub owners: usize,
    /// Distinct objects leased, over all owners.
    pub references: usize,
}

/// What this process holds of other processes' objects now.
pub fn held_stats() -> HeldStats {
    holder::stats()
}
