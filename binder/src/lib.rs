//! The binder: how clients find servers by name, and notice when a server restarted.
//!
//! A server *exports* its name, address and binding uid (new at every start) with a
//! lease it keeps renewing; a client looks the name up once and keeps the answer. Every
//! request carries the uid of the server it is meant for, so a restarted server (new uid)
//! refuses requests meant for its predecessor, and the client looks the name up again
//! ([`rpc_runtime::Client::bound`]). An export whose server died disappears when its lease
//! runs out.
//!
//! Four backends behind one handle, [`Binder`]:
//!
//! - **embedded** ([`Binder::embedded`]): a table in this process — the default, nothing to
//!   set up; servers and clients of one process find each other;
//! - **daemon** ([`Binder::daemon`]): the `rpc-binder` program, shared by the processes
//!   of one machine (`cargo run -p rpc-binder -- 127.0.0.1:7700`);
//! - **etcd** (`Binder::etcd`, feature `etcd`): an etcd cluster, for servers spread over
//!   machines; exports are keys attached to etcd leases kept alive by the exporter;
//! - **multicast** ([`Binder::multicast`], module [`multicast`]): no binder process at
//!   all; exports are announced to an IP multicast group of the local network, every
//!   binder caches what it hears and queries the group for names it has not heard of.
//!
//! The binder is itself an rpcgen service: [`proto`] is generated from
//! `binder/idl/binder.idl` by this crate's build script.
//!
//! # Examples
//!
//! ```no_run
//! # async fn example(server: rpc_runtime::ServerHandle) -> Result<(), Box<dyn std::error::Error>> {
//! # mod bank_interface {
//! #     pub const FINGERPRINT: u64 = 0x1234;
//! #     pub static SPEC: rpc_runtime::InterfaceSpec = rpc_runtime::InterfaceSpec {
//! #         name: "bank.Bank", fingerprint: FINGERPRINT, object: 1, methods: &[],
//! #     };
//! # }
//! use std::sync::Arc;
//! use rpc_binder::Binder;
//!
//! let binder = Binder::embedded();
//! // Server side: export (the handle knows its address and transport), and keep the
//! // lease renewed while `exported` lives. `bank_interface` is generated from bank.idl.
//! let exported = binder.export("bank", &server, bank_interface::FINGERPRINT).await?;
//! // Client side: a runtime client bound by name; wrap it in a generated client with
//! // `BankClient::from_client`.
//! let client = rpc_runtime::Client::bound(
//!     Arc::new(binder.clone()),
//!     "bank",
//!     &bank_interface::SPEC,
//!     rpc_runtime::ChannelConfig::default(),
//! );
//! # drop((exported, client));
//! # Ok(()) }
//! ```

pub mod daemon;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod multicast;
mod registry;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use multicast::{MulticastBinder, MulticastConfig};
pub use registry::Registry;
use rpc_runtime::{CallError, Channel, Endpoint, ResolveError, Resolver, ServerHandle, Transport};

/// The binder's stubs, generated from `idl/binder.idl`.
pub mod proto {
    rpc_runtime::include_idl!("binder");
}

/// How long an export lives without renewal; it is renewed every third of that.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);

/// A binder: embedded in this process, the `rpc-binder` daemon, etcd, or multicast
/// discovery.
#[derive(Debug, Clone)]
pub enum Binder {
    /// A table in this process.
    Embedded(Arc<Registry>),
    /// The `rpc-binder` daemon, through its generated client.
    Daemon(proto::BinderClient),
    /// An etcd cluster (feature `etcd`).
    #[cfg(feature = "etcd")]
    Etcd(Box<etcd::EtcdBinder>),
    /// Multicast discovery on the local network: no binder process.
    Multicast(Arc<MulticastBinder>),
}

impl Binder {
    /// This process's binder (one table per process, shared by every caller).
    pub fn embedded() -> Binder {
        static TABLE: OnceLock<Arc<Registry>> = OnceLock::new();
        Binder::Embedded(TABLE.get_or_init(|| Arc::new(Registry::new())).clone())
    }

    /// The daemon listening at `address`.
    pub async fn daemon(address: impl Into<String>) -> Result<Binder, rpc_runtime::ConnectError> {
        Ok(Binder::Daemon(proto::BinderClient::new(
            Channel::connect(address).await?,
        )))
    }

    /// The etcd cluster at `endpoints` (feature `etcd`).
    #[cfg(feature = "etcd")]
    pub async fn etcd(endpoints: &[&str]) -> Result<Binder, String> {
        Ok(Binder::Etcd(Box::new(
            etcd::EtcdBinder::connect(endpoints).await?,
        )))
    }

