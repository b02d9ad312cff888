//! One client connection, over TCP, UDP or a Unix socket: many calls in flight, replies
//! matched by invocation id (slot and sequence number in the connection's session).
//!
//! Over TCP, requests go out through an [`Outbox`]: written at once by the calling task
//! when the socket is idle, batched by a writer task when it is busy. Over UDP each
//! request is one datagram, sent at once. Either way a reader task reads replies and hands
//! each to the caller waiting for its sequence number; a reply nobody waits for (a
//! duplicate, or one for an attempt given up) is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::io::AsyncRead;
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio::task::AbortHandle;

use super::replies::{Replies, Reply};
use super::session::ClientSession;
use crate::objects::callback_link::CallbackLink;
use crate::objects::reverse::{Relay, ReverseLink, is_reply};

use crate::outbox::{Outbox, StreamOutbox, When, WriteHalf};
use crate::wire::received::Received;
use crate::wire::{FrameReader, HANDSHAKE_SLOT, Header, Kind, Message, Status, tag};

/// Whether a message is of this protocol version: only those are callbacks; the others
/// are refused as garbage.
fn is_current(message: &[u8]) -> bool {
    message.first() == Some(&crate::wire::VERSION)
}

/// What a channel does when its connection fails, told whether that connection carried
/// callbacks (or objects the server may call back).
type OnLost = Box<dyn Fn(bool) + Send + Sync>;

/// A received reply: its header and the message it came in.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub header: Header,
    pub message: Received,
    /// Where the payload starts in `message`.
    pub payload_at: usize,
}

impl Incoming {
    pub fn payload(&self) -> &[u8] {
        &self.message.as_slice()[self.payload_at..]
    }
}

/// How requests leave.
enum Sender {
    /// A TCP or Unix stream.
    Stream(Arc<dyn StreamOutbox>),
    /// A UDP socket connected to the server.
    Datagram(Arc<UdpSocket>),
    /// A server's callback channel: out through the connection (or to the address)
    /// its client uses, as long as this relay is that link's current one.
    Relay {
        link: std::sync::Weak<ReverseLink>,
        number: u64,
        datagram: bool,
    },
}

/// The caller's side of a connection.
pub(crate) struct Connection {
    sender: Sender,
    /// Calls waiting for replies on this connection, by slot and sequence number.
    replies: Replies,
    /// The session the connection carries, once opened or attached: replies must name
    /// it (and, over UDP, carry its tag).
    session: OnceLock<Arc<ClientSession>>,
    closed: AtomicBool,
    tasks: Mutex<Vec<AbortHandle>>,
    /// Serves the server's calls back to this process's objects.
    callbacks: CallbackLink,
    /// Whether a request on it carried an object of this process, which the server
    /// may call back.
    sent_objects: AtomicBool,
    /// Run when the connection fails: the channel reconnects at
    /// once rather than at its next call, so that the server can go on calling back.
    on_lost: Mutex<Option<OnLost>>,
    max_frame: usize,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(sender: Sender, slots: u32, max_frame: usize) -> Arc<Connection> {
        Arc::new(Connection {
            sender,
            replies: Replies::new(slots),
            session: OnceLock::new(),
            closed: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            callbacks: CallbackLink::new(),
            sent_objects: AtomicBool::new(false),
            on_lost: Mutex::new(None),
            max_frame,
        })
    }

    /// Starts the reader and writer tasks of a connected TCP stream, for a session of
    /// at most `slots` slots.
    pub fn start_tcp(stream: TcpStream, max_frame: usize, slots: u32) -> Arc<Connection> {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        Connection::start_stream(read, write, max_frame, slots)
    }

    /// Starts the reader and writer tasks of a connected Unix domain stream.
    pub fn start_unix(stream: UnixStream, max_frame: usize, slots: u32) -> Arc<Connection> {
        let (read, write) = stream.into_split();
        Connection::start_stream(read, write, max_frame, slots)
    }

