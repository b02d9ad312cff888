//! One server connection: read requests, check them, run them, send replies.
//!
//! The reader checks every request before anything runs: the session, the binding uid,
//! the object, the method id and its fingerprint, the arguments; anything wrong gets an
//! error reply and nothing runs. A frame that cannot be parsed at all closes the
//! connection (with a log line): after garbage, the stream cannot be trusted to be in
//! step.
//!
//! A connection may use only the sessions it opened or attached (by showing the
//! session's secret), so no other peer can reach a client's calls by naming its session
//! id. It is closed when it idles with no call running, stalls in the middle of a frame,
//! or leaves too many replies unread ([`Limits`](super::Limits)).
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
use super::handshake::{Checked, Origin, Proof, attach, authenticate, open, peer_hash};
use super::reply_sink::ReplySink;
use super::service::Reply;
use super::session::Verdict;
use crate::outbox::{Outbox, When, WriteHalf};
use crate::spec::Semantics;
use crate::wire::received::{Received, sharing};
use crate::wire::{FrameReader, Header, Kind, Message, Payload, Status};

/// Serves one connection until the peer closes it, it misbehaves or idles, or the server
/// shuts down; then lets its running calls finish and flushes their replies.
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
    let counters = &shared.counters;
    counters.connections.fetch_add(1, Ordering::Relaxed);
    let limits = shared.config.limits;
    let outbox = Arc::new(Outbox::new(write));
    let writer = {
        let outbox = outbox.clone();
        tokio::spawn(async move { outbox.run().await })
    };
    let mut running = JoinSet::new();
    let mut frames =
        FrameReader::new(read, limits.max_frame).with_budget(shared.read_budget.clone());
    let mut origin = Origin::Stream {
        attached: Vec::new(),
    };
    let timed_out = |why: &str| {
        tracing::info!(%peer, "closing connection: {why}");
        counters
            .connections_timed_out
            .fetch_add(1, Ordering::Relaxed);
    };
    loop {
        // A client that does not read its replies gets no more requests read.
        if outbox.unsent() > limits.max_unsent {
            outbox.flush();
            if tokio::time::timeout(limits.idle_timeout, outbox.drain())
                .await
                .is_err()
            {
                timed_out("its replies went unread");
                break;
            }
        }
        // A frame already read needs no waiting, so no timers and no select: requests
        // that arrive together are taken at the cost of decoding them.
        let frame = if frames.has_buffered_frame() {
            frames.next().await
        } else {
            // A frame that begins while this waits is only seen at the next wake-up, so
            // between frames wake up every half frame timeout: a stall is caught within one
            // and a half frame timeouts of its first byte.
            let check_stall = Instant::now() + limits.frame_timeout / 2;
            let deadline = match frames.frame_started() {
                Some(started) => started + limits.frame_timeout,
                None if running.is_empty() => {
                    (frames.last_read() + limits.idle_timeout).min(check_stall)
                }
                // Waiting for its calls is not idling.
                None => check_stall,
            };
            tokio::select! {
                frame = frames.next() => frame,
                _ = shutdown.wait_for(|stop| *stop) => break,
                // Reading is cancel safe: a call ending just re-arms the timers.
                Some(_) = running.join_next(), if !running.is_empty() => continue,
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let stalled = frames.frame_started().is_some_and(|s| s + limits.frame_timeout <= Instant::now());
                    let idle = frames.frame_started().is_none()
                        && running.is_empty()
                        && frames.last_read() + limits.idle_timeout <= Instant::now();
                    if stalled || idle {
                        timed_out(if stalled { "it stalled in the middle of a frame" } else { "it was idle" });
                        break;
                    }
                    continue;
                }
            }
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
        let message = Received::new(message);
        let accepted = match authenticate(message.as_slice(), &origin, &shared) {
            Ok(checked) => {
                let frame = message.shared();
                accept(
                    checked,
                    frame,
                    &mut origin,
                    &shared,
                    &outbox,
                    &mut running,
                    when,
                )
                .await
            }
            Err(why) => Err(why),
        };
        drop(message); // its buffer goes back to the pool
        if when == When::Now {
            outbox.flush();
        }
        if let Err(why) = accepted {
            tracing::warn!(%peer, "closing connection: {why}");
            break;
        }
    }
    outbox.flush();
    while running.join_next().await.is_some() {}
    outbox.drain().await;
    outbox.close("the connection is done");
    writer.abort();
    counters.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Acts on one message; `Err` when the connection must close. `frame`, when the message
