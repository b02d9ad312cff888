//! The fixed part of every message.

use serde::{Deserialize, Serialize};

/// The protocol version this runtime speaks. A message of another version is refused.
pub const VERSION: u8 = 3;

/// `flags` bit: the client wants no reply (a `oneway` call, protocol R).
pub const FLAG_ONEWAY: u8 = 1;

/// `flags` bit: the message ends with an 8-byte tag proving that its sender holds the
/// session's secret (datagrams of a session, both ways; see [`crate::wire::tag`]).
pub const FLAG_TAGGED: u8 = 2;

/// `flags` bit of a request: its payload starts with a [`RequestContext`](super::context::RequestContext)
/// (the caller's remaining time, an expiration quantum, metadata), then the arguments.
pub const FLAG_CONTEXT: u8 = 4;

/// `flags` bit of a datagram request: the client understands [`Status::Running`], so a
/// copy of a call that is still running may be answered with it rather than not at all.
pub const FLAG_PROGRESS: u8 = 8;

/// The slot number of handshake messages ([`Kind::Open`], [`Kind::Attach`]) and their
/// replies; never a call's slot.
pub const HANDSHAKE_SLOT: u32 = u32::MAX;

/// The slot number of oneway calls: they hold no slot (they get no reply), and are
/// numbered in a sequence of their own, filtered by a replay window.
pub const ONEWAY_SLOT: u32 = u32::MAX - 1;

/// The most bytes a [`Header`] takes in postcard: four bytes, five varint `u64` of at
/// most 10 bytes and two varint `u32` of at most 5.
pub const MAX_HEADER: usize = 4 + 5 * 10 + 2 * 5;

/// What a message is.
///
/// `#[non_exhaustive]`: later protocol versions may add message kinds, so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Kind {
    /// A call: client to server.
    Request = 0,
    /// The answer to a call or a handshake: server to client.
    Reply = 1,
    /// The client got the reply of (`session`, `slot`, `seq`) and the server may drop
    /// its copy (protocol RRA).
    Ack = 2,
    /// The client asks for a new session.
    Open = 3,
    /// The client proves it holds a session's secret, so that this stream connection
    /// may use the session (after a reconnection).
    Attach = 4,
    /// The client gave up on call (`session`, `slot`, `seq`): the server stops it if it
    /// runs. Sent in the session (attached connection, or tagged datagram); no answer.
    Cancel = 5,
    /// The client of `session` is alive: its calls' expiration quanta start again. Sent
    /// in the session; no answer.
    Renew = 6,
    /// A restarted client asks the server to stop calls it left behind in `session`,
    /// proving with the session's secret in the payload that it owned them
    /// (extermination). Answered.
    Exterminate = 7,
}

impl Kind {
    /// The kind with wire code `code`.
    pub fn from_code(code: u8) -> Option<Kind> {
        match code {
            0 => Some(Kind::Request),
            1 => Some(Kind::Reply),
            2 => Some(Kind::Ack),
            3 => Some(Kind::Open),
            4 => Some(Kind::Attach),
            5 => Some(Kind::Cancel),
            6 => Some(Kind::Renew),
            7 => Some(Kind::Exterminate),
            _ => None,
        }
    }
}