    fn start_stream<R, W>(read: R, write: W, max_frame: usize, slots: u32) -> Arc<Connection>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: WriteHalf,
    {
        let conn = Connection::new(
            Sender::Stream(Arc::new(Outbox::new(write))),
            slots,
            max_frame,
        );
        let reader = conn.clone();
        let read_task = tokio::spawn(async move {
            let mut frames = FrameReader::new(read, max_frame);
            let why = loop {
                match frames.next().await {
                    // Anything but a reply is the server calling back an object of
                    // this process, over this connection.
                    Ok(Some(message)) if !is_reply(&message) && is_current(&message) => {
                        if let Sender::Stream(outbox) = &reader.sender {
                            let outbox = Arc::downgrade(outbox);
                            reader
                                .callbacks
                                .forward(&message, outbox, reader.max_frame)
                                .await;
                        }
                    }
                    Ok(Some(message)) => {
                        if let Err(why) = reader.deliver(message) {
                            break why;
                        }
                    }
                    Ok(None) => break "the server closed the connection".into(),
                    Err(e) => break format!("reading a reply failed: {e}"),
                }
            };
            reader.close(&why);
        });
        let writer = conn.clone();
        let write_task = tokio::spawn(async move {
            if let Sender::Stream(outbox) = &writer.sender {
                let why = outbox.run().await;
                writer.close(&why);
            }
        });
        conn.tasks()
            .extend([read_task.abort_handle(), write_task.abort_handle()]);
        conn
    }