/// is large and shared, is the buffer its `bytes` arguments may be slices of.
pub(crate) async fn accept<S: ReplySink>(
    (header, payload, proof): Checked<'_>,
    frame: Option<&bytes::Bytes>,
    origin: &mut Origin,
    shared: &Arc<Shared>,
    outbox: &Arc<S>,
    running: &mut JoinSet<()>,
    when: When,
) -> Result<(), String> {
    match header.kind() {
        Some(Kind::Request) => {}
        Some(Kind::Open) => return open(&header, payload, origin, shared, outbox, when),
        Some(Kind::Attach) => return attach(&header, payload, origin, shared, outbox, when),
        // The client has the reply of (session, slot, seq): drop it (protocol RRA).
        Some(Kind::Ack) => {
            if let Proof::Session(_) = proof {
                let id = (header.session, header.slot, header.seq);
                shared.sessions.acknowledge(id);
            }
            return Ok(());
        }
        _ => return Err(format!("a client sent a message of kind {}", header.kind)),
    }
    let refuse = |status: Status, text: &str| {
        if !header.is_oneway() {
            let reply = match status {
                Status::BadSession => shared.session_unknown(header.session),
                _ => Payload::encode(text).unwrap_or_else(|_| Payload::empty()),
            };
            let _ = outbox.send(reply.seal(&Header::reply_to(&header, status)), when);
        }
        Ok(())
    };
    let session = match proof {
        Proof::None => None,
        Proof::Session(_) => Some(header.session),
        Proof::Unknown => {
            shared
                .counters
                .refused_sessionless
                .fetch_add(1, Ordering::Relaxed);
            return refuse(Status::BadSession, "unknown session");
        }
        Proof::Forged => {
            shared.counters.forged.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
    };
    if header.binding != 0 && header.binding != shared.uid {
        // The uid is not said: the client knows which it asked for, others need not know.
        return refuse(
            Status::UnknownBinding,
            "this server is not the binding asked for",
        );
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
    let handler = match sharing(frame, || service.call(header.method, payload)) {
        Ok(handler) => handler,
        Err(e) => return refuse(Status::BadRequest, &e.to_string()),
    };
    // At-most-once and oneway calls run once per invocation id, which only a session
    // makes trustworthy.
    let filtered = matches!(method.semantics, Semantics::AtMostOnce | Semantics::Maybe);
    if filtered {
        let Some(session) = session else {
            shared
                .counters
                .refused_sessionless
                .fetch_add(1, Ordering::Relaxed);
            return refuse(
                Status::BadSession,
                "at-most-once and oneway calls need a session: open one first",
            );
        };
        let digest = shared.sessions.digest(
            header.object,
            header.method,
            header.fingerprint,
            header.flags & crate::wire::FLAG_ONEWAY,
            payload,
        );
        let (peer, redirect) = match origin {
            Origin::Stream { .. } => (0, Some(outbox.clone() as Arc<dyn ReplySink>)),
            Origin::Datagram { peer, .. } => (peer_hash(peer), None),
        };
        let verdict = shared.sessions.begin(
            (session, header.slot, header.seq),
            digest,
            peer,
            method.semantics == Semantics::Maybe,
            redirect,
            Instant::now(),
        );
        let counters = &shared.counters;
        match verdict {
            Verdict::Run => {}
            Verdict::Running | Verdict::Done | Verdict::Stale | Verdict::OtherPeer => {
                counters.duplicates.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Verdict::Replay(reply) => {
                counters.duplicates.fetch_add(1, Ordering::Relaxed);
                counters.resent.fetch_add(1, Ordering::Relaxed);
                let _ = outbox.send(Message::from_bytes(&reply), when);
                return Ok(());
            }
            Verdict::ReplyLost => {
                counters.duplicates.fetch_add(1, Ordering::Relaxed);
                let text = format!("`{}` ran; its reply was not kept", method.name);
                return refuse(Status::ReplyLost, &text);
            }
            Verdict::Reused => {
                return refuse(
                    Status::IdReused,
                    "this invocation id was used by another request",
                );
            }
            Verdict::NoSlot => {
                return refuse(Status::Misordered, "the session has no such slot");
            }
            Verdict::NoSession => {
                counters.refused_sessionless.fetch_add(1, Ordering::Relaxed);
                return refuse(Status::BadSession, "unknown session");
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
        remember: method.semantics == Semantics::AtMostOnce,
        shared: shared.clone(),
    };
    let invocation = super::Invocation {
        session: header.session,
        slot: header.slot,
        seq: header.seq,
    };
    let mut call = CatchUnwind::new(handler, invocation);
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
    /// Store the reply in the session (at-most-once).
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
        let max_frame = outbox.max_message(self.shared.config.limits.max_frame);
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
            let id = (self.header.session, self.header.slot, self.header.seq);
            let reply = self.wanted.then(|| message.datagram());
            // A retransmission that came on another connection while the call ran
            // (the first one broke) gets the reply there.
            if let Some(redirect) = self.shared.sessions.finish(id, reply)
                && !std::ptr::addr_eq(Arc::as_ptr(&redirect), outbox)
            {
                let _ = redirect.send(message.clone(), When::Now);
            }
        }
        if self.wanted {
            let _ = outbox.send(message, when);
        }
    }
}

fn fault_text(text: &str) -> Payload {
    Payload::encode(text).unwrap_or_else(|_| Payload::empty())
}
