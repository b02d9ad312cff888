//! What a server runs: objects implementing [`Service`], usually a generated
//! `...Server` adapter around the user's implementation of an interface trait.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::spec::InterfaceSpec;
use crate::wire::{DecodeError, Payload};

/// A running call: resolves to its reply.
pub type Handler = Pin<Box<dyn Future<Output = Reply> + Send + 'static>>;

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
        match Payload::encode(results) {
            Ok(p) => Reply::Ok(p),
            Err(e) => Reply::Fault(format!("cannot encode the results: {e}")),
        }
    }

    /// A reply carrying an exception.
    pub fn exception<E: Serialize + ?Sized>(exception: &E) -> Reply {
        match Payload::encode(exception) {
            Ok(p) => Reply::Exception(p),
            Err(e) => Reply::Fault(format!("cannot encode the exception: {e}")),
        }
    }
}

/// Decodes a method's arguments; for generated `Service::call` implementations.
pub fn decode_args<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    crate::wire::decode(payload, "arguments")
}

/// The handler of a method the service does not have (the server checks ids first, so
/// generated code reaches this only if spec and dispatch disagree).
pub fn unknown_method(method: u32) -> Result<Handler, DecodeError> {
    Err(DecodeError::Malformed {
        what: "method id",
        message: format!("no method with id {method:#x}"),
    })
}
