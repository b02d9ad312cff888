//! Callbacks over the connection the client opened: calls in the other direction,
//! multiplexed on the same stream with the same framing.
//!
//! A message's kind says its direction. On a connection a client opened, the client
//! normally sends only requests and control messages (Request, Open, Attach, Ack…) and
//! the server only replies; a callback is the same protocol with the roles swapped: the
//! server sends requests to an object the client exported, and the client replies. So
//! a server that receives a Reply, and a client that receives anything but a Reply,
//! hands it to the other role's machinery, which is the ordinary one, run over an
//! in-process socket pair:
//!
//! - the server's side of a connection ([`ReverseLink`]) is a [`Channel`] whose
//!   "connection" is one end of a socket pair; what it writes there goes out on the
//!   real connection, and the Replies the server reads come back into it;
//! - the client's side ([`CallbackLink`]) serves this process's callback table (a
//!   server without a listener, `callbacks`) on one end of a socket pair; the requests it
//!   reads on the real connection go in, its replies go out on the real connection.
//!
//! So callbacks have sessions, slots, invocation ids, the reply history, limits and
//! every call semantics, exactly as forward calls do; and the client needs no listening
//! socket (callbacks reach clients behind NAT and firewalls).

use std::io;
use std::sync::{Arc, OnceLock, Weak};

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::task::AbortHandle;

use super::table::ObjectTable;
use crate::client::Channel;
use crate::outbox::{StreamOutbox, When};
use crate::wire::{FrameReader, Message};

/// Whether a message is a reply of this protocol version (its first two bytes are the
/// version and the kind); anything else goes the usual way, where garbage is refused.
pub(crate) fn is_reply(message: &[u8]) -> bool {
    message.get(..2) == Some(&[crate::wire::VERSION, crate::wire::Kind::Reply as u8])
}

/// Writes `message` as a frame into `pipe`.
async fn write_frame(pipe: &mut OwnedWriteHalf, message: &[u8]) -> io::Result<()> {
    let length = u32::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a frame over 4 GiB"))?;
    pipe.write_all(&length.to_be_bytes()).await?;
    pipe.write_all(message).await
}

/// Sends every frame read from `pipe` out through `outbox`, until either closes.
async fn pump(
    pipe: tokio::net::unix::OwnedReadHalf,
    max_frame: usize,
    outbox: Weak<dyn StreamOutbox>,
) {
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

/// The server's side of callbacks on one stream connection.
pub(crate) struct ReverseLink {
    outbox: Weak<dyn StreamOutbox>,
    /// Where objects this server sends in its calls back are exported: its own table.
    pub exports: Arc<ObjectTable>,
    max_frame: usize,
    /// The Replies of the client go in here.
    pipe: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    channel: OnceLock<Channel>,
    pumps: std::sync::Mutex<Vec<AbortHandle>>,
}

impl ReverseLink {
    pub fn new(
        outbox: Weak<dyn StreamOutbox>,
        exports: Arc<ObjectTable>,
        max_frame: usize,
    ) -> Arc<ReverseLink> {
        Arc::new(ReverseLink {
            outbox,
            exports,
            max_frame,
            pipe: tokio::sync::Mutex::new(None),
            channel: OnceLock::new(),
            pumps: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The channel that calls the client's objects over this connection (one per
    /// connection, connected on its first call).
    pub fn channel(self: &Arc<Self>) -> Channel {
        self.channel
            .get_or_init(|| Channel::reverse(Arc::downgrade(self), self.exports.clone()))
            .clone()
    }

    /// A new stream for the channel: one end of a socket pair whose other end is pumped
    /// out on the connection, and into which the client's Replies go from now on.
    pub async fn dial(&self) -> io::Result<UnixStream> {
        let (ours, theirs) = UnixStream::pair()?;
        let (read, write) = theirs.into_split();
        let pump = tokio::spawn(pump(read, self.max_frame, self.outbox.clone()));
        self.pumps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(pump.abort_handle());
        *self.pipe.lock().await = Some(write);
        Ok(ours)
    }

    /// Hands a Reply read on the connection to the channel; dropped if the channel is
    /// not connected (nobody waits for it).
    pub async fn forward(&self, message: &[u8]) {
        let mut pipe = self.pipe.lock().await;
        if let Some(write) = pipe.as_mut()
            && write_frame(write, message).await.is_err()
        {
            *pipe = None;
        }
    }
}

impl Drop for ReverseLink {
    fn drop(&mut self) {
        for pump in self
            .pumps
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            pump.abort();
        }
    }
}

/// The client's side of callbacks on one connection it opened: this process's callback
/// table served on a socket pair, started by the first message for it.
pub(crate) struct CallbackLink {
    pipe: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    tasks: std::sync::Mutex<Vec<AbortHandle>>,
}

impl CallbackLink {
    pub fn new() -> CallbackLink {
        CallbackLink {
            pipe: tokio::sync::Mutex::new(None),
            tasks: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Hands a message from the server (a request, or a control message of its
    /// session) to the callback table; replies go out through `outbox`.
    pub async fn forward(&self, message: &[u8], outbox: Weak<dyn StreamOutbox>, max_frame: usize) {
        let mut pipe = self.pipe.lock().await;
        if pipe.is_none() {
            match self.start(outbox, max_frame) {
                Ok(write) => *pipe = Some(write),
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

    fn start(
        &self,
        outbox: Weak<dyn StreamOutbox>,
        max_frame: usize,
    ) -> io::Result<OwnedWriteHalf> {
        let (ours, theirs) = UnixStream::pair()?;
        let serving = super::callbacks::serve(theirs);
        let (read, write) = ours.into_split();
        let pump = tokio::spawn(pump(read, max_frame, outbox));
        let mut tasks = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tasks.extend([serving, pump.abort_handle()]);
        Ok(write)
    }
}

impl Drop for CallbackLink {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}
