//! Sessions at the door: what a message proves about the session it names, and the
//! handshakes that open a session or attach it to a connection (`docs/PROTOCOL.md` §4).
//!
//! A stream connection may use the sessions it opened or attached by showing their
//! secret; a datagram proves its session by its tag. Nothing else counts: knowing a
//! session's id (it is in every header) gives a peer nothing.

use std::net::SocketAddr;
use std::time::Instant;

use super::Shared;
use super::context::Peer;
use super::dispatch::Exchange;
use super::reply_sink::ReplySink;
use super::running::KillReason;
use crate::wire::handshake::{
    AttachRequest, ExterminateRequest, Exterminated, MAX_EXTERMINATE_CALLS, MIN_OPEN_DATAGRAM,
    OpenRequest, Opened,
};
use crate::wire::tag::{self, Secret};
use crate::wire::{Header, Message, Payload, Status, decode};

/// Where a message came from, as far as sessions go.
pub(crate) enum Origin {
    /// A stream connection from `peer`, and the sessions it opened or attached.
    Stream { peer: Peer, attached: Vec<u64> },
    /// A datagram of `len` bytes (tag included) from `peer`.
    Datagram { peer: SocketAddr, len: usize },
}

impl Origin {
    /// Who sent the message.
    pub fn peer(&self) -> Peer {
        match self {
            Origin::Stream { peer, .. } => *peer,
            Origin::Datagram { peer, .. } => Peer::Udp(*peer),
        }
    }
}

/// What the sender of a message proved about its session.
pub(crate) enum Proof {
    /// It names none.
    None,
    /// It belongs to the session it names (a datagram's tag checked out under this
    /// secret; a stream's connection is attached to it).
    Session(Option<Secret>),
    /// It names a session this server does not hold, or one not attached to this
    /// connection.
    Unknown,
    /// A datagram whose tag is wrong: someone without the secret.
    Forged,
}

/// A message parsed and authenticated: its header, its payload, what it proved.
pub(crate) type Checked<'m> = (Header, &'m [u8], Proof);

/// Parses a message and checks what it says about its session. A datagram's tag is
/// checked and cut off here.
pub(crate) fn authenticate<'m>(
    message: &'m [u8],
    origin: &Origin,
    shared: &Shared,
) -> Result<Checked<'m>, String> {
    let (header, payload) = Message::parse(message).map_err(|e| e.to_string())?;
    let proof = match origin {
        _ if header.session == 0 => Proof::None,
        Origin::Stream { attached, .. } if attached.contains(&header.session) => {
            Proof::Session(None)
        }
        Origin::Stream { .. } => Proof::Unknown,
        Origin::Datagram { .. } if header.is_tagged() => {
            let (covered, found) = tag::split(message).ok_or("a datagram too short for its tag")?;
            let payload = &payload[..payload.len().saturating_sub(tag::TAG_LEN)];
            let proof = match shared.sessions.secret(header.session) {
                None => Proof::Unknown,
                Some(secret) if tag::verify(&secret, covered, found) => {
                    Proof::Session(Some(secret))
                }
                Some(_) => Proof::Forged,
            };
            return Ok((header, payload, proof));
        }
        // A session's datagrams are always tagged: this one cannot be its client's.
        Origin::Datagram { .. } => Proof::Unknown,
    };
    Ok((header, payload, proof))
}

