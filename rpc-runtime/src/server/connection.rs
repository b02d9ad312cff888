//! One server connection: read requests, check them, run them, send replies.
//!
//! The reader checks every request before anything runs: the binding uid, the object,
//! the method id and its fingerprint; anything wrong gets an error reply and nothing
//! runs. A frame that cannot be parsed at all closes the connection (with a log line):
//! after garbage, the stream cannot be trusted to be in step.
//!
//! An accepted call takes a permit of the server's semaphore (one permit in sequential
//! mode) and is polled once right here: a handler that finishes without waiting (most
//! do) replies without a task switch. One that must wait continues as a task of its own,
//! so that slow calls do not hold up the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Instant;

use tokio::io::AsyncRead;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Shared;
use super::catch_unwind::CatchUnwind;
use super::history::Verdict;
use super::reply_sink::ReplySink;
use super::service::Reply;
use crate::outbox::{Outbox, When, WriteHalf};
use crate::spec::Semantics;
use crate::wire::{FrameReader, Header, Kind, Message, Payload, Status};

/// Serves one connection until the peer closes it, it misbehaves, or the server shuts
/// down; then lets its running calls finish and flushes their replies.
pub(crate) async fn serve<R, W>(
    read: R,
    write: W,
    peer: String,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: WriteHalf,
{
    let outbox = Arc::new(Outbox::new(write));
    let writer = {
        let outbox = outbox.clone();
        tokio::spawn(async move { outbox.run().await })
    };
    let mut running = JoinSet::new();
    let mut frames = FrameReader::new(read, shared.config.max_frame);
    loop {
        let frame = tokio::select! {
            frame = frames.next() => frame,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let message = match frame {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(%peer, "closing connection: {e}");
                break;
            }
        };
        // While more requests are already read, replies wait to go out together.
        let when = if frames.has_buffered_frame() {
            When::Deferred
        } else {
            When::Now
        };
        let accepted = accept(&message, &shared, &outbox, &mut running, when).await;
        crate::buffers::give(message);
        if when == When::Now {
            outbox.flush();
        }
        if let Err(why) = accepted {
            tracing::warn!(%peer, "closing connection: {why}");
            break;
        }
        while running.try_join_next().is_some() {}
    }
    outbox.flush();
    while running.join_next().await.is_some() {}
    outbox.drain().await;
    outbox.close("the connection is done");
    writer.abort();
}

/// Checks one request and runs it; `Err` when the connection must close.
pub(crate) async fn accept<S: ReplySink>(
    message: &[u8],
    shared: &Arc<Shared>,
    outbox: &Arc<S>,
    running: &mut JoinSet<()>,
    when: When,
) -> Result<(), String> {
    let (header, payload) = Message::parse(message).map_err(|e| e.to_string())?;
    match header.kind() {
        Some(Kind::Request) => {}
        // The client has the reply of (client, seq): forget it (protocol RRA).
        Some(Kind::Ack) => {
            shared.history().acknowledge(header.client, header.seq);
            return Ok(());
        }
        _ => return Err(format!("a client sent a message of kind {}", header.kind)),
    }
    let refuse = |status: Status, text: &str| {
        if !header.is_oneway() {
            let reply = Payload::encode(text).unwrap_or_else(|_| Payload::empty());
            let _ = outbox.send(reply.seal(&Header::reply_to(&header, status)), when);
        }
        Ok(())
    };
    if header.binding != 0 && header.binding != shared.uid {
        let text = format!(
            "binding {:#x} is not this server's ({:#x})",
            header.binding, shared.uid
        );
        return refuse(Status::UnknownBinding, &text);
    }
    let Some(service) = shared.services.get(&header.object) else {
        return refuse(
            Status::UnknownObject,
            &format!("no object {:#x} on this server", header.object),
        );
    };
    let spec = service.spec();
    let Some(method) = spec.method(header.method) else {
        let text = format!(
            "{} has no method with id {:#010x}",
            spec.name, header.method
        );
        return refuse(Status::UnknownMethod, &text);
    };
    if method.fingerprint != header.fingerprint {
        if !header.is_oneway() {
            let reply = Payload::encode(&method.fingerprint).unwrap_or_else(|_| Payload::empty());
            let _ = outbox.send(
                reply.seal(&Header::reply_to(&header, Status::FingerprintMismatch)),
                when,
            );
        }
        return Ok(());
    }
    let handler = match service.call(header.method, payload) {
        Ok(handler) => handler,
        Err(e) => return refuse(Status::BadRequest, &e.to_string()),
    };
    // At-most-once and oneway: a request seen before does not run again.
    if method.semantics == Semantics::Maybe
        && !shared
            .history()
            .begin_oneway(header.client, header.seq, Instant::now())
    {
        shared.counters.duplicates.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    let remember = method.semantics == Semantics::AtMostOnce;
    if remember {
        let verdict = shared
            .history()
            .begin(header.client, header.seq, header.ack, Instant::now());
        match verdict {
            Verdict::Run => {}
            Verdict::Running | Verdict::Stale => {
                shared.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Verdict::Replay(reply) => {
                shared.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                shared.counters.resent.fetch_add(1, Ordering::Relaxed);
                let _ = outbox.send(Message::from_bytes(&reply), when);
                return Ok(());
            }
            Verdict::ReplyLost => {
                shared.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                let text = format!("`{}` ran; its reply was too large to keep", method.name);
                return refuse(Status::ReplyLost, &text);
            }
        }
    }
    // Waiting here holds up this connection's reader: back-pressure on a client that
    // sends faster than the server runs calls.
    let permit = shared
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| "the server is shutting down".to_string())?;
    shared.counters.executions.fetch_add(1, Ordering::Relaxed);
    let answer = Answer {
        header,
        method: method.name,
        // A `oneway` method never replies, whatever the flag says.
        wanted: !header.is_oneway() && method.semantics != Semantics::Maybe,
        remember,
        shared: shared.clone(),
    };
    let invocation = super::Invocation {
        client: header.client,
        seq: header.seq,
    };
    let mut call = CatchUnwind::new(Box::pin(super::INVOCATION.scope(invocation, handler)));
    match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut call).poll(cx))).await {
        Poll::Ready(reply) => {
            drop(permit);
            answer.send(reply, outbox.as_ref(), when);
        }
        Poll::Pending => {
            let outbox = outbox.clone();
            running.spawn(async move {
                let reply = call.await;
                drop(permit);
                answer.send(reply, outbox.as_ref(), When::Now);
            });
        }
    }
    Ok(())
}