    /// A binder of its own that finds exports by multicast ([`multicast`]): it joins
    /// `config.group` and starts listening (a task on the current tokio runtime, stopped
    /// when the last clone of the binder and of its exports is dropped).
    ///
    /// Fails if the group's socket cannot be made: the port is taken by a socket without
    /// `SO_REUSEPORT`, or the group cannot be joined on `config.interface` (no multicast
    /// route). Exports made through it use `config.lease` rather than [`DEFAULT_LEASE`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// use rpc_binder::{Binder, MulticastConfig};
    ///
    /// let binder = Binder::multicast(MulticastConfig::default()).await?;
    /// let found = rpc_runtime::Resolver::resolve(&binder, "bank").await;
    /// # drop(found);
    /// # Ok(()) }
    /// ```
    pub async fn multicast(config: MulticastConfig) -> std::io::Result<Binder> {
        Ok(Binder::Multicast(Arc::new(MulticastBinder::start(config)?)))
    }

    /// The binder a command line names: `etcd://host:port` for etcd (with the `etcd`
    /// feature), `multicast://GROUP:PORT` for multicast discovery on that group (the rest
    /// of [`MulticastConfig`] at its defaults), otherwise the daemon at `host:port`.
    pub async fn from_spec(spec: &str) -> Result<Binder, String> {
        if let Some(group) = spec.strip_prefix("multicast://") {
            let group = group
                .parse()
                .map_err(|e| format!("{spec}: not a multicast group `ADDRESS:PORT`: {e}"))?;
            let config = MulticastConfig {
                group,
                ..MulticastConfig::default()
            };
            return Binder::multicast(config)
                .await
                .map_err(|e| format!("{spec}: {e}"));
        }
        match spec.strip_prefix("etcd://") {
            #[cfg(feature = "etcd")]
            Some(endpoint) => Binder::etcd(&[endpoint]).await,
            #[cfg(not(feature = "etcd"))]
            Some(_) => Err(format!(
                "{spec}: this program was built without the `etcd` feature"
            )),
            None => Binder::daemon(spec).await.map_err(|e| e.to_string()),
        }
    }

    /// Exports `server` under `name` at the address and transport it serves on (a Unix
    /// domain socket's path included), with the default lease ([`DEFAULT_LEASE`], or the
    /// multicast binder's configured lease), renewed in the background until the returned
    /// [`Exported`] is dropped or withdrawn.
    pub async fn export(
        &self,
        name: &str,
        server: &ServerHandle,
        fingerprint: u64,
    ) -> Result<Exported, CallError<proto::BinderError>> {
        let lease = match self {
            Binder::Multicast(m) => m.config().lease,
            _ => DEFAULT_LEASE,
        };
        self.export_at(
            name,
            &server.address(),
            server.uid(),
            server.transport(),
            fingerprint,
            lease,
        )
        .await
    }

