//! Random ids: session ids, session secrets, binding uids, handshake nonces.
//!
//! A server draws its binding uid at every start, and a session id and secret for every
//! session it opens, so nothing of an earlier incarnation can be confused with the
//! current one, and nobody can guess a session's secret.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// 64 random bits: SipHash, keyed with the standard library's random per-process keys
/// (drawn from the operating system), of the time, the process id and a counter.
/// Unpredictable to anyone who does not know those keys, which never leave the process.
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    // Zero means "none" on the wire.
    h.finish().max(1)
}
