//! A message as read from the network, and decoding from it.
//!
//! Small messages sit in a pooled buffer that goes back to the pool once the message is
//! done with. Large ones are shared ([`bytes::Bytes`]), so that a `bytes` value decoded
//! from them ([`crate::Bytes`]) is a slice of the message rather than a copy: a megabyte
//! argument or result crosses the runtime without being copied. Small values are copied
//! instead, so that a few bytes kept by a caller never pin a whole read buffer.

/// Messages at least this large are shared with the values decoded from them.
const SHARE_AT: usize = crate::buffers::MIN_POOLED;

/// A received message (header and payload).
#[derive(Debug)]
pub(crate) enum Received {
    /// A small message in a pooled buffer.
    Pooled(Vec<u8>),
    /// A large message, shared with the `bytes` values decoded from it.
    Shared(bytes::Bytes),
}

impl Received {
    /// Wraps a buffer holding exactly one message.
    pub fn new(message: Vec<u8>) -> Received {
        if message.len() >= SHARE_AT {
            Received::Shared(message.into())
        } else {
            Received::Pooled(message)
        }
    }

    /// The message's bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Received::Pooled(message) => message,
            Received::Shared(message) => message,
        }
    }

    /// The shared buffer, for large messages.
    pub fn shared(&self) -> Option<&bytes::Bytes> {
        match self {
            Received::Pooled(_) => None,
            Received::Shared(message) => Some(message),
        }
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        let buffer = match self {
            Received::Pooled(message) => std::mem::take(message),
            // Back to the pool only if no decoded value still holds a slice of it.
            Received::Shared(message) => match std::mem::take(message).try_into_mut() {
                Ok(unique) => unique.into(),
                Err(_) => return,
            },
        };
        crate::buffers::give(buffer);
    }
}

/// Runs `decode` so that the `bytes` values it decodes from inside `message` share it.
pub(crate) fn sharing<T>(message: Option<&bytes::Bytes>, decode: impl FnOnce() -> T) -> T {
    match message {
        Some(message) => crate::shared_bytes::decoding_from(message, decode),
        None => decode(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bytes;

    #[test]
    fn bytes_decoded_from_a_large_message_share_it() {
        let value = Bytes::from(vec![5u8; SHARE_AT]);
        let message = Received::new(postcard::to_allocvec(&value).unwrap());
        let decoded: Bytes = sharing(message.shared(), || {
            super::super::decode(message.as_slice(), "value")
        })
        .unwrap();
        assert_eq!(decoded, value);
        let whole = message.as_slice().as_ptr_range();
        assert!(whole.contains(&decoded.as_ptr()), "a slice, not a copy");
        drop(message);
        assert_eq!(decoded.len(), SHARE_AT, "the value outlives the message");
    }

    #[test]
    fn bytes_decoded_from_a_small_message_are_copies() {
        let message = Received::new(postcard::to_allocvec(&Bytes::from(vec![1u8; 10])).unwrap());
        let decoded: Bytes = sharing(message.shared(), || {
            super::super::decode(message.as_slice(), "value")
        })
        .unwrap();
        assert!(
            !message
                .as_slice()
                .as_ptr_range()
                .contains(&decoded.as_ptr())
        );
    }
}