    /// Starts the reader task of a UDP socket connected to the server. A datagram that
    /// is not a reply to this client is ignored: anyone can send one.
    pub fn start_datagram(socket: UdpSocket, slots: u32) -> Arc<Connection> {
        let socket = Arc::new(socket);
        let conn = Connection::new(
            Sender::Datagram(socket.clone()),
            slots,
            crate::wire::MAX_DATAGRAM,
        );
        let reader = conn.clone();
        let read_task = tokio::spawn(async move {
            let mut buf = vec![0u8; crate::wire::MAX_DATAGRAM];
            loop {
                match socket.recv(&mut buf).await {
                    Ok(n) => {
                        let mut message = crate::buffers::take(n);
                        message.extend_from_slice(&buf[..n]);
                        // Anything but a reply is the server calling back an object
                        // of this process.
                        if !is_reply(&message) && is_current(&message) {
                            if let Ok(server) = socket.peer_addr() {
                                reader.callbacks.forward_datagram(message, &socket, server);
                            }
                        } else if let Err(why) = reader.deliver(message) {
                            tracing::debug!("ignoring a datagram: {why}");
                        }
                    }
                    // ICMP "port unreachable" surfaces as an error on the next receive;
                    // the server may come back, and calls time out meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                    Err(e) => {
                        reader.close(&format!("receiving failed: {e}"));
                        return;
                    }
                }
            }
        });
        conn.tasks().push(read_task.abort_handle());
        conn
    }

    /// Starts the reader task of a server's callback channel on `relay`: what it sends
    /// goes out on its client's connection, the Replies come in through the relay.
    pub fn start_relay(relay: Relay, slots: u32, max_frame: usize) -> Arc<Connection> {
        let Relay {
            link,
            number,
            datagram,
            mut inbox,
        } = relay;
        let conn = Connection::new(
            Sender::Relay {
                link,
                number,
                datagram,
            },
            slots,
            max_frame,
        );
        let reader = conn.clone();
        let read_task = tokio::spawn(async move {
            while let Some(message) = inbox.recv().await {
                if let Err(why) = reader.deliver(message) {
                    if !datagram {
                        reader.close(&why);
                        return;
                    }
                    tracing::debug!("ignoring a datagram: {why}");
                }
            }
            reader.close("the client's connection closed");
        });
        conn.tasks().push(read_task.abort_handle());
        conn
    }

    fn tasks(&self) -> MutexGuard<'_, Vec<AbortHandle>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the connection has failed; a new one is needed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The session this connection carries (set once the handshake is done).
    pub fn set_session(&self, session: Arc<ClientSession>) {
        let _ = self.session.set(session);
    }

    /// The session this connection carries.
    pub fn session(&self) -> Option<&Arc<ClientSession>> {
        self.session.get()
    }

    /// Registers call (`slot`, `seq`) to receive its reply, before its request is sent.
    /// Dropping the returned future forgets the call.
    pub fn register(&self, slot: u32, seq: u64) -> Reply<'_> {
        self.replies.register(slot, seq)
    }

    /// Sends a message; false if the connection is closed.
    ///
    /// Over a stream, a lone call writes its request itself, saving a task switch; when
    /// other calls are in flight, the writer task gathers their requests into fewer
    /// system calls. A datagram waits until the socket takes it (a full socket buffer
    /// would otherwise lose it here rather than on the network).
    pub async fn send(&self, message: Message) -> bool {
        if self.is_closed() {
            return false;
        }
        match &self.sender {
            Sender::Stream(outbox) => {
                let when = if self.replies.waiting() > 1 {
                    When::Later
                } else {
                    When::Now
                };
                outbox.send(message, when)
            }
            Sender::Datagram(socket) => {
                // Every datagram of a session proves it with the session's tag.
                let message = self.tagged(message);
                match socket.send(message.datagram()).await {
                    Ok(_) => true,
                    // An ICMP error for an earlier datagram: the server may come back.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => true,
                    Err(e) => {
                        self.close(&format!("sending failed: {e}"));
                        false
                    }
                }
            }
            Sender::Relay { link, number, .. } => {
                let message = self.tagged(message);
                let sent = match link.upgrade() {
                    Some(link) => link.send(*number, message).await,
                    None => false,
                };
                if !sent {
                    self.close("the client's connection closed");
                }
                sent
            }
        }
    }

    /// `message` with the session's tag, if it is a datagram of a session.
    fn tagged(&self, message: Message) -> Message {
        match self.session.get() {
            Some(session) if self.is_datagram() => message.tagged(&session.secret),
            _ => message,
        }
    }

    /// Sends a small control message without waiting (from a `Drop`, where nothing can
    /// wait): queued on a stream, tried once on a datagram socket; false if it did not
    /// go.
    pub fn send_now(&self, message: Message) -> bool {
        if self.is_closed() {
            return false;
        }
        match &self.sender {
            Sender::Stream(outbox) => outbox.send(message, When::Now),
            Sender::Datagram(socket) => {
                let message = self.tagged(message);
                socket.try_send(message.datagram()).is_ok()
            }
            Sender::Relay { link, number, .. } => {
                let message = self.tagged(message);
                link.upgrade()
                    .is_some_and(|link| link.send_now(*number, message))
            }
        }
    }

    /// Whether requests are datagrams (lossy: retransmit on a timer).
    pub fn is_datagram(&self) -> bool {
        matches!(
            self.sender,
            Sender::Datagram(_) | Sender::Relay { datagram: true, .. }
        )
    }

    /// A request on this connection carried objects of this process.
    pub fn sent_objects(&self) {
        self.sent_objects.store(true, Ordering::Relaxed);
    }

    /// Sets what to do when this connection fails: `hook` is told whether it carried
    /// callbacks, or objects the server may call back.
    pub fn on_lost(&self, hook: impl Fn(bool) + Send + Sync + 'static) {
        *self.on_lost.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(hook));
    }

    /// Hands a received message to the call waiting for it; `Err` when it is not a
    /// reply to this client (over a stream, the connection must then close).
    fn deliver(&self, mut message: Vec<u8>) -> Result<(), String> {
        let (header, payload) = Message::parse(&message)
            .map_err(|e| format!("the server sent a malformed reply: {e}"))?;
        let payload_at = message.len() - payload.len();
        let session = self.session.get();
        if header.is_tagged() {
            let genuine = tag::split(&message).is_some_and(|(covered, found)| {
                session.is_some_and(|s| tag::verify(&s.secret, covered, found))
            });
            if !genuine {
                return Err("a datagram with a wrong session tag".into());
            }
            if message.len() - tag::TAG_LEN < payload_at {
                return Err("the server sent a reply whose tag cuts its header".into());
            }
            message.truncate(message.len() - tag::TAG_LEN);
        } else if self.is_datagram()
            && session.is_some()
            && header.status() != Some(Status::BadSession)
            && header.slot != HANDSHAKE_SLOT
        {
            // Only a server that no longer knows the session answers untagged.
            return Err("an untagged datagram in a session".into());
        }
        let ours = header.slot == HANDSHAKE_SLOT || session.is_some_and(|s| s.id == header.session);
        if header.kind() != Some(Kind::Reply) || !ours {
            return Err(format!(
                "the server sent a message of kind {} for session {:#x} instead of a reply to this one",
                header.kind, header.session
            ));
        }
        let (slot, seq) = (header.slot, header.seq);
        let incoming = Incoming {
            header,
            message: Received::new(message),
            payload_at,
        };
        // A reply nobody waits for (a duplicate, or one for an attempt given up) is
        // dropped.
        self.replies.deliver(slot, seq, incoming);
        Ok(())
    }

    /// Marks the connection failed and tells every waiting caller why.
    pub fn close(&self, why: &str) {
        let first = !self.closed.swap(true, Ordering::AcqRel);
        if first {
            let carried = self.callbacks.started() || self.sent_objects.load(Ordering::Relaxed);
            let hook = self
                .on_lost
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(hook) = hook {
                hook(carried);
            }
        }
        if let Sender::Stream(outbox) = &self.sender {
            outbox.close(why);
        }
        let failed = self.replies.fail_all(why);
        if failed > 0 {
            tracing::debug!(calls = failed, "connection lost: {why}");
        }
    }

    /// Closes the connection and stops its tasks (the channel is gone).
    pub fn abort(&self) {
        self.on_lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.close("the channel was dropped");
        for task in self.tasks().drain(..) {
            task.abort();
        }
    }
}
