//! The exporting side's table of objects: what this process serves to the holders of
//! references it sent, how long it keeps each (leases), and its bounds.
//!
//! An object enters the table when a reference to it is first sent, with a *transit
//! token* for that copy: the copy is in flight, so the object must live although nobody
//! leases it yet. The receiver's first `dirty` names the token, and the copy becomes
//! that holder's lease. The object is collected when it has neither leases nor copies
//! in transit; a lease that is not renewed runs out after
//! [`Limits::lease`](crate::Limits::lease), a token after two, so a holder that
//! crashed, or a message that was lost, costs one or two lease periods, never a leak.
//!
//! Leases are kept per holder (the caller's session, which only its client can use),
//! with the number of the holder's last lease message: a `dirty` or `clean` older than
//! one already applied changes nothing, so the lease calls may be duplicated, delayed
//! and reordered (at-least-once) without resurrecting or dropping a lease.

use std::collections::hash_map::Entry as MapEntry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::ObjectStats;
use crate::id::random_u64;
use crate::server::{Limits, Service};

/// An object of this process that may be exported: its service, and the id it has in
/// each table it was exported into (a process has one table per server, and one for
/// callbacks).
pub(crate) struct LocalObject {
    pub service: Arc<dyn Service>,
    ids: Mutex<Vec<(u64, u64)>>,
}

impl LocalObject {
    pub fn new(service: Arc<dyn Service>) -> Arc<LocalObject> {
        Arc::new(LocalObject {
            service,
            ids: Mutex::new(Vec::new()),
        })
    }

    fn id_in(&self, table: u64) -> Option<u64> {
        let ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        ids.iter().find(|(t, _)| *t == table).map(|&(_, id)| id)
    }

    fn set_id_in(&self, table: u64, id: u64) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        ids.retain(|(t, _)| *t != table);
        ids.push((table, id));
    }
}

/// One exported object.
struct Exported {
    object: Arc<LocalObject>,
    /// By holder (a session id): until when, and the number of its last lease message.
    leases: FxHashMap<u64, Lease>,
    /// Copies sent and not yet leased: token, and until when they are waited for.
    transit: Vec<(u64, Instant)>,
    /// Copies beyond the bound on tokens keep the object at least until then.
    transit_floor: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Lease {
    /// When it runs out; for a released lease, when its tombstone goes.
    until: Instant,
    /// Released by a `clean`: kept as a tombstone for a lease period, so that an older
    /// `dirty` arriving late cannot bring the lease back.
    released: bool,
    /// The number of the holder's last lease message applied.
    seq: u64,
}

impl Lease {
    fn holds(&self, now: Instant) -> bool {
        !self.released && self.until > now
    }
}

impl Exported {
    fn alive(&self, now: Instant) -> bool {
        self.leases.values().any(|l| l.holds(now))
            || self.transit.iter().any(|&(_, until)| until > now)
            || self.transit_floor.is_some_and(|f| f > now)
    }

    fn holders(&self) -> usize {
        self.leases.len() + self.transit.len()
    }
}

/// Why an object could not be exported.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("the object table is full ({0} objects exported; see Limits::max_objects)")]
    Full(usize),
}

/// The objects one side of a process exports, under one binding uid.
pub(crate) struct ObjectTable {
    /// The binding uid references to these objects carry: the server's, or the callback
    /// table's own.
    pub uid: u64,
    limits: Limits,
    objects: Mutex<FxHashMap<u64, Exported>>,
    exported_total: AtomicU64,
    collected_total: AtomicU64,
    refused: AtomicU64,
}

impl std::fmt::Debug for ObjectTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectTable")
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