/// How a call ended, carried by replies.
///
/// `#[non_exhaustive]`: later protocol versions may add statuses, so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Status {
    /// The method ran and returned; payload: its results.
    Ok = 0,
    /// The method ran and raised its declared exception; payload: the exception.
    Exception = 1,
    /// No such method on the target object; payload: text. Not executed.
    UnknownMethod = 2,
    /// The method's signature differs between client and server; payload: the server's
    /// fingerprint (`u64`). Not executed.
    FingerprintMismatch = 3,
    /// The method panicked or its results could not be encoded; payload: text.
    ServerFault = 4,
    /// The arguments could not be decoded; payload: text. Not executed.
    BadRequest = 5,
    /// The binding uid is not this server's (it restarted, or the client is lost);
    /// payload: text. Not executed.
    UnknownBinding = 6,
    /// No object with that id is served here; payload: text. Not executed.
    UnknownObject = 7,
    /// A duplicate of an at-most-once call that ran, whose reply the server did not
    /// keep; payload: text. Executed (once).
    ReplyLost = 8,
    /// The session is unknown here: never opened, forgotten (the server restarted, or
    /// evicted it to stay within its memory bounds), or not attached to this connection.
    /// This request did not run; earlier calls of the session that got no reply may or
    /// may not have run. Payload: text, or empty.
    BadSession = 9,
    /// The slot or sequence number is not acceptable: no such slot in the session, or a
    /// sequence number older than the slot's last call. Not executed. Payload: text.
    Misordered = 10,
    /// The invocation id was already used by another request (another method,
    /// fingerprint or arguments). Not executed. Payload: text.
    IdReused = 11,
    /// The server is at a capacity limit (sessions per connection). Not executed.
    /// Payload: text.
    Busy = 12,
    /// The server stopped the call before it finished: its client cancelled it, its
    /// deadline passed, or it was an orphan. It may have done part of its work.
    /// Payload: text (why).
    Killed = 13,
    /// A copy of an at-most-once call that is still running (sent only to a datagram
    /// request with [`FLAG_PROGRESS`]): the server is alive and working on it, the reply
    /// will come; the client keeps waiting (and retransmitting) within its deadline.
    /// Payload: empty.
    Running = 14,
}

impl Status {
    /// The status with wire code `code`.
    pub fn from_code(code: u8) -> Option<Status> {
        Some(match code {
            0 => Status::Ok,
            1 => Status::Exception,
            2 => Status::UnknownMethod,
            3 => Status::FingerprintMismatch,
            4 => Status::ServerFault,
            5 => Status::BadRequest,
            6 => Status::UnknownBinding,
            7 => Status::UnknownObject,
            8 => Status::ReplyLost,
            9 => Status::BadSession,
            10 => Status::Misordered,
            11 => Status::IdReused,
            12 => Status::Busy,
            13 => Status::Killed,
            14 => Status::Running,
            _ => return None,
        })
    }
}

/// The header of every message, in wire order. Integers are postcard varints except the
/// four leading bytes.
///
/// The fields are read through accessors and set by the constructors ([`Header::request`],
/// [`Header::control`], [`Header::reply_to`]) and the `with_*` methods, so that the
/// layout can change without breaking code that builds or reads messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Header {
    /// Always [`VERSION`].
    pub(crate) version: u8,
    /// A [`Kind`] code.
    pub(crate) kind: u8,
    /// Bit set of `FLAG_*`.
    pub(crate) flags: u8,
    /// A [`Status`] code in replies; 0 otherwise.
    pub(crate) status: u8,
    /// Invocation id, part 1: the session the server granted the client (0: none).
    pub(crate) session: u64,
    /// Invocation id, part 2: the slot of the session the call occupies.
    pub(crate) slot: u32,
    /// Invocation id, part 3: the call's sequence number in its slot (handshakes: a
    /// nonce the reply copies).
    pub(crate) seq: u64,
    /// Target, first half: the server's binding uid (0: any, for unbound clients).
    pub(crate) binding: u64,
    /// Target, second half: the object on that server.
    pub(crate) object: u64,
    /// The method's id (see the IDL reference).
    pub(crate) method: u32,
    /// The method's signature fingerprint, checked by the server before it runs anything.
    pub(crate) fingerprint: u64,
}

impl Header {
    /// A request header: invocation id (`session`, `slot`, `seq`), then the target and
    /// the method.
    pub fn request(
        (session, slot, seq): (u64, u32, u64),
        binding: u64,
        object: u64,
        method: u32,
        fingerprint: u64,
    ) -> Header {
        Header {
            version: VERSION,
            kind: Kind::Request as u8,
            session,
            slot,
            seq,
            binding,
            object,
            method,
            fingerprint,
            ..Header::default()
        }
    }

    /// A control message of `kind` (Ack, Open, Attach) about invocation (`session`,
    /// `slot`, `seq`).
    pub fn control(kind: Kind, session: u64, slot: u32, seq: u64) -> Header {
        Header {
            version: VERSION,
            kind: kind as u8,
            session,
            slot,
            seq,
            ..Header::default()
        }
    }

    /// The reply to `request`, with `status`.
    pub fn reply_to(request: &Header, status: Status) -> Header {
        Header {
            kind: Kind::Reply as u8,
            flags: 0,
            status: status as u8,
            ..*request
        }
    }

