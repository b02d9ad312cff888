//! What every row shares: the client interface the drivers call, latency histograms,
//! and the driver that keeps calls in flight.

use std::future::Future;
use std::ops::AddAssign;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// An RPC client that echoes bytes: what the rpcgen and tarpc rows have in common.
///
/// Cheap to clone; clones share one connection.
pub trait Echoer: Clone + Send + Sync + 'static {
    /// Sends `data` and waits for it to come back; the length of what came back.
    ///
    /// Panics if the call fails: a benchmark has no use for a failed call.
    fn echo(&self, data: &[u8]) -> impl Future<Output = usize> + Send;
}

/// Calls completed in some time: a rate once divided.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Calls (or bytes, for a throughput) completed.
    pub count: u64,
    /// The time they took, together.
    pub elapsed: Duration,
}

impl Sample {
    /// Count per second.
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }
}

impl AddAssign for Sample {
    fn add_assign(&mut self, other: Sample) {
        self.count += other.count;
        self.elapsed += other.elapsed;
    }
}

/// A histogram of latencies in nanoseconds, from 1 ns to a minute, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

/// Records `elapsed` into `histogram` (saturating at its top).
pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    histogram.saturating_record(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
}

/// Keeps `depth` calls of `size` bytes in flight on each client (one task per call in
/// flight, each calling again as soon as its call returns) for `window`; the calls
/// completed and the time until the last one returned.
pub async fn in_flight<C: Echoer>(
    clients: &[C],
    depth: usize,
    size: usize,
    window: Duration,
) -> Sample {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = Vec::with_capacity(clients.len() * depth);
    for client in clients {
        for _ in 0..depth {
            let client = client.clone();
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let payload = vec![3u8; size];
                while Instant::now() < deadline {
                    let n = client.echo(&payload).await;
                    debug_assert_eq!(n, size);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    for task in tasks {
        task.await.expect("an in-flight task");
    }
    Sample {
        count: done.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}
