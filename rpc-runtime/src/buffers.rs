//! Buffers for messages, reused so that the call path does not go to the allocator for
//! every request and reply.
//!
//! Two pools, because small and large buffers fail in different ways:
//!
//! - **Small** buffers (under [`MIN_POOLED`]): a call's request, its reply and the frames
//!   they are read into each need one. The allocator handles them well, but one call
//!   would still cost several round trips to it; a per-thread free list makes a
//!   steady stream of calls allocate nothing (`tests/tests/allocations.rs` pins that).
//!   Per thread, so taking and giving never contend; a buffer given on another thread
//!   than it was taken on simply joins that thread's list.
//! - **Large** buffers: allocators hand large blocks back to the operating system on
//!   free; the next allocation of the same size then page-faults on every 4 KiB it
//!   touches, which costs more than copying the data. One process-wide pool.
//!
//! Both are bounded in count and bytes: at most [`MAX_SMALL`] buffers of under
//! [`MIN_POOLED`] bytes per thread, and [`MAX_POOLED_BYTES`] in large buffers.

use std::cell::RefCell;
use std::sync::{Mutex, PoisonError};

/// Buffers smaller than this are pooled per thread; larger ones process-wide.
pub(crate) const MIN_POOLED: usize = 64 << 10;

/// The most bytes of capacity the large pool keeps.
const MAX_POOLED_BYTES: usize = 64 << 20;

/// The most buffers the large pool keeps.
const MAX_BUFFERS: usize = 32;

/// The most small buffers a thread keeps: enough for every call in flight on a busy
/// connection to hand its buffers back.
const MAX_SMALL: usize = 128;

/// Small buffers are given at least this capacity, so that one fits most messages and
/// any buffer from the list fits the next small request.
const SMALL: usize = 512;

static LARGE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

thread_local! {
    static SMALL_FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `capacity` bytes.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    if capacity < MIN_POOLED {
        let reused = SMALL_FREE.with(|free| {
            let mut free = free.borrow_mut();
            // The most recently given buffer is the likeliest to be in the cache.
            match free.last() {
                Some(last) if last.capacity() >= capacity => free.pop(),
                _ => None,
            }
        });
        return reused.unwrap_or_else(|| Vec::with_capacity(capacity.max(SMALL)));
    }
    let mut pool = LARGE.lock().unwrap_or_else(PoisonError::into_inner);
    // The smallest buffer that fits, and not so large that it wastes memory.
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, b)| b.capacity() >= capacity && b.capacity() <= capacity.saturating_mul(4))
        .min_by_key(|(_, b)| b.capacity())
        .map(|(i, _)| i);
    match best {
        Some(i) => {
            let mut buf = pool.swap_remove(i);
            buf.clear();
            buf
        }
        None => Vec::with_capacity(capacity),
    }
}

/// Gives a buffer back for reuse (or drops it, when the pool is full).
pub(crate) fn give(mut buf: Vec<u8>) {
    if buf.capacity() < MIN_POOLED {
        if buf.capacity() < SMALL {
            return; // not one of ours, or too small to fit the next message
        }
        buf.clear();
        // A thread being torn down has no list any more: the buffer is dropped.
        let _ = SMALL_FREE.try_with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < MAX_SMALL {
                free.push(buf);
            }
        });
        return;
    }
    let mut pool = LARGE.lock().unwrap_or_else(PoisonError::into_inner);
    let held: usize = pool.iter().map(Vec::capacity).sum();
    if pool.len() < MAX_BUFFERS && held + buf.capacity() <= MAX_POOLED_BYTES {
        pool.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_come_back() {
        give(take(MIN_POOLED * 2));
        // Another test may take it first; when it is here, it is the one given.
        let again = take(MIN_POOLED * 2);
        assert!(again.capacity() >= MIN_POOLED * 2);
        assert!(again.is_empty());
    }

    #[test]
    fn small_buffers_come_back_on_the_same_thread() {
        let mut buf = take(100);
        buf.extend_from_slice(b"used");
        let at = buf.as_ptr();
        give(buf);
        let again = take(200);
        assert_eq!(again.as_ptr(), at, "the same buffer, not a new one");
        assert!(again.is_empty());
        give(vec![0; 10]); // too small to keep: dropped
        assert!(take(10).capacity() >= SMALL);
    }

    #[test]
    fn a_thread_keeps_a_bounded_number_of_small_buffers() {
        std::thread::spawn(|| {
            for _ in 0..MAX_SMALL * 2 {
                give(Vec::with_capacity(SMALL));
            }
            assert_eq!(SMALL_FREE.with(|f| f.borrow().len()), MAX_SMALL);
        })
        .join()
        .unwrap();
    }
}
