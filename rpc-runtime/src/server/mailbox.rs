//! The serving half of the message-passing layer: getRequest and sendReply.
//!
//! A [`Mailbox`] is a [`Service`] like a generated `...Server`, registered for an object
//! of a [`Server`](super::Server); instead of decoding and running the call itself, it
//! hands each request, as a message, to a loop written by hand that takes them from its
//! [`Requests`] ([`Requests::get_request`]) and answers each
//! ([`Request::send_reply`]), or not, for `oneway` calls.
//!
//! Everything the server does before a service sees a call still happens: the session
//! and its slot table filter duplicates of at-most-once calls and replay stored replies,
//! deadlines, cancellation and the bounds of [`Limits`](super::Limits) apply. So a
//! hand-written loop keeps every promise of the method's semantics, and generated
//! clients cannot tell it from a generated server.
//!
//! The mailbox is bounded: at most `capacity` requests wait for the loop. A call that
//! finds it full waits for room while holding its permit of the server's concurrency
//! limit, so a loop that falls behind slows its clients down instead of growing a queue.

use tokio::sync::{mpsc, oneshot};

use super::Invocation;
use super::context::{CallContext, Peer};
use super::service::{Handler, Reply, Service};
use crate::shared_bytes::Bytes;
use crate::spec::{InterfaceSpec, MethodSpec, Semantics};
use crate::wire::DecodeError;

/// How many requests a [`mailbox`] holds for its loop unless told otherwise.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;

/// The [`Service`] side of a mailbox: register it with a server
/// (`Server::new().add_service(mailbox)`).
#[derive(Debug, Clone)]
pub struct Mailbox {
    spec: &'static InterfaceSpec,
    sender: mpsc::Sender<Request>,
}

/// The loop's side of a mailbox: where requests arrive.
#[derive(Debug)]
pub struct Requests {
    receiver: mpsc::Receiver<Request>,
}

/// A mailbox for calls of `spec`, holding at most `capacity` requests (at least one)
/// for the loop.
pub fn mailbox(spec: &'static InterfaceSpec, capacity: usize) -> (Mailbox, Requests) {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    (Mailbox { spec, sender }, Requests { receiver })
}

impl Requests {
    /// getRequest: the next request, waiting for one; None once every [`Mailbox`] clone
    /// is gone (the server stopped) and no request is left.
    pub async fn get_request(&mut self) -> Option<Request> {
        self.receiver.recv().await
    }

    /// How many requests wait for the loop now.
    pub fn waiting(&self) -> usize {
        self.receiver.len()
    }
}

/// One request, as a message: who called, which method of which object, the encoded
/// arguments, and where its reply goes.
///
/// Dropping a request that wants a reply answers it with a server fault ("dropped
/// without a reply"), so that its caller is not left waiting until its deadline.
#[derive(Debug)]
pub struct Request {
    context: CallContext,
    interface: &'static InterfaceSpec,
    method: &'static MethodSpec,
    payload: Bytes,
    answer: Option<oneshot::Sender<Reply>>,
}

impl Request {
    /// The invocation id.
    pub fn invocation(&self) -> Invocation {
        self.context.invocation()
    }

    /// The object called: its id on this server.
    pub fn object(&self) -> u64 {
        self.context.object()
    }

    /// The interface called.
    pub fn interface(&self) -> &'static InterfaceSpec {
        self.interface
    }

    /// The method called (its id and fingerprint were checked by the server).
    pub fn method(&self) -> &'static MethodSpec {
        self.method
    }

    /// The arguments: the postcard bytes of the method's request record (its `in` and
    /// `inout` parameters in order).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Who sent it.
    pub fn peer(&self) -> Peer {
        self.context.peer()
    }

    /// Its call context: deadline, metadata, cancellation.
    pub fn context(&self) -> &CallContext {
        &self.context
    }

    /// Whether the caller waits for a reply (false for a `oneway` method).
    pub fn wants_reply(&self) -> bool {
        self.answer.is_some()
    }

    /// sendReply: answers the request with `reply` ([`Reply::Ok`] with the reply
    /// record's bytes, [`Reply::Exception`], or [`Reply::Fault`]). True when the reply
    /// went to the server to be sent (and, for at-most-once calls, stored); false when
    /// nobody waits for it any more (a oneway call, or one stopped by its deadline or
    /// its client).
    pub fn send_reply(mut self, reply: Reply) -> bool {
        match self.answer.take() {
            Some(answer) => answer.send(reply).is_ok(),
            None => false,
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if let Some(answer) = self.answer.take() {
            let _ = answer.send(Reply::Fault(format!(
                "the request of `{}` was dropped without a reply",
                self.method.name
            )));
        }
    }
}

impl Service for Mailbox {
    fn spec(&self) -> &'static InterfaceSpec {
        self.spec
    }

    fn call(&self, method: u32, payload: &[u8]) -> Result<Handler, DecodeError> {
        let Some(method) = self.spec.method(method) else {
            return crate::__codegen::unknown_method(method);
        };
        // The loop may keep the request after this call returns: it owns its bytes.
        let payload = Bytes::copy_from_slice(payload);
        let sender = self.sender.clone();
        let interface = self.spec;
        Ok(Box::pin(async move {
            let Some(context) = super::context() else {
                return Reply::Fault("a mailbox call outside the server".into());
            };
            let wants_reply = method.semantics != Semantics::Maybe;
            let (answer, reply) = oneshot::channel();
            let request = Request {
                context,
                interface,
                method,
                payload,
                answer: wants_reply.then_some(answer),
            };
            if sender.send(request).await.is_err() {
                return Reply::Fault("the mailbox's request loop has stopped".into());
            }
            if !wants_reply {
                return Reply::None;
            }
            reply.await.unwrap_or_else(|_| {
                Reply::Fault(format!("no reply was sent for `{}`", method.name))
            })
        }))
    }
}
