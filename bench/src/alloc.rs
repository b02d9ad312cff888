//! A global allocator that counts allocations, around the system allocator or, with the
//! `mimalloc` feature, around mimalloc.
//!
//! The benchmark binary installs [`Counting`] with `#[global_allocator]`; the other modules
//! read [`allocations`] before and after a run of calls.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every `alloc`, `alloc_zeroed` and `realloc` since the process started, all threads.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The allocator under the counter: the system allocator.
#[cfg(not(feature = "mimalloc"))]
pub type Inner = std::alloc::System;
/// The allocator under the counter: mimalloc (feature `mimalloc`).
#[cfg(feature = "mimalloc")]
pub type Inner = mimalloc::MiMalloc;

/// The allocator under the counter, by name, for the report's title.
#[cfg(not(feature = "mimalloc"))]
pub const NAME: &str = "system allocator";
/// The allocator under the counter, by name, for the report's title.
#[cfg(feature = "mimalloc")]
pub const NAME: &str = "mimalloc";

/// The allocator to install: [`Inner`] with a counter.
#[cfg(not(feature = "mimalloc"))]
pub const CHOSEN: Counting<Inner> = Counting::new(std::alloc::System);
/// The allocator to install: [`Inner`] with a counter.
#[cfg(feature = "mimalloc")]
pub const CHOSEN: Counting<Inner> = Counting::new(mimalloc::MiMalloc);

/// Wraps an allocator and counts every allocation (and reallocation) made through it.
#[derive(Debug)]
pub struct Counting<A> {
    inner: A,
}

impl<A> Counting<A> {
    /// Counts the allocations made through `inner`.
    pub const fn new(inner: A) -> Counting<A> {
        Counting { inner }
    }
}

// SAFETY: every method forwards to the wrapped allocator with the caller's arguments
// unchanged; the counter has no effect on the memory handed out.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded under the caller's contract.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (and reallocations) made so far by the whole process, every thread.
///
/// Only meaningful in a binary that installs [`Counting`] as its global allocator.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}