    /// The protocol version (always [`VERSION`] in a header that parsed).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The [`Kind`] code, known or not.
    pub fn kind_code(&self) -> u8 {
        self.kind
    }

    /// The bit set of `FLAG_*`.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The [`Status`] code of a reply, known or not; 0 otherwise.
    pub fn status_code(&self) -> u8 {
        self.status
    }

    /// Invocation id, part 1: the session the server granted the client (0: none).
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Invocation id, part 2: the slot of the session the call occupies.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Invocation id, part 3: the call's sequence number in its slot (handshakes: a
    /// nonce the reply copies).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Target, first half: the server's binding uid (0: any, for unbound clients).
    pub fn binding(&self) -> u64 {
        self.binding
    }

    /// Target, second half: the object on that server.
    pub fn object(&self) -> u64 {
        self.object
    }

    /// The method's id (see the IDL reference).
    pub fn method(&self) -> u32 {
        self.method
    }

    /// The method's signature fingerprint, checked by the server before it runs anything.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The same header with the bit set of `FLAG_*` replaced by `flags`.
    pub fn with_flags(self, flags: u8) -> Header {
        Header { flags, ..self }
    }

    /// The same header naming method `method` (e.g. one the server does not have).
    pub fn with_method(self, method: u32) -> Header {
        Header { method, ..self }
    }

    /// The same header with fingerprint `fingerprint`.
    pub fn with_fingerprint(self, fingerprint: u64) -> Header {
        Header {
            fingerprint,
            ..self
        }
    }

    /// The message kind, if the code is known.
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_code(self.kind)
    }

    /// The reply status, if the code is known.
    pub fn status(&self) -> Option<Status> {
        Status::from_code(self.status)
    }

    /// Whether the client wants no reply.
    pub fn is_oneway(&self) -> bool {
        self.flags & FLAG_ONEWAY != 0
    }

    /// Whether the message ends with a session tag.
    pub fn is_tagged(&self) -> bool {
        self.flags & FLAG_TAGGED != 0
    }

    /// Whether a request's payload starts with a call context.
    pub fn has_context(&self) -> bool {
        self.flags & FLAG_CONTEXT != 0
    }

    /// Writes the header into `out` in its wire form (postcard's, byte for byte); the
    /// number of bytes used.
    ///
    /// By hand rather than through serde: every message has a header, and serde's
    /// generic path costs several times as much for seven varints.
    pub(crate) fn encode(&self, out: &mut [u8; MAX_HEADER]) -> usize {
        out[..4].copy_from_slice(&[self.version, self.kind, self.flags, self.status]);
        let mut at = 4;
        for value in [
            self.session,
            u64::from(self.slot),
            self.seq,
            self.binding,
            self.object,
            u64::from(self.method),
            self.fingerprint,
        ] {
            // Room for a whole varint at every field: at most 4 + 6 * 10 bytes before
            // the last, whose 10 end at MAX_HEADER.
            let room: &mut [u8; 10] = match out[at..].first_chunk_mut() {
                Some(room) => room,
                None => unreachable!("MAX_HEADER leaves room for every field"),
            };
            at += varint::put(value, room);
        }
        at
    }

    /// Reads a header from the front of `bytes` (as postcard would, accepting and
    /// refusing the same inputs); the header and the bytes after it.
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Header, &[u8]), &'static str> {
        let [version, kind, flags, status, rest @ ..] = bytes else {
            return Err(varint::TRUNCATED);
        };
        let mut rest = rest;
        let session = varint::take_u64(&mut rest)?;
        let slot = varint::take_u32(&mut rest)?;
        let seq = varint::take_u64(&mut rest)?;
        let binding = varint::take_u64(&mut rest)?;
        let object = varint::take_u64(&mut rest)?;
        let method = varint::take_u32(&mut rest)?;
        let fingerprint = varint::take_u64(&mut rest)?;
        let header = Header {
            version: *version,
            kind: *kind,
            flags: *flags,
            status: *status,
            session,
            slot,
            seq,
            binding,
            object,
            method,
            fingerprint,
        };
        Ok((header, rest))
    }
}

