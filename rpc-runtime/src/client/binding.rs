//! Binding a client to a service by name, through a binder, and binding again when the
//! server it used goes away.
//!
//! A [`Resolver`] (a binder) maps a name to the live exports of that name: address,
//! transport, the exporting server's binding uid, and the interface fingerprint. A
//! client made with [`Client::bound`](super::Client::bound) looks the name up on its first
//! call and keeps the answer; calls go round the exports in turn, each request carrying
//! the uid of the server it is sent to. When a server refuses the uid (it restarted: a new
//! incarnation has a new uid) or cannot be reached, its export is forgotten and the name
//! is looked up again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use super::{Channel, ChannelConfig, Transport};
use crate::error::{CallError, Outcome};
use crate::spec::InterfaceSpec;

/// One live export of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where the server listens (`host:port`, or a path for Unix sockets).
    pub address: String,
    /// How to reach it.
    pub transport: Transport,
    /// The exporting server incarnation's binding uid.
    pub binding: u64,
    /// The fingerprint of the interface the server implements.
    pub fingerprint: u64,
}

/// Something that maps a name to its live exports: a binder.
pub trait Resolver: Send + Sync + 'static {
    /// The live exports of `name`; empty when there are none (that is not an error).
    fn resolve<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Endpoint>, ResolveError>> + Send + 'a>>;
}

/// Why a [`Resolver`] could not look a name up. A client that gets one fails the call
/// with [`CallError::Unbound`], saying why: nothing was sent.
///
/// `#[non_exhaustive]`: resolvers of other kinds (multicast discovery) may fail in ways
/// of their own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The binder is itself an rpcgen service, and the call to it failed: it is down,
    /// unreachable, or refused the call. The call's error is the source.
    #[error("the call to the binder failed")]
    Call(#[source] CallError),
    /// The binder's store failed (e.g. etcd), in its own words.
    #[error("the binder failed: {0}")]
    Store(String),
}

/// `error` and its sources, each after a colon: what a one-line message needs.
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A client's binding: the name, the exports last looked up, and their channels.
pub(crate) struct Binding {
    resolver: Arc<dyn Resolver>,
    name: String,
    interface: &'static InterfaceSpec,
    config: ChannelConfig,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    exports: Vec<(Endpoint, Channel)>,
    next: usize,
    /// When the name was last looked up (or a lookup failed).
    looked_up: Option<Instant>,
    /// Whether a lookup runs in the background now.
    refreshing: bool,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Binding {
    pub fn new(
        resolver: Arc<dyn Resolver>,
        name: String,
        interface: &'static InterfaceSpec,
        config: ChannelConfig,
    ) -> Binding {
        Binding {
            resolver,
            name,
            interface,
            config,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// The configuration of the channels to the exports.
    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// The next export to call, looking the name up if none is known, and again in the
    /// background when the last lookup is older than the configuration's refresh.
    pub async fn pick<E>(self: &Arc<Self>) -> Result<(Channel, u64), CallError<E>> {
        let mut state = self.state.lock().await;
        let stale = state
            .looked_up
            .is_none_or(|at| at.elapsed() >= self.config.refresh);
        if !state.exports.is_empty() && stale && !state.refreshing {
            state.refreshing = true;
            let binding = self.clone();
            tokio::spawn(async move { binding.refresh().await });
        }
        if state.exports.is_empty() {
            state.looked_up = Some(Instant::now());
            let found = self.resolver.resolve(&self.name).await.map_err(|e| {
                CallError::Unbound(format!("looking up `{}`: {}", self.name, with_sources(&e)))
            })?;
            let total = found.len();
            let wrong: Vec<u64> = found
                .iter()
                .filter(|e| e.fingerprint != self.interface.fingerprint)
                .map(|e| e.fingerprint)
                .collect();
            state.exports = self.keep(Vec::new(), found);
            if state.exports.is_empty() {
                return Err(CallError::Unbound(match wrong.first() {
                    Some(&theirs) => other_version(
                        &format!("the {total} server(s) exporting `{}`", self.name),
                        self.interface,
                        theirs,
                    ),
                    None => format!("no server exports `{}`", self.name),
                }));
            }
        }
        let i = state.next % state.exports.len();
        state.next = state.next.wrapping_add(1);
        let (endpoint, channel) = &state.exports[i];
        Ok((channel.clone(), endpoint.binding))
    }

    /// Looks the name up again: the exports found replace those known, keeping the
    /// channels of those still there; if the lookup fails, what was known stays.
    async fn refresh(&self) {
        let found = self.resolver.resolve(&self.name).await;
        let mut state = self.state.lock().await;
        state.refreshing = false;
        state.looked_up = Some(Instant::now());
        match found {
            Ok(found) => {
                let known = std::mem::take(&mut state.exports);
                state.exports = self.keep(known, found);
            }
            Err(e) => tracing::debug!(
                "looking up `{}` again: {}; keeping the servers known",
                self.name,
                with_sources(&e)
            ),
        }
    }

    /// The exports of `found` that implement this interface, each with its channel in
    /// `known` if it has one there, or a new one.
    fn keep(
        &self,
        mut known: Vec<(Endpoint, Channel)>,
        found: Vec<Endpoint>,
    ) -> Vec<(Endpoint, Channel)> {
        found
            .into_iter()
            .filter(|e| e.fingerprint == self.interface.fingerprint)
            .map(|endpoint| {
                match known.iter().position(|(k, _)| {
                    k.binding == endpoint.binding && k.address == endpoint.address
                }) {
                    Some(i) => known.swap_remove(i),
                    None => {
                        let config = ChannelConfig {
                            transport: endpoint.transport,
                            ..self.config.clone()
                        };
                        let channel = Channel::lazy(endpoint.address.clone(), config);
                        (endpoint, channel)
                    }
                }
            })
            .collect()
    }

    /// Forgets the export with `binding` (refused or unreachable); when none is left, the
    /// next call looks the name up again.
    pub async fn forget(&self, binding: u64) {
        self.state
            .lock()
            .await
            .exports
            .retain(|(e, _)| e.binding != binding);
    }
}

/// Why servers were left out: `who` implement another version of `interface` (their
/// fingerprint `theirs`).
pub(crate) fn other_version(who: &str, interface: &InterfaceSpec, theirs: u64) -> String {
    format!(
        "{who} implement another version of {} (fingerprint {theirs:#018x}; this client's is {:#018x}): regenerate from the same IDL",
        interface.name, interface.fingerprint
    )
}

/// The error when a call that may have run on a server now gone cannot be sent again.
pub(crate) fn lost_with_server<E>(name: &str) -> CallError<E> {
    CallError::connection(
        format!("the server of `{name}` went away during the call; it may have run there"),
        Outcome::Unknown,
    )
}
