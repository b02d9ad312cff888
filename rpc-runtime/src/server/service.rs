//! What a server runs: objects implementing [`Service`], usually a generated
//! `...Server` adapter around the user's implementation of an interface trait.

use serde::Serialize;

pub use crate::__codegen::Handler;
use crate::spec::InterfaceSpec;
use crate::wire::{DecodeError, Payload};

/// An object a server can dispatch calls to.
///
/// The server has already checked the method id and fingerprint against
/// [`Service::spec`] when it calls [`Service::call`].
pub trait Service: Send + Sync + 'static {
    /// The interface this object implements.
    fn spec(&self) -> &'static InterfaceSpec;

    /// Decodes the arguments of method `method` from `payload` and returns the call to
    /// run, or why the arguments are malformed.
    fn call(&self, method: u32, payload: &[u8]) -> Result<Handler, DecodeError>;
}

/// How a call ended, ready to be sent back.
#[derive(Debug)]
pub enum Reply {
    /// Returned: its results.
    Ok(Payload),
    /// Raised its exception.
    Exception(Payload),
    /// Failed: a panic, or results that could not be encoded.
    Fault(String),
    /// Nothing to send (a `oneway` call).
    None,
}

impl Reply {
    /// A reply carrying `results`.
    pub fn ok<T: Serialize + ?Sized>(results: &T) -> Reply {
        match encode(results) {
            Ok(p) => Reply::Ok(p),
            Err(e) => Reply::Fault(format!("cannot encode the results: {e}")),
        }
    }

    /// A reply carrying an exception.
    pub fn exception<E: Serialize + ?Sized>(exception: &E) -> Reply {
        match encode(exception) {
            Ok(p) => Reply::Exception(p),
            Err(e) => Reply::Fault(format!("cannot encode the exception: {e}")),
        }
    }
}

/// Encodes a reply, exporting the objects it carries into the server's table.
fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Payload, crate::wire::EncodeError> {
    match super::context::exports() {
        Some(table) => crate::objects::scope::exporting(&table, || Payload::encode(value)),
        None => Payload::encode(value),
    }
}
