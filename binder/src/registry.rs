//! The binder's table: exports by uid, each with a lease.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::proto::{BinderError, Export};

/// Live exports. An export whose lease ran out is gone: lookups skip it and the next
/// change removes it.
#[derive(Debug, Default)]
pub struct Registry {
    exports: Mutex<HashMap<u64, (Export, Instant)>>,
}

impl Registry {
    /// An empty table.
    pub fn new() -> Registry {
        Registry::default()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Export, Instant)>> {
        let mut table = self.exports.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        table.retain(|_, (_, expires)| *expires > now);
        table
    }

    /// Registers `export` until its lease runs out.
    pub fn export(&self, export: Export) -> Result<u64, BinderError> {
        let mut table = self.table();
        let uid = export.uid;
        if let Some((existing, _)) = table.get(&uid)
            && (existing.name != export.name || existing.address != export.address)
        {
            return Err(BinderError::Conflict { uid });
        }
        let expires = Instant::now() + Duration::from_millis(u64::from(export.lease_ms));
        table.insert(uid, (export, expires));
        Ok(uid)
    }

    /// Extends export `uid`'s lease by its length.
    pub fn renew(&self, uid: u64) -> Result<(), BinderError> {
        let mut table = self.table();
        let (export, expires) = table
            .get_mut(&uid)
            .ok_or(BinderError::UnknownExport { uid })?;
        *expires = Instant::now() + Duration::from_millis(u64::from(export.lease_ms));
        Ok(())
    }

    /// Withdraws export `uid`.
    pub fn unexport(&self, uid: u64) {
        self.table().remove(&uid);
    }

    /// The live exports of `name`, oldest uid first.
    pub fn lookup(&self, name: &str) -> Vec<Export> {
        let mut found: Vec<Export> = self
            .table()
            .values()
            .filter(|(e, _)| e.name == name)
            .map(|(e, _)| e.clone())
            .collect();
        found.sort_by_key(|e| e.uid);
        found
    }

    /// Every live export.
    pub fn list(&self) -> Vec<Export> {
        let mut all: Vec<Export> = self.table().values().map(|(e, _)| e.clone()).collect();
        all.sort_by(|a, b| (&a.name, a.uid).cmp(&(&b.name, b.uid)));
        all
    }
}

/// The registry served as the `Binder` interface (what the daemon runs).
impl crate::proto::Binder for std::sync::Arc<Registry> {
    async fn export(&self, export: Export) -> Result<u64, BinderError> {
        Registry::export(self, export)
    }

    async fn renew(&self, uid: u64) -> Result<(), BinderError> {
        Registry::renew(self, uid)
    }

    async fn unexport(&self, uid: u64) {
        Registry::unexport(self, uid)
    }

    async fn lookup(&self, name: String) -> Vec<Export> {
        Registry::lookup(self, &name)
    }

    async fn list(&self) -> Vec<Export> {
        Registry::list(self)
    }
}