impl ObjectTable {
    /// A table with binding uid `uid`, swept in the background while it lives.
    pub fn new(uid: u64, limits: Limits) -> Arc<ObjectTable> {
        let table = Arc::new(ObjectTable {
            uid,
            limits,
            objects: Mutex::new(FxHashMap::default()),
            exported_total: AtomicU64::new(0),
            collected_total: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&table)));
        }
        table
    }

    fn objects(&self) -> MutexGuard<'_, FxHashMap<u64, Exported>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long a lease lasts here.
    pub fn lease(&self) -> Duration {
        self.limits.lease
    }

    /// Exports `object` for one copy of a reference about to be sent: its id (the same
    /// while it stays exported) and the copy's transit token.
    pub fn export(&self, object: &Arc<LocalObject>) -> Result<(u64, u64), ExportError> {
        // Twice a lease: the receiver's first dirty may take up to a lease of
        // retransmissions on a lossy path, and must find the object still there.
        let now = Instant::now();
        let until = now + self.limits.lease * 2;
        let token = random_u64();
        let mut objects = self.objects();
        if let Some(id) = object.id_in(self.uid)
            && let Some(exported) = objects.get_mut(&id)
            && Arc::ptr_eq(&exported.object, object)
        {
            if exported.holders() < self.limits.max_holders {
                exported.transit.push((token, until));
            } else {
                exported.transit_floor = Some(until);
            }
            return Ok((id, token));
        }
        if objects.len() >= self.limits.max_objects {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ExportError::Full(objects.len()));
        }
        // Unguessable: a reference is a capability. Never 0 (the null reference), never
        // an id already taken.
        let id = loop {
            let id = random_u64();
            if !objects.contains_key(&id) {
                break id;
            }
        };
        objects.insert(
            id,
            Exported {
                object: object.clone(),
                leases: FxHashMap::default(),
                transit: vec![(token, until)],
                transit_floor: None,
            },
        );
        object.set_id_in(self.uid, id);
        self.exported_total.fetch_add(1, Ordering::Relaxed);
        Ok((id, token))
    }

    /// The object with id `id`, if it is exported here and alive.
    pub fn get(&self, id: u64) -> Option<Arc<LocalObject>> {
        let objects = self.objects();
        let exported = objects.get(&id)?;
        exported
            .alive(Instant::now())
            .then(|| exported.object.clone())
    }

    /// `dirty`: `holder` leases `ids` (each with the token of the copy it received, or 0
    /// on a renewal), by its lease message number `seq`. The ids it cannot lease: not
    /// here (collected, never exported), or over the bound on holders.
    pub fn dirty(&self, holder: u64, seq: u64, ids: &[(u64, u64)]) -> Vec<u64> {
        let now = Instant::now();
        let until = now + self.limits.lease;
        let mut objects = self.objects();
        let mut refused = Vec::new();
        for &(id, token) in ids {
            let Some(exported) = objects.get_mut(&id).filter(|e| e.alive(now)) else {
                refused.push(id);
                continue;
            };
            exported.transit.retain(|&(t, _)| t != token || token == 0);
            let holders = exported.holders();
            match exported.leases.entry(holder) {
                MapEntry::Occupied(mut held) => {
                    let lease = held.get_mut();
                    if seq > lease.seq {
                        *lease = Lease {
                            until,
                            released: false,
                            seq,
                        };
                    }
                }
                MapEntry::Vacant(_) if holders >= self.limits.max_holders => refused.push(id),
                MapEntry::Vacant(free) => {
                    free.insert(Lease {
                        until,
                        released: false,
                        seq,
                    });
                }
            }
        }
        refused
    }

    /// `clean`: `holder` releases `ids`, by its lease message number `seq`; objects
    /// left with no lease and no copy in transit are collected at once.
    pub fn clean(&self, holder: u64, seq: u64, ids: &[u64]) {
        let now = Instant::now();
        let mut collected = Vec::new();
        {
            let mut objects = self.objects();
            let until = now + self.limits.lease;
            for id in ids {
                let Some(exported) = objects.get_mut(id) else {
                    continue;
                };
                if let Some(lease) = exported.leases.get_mut(&holder)
                    && seq > lease.seq
                {
                    *lease = Lease {
                        until,
                        released: true,
                        seq,
                    };
                }
                if !exported.alive(now)
                    && let Some(gone) = objects.remove(id)
                {
                    collected.push(gone);
                }
            }
        }
        self.collected(collected);
    }

    /// Drops expired leases, tokens and tombstones, and collects what nobody holds.
    fn sweep(&self) {
        let now = Instant::now();
        let mut collected = Vec::new();
        {
            let mut objects = self.objects();
            for exported in objects.values_mut() {
                exported.transit.retain(|&(_, until)| until > now);
                exported.leases.retain(|_, l| l.until > now);
                if exported.transit_floor.is_some_and(|f| f <= now) {
                    exported.transit_floor = None;
                }
            }
            let dead: Vec<u64> = objects
                .iter()
                .filter(|(_, e)| !e.alive(now))
                .map(|(&id, _)| id)
                .collect();
            for id in dead {
                if let Some(gone) = objects.remove(&id) {
                    collected.push(gone);
                }
            }
        }
        self.collected(collected);
    }

    /// Counts and drops collected objects, outside the table's lock (dropping a service
    /// runs the user's `Drop`).
    fn collected(&self, gone: Vec<Exported>) {
        if !gone.is_empty() {
            self.collected_total
                .fetch_add(gone.len() as u64, Ordering::Relaxed);
            tracing::debug!(objects = gone.len(), "exported objects collected");
        }
        drop(gone);
    }

    /// What the table holds now, and has done.
    pub fn stats(&self) -> ObjectStats {
        let now = Instant::now();
        let objects = self.objects();
        ObjectStats {
            exported: objects.len(),
            leases: objects
                .values()
                .map(|e| e.leases.values().filter(|l| l.holds(now)).count())
                .sum(),
            in_transit: objects.values().map(|e| e.transit.len()).sum(),
            exported_total: self.exported_total.load(Ordering::Relaxed),
            collected_total: self.collected_total.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Sweeps `table` every eighth of a lease (at least every 5 s, at most every 10 ms)
/// until it is dropped.
async fn sweep(table: Weak<ObjectTable>) {
    let every = match table.upgrade() {
        Some(t) => (t.limits.lease / 8).clamp(Duration::from_millis(10), Duration::from_secs(5)),
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        match table.upgrade() {
            Some(table) => table.sweep(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(lease_millis: u64, max_objects: usize, max_holders: usize) -> Arc<ObjectTable> {
        let limits = Limits {
            lease: Duration::from_millis(lease_millis),
            max_objects,
            max_holders,
            ..Limits::default()
        };
        ObjectTable::new(random_u64(), limits)
    }

    /// Any service will do as the exported object: the lease service of another table.
    fn object() -> Arc<LocalObject> {
        let other = table(1000, 1, 1);
        LocalObject::new(Arc::new(super::super::Dgc(other)))
    }

    #[test]
    fn a_reference_leased_then_released_is_collected_at_once() {
        let table = table(60_000, 16, 16);
        let object = object();
        let (id, token) = table.export(&object).unwrap();
        assert_eq!(
            table.export(&object).unwrap().0,
            id,
            "one id while exported"
        );
        assert_eq!(table.stats().in_transit, 2);
        assert!(table.dirty(7, 1, &[(id, token)]).is_empty());
        let (_, second) = (id, table.stats());
        assert_eq!(second.leases, 1);
        assert_eq!(second.in_transit, 1, "the other copy is still in flight");
        table.clean(7, 2, &[id]);
        assert!(table.get(id).is_some(), "a copy in transit keeps it");
        let other_token = {
            let objects = table.objects();
            objects[&id].transit[0].0
        };
        assert!(table.dirty(8, 3, &[(id, other_token)]).is_empty());
        table.clean(8, 4, &[id]);
        assert!(table.get(id).is_none());
        let stats = table.stats();
        assert_eq!((stats.exported, stats.collected_total), (0, 1));
    }

    #[test]
    fn lease_messages_older_than_the_last_applied_change_nothing() {
        let table = table(60_000, 16, 16);
        let object = object();
        let (id, token) = table.export(&object).unwrap();
        assert!(table.dirty(7, 5, &[(id, token)]).is_empty());
        // A clean sent before that dirty, delivered after it.
        table.clean(7, 3, &[id]);
        assert_eq!(table.stats().leases, 1, "an older clean does not release");
        table.clean(7, 6, &[id]);
        assert!(table.get(id).is_none(), "collected");
        // A late duplicate of the dirty cannot bring it back.
        assert_eq!(table.dirty(7, 5, &[(id, 0)]), vec![id]);
        assert!(table.get(id).is_none());
    }

    #[test]
    fn a_tombstone_stops_a_late_dirty_while_others_hold_the_object() {
        let table = table(60_000, 16, 16);
        let object = object();
        let (id, token) = table.export(&object).unwrap();
        table.dirty(1, 10, &[(id, token)]);
        let (_, token) = table.export(&object).unwrap();
        table.dirty(2, 11, &[(id, token)]);
        table.clean(1, 12, &[id]);
        table.dirty(1, 10, &[(id, 0)]); // the late copy of holder 1's first dirty
        assert_eq!(table.stats().leases, 1, "only holder 2 holds it");
    }

    #[test]
    fn unleased_copies_and_expired_leases_run_out() {
        let table = table(40, 16, 16);
        let lost = table.export(&object()).unwrap().0; // its message was lost
        let leased = {
            let object = object();
            let (id, token) = table.export(&object).unwrap();
            table.dirty(3, 1, &[(id, token)]);
            id
        };
        assert_eq!(table.stats().exported, 2);
        std::thread::sleep(Duration::from_millis(100));
        table.sweep();
        assert!(table.get(lost).is_none());
        assert!(table.get(leased).is_none(), "its holder stopped renewing");
        assert_eq!(table.stats().exported, 0);
    }

    #[test]
    fn the_table_and_each_object_are_bounded() {
        let table = table(60_000, 3, 2);
        let objects: Vec<_> = (0..3).map(|_| object()).collect();
        let copies: Vec<(u64, u64)> = objects.iter().map(|o| table.export(o).unwrap()).collect();
        assert!(matches!(table.export(&object()), Err(ExportError::Full(3))));
        assert_eq!(table.stats().refused, 1);
        // Holders of one object (copies in transit count): the holders of its two
        // copies; a third holder is refused.
        let (id, first) = copies[0];
        let (_, second) = table.export(&objects[0]).unwrap();
        assert!(table.dirty(1, 1, &[(id, first)]).is_empty());
        assert!(table.dirty(2, 2, &[(id, second)]).is_empty());
        assert_eq!(table.dirty(3, 3, &[(id, 0)]), vec![id]);
        // Copies beyond the bound still keep it alive, without a token each.
        for _ in 0..100 {
            table.export(&objects[0]).unwrap();
        }
        assert!(table.stats().in_transit <= 2);
        // Leases of objects never exported are refused, and cost nothing.
        let forged: Vec<(u64, u64)> = (1..=1000).map(|i| (i, 0)).collect();
        assert_eq!(table.dirty(9, 9, &forged).len(), 1000);
        assert_eq!(table.stats().exported, 3);
    }
}
