//! Remote objects: references to objects as parameters and results, callbacks over the
//! connection the client opened, and distributed garbage collection by leases.
//!
//! An IDL interface used as a type is a [`Ref`] in generated code: a typed reference to
//! one object, which dereferences to the interface's generated client (calls through it
//! go to that object), and which the runtime exports when it is sent. `docs/OBJECTS.md`
//! describes the model; `docs/PROTOCOL.md` the wire form.

mod reference;

pub use reference::Ref;

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
