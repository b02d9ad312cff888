//! Sending a call's reply: to its connection or datagram peer, kept in the session for
//! an at-most-once call, and to a newer connection that asked for it while it ran. A
//! call that was stopped answers `Killed`, and that answer is kept like any other: a
//! retransmission of a stopped at-most-once call gets it, and does not run again.

use super::Shared;
use super::reply_sink::ReplySink;
use super::running::KillReason;
use super::service::Reply;
use crate::outbox::When;
use crate::wire::{Header, Payload, Status};

/// Where a call's reply goes.
pub(super) struct Answer {
    pub header: Header,
    pub method: &'static str,
    pub wanted: bool,
    /// Store the reply in the session (at-most-once).
    pub remember: bool,
    /// The call's span: its outcome is recorded there.
    pub span: tracing::Span,
}

impl Answer {
    /// Sends how the call ended: its reply, or why it was stopped.
    pub fn send<S: ReplySink>(
        self,
        shared: &Shared,
        reply: Result<Reply, KillReason>,
        outbox: &S,
        when: When,
    ) {
        let (status, payload) = match reply {
            Ok(Reply::Ok(p)) => (Status::Ok, p),
            Ok(Reply::Exception(p)) => (Status::Exception, p),
            Ok(Reply::Fault(text)) => {
                tracing::error!(method = self.method, "call failed: {text}");
                (Status::ServerFault, Payload::of(&text))
            }
            Ok(Reply::None) => (Status::Ok, Payload::empty()),
            Err(reason) => {
                tracing::debug!(method = self.method, "call stopped: {}", reason.text());
                (Status::Killed, Payload::of(reason.text()))
            }
        };
        self.span
            .record("rpc.outcome", tracing::field::debug(status));
        let mut message = payload.seal(&Header::reply_to(&self.header, status));
        let max_frame = outbox.max_message(shared.config.limits.max_frame);
        if message.len() > max_frame {
            // The client would refuse the frame and lose its whole connection: send a
            // fault for this one call instead.
            let text = format!(
                "the results of `{}` are {} bytes, over the frame limit of {} bytes",
                self.method,
                message.len(),
                max_frame
            );
            tracing::error!("{text}");
            message = Payload::of(&text).seal(&Header::reply_to(&self.header, Status::ServerFault));
        }
        if self.remember {
            let id = (self.header.session, self.header.slot, self.header.seq);
            let reply = self.wanted.then(|| message.datagram());
            // A retransmission that came on another connection while the call ran
            // (the first one broke) gets the reply there.
            if let Some(redirect) = shared.sessions.finish(id, reply)
                && !outbox.is(&redirect)
            {
                let _ = redirect.send(message.clone(), When::Now);
            }
        }
        if self.wanted {
            let _ = outbox.send(message, when);
        }
    }
}
