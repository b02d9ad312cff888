//! The client's half of a session: the slots its calls take, and the handshake that
//! opens the session or attaches it to a new connection.
//!
//! A call takes a free slot for as long as it lasts, and numbers its request one above
//! the slot's previous call; the server remembers one call per slot (see
//! `server::session`). When every slot is taken, a new call waits for one: the slot
//! count is the most calls a channel has in flight.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::connection::Connection;
use crate::id::random_u64;
use crate::wire::handshake::{AttachRequest, ClientEpoch, MIN_OPEN_DATAGRAM, OpenRequest, Opened};
use crate::wire::tag::Secret;
use crate::wire::{self, HANDSHAKE_SLOT, Header, Kind, ONEWAY_SLOT, Payload, Status};

/// A session the server granted.
pub(crate) struct ClientSession {
    pub id: u64,
    pub secret: Secret,
    /// One permit per free slot.
    free_slots: Arc<Semaphore>,
    slots: Mutex<Slots>,
    /// The server said it does not know the session.
    lost: AtomicBool,
    /// The number of the last oneway call.
    oneway_seq: AtomicU64,
    /// When the session was opened, and when it was last renewed (milliseconds after
    /// that): calls waiting with an expiration quantum renew the session, not each
    /// call, so one renewal per period covers them all.
    born: tokio::time::Instant,
    renewed_ms: AtomicU64,
}

