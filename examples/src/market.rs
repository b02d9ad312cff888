//! A stock ticker: the server side of `idl/ticker.idl` ([`Market`]), and a listener a
//! client serves to receive its prices ([`Recorder`]).
//!
//! Every subscription stores the client's listener (a [`ListenerRef`]: a reference to
//! an object the client serves) and runs a task that calls it back with a price every
//! interval, over the connection the client opened. The task drops the listener when
//! it returns false, when a call to it fails (the client went away), when the client
//! unsubscribes, or after the last update; the lease the server held on it ends then.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::ticker::{Listener, ListenerRef, Ticker};

/// The ticker's server side: quotes any symbol (each follows its own random walk, one
/// step per interval) and pushes a number of updates to each subscribed listener.
/// Clones share the market.
#[derive(Clone)]
pub struct Market {
    state: Arc<State>,
}

/// What a [`Market`] has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarketStats {
    /// Subscriptions running now (their listeners are held).
    pub running: usize,
    /// Updates listeners accepted (a call that returned, true or false).
    pub delivered: u64,
    /// Subscriptions ended by their listener returning false.
    pub declined: u64,
    /// Subscriptions ended by a call to their listener failing.
    pub failed: u64,
    /// Subscriptions that received every update.
    pub completed: u64,
}

struct State {
    /// Updates per subscription.
    updates: u64,
    /// Between two updates, and between two steps of a price.
    interval: Duration,
    opened: Instant,
    prices: Mutex<HashMap<String, Walk>>,
    subscriptions: Mutex<HashMap<u64, Subscription>>,
    next_id: AtomicU64,
    delivered: AtomicU64,
    declined: AtomicU64,
    failed: AtomicU64,
    completed: AtomicU64,
}

/// A subscribed listener and the symbol it follows.
struct Subscription {
    symbol: String,
    listener: ListenerRef,
}

/// A price's random walk: one step of up to ±0.25 per interval, never below 0.01.
struct Walk {
    cents: i64,
    /// The interval it was last stepped to, counted from when the market opened.
    step: u64,
    /// xorshift64 state, seeded from the symbol (the same symbol walks the same way).
    rng: u64,
}

impl Walk {
    fn open(symbol: &str) -> Walk {
        // FNV-1a of the symbol: its opening price and its walk.
        let seed = symbol.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Walk {
            cents: 5_000 + (seed % 20_000) as i64,
            step: 0,
            rng: seed | 1,
        }
    }

    fn advance_to(&mut self, step: u64) {
        while self.step < step {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.cents = (self.cents + (self.rng % 51) as i64 - 25).max(1);
            self.step += 1;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Market {
    /// A market that sends each subscriber `updates` prices, one every `interval`.
    /// Needs a tokio runtime when its clients subscribe (each subscription is a task).
    pub fn new(updates: u64, interval: Duration) -> Market {
        Market {
            state: Arc::new(State {
                updates,
                interval: interval.max(Duration::from_millis(1)),
                opened: Instant::now(),
                prices: Mutex::default(),
                subscriptions: Mutex::default(),
                next_id: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                declined: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                completed: AtomicU64::new(0),
            }),
        }
    }

    /// What the market has done so far.
    pub fn stats(&self) -> MarketStats {
        let s = &self.state;
        MarketStats {
            running: lock(&s.subscriptions).len(),
            delivered: s.delivered.load(Ordering::Relaxed),
            declined: s.declined.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            completed: s.completed.load(Ordering::Relaxed),
        }
    }
}

impl State {
    /// The price of `symbol` now.
    fn price(&self, symbol: &str) -> i64 {
        let step = self.opened.elapsed().as_nanos() / self.interval.as_nanos();
        let mut prices = lock(&self.prices);
        let walk = prices
            .entry(symbol.to_string())
            .or_insert_with(|| Walk::open(symbol));
        walk.advance_to(u64::try_from(step).unwrap_or(u64::MAX));
        walk.cents
    }

    /// Pushes the updates of subscription `id`, then drops it.
    async fn push(self: Arc<State>, id: u64) {
        let mut timer = tokio::time::interval_at(Instant::now() + self.interval, self.interval);
        let mut seq = 0;
        let ended = loop {
            if seq == self.updates {
                break &self.completed;
            }
            timer.tick().await;
            seq += 1;
            // A clone of the reference, so that unsubscribing can drop the stored one.
            let Some((symbol, listener)) = lock(&self.subscriptions)
                .get(&id)
                .map(|s| (s.symbol.clone(), s.listener.clone()))
            else {
                return; // unsubscribed
            };
            let cents = self.price(&symbol);
            match listener.price(&symbol, cents, seq).await {
                Ok(more) => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    if !more {
                        break &self.declined;
                    }
                }
                Err(_) => break &self.failed,
            }
        };
        // Dropping the last copy of the reference releases the client's object.
        if lock(&self.subscriptions).remove(&id).is_some() {
            ended.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Ticker for Market {
    async fn subscribe(&self, symbol: String, listener: ListenerRef) -> u64 {
        let id = self.state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.state.subscriptions).insert(id, Subscription { symbol, listener });
        tokio::spawn(self.state.clone().push(id));
        id
    }

    async fn unsubscribe(&self, subscription: u64) -> bool {
        lock(&self.state.subscriptions)
            .remove(&subscription)
            .is_some()
    }

    async fn quote(&self, symbol: String) -> i64 {
        self.state.price(&symbol)
    }

    async fn subscriptions(&self) -> u32 {
        lock(&self.state.subscriptions).len() as u32
    }
}

/// One price update, as a listener received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The symbol.
    pub symbol: String,
    /// Its price, in cents.
    pub cents: i64,
    /// The update's number in its subscription, from 1.
    pub seq: u64,
    /// What the listener answered: whether it wanted more.
    pub more: bool,
}

/// A listener, served by the client that subscribes it: records the updates it
/// receives and wants a number of them (it answers false to the last it wants). Share it with
/// the ticker as `Arc::clone(&recorder).into_ref()`, keeping the `Arc` to read it.
#[derive(Debug)]
pub struct Recorder {
    want: u64,
    updates: Mutex<Vec<Update>>,
}

impl Recorder {
    /// A recorder that wants `want` updates.
    pub fn new(want: u64) -> Arc<Recorder> {
        Arc::new(Recorder {
            want,
            updates: Mutex::default(),
        })
    }

    /// A recorder that wants every update: the ticker ends its subscription after the
    /// last.
    pub fn all() -> Arc<Recorder> {
        Recorder::new(u64::MAX)
    }

    /// The updates received so far, in order.
    pub fn updates(&self) -> Vec<Update> {
        lock(&self.updates).clone()
    }

    /// How many updates it received.
    pub fn received(&self) -> usize {
        lock(&self.updates).len()
    }
}

impl Listener for Arc<Recorder> {
    async fn price(&self, symbol: String, cents: i64, seq: u64) -> bool {
        let mut updates = lock(&self.updates);
        let more = (updates.len() as u64 + 1) < self.want;
        updates.push(Update {
            symbol,
            cents,
            seq,
            more,
        });
        more
    }
}
