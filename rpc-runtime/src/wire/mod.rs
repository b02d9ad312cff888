//! The bytes on the wire: a message is a [`Header`] followed by a payload, both in
//! postcard; over a stream each message is a length-prefixed frame.
//!
//! `docs/PROTOCOL.md` specifies all of it byte by byte. In short:
//!
//! ```text
//! frame   = length:u32be message           (streams only; a datagram is one message)
//! message = header payload
//! header  = version:u8 kind:u8 flags:u8 status:u8
//!           session:varint slot:varint seq:varint binding:varint object:varint
//!           method:varint fingerprint:varint
//! payload = [context] postcard(arguments | results | exception | text | handshake)
//! tag     = 8 bytes, datagrams of a session only (see [`tag`])
//! ```

pub mod context;
mod frame;
pub mod handshake;
mod header;
mod limited;
mod payload;
pub(crate) mod received;
pub mod tag;

pub use frame::{DEFAULT_MAX_FRAME, FrameError, FrameReader, LENGTH_PREFIX};
pub use header::{
    FLAG_CONTEXT, FLAG_ONEWAY, FLAG_PROGRESS, FLAG_TAGGED, HANDSHAKE_SLOT, Header, Kind,
    MAX_HEADER, ONEWAY_SLOT, Status, VERSION,
};
pub use limited::MAX_DEPTH;
pub use payload::{DecodeError, EncodeError, Message, Payload, decode, decode_seed};

/// The largest message a UDP datagram carries (65,535 bytes less the IPv4 and UDP
/// headers). A larger request is refused before sending; use TCP for it.
pub const MAX_DATAGRAM: usize = 65_507;
