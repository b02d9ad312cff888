//! The etcd backend: exports as keys of an etcd cluster, for servers spread over
//! machines.
//!
//! An export is the key `rpcgen/exports/<name>/<uid as 16 hex digits>`, its value the
//! postcard encoding of [`Export`] (the same bytes the binder protocol carries), attached
//! to an etcd lease of the export's length. The exporting process keeps the lease alive;
//! when it dies, etcd deletes the key when the lease runs out. A lookup is a prefix read.

use crate::proto::Export;
use rpc_runtime::wire::{Payload, decode};

/// Keys of exports start with this.
pub const PREFIX: &str = "rpcgen/exports/";

/// A connection to an etcd cluster.
#[derive(Clone)]
pub struct EtcdBinder {
    client: etcd_client::Client,
}

impl std::fmt::Debug for EtcdBinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBinder").finish_non_exhaustive()
    }
}

fn key(name: &str, uid: u64) -> String {
    format!("{PREFIX}{name}/{uid:016x}")
}

impl EtcdBinder {
    /// Connects to the etcd endpoints (`host:port`).
    pub async fn connect(endpoints: &[&str]) -> Result<EtcdBinder, String> {
        let client = etcd_client::Client::connect(endpoints, None)
            .await
            .map_err(|e| format!("connecting to etcd at {endpoints:?}: {e}"))?;
        Ok(EtcdBinder { client })
    }

    /// Writes `export` under a lease of its length; returns the lease id.
    pub(crate) async fn export(&self, export: &Export) -> Result<i64, String> {
        let mut client = self.client.clone();
        let ttl = i64::from(export.lease_ms.div_ceil(1000).max(1));
        let lease = client
            .lease_grant(ttl, None)
            .await
            .map_err(|e| format!("etcd lease: {e}"))?
            .id();
        let value = Payload::encode(export)
            .map_err(|e| e.to_string())?
            .bytes()
            .to_vec();
        let options = etcd_client::PutOptions::new().with_lease(lease);
        client
            .put(key(&export.name, export.uid), value, Some(options))
            .await
            .map_err(|e| format!("etcd put: {e}"))?;
        Ok(lease)
    }

    /// Keeps `lease` alive, one keep-alive every `period`, until the task is stopped.
    pub(crate) async fn keep_alive(&self, lease: i64, period: std::time::Duration) {
        let mut client = self.client.clone();
        loop {
            match client.lease_keep_alive(lease).await {
                Ok((mut keeper, mut responses)) => loop {
                    if keeper.keep_alive().await.is_err() || responses.message().await.is_err() {
                        break;
                    }
                    tokio::time::sleep(period).await;
                },
                Err(e) => tracing::warn!("etcd keep-alive of lease {lease:#x}: {e}"),
            }
            tokio::time::sleep(period).await;
        }
    }

    /// Deletes an export and its lease.
    pub(crate) async fn unexport(&self, name: &str, uid: u64, lease: i64) {
        let mut client = self.client.clone();
        let _ = client.delete(key(name, uid), None).await;
        let _ = client.lease_revoke(lease).await;
    }

    /// The live exports of `name`.
    pub async fn lookup(&self, name: &str) -> Result<Vec<Export>, String> {
        let mut client = self.client.clone();
        let options = etcd_client::GetOptions::new().with_prefix();
        let found = client
            .get(format!("{PREFIX}{name}/"), Some(options))
            .await
            .map_err(|e| format!("etcd get: {e}"))?;
        found
            .kvs()
            .iter()
            .map(|kv| decode::<Export>(kv.value(), "export").map_err(|e| e.to_string()))
            .collect()
    }
}
