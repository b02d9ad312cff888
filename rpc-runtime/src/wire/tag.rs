//! Session tags: how a datagram proves that its sender holds the session's secret.
//!
//! A TCP or Unix connection is attached to a session once, by a handshake that shows the
//! secret; what arrives on it afterwards comes from the same peer. A datagram has no
//! connection, and its source address is whatever the sender wrote, so each datagram of
//! a session carries a tag instead: SipHash-2-4, keyed with the session's 128-bit secret,
//! of every byte before the tag. Without the secret no one can make a tag the server
//! accepts, so no one can run calls in another client's session, read its stored replies
//! or acknowledge them. The secret itself never travels in a request: it is sent once, in
//! the reply that opens the session (and, over streams, in the payload of an Attach).

use siphasher::sip::SipHasher24;

/// Bytes of a tag.
pub const TAG_LEN: usize = 8;

/// A session's secret: 128 random bits drawn by the server.
pub type Secret = [u8; 16];

/// The tag of `bytes` under `secret`.
pub fn tag(secret: &Secret, bytes: &[u8]) -> [u8; TAG_LEN] {
    SipHasher24::new_with_key(secret).hash(bytes).to_le_bytes()
}

/// Splits a tagged datagram into the bytes the tag covers and the tag; None when it is
/// too short to hold one.
pub fn split(datagram: &[u8]) -> Option<(&[u8], [u8; TAG_LEN])> {
    let at = datagram.len().checked_sub(TAG_LEN)?;
    let (covered, tag) = datagram.split_at(at);
    Some((covered, tag.try_into().ok()?))
}

/// Whether `tag` is the tag of `covered` under `secret`. Compares every byte whatever
/// differs first, so the time taken says nothing about where.
pub fn verify(secret: &Secret, covered: &[u8], tag: [u8; TAG_LEN]) -> bool {
    let expected = self::tag(secret, covered);
    expected
        .iter()
        .zip(tag)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// Whether two secrets are equal, in time independent of where they differ.
pub fn same_secret(a: &Secret, b: &Secret) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_verifies_only_under_its_secret_and_bytes() {
        let secret = [7u8; 16];
        let mut datagram = b"header and payload".to_vec();
        let t = tag(&secret, &datagram);
        datagram.extend_from_slice(&t);
        let (covered, found) = split(&datagram).unwrap();
        assert!(verify(&secret, covered, found));
        assert!(!verify(&[8u8; 16], covered, found));
        assert!(!verify(&secret, b"header and payloaD", found));
        assert!(split(&[1, 2, 3]).is_none());
    }
}
