//! A small pool of large buffers, so that megabyte payloads do not cost fresh pages from
//! the kernel on every call.
//!
//! Allocators hand large blocks back to the operating system on free; the next
//! allocation of the same size then page-faults on every 4 KiB it touches, which costs
//! more than copying the data. Frames and encoded payloads of at least [`MIN_POOLED`]
//! bytes are taken from here and given back once written or decoded. Small buffers are
//! left to the allocator, which handles them well. The pool is bounded in count and
//! bytes, so it never holds more than [`MAX_POOLED_BYTES`].

use std::sync::{Mutex, PoisonError};

/// Buffers smaller than this are not pooled.
pub(crate) const MIN_POOLED: usize = 64 << 10;

/// The most bytes of capacity the pool keeps.
const MAX_POOLED_BYTES: usize = 64 << 20;

/// The most buffers the pool keeps.
const MAX_BUFFERS: usize = 32;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer with room for at least `capacity` bytes.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    if capacity >= MIN_POOLED {
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        // The smallest buffer that fits, and not so large that it wastes memory.
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= capacity && b.capacity() <= capacity.saturating_mul(4))
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let mut buf = pool.swap_remove(i);
            buf.clear();
            return buf;
        }
    }
    Vec::with_capacity(capacity)
}

/// Gives a buffer back for reuse (or drops it, when small or the pool is full).
pub(crate) fn give(buf: Vec<u8>) {
    if buf.capacity() < MIN_POOLED {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let held: usize = pool.iter().map(Vec::capacity).sum();
    if pool.len() < MAX_BUFFERS && held + buf.capacity() <= MAX_POOLED_BYTES {
        pool.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_come_back_and_small_ones_do_not() {
        give(take(MIN_POOLED * 2));
        // Another test may take it first; when it is here, it is the one given.
        let again = take(MIN_POOLED * 2);
        assert!(again.capacity() >= MIN_POOLED * 2);
        assert!(again.is_empty());
        give(vec![0; 10]);
        assert!(take(10).capacity() >= 10);
    }
}
