//! Invocation ids: (client id, sequence number).
//!
//! The client id is drawn at random once per process, so a restarted client is a new
//! client to every server (its old calls cannot be confused with new ones); sequence
//! numbers count up from 1 within it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// 64 random bits, from the standard library's per-process hash keys mixed with the time
/// and the process id. Not for cryptography; plenty for ids that must not repeat.
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

/// This process incarnation's client id.
pub fn client_id() -> u64 {
    static ID: OnceLock<u64> = OnceLock::new();
    *ID.get_or_init(random_u64)
}

/// The next sequence number of this process.
pub fn next_seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(1);
    SEQ.fetch_add(1, Ordering::Relaxed)
}
