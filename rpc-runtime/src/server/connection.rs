//! One server connection: read requests, check them, run them, send replies.
//!
//! The reader checks every request before anything runs: the binding uid, the object,
//! the method id and its fingerprint; anything wrong gets an error reply and nothing
//! runs. A frame that cannot be parsed at all closes the connection (with a log line):
//! after garbage, the stream cannot be trusted to be in step. Each accepted call waits
//! for a permit of the server's semaphore (one permit in sequential mode) and then runs
//! as a task of its own; its reply goes to this connection's writer.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

use super::Shared;
use super::catch_unwind::CatchUnwind;
use super::service::Reply;
use crate::client::write_batches;
use crate::wire::{FrameReader, Header, Kind, Message, Payload, Status};

/// Replies waiting for the writer, per connection.
const QUEUE: usize = 1024;

/// Serves one connection until the peer closes it, it misbehaves, or the server shuts
/// down.
pub(crate) async fn serve<R, W>(
    read: R,
    write: W,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (replies, queue) = mpsc::channel(QUEUE);
    let writer = tokio::spawn(async move {
        if let Err(e) = write_batches(write, queue).await {
            tracing::debug!(%peer, "writing replies failed: {e}");
        }
    });
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
        if let Err(why) = accept(&message, &shared, &replies).await {
            tracing::warn!(%peer, "closing connection: {why}");
            break;
        }
    }
    // The writer ends once every running call of this connection has sent its reply.
    drop(replies);
    let _ = writer.await;
}

/// Checks one request and starts it; `Err` when the connection must close.
async fn accept(
    message: &[u8],
    shared: &Arc<Shared>,
    replies: &mpsc::Sender<Message>,
) -> Result<(), String> {
    let (header, payload) = Message::parse(message).map_err(|e| e.to_string())?;
    match header.kind() {
        Some(Kind::Request) => {}
        // Acknowledgements matter only to servers that keep a reply history.
        Some(Kind::Ack) => return Ok(()),
        _ => return Err(format!("a client sent a message of kind {}", header.kind)),
    }
    let refuse = |status: Status, payload: Payload| async move {
        if !header.is_oneway() {
            let _ = replies
                .send(payload.seal(&Header::reply_to(&header, status)))
                .await;
        }
        Ok(())
    };
    if header.binding != 0 && header.binding != shared.uid {
        let text = format!(
            "binding {:#x} is not this server's ({:#x})",
            header.binding, shared.uid
        );
        return refuse(Status::UnknownBinding, encode_text(&text)).await;
    }
    let Some(service) = shared.services.get(&header.object) else {
        let text = format!("no object {:#x} on this server", header.object);
        return refuse(Status::UnknownObject, encode_text(&text)).await;
    };
    let spec = service.spec();
    let Some(method) = spec.method(header.method) else {
        let text = format!(
            "{} has no method with id {:#010x}",
            spec.name, header.method
        );
        return refuse(Status::UnknownMethod, encode_text(&text)).await;
    };
    if method.fingerprint != header.fingerprint {
        let payload = Payload::encode(&method.fingerprint).unwrap_or_else(|_| Payload::empty());
        return refuse(Status::FingerprintMismatch, payload).await;
    }
    let handler = match service.call(header.method, payload) {
        Ok(handler) => handler,
        Err(e) => return refuse(Status::BadRequest, encode_text(&e.to_string())).await,
    };
    // Waiting here holds up this connection's reader: back-pressure on a client that
    // sends faster than the server runs calls.
    let permit = shared
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| "the server is shutting down".to_string())?;
    let replies = replies.clone();
    let name = method.name;
    tokio::spawn(async move {
        let reply = CatchUnwind::new(handler).await;
        drop(permit);
        let (status, payload) = match reply {
            Reply::Ok(p) => (Status::Ok, p),
            Reply::Exception(p) => (Status::Exception, p),
            Reply::Fault(text) => {
                tracing::error!(method = name, "call failed: {text}");
                (Status::ServerFault, encode_text(&text))
            }
            Reply::None => return,
        };
        if !header.is_oneway() {
            let _ = replies
                .send(payload.seal(&Header::reply_to(&header, status)))
                .await;
        }
    });
    Ok(())
}

fn encode_text(text: &str) -> Payload {
    Payload::encode(text).unwrap_or_else(|_| Payload::empty())
}
