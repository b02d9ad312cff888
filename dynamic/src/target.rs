//! Where dynamic calls go: one server by address, or the servers a binder names.

use std::sync::Arc;

use rpc_runtime::{Channel, ChannelConfig, Client, InterfaceSpec, Resolver};

/// The server (or servers) behind a [`DynamicClient`](crate::DynamicClient) or the
/// gateway.
#[derive(Clone)]
pub enum Target {
    /// One server, through one channel shared by every interface called (it connects on
    /// the first call).
    Channel(Channel),
    /// The exports of `name` in a binder, looked up on the first call, spread over and
    /// rebound as for any bound client.
    Bound {
        /// The binder.
        resolver: Arc<dyn Resolver>,
        /// The exported name.
        name: String,
        /// How calls to the exports behave.
        config: ChannelConfig,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Channel(channel) => write!(f, "Target::Channel({})", channel.address()),
            Target::Bound { name, .. } => write!(f, "Target::Bound({name})"),
        }
    }
}

impl Target {
    /// The server at `address`, reached as `config` says (TCP, UDP or a Unix socket's
    /// path), connecting on the first call.
    pub fn address(address: impl Into<String>, config: ChannelConfig) -> Target {
        Target::Channel(Channel::lazy(address, config))
    }

    /// A runtime client of `spec` on this target.
    pub fn client(&self, spec: &'static InterfaceSpec) -> Client {
        match self {
            Target::Channel(channel) => Client::new(channel.clone(), spec),
            Target::Bound {
                resolver,
                name,
                config,
            } => Client::bound(resolver.clone(), name.clone(), spec, config.clone()),
        }
    }
}