/// Where a call's reply goes.
struct Answer {
    header: Header,
    method: &'static str,
    wanted: bool,
    /// Store the reply in the history (at-most-once).
    remember: bool,
    shared: Arc<Shared>,
}

impl Answer {
    fn send<S: ReplySink>(self, reply: Reply, outbox: &S, when: When) {
        let (status, payload) = match reply {
            Reply::Ok(p) => (Status::Ok, p),
            Reply::Exception(p) => (Status::Exception, p),
            Reply::Fault(text) => {
                tracing::error!(method = self.method, "call failed: {text}");
                (Status::ServerFault, fault_text(&text))
            }
            Reply::None => (Status::Ok, Payload::empty()),
        };
        let mut message = payload.seal(&Header::reply_to(&self.header, status));
        let max_frame = outbox.max_message(self.shared.config.max_frame);
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
            message = fault_text(&text).seal(&Header::reply_to(&self.header, Status::ServerFault));
        }
        if self.remember {
            let (client, seq) = (self.header.client, self.header.seq);
            let reply = self.wanted.then(|| message.datagram());
            self.shared
                .history()
                .finish(client, seq, reply, Instant::now());
        }
        if self.wanted {
            let _ = outbox.send(message, when);
        }
    }
}

fn fault_text(text: &str) -> Payload {
    Payload::encode(text).unwrap_or_else(|_| Payload::empty())
}
