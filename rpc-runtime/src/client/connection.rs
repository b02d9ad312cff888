//! One client connection over TCP: many calls in flight, replies matched by sequence
//! number.
//!
//! Two tasks serve a connection. The writer drains a queue of messages and writes them in
//! batches, one system call for as many small messages as are waiting. The reader reads
//! replies and hands each to the caller waiting for its sequence number. Callers never
//! touch the socket, so a slow caller cannot hold up the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::error::Outcome;
use crate::wire::{FrameReader, Header, Kind, Message};

/// How many messages may wait for the writer before callers wait too.
const QUEUE: usize = 1024;

/// Writes are gathered up to this many bytes.
pub(crate) const BATCH: usize = 256 << 10;

/// A reply, or why none will come.
pub(crate) type ReplyResult = Result<Incoming, (String, Outcome)>;

/// A received reply: its header and the message it came in.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub header: Header,
    pub message: Vec<u8>,
    /// Where the payload starts in `message`.
    pub payload_at: usize,
}

impl Incoming {
    pub fn payload(&self) -> &[u8] {
        &self.message[self.payload_at..]
    }
}

/// The caller's side of a connection.
#[derive(Debug)]
pub(crate) struct Connection {
    outgoing: mpsc::Sender<Message>,
    pending: Mutex<HashMap<u64, oneshot::Sender<ReplyResult>>>,
    closed: AtomicBool,
}

impl Connection {
    /// Starts the reader and writer tasks of a connected stream.
    pub fn start(stream: TcpStream, max_frame: usize) -> Arc<Connection> {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (outgoing, queue) = mpsc::channel(QUEUE);
        let conn = Arc::new(Connection {
            outgoing,
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        let reader = conn.clone();
        tokio::spawn(async move {
            let why = reader.read_replies(FrameReader::new(read, max_frame)).await;
            reader.close(&why);
        });
        let writer = conn.clone();
        tokio::spawn(async move {
            if let Err(e) = write_batches(write, queue).await {
                writer.close(&format!("write failed: {e}"));
            }
        });
        conn
    }

    /// Whether the connection has failed; a new one is needed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Registers a call expecting a reply, before its request is sent.
    pub fn expect(&self, seq: u64) -> oneshot::Receiver<ReplyResult> {
        let (tx, rx) = oneshot::channel();
        self.pending().insert(seq, tx);
        rx
    }

    /// Forgets a call (timed out or not sent).
    pub fn forget(&self, seq: u64) {
        self.pending().remove(&seq);
    }

    /// Queues a message; false if the connection is closed.
    pub async fn send(&self, message: Message) -> bool {
        !self.is_closed() && self.outgoing.send(message).await.is_ok()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<ReplyResult>>> {
        // A poisoned map is still a consistent map: entries are inserted and removed whole.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads replies until the stream fails; returns why it stopped.
    async fn read_replies(
        &self,
        mut frames: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    ) -> String {
        loop {
            let message = match frames.next().await {
                Ok(Some(message)) => message,
                Ok(None) => return "the server closed the connection".into(),
                Err(e) => return format!("reading a reply failed: {e}"),
            };
            let (header, payload) = match Message::parse(&message) {
                Ok(parsed) => parsed,
                Err(e) => return format!("the server sent a malformed reply: {e}"),
            };
            if header.kind() != Some(Kind::Reply) {
                return format!(
                    "the server sent a message of kind {} instead of a reply",
                    header.kind
                );
            }
            let payload_at = message.len() - payload.len();
            // A reply nobody waits for (the call timed out) is dropped.
            if let Some(waiter) = self.pending().remove(&header.seq) {
                let _ = waiter.send(Ok(Incoming {
                    header,
                    message,
                    payload_at,
                }));
            }
        }
    }

    /// Marks the connection failed and tells every waiting caller why.
    fn close(&self, why: &str) {
        self.closed.store(true, Ordering::Release);
        let waiting: Vec<_> = self.pending().drain().collect();
        if !waiting.is_empty() {
            tracing::debug!(calls = waiting.len(), "connection lost: {why}");
        }
        for (_, waiter) in waiting {
            let _ = waiter.send(Err((why.to_string(), Outcome::Unknown)));
        }
    }
}

/// Writes queued messages, gathering small ones into one write.
pub(crate) async fn write_batches<W: AsyncWrite + Unpin>(
    mut socket: W,
    mut queue: mpsc::Receiver<Message>,
) -> std::io::Result<()> {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH);
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        while let Some(mut message) = next.take() {
            let frame = message.frame();
            if frame.len() >= BATCH {
                // Large: flush what is gathered, then write it from where it is.
                if !batch.is_empty() {
                    socket.write_all(&batch).await?;
                    batch.clear();
                }
                socket.write_all(frame).await?;
            } else {
                batch.extend_from_slice(frame);
            }
            if batch.len() < BATCH {
                next = queue.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            socket.write_all(&batch).await?;
            batch.clear();
        }
    }
    socket.shutdown().await
}