/// Answers an Open: a new session, attached to this connection.
pub(crate) fn open<S: ReplySink>(
    header: &Header,
    payload: &[u8],
    exchange: &mut Exchange<'_, S>,
) -> Result<(), String> {
    let (shared, outbox, when) = (exchange.shared, exchange.sink, exchange.when);
    let origin = &mut *exchange.origin;
    let request: OpenRequest = decode(payload, "open request").map_err(|e| e.to_string())?;
    let reply = |status: Status, payload: Payload, session: u64| {
        let header = Header {
            session,
            ..Header::reply_to(header, status)
        };
        let _ = outbox.send(payload.seal(&header), when);
        Ok(())
    };
    match origin {
        // Answered only if the answer is no larger than the question (see
        // MIN_OPEN_DATAGRAM).
        Origin::Datagram { len, .. } if *len < MIN_OPEN_DATAGRAM => return Ok(()),
        Origin::Stream { attached, .. }
            if attached.len() >= shared.config.limits.sessions_per_connection =>
        {
            let text = Payload::of("too many sessions on this connection");
            return reply(Status::Busy, text, 0);
        }
        _ => {}
    }
    let stream = matches!(origin, Origin::Stream { .. });
    let now = Instant::now();
    let (id, secret, slots) = shared.sessions.open(request.slots, stream, now);
    if let Origin::Stream { attached, .. } = origin {
        attached.push(id);
    }
    if let Some(client) = request.client {
        shared.new_epoch(id, &client, now);
    }
    let opened = Payload::encode(&Opened { secret, slots }).map_err(|e| e.to_string())?;
    reply(Status::Ok, opened, id)
}

/// Answers an Attach: the connection may use the session if it shows its secret.
pub(crate) fn attach<S: ReplySink>(
    header: &Header,
    payload: &[u8],
    exchange: &mut Exchange<'_, S>,
) -> Result<(), String> {
    let (shared, outbox, when) = (exchange.shared, exchange.sink, exchange.when);
    let Origin::Stream { attached, .. } = &mut *exchange.origin else {
        return Ok(()); // a datagram proves its session by its tag, not by attaching
    };
    let request: AttachRequest = decode(payload, "attach request").map_err(|e| e.to_string())?;
    let known = shared
        .sessions
        .secret(header.session)
        .is_some_and(|secret| tag::same_secret(&secret, &request.secret));
    let status = if !known {
        Status::BadSession
    } else if attached.contains(&header.session) {
        Status::Ok
    } else if attached.len() >= shared.config.limits.sessions_per_connection {
        Status::Busy
    } else {
        attached.push(header.session);
        shared.sessions.attached(header.session);
        Status::Ok
    };
    // The server's calls back to this client come over its new connection now.
    if status == Status::Ok
        && let crate::objects::scope::Way::Stream(way) = exchange.way
        && let Some(link) = shared.sessions.existing_callback_link(header.session)
    {
        way.plug(&link);
    }
    let payload = match status {
        Status::BadSession => shared.session_unknown(header.session),
        _ => Payload::empty(),
    };
    let _ = outbox.send(payload.seal(&Header::reply_to(header, status)), when);
    Ok(())
}

/// Answers an Exterminate: stops the calls of a session that its restarted client left
/// behind, if the request shows the session's secret. Whatever is not stopped (wrong
/// secret, unknown session, finished call) counts as not running: the answer tells a
/// stranger nothing about other clients' calls.
pub(crate) fn exterminate<S: ReplySink>(
    header: &Header,
    payload: &[u8],
    exchange: &mut Exchange<'_, S>,
) -> Result<(), String> {
    let (shared, outbox, when) = (exchange.shared, exchange.sink, exchange.when);
    let request: ExterminateRequest =
        decode(payload, "exterminate request").map_err(|e| e.to_string())?;
    if request.calls.len() > MAX_EXTERMINATE_CALLS {
        return Err(format!(
            "an exterminate request named {} calls, over the limit of {MAX_EXTERMINATE_CALLS}",
            request.calls.len()
        ));
    }
    let mut answer = Exterminated {
        killed: 0,
        uncancellable: 0,
        not_running: 0,
    };
    for (slot, seq) in request.calls {
        let stopped = shared.running.stop_owned(
            (header.session, slot, seq),
            &request.secret,
            KillReason::Exterminated,
        );
        answer.killed += stopped.killed;
        answer.uncancellable += stopped.uncancellable;
        answer.not_running += stopped.not_running;
    }
    let payload = Payload::encode(&answer).map_err(|e| e.to_string())?;
    let _ = outbox.send(payload.seal(&Header::reply_to(header, Status::Ok)), when);
    Ok(())
}

/// A datagram peer's address as the few bytes a slot keeps of it.
pub(crate) fn peer_hash(peer: &SocketAddr) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    // Never 0, which stands for "a stream".
    BuildHasherDefault::<DefaultHasher>::default()
        .hash_one(peer)
        .max(1)
}
