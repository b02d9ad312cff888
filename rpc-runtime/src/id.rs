//! Random ids: client ids and binding uids.
//!
//! An invocation id is (client id, sequence number). Each channel draws its client id at
//! random when it is made, so a restarted client is a new client to every server (its
//! old calls cannot be confused with new ones); sequence numbers count up from 1 within
//! it. A server draws its binding uid the same way at every start.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
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
