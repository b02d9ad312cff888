//! The fixed part of every message.

use serde::{Deserialize, Serialize};

/// The protocol version this runtime speaks. A message of another version is refused.
pub const VERSION: u8 = 1;

/// `flags` bit: the client wants no reply (a `oneway` call, protocol R).
pub const FLAG_ONEWAY: u8 = 1;

/// The most bytes a [`Header`] takes in postcard: four bytes, six varint `u64` of at most
/// 10 bytes and one varint `u32` of at most 5.
pub const MAX_HEADER: usize = 4 + 6 * 10 + 5;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A call: client to server.
    Request = 0,
    /// The answer to a call: server to client.
    Reply = 1,
    /// The client got a reply and the server may forget it (protocol RRA).
    Ack = 2,
}

impl Kind {
    /// The kind with wire code `code`.
    pub fn from_code(code: u8) -> Option<Kind> {
        match code {
            0 => Some(Kind::Request),
            1 => Some(Kind::Reply),
            2 => Some(Kind::Ack),
            _ => None,
        }
    }
}

/// How a call ended, carried by replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
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
    /// A duplicate of an at-most-once call that ran, whose reply was too large for the
    /// server to keep; payload: text. Executed (once).
    ReplyLost = 8,
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
            _ => return None,
        })
    }
}

/// The header of every message, in wire order. Integers are postcard varints except the
/// four leading bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Header {
    /// Always [`VERSION`].
    pub version: u8,
    /// A [`Kind`] code.
    pub kind: u8,
    /// Bit set of `FLAG_*`.
    pub flags: u8,
    /// A [`Status`] code in replies; 0 otherwise.
    pub status: u8,
    /// Invocation id, first half: the calling process incarnation's client id.
    pub client: u64,
    /// Invocation id, second half: the call's sequence number within that client.
    pub seq: u64,
    /// Target, first half: the server's binding uid (0: any, for unbound clients).
    pub binding: u64,
    /// Target, second half: the object on that server.
    pub object: u64,
    /// The method's id (see the IDL reference).
    pub method: u32,
    /// The method's signature fingerprint, checked by the server before it runs anything.
    pub fingerprint: u64,
    /// The highest sequence number below which the client has all its replies (its
    /// acknowledged watermark); 0 when it says nothing.
    pub ack: u64,
}

impl Header {
    /// A request header.
    pub fn request(
        client: u64,
        seq: u64,
        binding: u64,
        object: u64,
        method: u32,
        fingerprint: u64,
    ) -> Header {
        Header {
            version: VERSION,
            kind: Kind::Request as u8,
            client,
            seq,
            binding,
            object,
            method,
            fingerprint,
            ..Header::default()
        }
    }

    /// The reply to `request`, with `status`.
    pub fn reply_to(request: &Header, status: Status) -> Header {
        Header {
            kind: Kind::Reply as u8,
            flags: 0,
            status: status as u8,
            ack: 0,
            ..*request
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_are_as_documented() {
        let h = Header::request(300, 1, 0, 7, 0xdead_beef, 1);
        let bytes = postcard::to_allocvec(&h).unwrap();
        // version kind flags status | client=300 (0xac 0x02) | seq=1 | binding=0 | object=7
        // | method=0xdeadbeef as varint | fingerprint=1 | ack=0
        assert_eq!(
            bytes,
            [
                1, 0, 0, 0, 0xac, 0x02, 1, 0, 7, 0xef, 0xfd, 0xb6, 0xf5, 0x0d, 1, 0
            ]
        );
        let worst = Header {
            client: u64::MAX,
            seq: u64::MAX,
            binding: u64::MAX,
            object: u64::MAX,
            method: u32::MAX,
            fingerprint: u64::MAX,
            ack: u64::MAX,
            ..h
        };
        assert_eq!(postcard::to_allocvec(&worst).unwrap().len(), MAX_HEADER);
    }
}