struct Slots {
    /// Free slots, the most recently freed last: it is taken first, so that a channel
    /// making one call at a time keeps using one slot and the server holds one reply
    /// for it, not one per slot.
    free: Vec<u32>,
    /// The number of each slot's last call.
    seqs: Vec<u64>,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ClientSession {
    fn new(id: u64, secret: Secret, slots: u32) -> Arc<ClientSession> {
        Arc::new(ClientSession {
            id,
            secret,
            free_slots: Arc::new(Semaphore::new(slots as usize)),
            slots: Mutex::new(Slots {
                free: (0..slots).rev().collect(),
                seqs: vec![0; slots as usize],
            }),
            lost: AtomicBool::new(false),
            oneway_seq: AtomicU64::new(0),
            born: tokio::time::Instant::now(),
            renewed_ms: AtomicU64::new(0),
        })
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a free slot for a call, waiting until `deadline` at most.
    pub async fn lease(self: &Arc<Self>, deadline: tokio::time::Instant) -> Option<SlotLease> {
        let permit = tokio::time::timeout_at(deadline, self.free_slots.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        let mut slots = self.slots();
        let slot = slots.free.pop()?;
        let seq = next(&mut slots.seqs[slot as usize]);
        drop(slots);
        Some(SlotLease {
            session: self.clone(),
            slot,
            seq,
            _permit: permit,
        })
    }

    /// The invocation id of a new oneway call: it takes no slot (it gets no reply to
    /// wait for) and is numbered in the oneway sequence.
    pub fn oneway_id(&self) -> (u64, u32, u64) {
        let seq = self.oneway_seq.fetch_add(1, Ordering::Relaxed) + 1;
        (self.id, ONEWAY_SLOT, seq)
    }

    /// Whether a renewal is due, `every` after the last one; if so, it is this caller's
    /// to send (the others see it done).
    pub fn renewal_due(&self, every: Duration) -> bool {
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.renewed_ms.load(Ordering::Acquire);
        let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(last) >= every
            && self
                .renewed_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Marks the session forgotten by the server.
    pub fn mark_lost(&self) {
        self.lost.store(true, Ordering::Release);
    }

    /// Whether the server forgot the session.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

fn next(seq: &mut u64) -> u64 {
    *seq += 1;
    *seq
}

/// A slot taken by one call; given back when dropped.
pub(crate) struct SlotLease {
    session: Arc<ClientSession>,
    slot: u32,
    seq: u64,
    _permit: OwnedSemaphorePermit,
}

impl SlotLease {
    /// The invocation id: session, slot, sequence number.
    pub fn id(&self) -> (u64, u32, u64) {
        (self.session.id, self.slot, self.seq)
    }

    /// The session the slot belongs to.
    pub fn session(&self) -> &Arc<ClientSession> {
        &self.session
    }

    /// Numbers the call anew (a last-of-many retransmission): the server takes it as a
    /// new call, and replies to the old number are no longer wanted.
    pub fn renumber(&mut self) {
        self.seq = next(&mut self.session.slots().seqs[self.slot as usize]);
    }
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        self.session.slots().free.push(self.slot);
    }
}

/// Why a handshake failed.
pub(crate) type HandshakeError = std::io::Error;

/// Opens a session on `conn`, asking for `slots` slots. Over UDP the request is padded
/// (the server answers only datagrams at least as large as its answer) and sent again
/// until answered.
pub(crate) async fn open(
    conn: &Connection,
    slots: u32,
    client: Option<ClientEpoch>,
    timeout: Duration,
) -> Result<Arc<ClientSession>, HandshakeError> {
    let padding = if conn.is_datagram() {
        vec![0; MIN_OPEN_DATAGRAM]
    } else {
        Vec::new()
    };
    let payload = Payload::encode(&OpenRequest {
        slots,
        client,
        padding,
    })
    .map_err(std::io::Error::other)?;
    let reply = exchange(conn, Kind::Open, 0, payload, timeout).await?;
    match reply.header.status() {
        Some(Status::Ok) => {
            let opened: Opened = wire::decode(reply.payload(), "open reply")
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if opened.slots == 0 || reply.header.session == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the server granted an empty session",
                ));
            }
            Ok(ClientSession::new(
                reply.header.session,
                opened.secret,
                opened.slots.min(slots.max(1)),
            ))
        }
        _ => Err(refused(&reply, "open a session")),
    }
}

/// Attaches `session` to the stream connection `conn`; false if the server does not
/// know the session.
pub(crate) async fn attach(
    conn: &Connection,
    session: &ClientSession,
    timeout: Duration,
) -> Result<bool, HandshakeError> {
    let payload = Payload::encode(&AttachRequest {
        secret: session.secret,
    })
    .map_err(std::io::Error::other)?;
    let reply = exchange(conn, Kind::Attach, session.id, payload, timeout).await?;
    match reply.header.status() {
        Some(Status::Ok) => Ok(true),
        Some(Status::BadSession) => Ok(false),
        _ => Err(refused(&reply, "attach the session")),
    }
}

fn refused(reply: &super::connection::Incoming, what: &str) -> std::io::Error {
    let text = wire::decode::<String>(reply.payload(), "message").unwrap_or_default();
    std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        format!(
            "the server refused to {what} (status {}): {text}",
            reply.header.status
        ),
    )
}

/// Sends a handshake message and waits for its answer, matched by a random nonce in
/// `seq`; over UDP, sends it again on a timer.
pub(crate) async fn exchange(
    conn: &Connection,
    kind: Kind,
    session: u64,
    payload: Payload,
    timeout: Duration,
) -> Result<super::connection::Incoming, HandshakeError> {
    let nonce = random_u64();
    let header = Header::control(kind, session, HANDSHAKE_SLOT, nonce);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut wait = Duration::from_millis(100);
    let mut reply = conn.register(HANDSHAKE_SLOT, nonce);
    let closed = || {
        std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "the connection closed during the handshake",
        )
    };
    let result = loop {
        if !conn.send(payload.clone().seal(&header)).await {
            break Err(closed());
        }
        let until = if conn.is_datagram() {
            deadline.min(tokio::time::Instant::now() + wait)
        } else {
            deadline
        };
        match tokio::time::timeout_at(until, &mut reply).await {
            Ok(Ok(incoming)) => break Ok(incoming),
            Ok(_) => break Err(closed()),
            Err(_) if tokio::time::Instant::now() >= deadline => {
                break Err(std::io::ErrorKind::TimedOut.into());
            }
            Err(_) => wait = (wait * 2).min(Duration::from_secs(1)),
        }
    };
    drop(reply);
    result
}
