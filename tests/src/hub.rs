//! The services of the remote object tests (`idl/objects.idl`): a hub that makes
//! counters and calls listeners back, and a listener that counts what it is told.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::objects::{Counter, CounterRef, Hub, HubClient, Listener, ListenerRef};

/// Counter objects alive in this process (made and not yet dropped): what the object
/// table holds, seen from the objects themselves.
pub static COUNTERS_ALIVE: AtomicUsize = AtomicUsize::new(0);

/// A counter object.
pub struct CounterObject {
    value: AtomicU64,
}

impl CounterObject {
    /// A counter starting at `start`.
    pub fn new(start: u64) -> CounterObject {
        COUNTERS_ALIVE.fetch_add(1, Ordering::Relaxed);
        CounterObject {
            value: AtomicU64::new(start),
        }
    }
}

impl Drop for CounterObject {
    fn drop(&mut self) {
        COUNTERS_ALIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counter for CounterObject {
    async fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    async fn add(&self, n: u64) -> u64 {
        self.value.fetch_add(n, Ordering::Relaxed) + n
    }
}

/// The hub: makes counters, reads any counter, calls listeners back.
#[derive(Default)]
pub struct HubService {
    kept: Mutex<Vec<ListenerRef>>,
}

impl Hub for HubService {
    async fn make_counter(&self, start: u64) -> CounterRef {
        CounterObject::new(start).into_ref()
    }

    async fn make_counters(&self, n: u32) -> Vec<CounterRef> {
        (0..n)
            .map(|i| CounterObject::new(u64::from(i)).into_ref())
            .collect()
    }

    async fn read(&self, counter: CounterRef) -> u64 {
        // u64::MAX tells the caller that the call back failed.
        counter.get().await.unwrap_or(u64::MAX)
    }

    async fn subscribe(&self, listener: ListenerRef, count: u32) -> u32 {
        let mut acknowledged = 0;
        for seq in 0..u64::from(count) {
            match listener.notify(seq, "tick").await {
                Ok(back) if back == seq => acknowledged += 1,
                _ => break,
            }
        }
        acknowledged
    }

    async fn keep(&self, listeners: Vec<ListenerRef>) -> u32 {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.extend(listeners);
        kept.len() as u32
    }

    async fn release(&self) {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    async fn broadcast(&self, count: u32) -> u32 {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut acknowledged = 0;
        for listener in &kept {
            for seq in 0..u64::from(count) {
                match listener.notify(seq, "news").await {
                    Ok(back) if back == seq => acknowledged += 1,
                    _ => break,
                }
            }
        }
        acknowledged
    }

    async fn relay(&self, listener: ListenerRef, depth: u32) -> u32 {
        listener.step(depth).await.map_or(0, |d| d + 1)
    }

    async fn echo(&self, depth: u32) -> u32 {
        depth
    }

    async fn bounce(&self, listener: ListenerRef) -> ListenerRef {
        listener
    }
}

/// A listener that counts notifications and, for `step`, calls its hub back.
pub struct CountingListener {
    /// Notifications received.
    pub received: AtomicU64,
    /// The last sequence number received, plus one (0: none).
    pub last: AtomicU64,
    /// Notifications that arrived out of order.
    pub out_of_order: AtomicU32,
    hub: Option<HubClient>,
}

impl CountingListener {
    /// A listener whose `step` calls `hub.echo` (None: `step` returns its depth).
    pub fn new(hub: Option<HubClient>) -> CountingListener {
        CountingListener {
            received: AtomicU64::new(0),
            last: AtomicU64::new(0),
            out_of_order: AtomicU32::new(0),
            hub,
        }
    }
}

impl Listener for std::sync::Arc<CountingListener> {
    async fn notify(&self, seq: u64, _text: String) -> u64 {
        self.received.fetch_add(1, Ordering::Relaxed);
        if self.last.swap(seq + 1, Ordering::Relaxed) != seq {
            self.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        seq
    }

    async fn step(&self, depth: u32) -> u32 {
        match &self.hub {
            Some(hub) => hub.echo(depth).await.unwrap_or(0) + 1,
            None => depth,
        }
    }
}

/// What [`subscribe_while_calling`] saw.
pub struct Subscribed {
    /// The listener the hub called back.
    pub listener: std::sync::Arc<CountingListener>,
    /// What `subscribe` returned.
    pub acknowledged: Result<u32, rpc_runtime::CallError>,
    /// Forward calls (`echo`, each answered right) made while the callbacks came.
    pub forward: u32,
}

/// Subscribes a new listener for `count` notifications through `hub`, and calls
/// `hub.echo` on the same channel until the subscription ends: callbacks one way,
/// forward calls the other.
pub async fn subscribe_while_calling(hub: &HubClient, count: u32) -> Subscribed {
    let listener = std::sync::Arc::new(CountingListener::new(None));
    let reference: ListenerRef = listener.clone().into_ref();
    let subscribed = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.subscribe(&reference, count).await })
    };
    let mut forward = 0u32;
    while !subscribed.is_finished() {
        assert_eq!(hub.echo(forward).await.unwrap(), forward);
        forward += 1;
    }
    Subscribed {
        listener,
        acknowledged: subscribed.await.expect("the subscribe task"),
        forward,
    }
}
