//! What generated code tells the runtime about an interface and its methods.

/// What a caller is promised when messages are lost, duplicated or delayed; chosen per
/// method by an IDL attribute. See `docs/IDL.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Semantics {
    /// `[oneway]`: sent once, no reply.
    Maybe,
    /// `[idempotent]`: may run more than once.
    AtLeastOnce,
    /// The default: runs at most once.
    AtMostOnce,
    /// `[last_of_many]`: only the last attempt's result counts.
    LastOfMany,
}

/// One method, as the wire knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodSpec {
    /// Its IDL name.
    pub name: &'static str,
    /// Its wire id.
    pub id: u32,
    /// Its signature fingerprint.
    pub fingerprint: u64,
    /// Its call semantics.
    pub semantics: Semantics,
    /// Whether the server may stop the method's handler in the middle (drop its future)
    /// when the call is cancelled: by its client, by its deadline, or as an orphan. False
    /// for methods marked `[uncancellable]` (`#[uncancellable]` in a `#[remote]` trait):
    /// their handlers always run to their end, and may check for themselves whether the
    /// call is still wanted ([`CallContext::is_cancelled`](crate::server::CallContext::is_cancelled)),
    /// to stop early at a point of their choosing.
    pub cancellable: bool,
}

/// One interface, as the wire knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceSpec {
    /// `package.Interface`.
    pub name: &'static str,
    /// The fingerprint of the whole interface.
    pub fingerprint: u64,
    /// The object id a server gives the interface's service unless told otherwise.
    pub object: u64,
    /// Its methods.
    pub methods: &'static [MethodSpec],
}

impl InterfaceSpec {
    /// The method with wire id `id`.
    pub fn method(&self, id: u32) -> Option<&'static MethodSpec> {
        self.methods.iter().find(|m| m.id == id)
    }
}