/// postcard's varints (LEB128, least significant group first), for the header.
mod varint {
    /// The error of a header cut short.
    pub const TRUNCATED: &str = "the message ends inside its header";
    /// The error of a varint too long for its type, or with bits beyond it.
    pub const BAD: &str = "a header field is not a valid varint";

    /// Writes `value` at the front of `out`; the bytes used (at most 10).
    ///
    /// All ten bytes are written, without a branch per byte (the caller leaves room and
    /// writes the next field over the extra ones); then the last byte used loses its
    /// continuation bit.
    pub fn put(value: u64, out: &mut [u8; 10]) -> usize {
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = (value >> (7 * i)) as u8 | 0x80;
        }
        let len = (64 - (value | 1).leading_zeros() as usize).div_ceil(7);
        out[len - 1] &= 0x7f;
        len
    }

    /// Takes a varint of at most `max_bytes` bytes whose last byte is at most
    /// `max_last` (the bits of the type left for it) from the front of `bytes`.
    fn take(bytes: &mut &[u8], max_bytes: usize, max_last: u8) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for (i, &byte) in bytes.iter().take(max_bytes).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                if i == max_bytes - 1 && byte > max_last {
                    return Err(BAD);
                }
                *bytes = &bytes[i + 1..];
                return Ok(value);
            }
        }
        Err(if bytes.len() < max_bytes {
            TRUNCATED
        } else {
            BAD
        })
    }

    pub fn take_u64(bytes: &mut &[u8]) -> Result<u64, &'static str> {
        take(bytes, 10, 1)
    }

    pub fn take_u32(bytes: &mut &[u8]) -> Result<u32, &'static str> {
        // Five bytes carry 35 bits: the last may hold only the top 4 of a u32.
        take(bytes, 5, 0x0f).map(|v| v as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> impl Strategy<Value = Header> {
        (
            any::<[u8; 4]>(),
            any::<(u64, u32, u64, u64, u64, u32, u64)>(),
        )
            .prop_map(
                |(
                    [version, kind, flags, status],
                    (session, slot, seq, binding, object, method, fingerprint),
                )| {
                    Header {
                        version,
                        kind,
                        flags,
                        status,
                        session,
                        slot,
                        seq,
                        binding,
                        object,
                        method,
                        fingerprint,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn the_hand_written_codec_writes_what_postcard_writes(h in header()) {
            let mut out = [0u8; MAX_HEADER];
            let used = h.encode(&mut out);
            prop_assert_eq!(&out[..used], &postcard::to_allocvec(&h).unwrap()[..]);
            prop_assert_eq!(Header::decode(&out[..used]), Ok((h, &[][..])));
        }

        #[test]
        fn the_hand_written_codec_reads_what_postcard_reads(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let ours = Header::decode(&bytes).ok();
            let theirs = postcard::take_from_bytes::<Header>(&bytes).ok();
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn long_varints_are_judged_alike(
            prefix in proptest::collection::vec(0x80u8..=0xff, 0..12),
            last in any::<u8>(),
        ) {
            // A header whose session field is `prefix` then `last`, the rest zeros.
            let mut bytes = vec![2, 0, 0, 0];
            bytes.extend(&prefix);
            bytes.push(last & 0x7f);
            bytes.extend([0u8; 6]);
            let ours = Header::decode(&bytes).ok();
            let theirs = postcard::take_from_bytes::<Header>(&bytes).ok();
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn header_bytes_are_as_documented() {
        let h = Header::request((300, 2, 1), 0, 7, 0xdead_beef, 1);
        let bytes = postcard::to_allocvec(&h).unwrap();
        // version kind flags status | session=300 (0xac 0x02) | slot=2 | seq=1 | binding=0
        // | object=7 | method=0xdeadbeef as varint | fingerprint=1
        assert_eq!(
            bytes,
            [
                3, 0, 0, 0, 0xac, 0x02, 2, 1, 0, 7, 0xef, 0xfd, 0xb6, 0xf5, 0x0d, 1
            ]
        );
        let worst = Header {
            session: u64::MAX,
            slot: u32::MAX,
            seq: u64::MAX,
            binding: u64::MAX,
            object: u64::MAX,
            method: u32::MAX,
            fingerprint: u64::MAX,
            ..h
        };
        assert_eq!(postcard::to_allocvec(&worst).unwrap().len(), MAX_HEADER);
    }
}
