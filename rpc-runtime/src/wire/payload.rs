//! Encoding a message into one buffer, and decoding one from a received buffer.
//!
//! A [`Payload`] is encoded after a gap of [`HEADROOM`] bytes, so that the header and the
//! stream length prefix can be written in front of it afterwards: a message goes out as
//! one contiguous slice, with no copy of the payload.

use serde::Serialize;
use serde::de::{DeserializeOwned, DeserializeSeed};

use super::frame::LENGTH_PREFIX;
use super::header::{FLAG_TAGGED, Header, MAX_HEADER, VERSION};
use super::limited::{Limited, Limits};
use super::tag::{self, Secret, TAG_LEN};

/// Room left at the front of every payload buffer: length prefix plus the largest header.
const HEADROOM: usize = LENGTH_PREFIX + MAX_HEADER;

/// An encoded payload, with room in front for its header.
#[derive(Debug, Clone)]
pub struct Payload {
    buf: Vec<u8>,
}

/// Why bytes could not be turned into a value.
///
/// `#[non_exhaustive]`: decoding may learn to tell more failures apart, so a `match` needs a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// postcard refused the bytes (truncated, bad varint, bad UTF-8, unknown variant...).
    #[error("malformed {what}: {message}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// What postcard said.
        message: String,
    },
    /// The value ended before the bytes did.
    #[error("{extra} unexpected byte(s) after the {what}")]
    Trailing {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes were left over.
        extra: usize,
    },
    /// The header names a protocol version this runtime does not speak.
    #[error("unsupported protocol version {0} (this runtime speaks {VERSION})")]
    Version(u8),
}

/// Why a value could not be encoded: its `Serialize` implementation failed (a custom
/// error, or a sequence whose length it does not know). Values of IDL types always encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode the value: {message}")]
pub struct EncodeError {
    // The encoder's text only: the encoder itself is an implementation detail.
    message: String,
}

impl EncodeError {
    /// An error told in words.
    pub(crate) fn new(message: String) -> EncodeError {
        EncodeError { message }
    }

    fn from_postcard(e: postcard::Error) -> EncodeError {
        EncodeError {
            message: e.to_string(),
        }
    }
}

impl Payload {
    /// Encodes `value`.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Payload, EncodeError> {
        // One exact allocation: growing a large buffer step by step costs copies and, for
        // megabyte payloads, fresh pages from the kernel at every step.
        let size =
            postcard::experimental::serialized_size(value).map_err(EncodeError::from_postcard)?;
        // Room for a datagram's session tag too, so that tagging never reallocates.
        let mut buf = crate::buffers::take(HEADROOM + size + TAG_LEN);
        buf.resize(HEADROOM, 0);
        let buf = postcard::to_io(value, buf).map_err(EncodeError::from_postcard)?;
        Ok(Payload { buf })
    }

    /// Encodes `value` followed by `tail`, bytes already encoded (a request's context,
    /// then arguments a dynamic caller encoded): postcard writes a sequence of values as
    /// their encodings one after the other, so this is the payload of `(value, tail's
    /// value)`.
    pub fn encode_then<T: Serialize + ?Sized>(
        value: &T,
        tail: &[u8],
    ) -> Result<Payload, EncodeError> {
        let size =
            postcard::experimental::serialized_size(value).map_err(EncodeError::from_postcard)?;
        let mut buf = crate::buffers::take(HEADROOM + size + tail.len() + TAG_LEN);
        buf.resize(HEADROOM, 0);
        let mut buf = postcard::to_io(value, buf).map_err(EncodeError::from_postcard)?;
        buf.extend_from_slice(tail);
        Ok(Payload { buf })
    }

    /// A payload of bytes already encoded (a reply record or an exception that a dynamic
    /// server encoded), copied behind the room for a header.
    pub fn from_encoded(bytes: &[u8]) -> Payload {
        let mut buf = crate::buffers::take(HEADROOM + bytes.len() + TAG_LEN);
        buf.resize(HEADROOM, 0);
        buf.extend_from_slice(bytes);
        Payload { buf }
    }

    /// Encodes a value that always encodes (a text, a number, a handshake answer), as
    /// the server's error replies carry; an empty payload should it not.
    pub(crate) fn of<T: Serialize + ?Sized>(value: &T) -> Payload {
        Payload::encode(value).unwrap_or_else(|_| Payload::empty())
    }

    /// An empty payload.
    pub fn empty() -> Payload {
        Payload {
            buf: vec![0; HEADROOM],
        }
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[HEADROOM..]
    }

    /// Puts `header` in front, making a message.
    pub fn seal(mut self, header: &Header) -> Message {
        let mut scratch = [0u8; MAX_HEADER];
        let used = header.encode(&mut scratch);
        let start = HEADROOM - used;
        self.buf[start..HEADROOM].copy_from_slice(&scratch[..used]);
        // The stream length prefix goes in front now, so that `frame` needs no `&mut`.
        // A message over 4 GiB cannot be framed; its length saturates and any reader's
        // frame limit refuses it.
        let len = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        self.buf[start - LENGTH_PREFIX..start].copy_from_slice(&len.to_be_bytes());
        Message {
            buf: self.buf,
            start,
        }
    }
}

