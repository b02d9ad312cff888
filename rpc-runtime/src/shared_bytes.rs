//! [`Bytes`]: the Rust type of the IDL's `bytes`, shared with the message it arrived in.
//!
//! A received message lives in one reference-counted buffer. Decoding a `bytes` value
//! from it takes a slice of that buffer (a reference count, no copy), so a megabyte
//! argument costs the server nothing between the socket and the handler, and a
//! megabyte result costs the client nothing between the socket and the caller. A value
//! decoded from anything else (a borrowed slice, another serde format) is copied.

use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

/// An immutable byte string: the IDL's `bytes`.
///
/// Cheap to clone and to slice ([`bytes::Bytes`] underneath). Build one from a
/// `Vec<u8>`, a `&'static [u8]` or a [`bytes::Bytes`]; read it as a `&[u8]`.
///
/// # Examples
///
/// ```
/// let data = rpc_runtime::Bytes::from(vec![1, 2, 3]);
/// assert_eq!(&data[..], &[1, 2, 3]);
/// assert_eq!(data.len(), 3);
/// let inner: bytes::Bytes = data.into();
/// assert_eq!(inner, &[1, 2, 3][..]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(bytes::Bytes);

impl Bytes {
    /// An empty value.
    pub const fn new() -> Bytes {
        Bytes(bytes::Bytes::new())
    }

    /// A copy of `data`.
    pub fn copy_from_slice(data: &[u8]) -> Bytes {
        Bytes(bytes::Bytes::copy_from_slice(data))
    }

    /// The [`bytes::Bytes`] underneath.
    pub fn into_inner(self) -> bytes::Bytes {
        self.0
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(data: Vec<u8>) -> Bytes {
        Bytes(data.into())
    }
}

impl From<&'static [u8]> for Bytes {
    fn from(data: &'static [u8]) -> Bytes {
        Bytes(bytes::Bytes::from_static(data))
    }
}

impl<const N: usize> From<&'static [u8; N]> for Bytes {
    fn from(data: &'static [u8; N]) -> Bytes {
        Bytes(bytes::Bytes::from_static(data))
    }
}

impl From<bytes::Bytes> for Bytes {
    fn from(data: bytes::Bytes) -> Bytes {
        Bytes(data)
    }
}

impl From<Bytes> for bytes::Bytes {
    fn from(data: Bytes) -> bytes::Bytes {
        data.0
    }
}

impl From<Bytes> for Vec<u8> {
    fn from(data: Bytes) -> Vec<u8> {
        data.0.into()
    }
}

impl PartialEq<[u8]> for Bytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

impl PartialEq<&[u8]> for Bytes {
    fn eq(&self, other: &&[u8]) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Vec<u8>> for Bytes {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.0 == other
    }
}

impl PartialEq<Bytes> for Vec<u8> {
    fn eq(&self, other: &Bytes) -> bool {
        *self == other.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        deserializer.deserialize_bytes(BytesVisitor)
    }
}

thread_local! {
    /// The message being decoded on this thread, if it is shared ([`decoding_from`]).
    static MESSAGE: RefCell<Option<bytes::Bytes>> = const { RefCell::new(None) };
}

/// Runs `decode` with `message` as the buffer that `bytes` values it decodes may share.
///
/// Decoding is synchronous, so a thread-local is enough to tell the [`Bytes`] visitor
/// where its borrowed slice lives; nested calls restore the outer message.
pub(crate) fn decoding_from<T>(message: &bytes::Bytes, decode: impl FnOnce() -> T) -> T {
    let outer = MESSAGE.with(|m| m.replace(Some(message.clone())));
    let value = decode();
    MESSAGE.with(|m| *m.borrow_mut() = outer);
    value
}

/// A slice of the message being decoded, when `data` lies inside it; else a copy.
fn share_or_copy(data: &[u8]) -> bytes::Bytes {
    MESSAGE.with(|m| match m.borrow().as_ref() {
        Some(message) if contains(message, data) => message.slice_ref(data),
        _ => bytes::Bytes::copy_from_slice(data),
    })
}

fn contains(outer: &[u8], inner: &[u8]) -> bool {
    let outer = outer.as_ptr_range();
    let inner = inner.as_ptr_range();
    outer.start <= inner.start && inner.end <= outer.end
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, data: &'de [u8]) -> Result<Bytes, E> {
        Ok(Bytes(share_or_copy(data)))
    }

    fn visit_bytes<E: de::Error>(self, data: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(data))
    }

    fn visit_byte_buf<E: de::Error>(self, data: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(data))
    }

    // Formats without a bytes type (JSON) write bytes as a sequence of numbers.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let mut data = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element::<u8>()? {
            data.push(byte);
        }
        Ok(Bytes::from(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_from_a_shared_message_slices_it() {
        let message =
            bytes::Bytes::from(postcard::to_allocvec(&Bytes::from(vec![7u8; 100])).unwrap());
        let decoded: Bytes = decoding_from(&message, || postcard::from_bytes(&message).unwrap());
        assert_eq!(decoded, vec![7u8; 100]);
        assert!(
            contains(&message, &decoded),
            "a slice of the message, not a copy"
        );
    }

    #[test]
    fn decoding_from_anything_else_copies() {
        let encoded = postcard::to_allocvec(&Bytes::from(vec![1u8, 2, 3])).unwrap();
        let decoded: Bytes = postcard::from_bytes(&encoded).unwrap();
        assert_eq!(decoded, vec![1u8, 2, 3]);
        assert!(!contains(&encoded, &decoded));
    }

    #[test]
    fn encodes_as_serde_bytes_do() {
        let data = vec![1u8, 2, 3, 250];
        assert_eq!(
            postcard::to_allocvec(&Bytes::from(data.clone())).unwrap(),
            postcard::to_allocvec(serde_bytes::Bytes::new(&data)).unwrap()
        );
    }
}
