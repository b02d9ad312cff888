//! This process's callback table: the objects it sends in its requests (listeners,
//! progress sinks), served to the servers it sent them to over the connections it
//! opened to them. It is a server without a listener, with its own binding uid, limits
//! and sessions, started on first use.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::sync::watch;

use super::table::ObjectTable;
use crate::server::{Limits, Peer, Server, ServerConfig, Shared};

struct Callbacks {
    shared: Arc<Shared>,
    /// Never sent: the callback table serves as long as the process runs.
    stop: watch::Sender<bool>,
}

static CALLBACKS: OnceLock<Callbacks> = OnceLock::new();
static CONFIG: OnceLock<Limits> = OnceLock::new();

/// The callback table already started, so its limits can no longer change.
#[derive(Debug, thiserror::Error)]
#[error("the callback table has started: configure it before the first call that sends an object")]
pub struct AlreadyStarted;

/// Sets the bounds of this process's callback table (objects it may export, holders per
/// object, the lease it grants), before anything starts it. The defaults are
/// [`Limits::default`]'s, except that the connections it serves never idle out: they
/// last as long as the client's connections to their servers.
pub fn configure_callbacks(limits: Limits) -> Result<(), AlreadyStarted> {
    if CALLBACKS.get().is_some() {
        return Err(AlreadyStarted);
    }
    CONFIG.set(limits).map_err(|_| AlreadyStarted)
}

fn callbacks() -> &'static Callbacks {
    CALLBACKS.get_or_init(|| {
        let mut limits = CONFIG.get().copied().unwrap_or_default();
        // One pipe per connection of this process, alive as long as that connection.
        limits.idle_timeout = Duration::from_secs(10 * 365 * 24 * 3600);
        let config = ServerConfig {
            limits,
            ..ServerConfig::default()
        };
        let (stop, _) = watch::channel(false);
        Callbacks {
            shared: Server::with_config(config).into_shared(),
            stop,
        }
    })
}

/// The callback table, where a client's requests export the objects they carry.
pub(crate) fn table() -> Arc<ObjectTable> {
    callbacks().shared.objects().clone()
}

/// What the callback table holds now, and has done.
pub fn callback_stats() -> super::ObjectStats {
    callbacks().shared.objects().stats()
}

/// Serves the callback table on `stream` (one end of a socket pair), until it closes.
pub(crate) fn serve(stream: UnixStream) {
    let callbacks = callbacks();
    let (read, write) = stream.into_split();
    tokio::spawn(crate::server::serve_stream(
        read,
        write,
        Peer::Reverse,
        callbacks.shared.clone(),
        callbacks.stop.subscribe(),
    ));
}

/// Serves the callback table to the datagrams `inbox` hands over, which came from
/// `server`; answers go out through `socket` (the client's), until `inbox` closes.
pub(crate) fn serve_datagrams(
    inbox: tokio::sync::mpsc::Receiver<Vec<u8>>,
    socket: std::sync::Arc<tokio::net::UdpSocket>,
    server: std::net::SocketAddr,
) {
    tokio::spawn(crate::server::serve_relayed(
        inbox,
        socket,
        server,
        callbacks().shared.clone(),
    ));
}