    /// Exports a server at `address` with binding `uid` under `name`, with `lease`.
    ///
    /// With the multicast backend, the export is announced at once (an error if the
    /// network refuses the datagram, or if the name is over
    /// [`multicast::MAX_NAME`] bytes or the announcement over
    /// [`multicast::MAX_DATAGRAM`]), then every `min(announce_every, lease / 3)`.
    pub async fn export_at(
        &self,
        name: &str,
        address: &str,
        uid: u64,
        transport: Transport,
        fingerprint: u64,
        lease: Duration,
    ) -> Result<Exported, CallError<proto::BinderError>> {
        let export = proto::Export {
            name: name.to_string(),
            address: address.to_string(),
            transport: match transport {
                Transport::Tcp => 0,
                Transport::Udp => 1,
                Transport::Unix => 2,
                // `Transport` may grow; the binder's protocol has no code for a newer one.
                other => {
                    return Err(CallError::Protocol(format!(
                        "the binder protocol has no code for transport {other:?}"
                    )));
                }
            },
            uid,
            fingerprint,
            lease_ms: u32::try_from(lease.as_millis()).unwrap_or(u32::MAX),
        };
        let name = export.name.clone();
        let uid = match self {
            Binder::Embedded(table) => {
                table.export(export.clone()).map_err(CallError::Exception)?
            }
            Binder::Daemon(client) => client.export(&export).await?,
            // etcd keeps leases alive itself: a keep-alive stream instead of renewals.
            #[cfg(feature = "etcd")]
            Binder::Etcd(etcd) => {
                let uid = export.uid;
                let lease_id = etcd.export(&export).await.map_err(CallError::Unbound)?;
                let keeper = etcd.as_ref().clone();
                let renewal =
                    tokio::spawn(async move { keeper.keep_alive(lease_id, lease / 3).await });
                return Ok(Exported {
                    binder: self.clone(),
                    name,
                    uid,
                    lease_id,
                    renewal,
                });
            }
            // Announcements instead of renewals.
            Binder::Multicast(multicast) => {
                let uid = export.uid;
                let announce = multicast::Announce {
                    name: export.name,
                    address: export.address,
                    transport: export.transport,
                    binding: uid,
                    fingerprint: export.fingerprint,
                    lease_micros: u64::try_from(lease.as_micros()).unwrap_or(u64::MAX),
                };
                let renewal = multicast.export(announce).await.map_err(|e| match e {
                    multicast::ExportRefused::Conflict => {
                        CallError::Exception(proto::BinderError::Conflict { uid })
                    }
                    multicast::ExportRefused::Invalid(why) => CallError::Unbound(why),
                })?;
                return Ok(Exported {
                    binder: self.clone(),
                    name,
                    uid,
                    lease_id: 0,
                    renewal,
                });
            }
        };
        let binder = self.clone();
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let renewed = match &binder {
                    Binder::Embedded(table) => table.renew(uid).map_err(CallError::Exception),
                    Binder::Daemon(client) => client.renew(uid).await,
                    #[cfg(feature = "etcd")]
                    Binder::Etcd(_) => Ok(()),
                    Binder::Multicast(_) => Ok(()),
                };
                match renewed {
                    Ok(()) => {}
                    // The binder forgot the export (the daemon restarted, or the lease ran
                    // out while it was unreachable): export it again.
                    Err(CallError::Exception(proto::BinderError::UnknownExport { .. })) => {
                        let again = match &binder {
                            Binder::Embedded(table) => table
                                .export(export.clone())
                                .map(|_| ())
                                .map_err(CallError::Exception),
                            Binder::Daemon(client) => client.export(&export).await.map(|_| ()),
                            #[cfg(feature = "etcd")]
                            Binder::Etcd(_) => Ok(()),
                            Binder::Multicast(_) => Ok(()),
                        };
                        if let Err(e) = again {
                            tracing::warn!("exporting {uid:#x} again: {e}");
                        }
                    }
                    // The next renewal may get through; the lease covers two misses.
                    Err(e) => tracing::warn!("renewing export {uid:#x}: {e}"),
                }
            }
        });
        Ok(Exported {
            binder: self.clone(),
            name,
            uid,
            lease_id: 0,
            renewal,
        })
    }

    /// The live exports of `name`. (From the multicast backend, each export's `lease_ms`
    /// is the binder's configured lease, not what is left of the export's.)
    pub async fn lookup(&self, name: &str) -> Result<Vec<proto::Export>, CallError> {
        match self {
            Binder::Multicast(multicast) => {
                let found = multicast.resolve(name).await.map_err(|e| {
                    CallError::Unbound(format!(
                        "multicast discovery on {}: {e}",
                        multicast.config().group
                    ))
                })?;
                let lease_ms =
                    u32::try_from(multicast.config().lease.as_millis()).unwrap_or(u32::MAX);
                Ok(found
                    .into_iter()
                    .map(|e| proto::Export {
                        name: name.to_string(),
                        address: e.address,
                        transport: match e.transport {
                            Transport::Udp => 1,
                            Transport::Unix => 2,
                            _ => 0,
                        },
                        uid: e.binding,
                        fingerprint: e.fingerprint,
                        lease_ms,
                    })
                    .collect())
            }
            Binder::Embedded(table) => Ok(table.lookup(name)),
            Binder::Daemon(client) => client.lookup(name).await,
            #[cfg(feature = "etcd")]
            Binder::Etcd(etcd) => etcd.lookup(name).await.map_err(CallError::Unbound),
        }
    }
}

impl Resolver for Binder {
    fn resolve<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Endpoint>, ResolveError>> + Send + 'a>> {
        Box::pin(async move {
            if let Binder::Multicast(multicast) = self {
                return multicast.resolve(name).await.map_err(|e| {
                    ResolveError::Store(format!(
                        "multicast discovery on {}: {e}",
                        multicast.config().group
                    ))
                });
            }
            let exports = self.lookup(name).await.map_err(ResolveError::Call)?;
            Ok(exports
                .into_iter()
                .map(|e| Endpoint {
                    address: e.address,
                    transport: match e.transport {
                        1 => Transport::Udp,
                        2 => Transport::Unix,
                        _ => Transport::Tcp,
                    },
                    binding: e.uid,
                    fingerprint: e.fingerprint,
                })
                .collect())
        })
    }
}

/// A live export: its lease is renewed until this is dropped (then it runs out) or
/// [`Exported::withdraw`]n.
#[derive(Debug)]
pub struct Exported {
    binder: Binder,
    /// The name, for the etcd backend's key.
    #[cfg_attr(not(feature = "etcd"), allow(dead_code))]
    name: String,
    uid: u64,
    /// The etcd lease, for the etcd backend.
    #[cfg_attr(not(feature = "etcd"), allow(dead_code))]
    lease_id: i64,
    renewal: tokio::task::JoinHandle<()>,
}

impl Exported {
    /// The export's binding uid.
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// Withdraws the export now (rather than letting its lease run out). With the
    /// multicast backend, a withdrawal is announced to the group: listeners forget the
    /// export at once (those that miss the datagram, when its lease runs out).
    pub async fn withdraw(self) {
        // A multicast export is withdrawn while it is still known: stopping its announcer
        // forgets it (and then there would be nothing to withdraw).
        if let Binder::Multicast(multicast) = &self.binder {
            multicast.withdraw(self.uid).await;
        }
        self.renewal.abort();
        match &self.binder {
            Binder::Embedded(table) => table.unexport(self.uid),
            Binder::Daemon(client) => {
                let _ = client.unexport(self.uid).await;
            }
            #[cfg(feature = "etcd")]
            Binder::Etcd(etcd) => etcd.unexport(&self.name, self.uid, self.lease_id).await,
            Binder::Multicast(_) => {}
        }
    }
}

impl Drop for Exported {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}
