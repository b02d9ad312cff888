//! Callbacks, the client's side: on a connection this process opened, whatever the
//! server sends that is not a Reply is a call to an object this process sent it, and
//! goes to the process's callback table (see [`callbacks`](super::callbacks)), which
//! answers on the same connection.
//!
//! Over a stream the table is served, with the ordinary server loop, on one end of an
//! in-process socket pair whose other end is pumped through the real connection. Over
//! UDP the callback datagrams are handed to the table's datagram loop, which answers
//! through the client's own socket: the server sees the replies come from the address
//! it sent the calls to.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::io::AsyncWriteExt;
use tokio::net::UdpSocket;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::outbox::{StreamOutbox, When};
use crate::wire::{FrameReader, Message};

/// Callback datagrams queued for the callback table; beyond it they are dropped, like
/// datagrams the network lost (the server sends them again).
const DATAGRAM_QUEUE: usize = 1024;

/// Writes `message` as a frame into `pipe`.
async fn write_frame(pipe: &mut OwnedWriteHalf, message: &[u8]) -> io::Result<()> {
    let length = u32::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a frame over 4 GiB"))?;
    pipe.write_all(&length.to_be_bytes()).await?;
    pipe.write_all(message).await
}

/// Sends every frame read from `pipe` out through `outbox`, until either closes.
async fn pump(pipe: OwnedReadHalf, max_frame: usize, outbox: Weak<dyn StreamOutbox>) {
    let mut frames = FrameReader::new(pipe, max_frame);
    while let Ok(Some(message)) = frames.next().await {
        let Some(outbox) = outbox.upgrade() else {
            return;
        };
        if !outbox.send(Message::from_bytes(&message), When::Now) {
            return;
        }
    }
}

/// The client's side of callbacks on one connection it opened, started by the first
/// message for it. Dropped with the connection: the table then sees its end of the
/// pipe close, lets the callbacks running finish (their replies stay in its history,
/// for the server to fetch again over the next connection) and stops serving it.
pub(crate) struct CallbackLink {
    pipe: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    datagrams: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    started: AtomicBool,
}

impl CallbackLink {
    pub fn new() -> CallbackLink {
        CallbackLink {
            pipe: tokio::sync::Mutex::new(None),
            datagrams: Mutex::new(None),
            started: AtomicBool::new(false),
        }
    }

    /// Whether the server has called back over this connection.
    pub fn started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// Hands a message from the server (a request, or a control message of its
    /// session) to the callback table; replies go out through `outbox`.
    pub async fn forward(&self, message: &[u8], outbox: Weak<dyn StreamOutbox>, max_frame: usize) {
        self.started.store(true, Ordering::Relaxed);
        let mut pipe = self.pipe.lock().await;
        if pipe.is_none() {
            match UnixStream::pair() {
                Ok((ours, theirs)) => {
                    super::callbacks::serve(theirs);
                    let (read, write) = ours.into_split();
                    tokio::spawn(pump(read, max_frame, outbox));
                    *pipe = Some(write);
                }
                Err(e) => {
                    tracing::warn!("cannot serve callbacks: {e}");
                    return;
                }
            }
        }
        if let Some(write) = pipe.as_mut()
            && write_frame(write, message).await.is_err()
        {
            *pipe = None;
        }
    }

    /// Hands a datagram from the server to the callback table, which answers through
    /// `socket` to `server`.
    pub fn forward_datagram(&self, message: Vec<u8>, socket: &Arc<UdpSocket>, server: SocketAddr) {
        self.started.store(true, Ordering::Relaxed);
        let mut datagrams = self
            .datagrams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let sender = datagrams.get_or_insert_with(|| {
            let (sender, inbox) = mpsc::channel(DATAGRAM_QUEUE);
            super::callbacks::serve_datagrams(inbox, socket.clone(), server);
            sender
        });
        let _ = sender.try_send(message);
    }
}
