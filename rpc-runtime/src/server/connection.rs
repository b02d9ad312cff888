//! One stream connection (TCP or Unix): read frames, hand each to
//! [`dispatch`](super::dispatch), write the replies.
//!
//! A frame that cannot be parsed at all closes the connection (with a log line): after
//! garbage, the stream cannot be trusted to be in step. A connection may use only the
//! sessions it opened or attached (by showing the session's secret), so no other peer
//! can reach a client's calls by naming its session id. It is closed when it idles with
//! no call running, stalls in the middle of a frame, or leaves too many replies unread
//! ([`Limits`](super::Limits)).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::io::AsyncRead;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Shared;
use super::context::Peer;
use super::dispatch::{Exchange, accept};
use super::handshake::{Origin, authenticate};
use crate::objects::reverse::{self, StreamWay};
use crate::objects::scope::Way;
use crate::outbox::{Outbox, When, WriteHalf};
use crate::wire::FrameReader;
use crate::wire::received::Received;

/// The most replies held back to go out in one write while more requests are read:
/// on two cores, one connection with 64 calls in flight makes a third more calls per
/// second with batches of 16 than with whole read buffers' worth (`bench/`).
const REPLY_BATCH: u32 = 16;

/// Serves one connection until the peer closes it, it misbehaves or idles, or the server
/// shuts down; then lets its running calls finish and flushes their replies.
pub(crate) async fn serve<R, W>(
    read: R,
    write: W,
    peer: Peer,
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
    // Callbacks to this connection's client go out through the same outbox.
    let stream_way = {
        let outbox: Arc<dyn crate::outbox::StreamOutbox> = outbox.clone();
        StreamWay::new(Arc::downgrade(&outbox))
    };
    let way = Way::Stream(stream_way.clone());
    let mut running = JoinSet::new();
    let mut frames =
        FrameReader::new(read, limits.max_frame).with_budget(shared.read_budget.clone());
    let mut origin = Origin::Stream {
        peer,
        attached: Vec::new(),
    };
    let timed_out = |why: &str| {
        tracing::info!(%peer, "closing connection: {why}");
        counters
            .connections_timed_out
            .fetch_add(1, Ordering::Relaxed);
    };
    // Replies deferred since the last write.
    let mut held_back = 0;
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
        // While more requests are already read, replies wait to go out together, but
        // only so many: the client works on the first replies while this works on the
        // rest, rather than each side waiting for the other's whole batch.
        let when = if frames.has_buffered_frame() && held_back + 1 < REPLY_BATCH {
            held_back += 1;
            When::Deferred
        } else {
            held_back = 0;
            When::Now
        };
        // A reply on a connection the client opened answers a call back to it.
        if reverse::is_reply(&message) {
            if let Some(session) = stream_way.forward(message).await {
                shared.sessions.heard(session, Instant::now());
            }
            continue;
        }
        let message = Received::new(message);
        let accepted = match authenticate(message.as_slice(), &origin, &shared) {
            Ok(checked) => {
                let mut exchange = Exchange {
                    shared: &shared,
                    sink: &outbox,
                    origin: &mut origin,
                    running: &mut running,
                    when,
                    way: &way,
                };
                accept(checked, message.shared(), &mut exchange).await
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
    // Callbacks wait for the client's next connection.
    stream_way.close();
    // The client is gone from these sessions (until it attaches them again elsewhere):
    // gentle reincarnation can no longer find it through this connection.
    if let Origin::Stream { attached, .. } = &origin {
        shared.sessions.detach(attached);
    }
    while running.join_next().await.is_some() {}
    outbox.drain().await;
    outbox.close("the connection is done");
    writer.abort();
    counters.connections.fetch_sub(1, Ordering::Relaxed);
}
