//! The calling half of the message-passing layer under the stubs: what
//! [`Client::do_operation`](super::Client::do_operation) sends and what it gives back.
//!
//! A request's payload is the call context followed by the method's arguments (its
//! request record: the `in` and `inout` parameters in order, as postcard writes a
//! struct). The arguments come either as a serde value, encoded as the request goes out
//! ([`Typed`], what generated stubs pass), or as bytes already encoded ([`Encoded`], what
//! a dynamic caller passes); both reach the wire through the same call path.

use serde::Serialize;

use super::connection::Incoming;
use crate::error::{CallError, Outcome};
use crate::spec::MethodSpec;
use crate::wire::context::ContextOut;
use crate::wire::{self, DecodeError, EncodeError, Payload, Status};

/// The arguments of a request, as [`Client::do_operation`](super::Client::do_operation)
/// takes them: [`Typed`] or [`Encoded`]. Sealed: the runtime writes the call context in
/// front of them.
pub trait Arguments: sealed::Encode {}

pub(super) mod sealed {
    use super::*;

    /// How arguments become a request payload behind the call context.
    pub trait Encode {
        /// The request payload: `context`, then the arguments.
        fn payload(&self, context: &ContextOut<'_>) -> Result<Payload, EncodeError>;
    }
}

/// Arguments as a serde value (a method's request record), encoded when sent.
#[derive(Debug, Clone, Copy)]
pub struct Typed<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> sealed::Encode for Typed<'_, T> {
    fn payload(&self, context: &ContextOut<'_>) -> Result<Payload, EncodeError> {
        // postcard writes a tuple as its elements one after the other: the context, then
        // the record, with no copy of either.
        Payload::encode(&(context, self.0))
    }
}

impl<T: Serialize + ?Sized> Arguments for Typed<'_, T> {}

/// Arguments already encoded: the postcard bytes of a method's request record (its `in`
/// and `inout` parameters in order), sent as they are.
#[derive(Debug, Clone, Copy)]
pub struct Encoded<'a>(pub &'a [u8]);

impl sealed::Encode for Encoded<'_> {
    fn payload(&self, context: &ContextOut<'_>) -> Result<Payload, EncodeError> {
        Payload::encode_then(context, self.0)
    }
}

impl Arguments for Encoded<'_> {}

/// The reply to one request, as the server sent it: a status and payload bytes.
///
/// What the payload holds depends on the status: the method's reply record (its result,
/// then its `inout` and `out` parameters in order) for [`Status::Ok`], its exception for
/// [`Status::Exception`], an error text or a number for the others. [`ReplyMessage::outcome`]
/// reads it as the stubs do.
pub struct ReplyMessage {
    pub(crate) incoming: Incoming,
    /// How to reach the replying side, for the references to its own objects the
    /// reply carries.
    pub(crate) arrival: crate::objects::scope::Arrival,
}

impl std::fmt::Debug for ReplyMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyMessage")
            .field("incoming", &self.incoming)
            .finish_non_exhaustive()
    }
}

impl ReplyMessage {
    /// The reply's status; None for a status this runtime does not know.
    pub fn status(&self) -> Option<Status> {
        self.incoming.header.status()
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        self.incoming.payload()
    }

    /// The invocation id it answers: session, slot, sequence number.
    pub fn invocation(&self) -> (u64, u32, u64) {
        let h = &self.incoming.header;
        (h.session, h.slot, h.seq)
    }

    /// The call's outcome: the reply record's bytes when the method returned, its
    /// exception decoded by `exception` when it raised one, and the [`CallError`] of
    /// every other status (the same errors generated stubs return).
    pub fn outcome<X>(
        &self,
        method: &'static MethodSpec,
        exception: impl FnOnce(&[u8]) -> Result<X, DecodeError>,
    ) -> Result<&[u8], CallError<X>> {
        let payload = self.payload();
        let text = || wire::decode::<String>(payload, "message").unwrap_or_else(|e| e.to_string());
        let malformed =
            |e: DecodeError| CallError::Protocol(format!("reply to `{}`: {e}", method.name));
        match self.status() {
            Some(Status::Ok) => Ok(payload),
            Some(Status::Exception) => {
                Err(CallError::Exception(exception(payload).map_err(malformed)?))
            }
            Some(Status::UnknownObject) => Err(CallError::UnknownObject(text())),
            Some(Status::UnknownMethod) => Err(CallError::UnknownMethod {
                method: method.name,
                message: text(),
            }),
            Some(Status::FingerprintMismatch) => Err(CallError::FingerprintMismatch {
                method: method.name,
                client: method.fingerprint,
                server: wire::decode(payload, "fingerprint").map_err(malformed)?,
            }),
            Some(Status::ServerFault) => Err(CallError::ServerFault {
                method: method.name,
                message: text(),
            }),
            Some(Status::BadRequest) => Err(CallError::Protocol(format!(
                "the server could not decode the arguments of `{}`: {}",
                method.name,
                text()
            ))),
            Some(Status::UnknownBinding) => Err(CallError::UnknownBinding(text())),
            Some(Status::ReplyLost) => Err(CallError::ReplyLost {
                method: method.name,
            }),
            Some(Status::BadSession) => Err(CallError::SessionLost {
                method: method.name,
            }),
            Some(Status::Misordered | Status::IdReused) => Err(CallError::Protocol(format!(
                "the server refused the invocation id of `{}`: {}",
                method.name,
                text()
            ))),
            Some(Status::Killed) => Err(CallError::Killed {
                method: method.name,
                reason: text(),
            }),
            Some(Status::Busy) => Err(CallError::connection(
                format!("the server is busy: {}", text()),
                Outcome::NotExecuted,
            )),
            // The call path waits on after this status; it reaches here only from a
            // server that sent it unasked.
            Some(Status::Running) => Err(CallError::Protocol(format!(
                "the server said `{}` is still running, to a request that did not ask",
                method.name
            ))),
            None => Err(CallError::Protocol(format!(
                "reply to `{}` has unknown status {}",
                method.name, self.incoming.header.status
            ))),
        }
    }

    /// [`ReplyMessage::outcome`] with the reply record and the exception decoded as
    /// serde types, slicing `bytes` values out of a large reply instead of copying them.
    pub(crate) fn decode<Rep, E>(
        &self,
        method: &'static MethodSpec,
        exception: fn(&[u8]) -> Result<E, DecodeError>,
    ) -> Result<Rep, CallError<E>>
    where
        Rep: serde::de::DeserializeOwned,
    {
        crate::objects::scope::arriving(self.arrival.clone(), || {
            wire::received::sharing(self.incoming.message.shared(), || {
                let results = self.outcome(method, exception)?;
                wire::decode(results, "results")
                    .map_err(|e| CallError::Protocol(format!("reply to `{}`: {e}", method.name)))
            })
        })
    }
}