/// A whole message (header and payload) ready to send, with room for a length prefix.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Vec<u8>,
    start: usize,
}

impl Message {
    /// A message received or stored whole (header and payload), to send again.
    pub fn from_bytes(message: &[u8]) -> Message {
        let mut buf = Vec::with_capacity(LENGTH_PREFIX + message.len() + TAG_LEN);
        let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(message);
        Message {
            buf,
            start: LENGTH_PREFIX,
        }
    }

    /// The message as a datagram: header and payload.
    pub fn datagram(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The message as a stream frame: big-endian length, then header and payload.
    pub fn frame(&self) -> &[u8] {
        &self.buf[self.start - LENGTH_PREFIX..]
    }

    /// The same message as a datagram of a session: the `TAGGED` flag set and the tag
    /// under `secret` appended.
    pub fn tagged(mut self, secret: &Secret) -> Message {
        // The flags are the third byte of every header.
        self.buf[self.start + 2] |= FLAG_TAGGED;
        let tag = tag::tag(secret, &self.buf[self.start..]);
        self.buf.extend_from_slice(&tag);
        self
    }

    /// The length of the message (header and payload), without the frame prefix.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether the message is empty (never: a header is at least a few bytes).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Splits a received message into its header and payload bytes.
    pub fn parse(bytes: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
        let (header, payload) =
            Header::decode(bytes).map_err(|message| DecodeError::Malformed {
                what: "header",
                message: message.to_string(),
            })?;
        if header.version != VERSION {
            return Err(DecodeError::Version(header.version));
        }
        Ok((header, payload))
    }
}

impl Drop for Message {
    /// The buffer goes back to the pool once the message is sent (or dropped), whatever
    /// carried it: a stream's outbox, a datagram, a stored copy.
    fn drop(&mut self) {
        crate::buffers::give(std::mem::take(&mut self.buf));
    }
}

/// Decodes a whole payload as a `T`, refusing leftover bytes.
///
/// The bytes come from a peer and may be hostile, so decoding counts as it goes: it
/// refuses more than [`MAX_DEPTH`](super::MAX_DEPTH) levels of nesting (which would
/// overflow the stack) and more seq elements and map entries than `bytes.len()` + 65,536
/// (elements of no bytes, which would loop for ever), and never reserves room for a
/// map's declared length. A refusal is a [`DecodeError::Malformed`] saying which limit.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, DecodeError> {
    decode_seed(bytes, what, std::marker::PhantomData::<T>)
}

/// Decodes a whole payload with a serde [`DeserializeSeed`], under the same limits as
/// [`decode`]: for decoders whose shape is known only at run time (a value of an IDL type
/// read from a model, as `rpc-dynamic` does).
pub fn decode_seed<'de, S: DeserializeSeed<'de>>(
    bytes: &'de [u8],
    what: &'static str,
    seed: S,
) -> Result<S::Value, DecodeError> {
    let limits = Limits::for_payload(bytes.len());
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    let malformed = |message: String| DecodeError::Malformed { what, message };
    let value = seed
        .deserialize(Limited::new(&mut deserializer, &limits))
        .map_err(|e| {
            // postcard drops the message of a custom error; the limits keep the reason.
            malformed(match limits.exceeded() {
                Some(exceeded) => exceeded.to_string(),
                None => e.to_string(),
            })
        })?;
    // A slice's remainder is always there; the error is postcard's signature only.
    let rest = deserializer
        .finalize()
        .map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing {
            what,
            extra: rest.len(),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_message_parses_back() {
        let header = Header::request((1, 2, 3), 4, 5, 6, 7);
        let msg = Payload::encode(&("hi", 7u16)).unwrap().seal(&header);
        let frame = msg.frame().to_vec();
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        let (h, payload) = Message::parse(&frame[4..]).unwrap();
        assert_eq!(h, header);
        assert_eq!(
            decode::<(String, u16)>(payload, "args").unwrap(),
            ("hi".into(), 7)
        );
        assert!(matches!(
            decode::<u8>(&[1, 2], "args"),
            Err(DecodeError::Trailing { extra: 1, .. })
        ));
    }
}
