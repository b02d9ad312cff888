//! The serving side: a [`Server`] accepts connections and dispatches each request to the
//! [`Service`] registered for its object.
//!
//! Two modes, as in the textbook: **concurrent** (a task per request, at most
//! `max_in_flight` at once) and **sequential** (the "iterative server": one call at a time
//! across all connections, in arrival order per connection). A panicking handler costs
//! one [`Reply::Fault`]; the server keeps serving.
//!
//! Everything a peer can make the server hold is bounded by [`Limits`]; at-most-once
//! calls are filtered per client session (`session/`).

mod answer;
mod catch_unwind;
mod connection;
mod context;
mod datagram;
mod dispatch;
mod handshake;
mod limits;
mod mailbox;
mod reply_sink;
mod running;
mod service;
mod session;

pub(crate) use connection::serve as serve_stream;
pub(crate) use context::inherited;
pub use context::{CallContext, Peer, context, invocation};
pub(crate) use datagram::serve_relayed;
pub use limits::Limits;
pub use mailbox::{DEFAULT_MAILBOX_CAPACITY, Mailbox, Request, Requests, mailbox};
pub use running::KillReason;
pub use service::{Reply, Service};
pub use session::SessionStats;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::id::random_u64;

/// The invocation id of a call: the caller's session, the slot the call occupies and
/// its number in that slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Invocation {
    /// The calling channel's session (0 for a call made outside a session).
    pub session: u64,
    /// The slot of the session.
    pub slot: u32,
    /// The call's sequence number in its slot.
    pub seq: u64,
}

/// How many calls run at once.
///
/// `#[non_exhaustive]`: other dispatch modes may come (a thread pool, per-client order), so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Concurrency {
    /// A task per request, at most this many running; further requests wait.
    Concurrent {
        /// The bound.
        max_in_flight: usize,
    },
    /// One call at a time across the whole server.
    Sequential,
}

/// How a server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Concurrent or sequential.
    pub concurrency: Concurrency,
    /// How long [`ServerHandle::shutdown`] waits for running calls.
    pub shutdown_grace: Duration,
    /// Every bound on what peers can make the server hold.
    pub limits: Limits,
    /// What a new epoch of a client identity does to that identity's calls of older
    /// epochs.
    pub reincarnation: Reincarnation,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            concurrency: Concurrency::Concurrent {
                max_in_flight: 1024,
            },
            shutdown_grace: Duration::from_secs(10),
            limits: Limits::default(),
            reincarnation: Reincarnation::Gentle,
        }
    }
}

/// What a server does when a client identity announces a new epoch (it restarted):
/// which of the identity's calls from older epochs, orphans or not, it stops.
///
/// `#[non_exhaustive]`: other rules may come, so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Reincarnation {
    /// Nothing: older epochs' calls run to their end.
    Off,
    /// Reincarnation: every one of them.
    Strict,
    /// Gentle reincarnation: those whose client cannot be found (see
    /// [`Limits::owner_silence`]); a client of an older epoch that is still connected
    /// keeps its calls.
    #[default]
    Gentle,
}

/// What every connection of a server shares.
pub(crate) struct Shared {
    config: ServerConfig,
    uid: u64,
    /// By object id; ids are this server's choice, so an unkeyed hash is safe.
    services: FxHashMap<u64, Arc<dyn Service>>,
    permits: Arc<Semaphore>,
    sessions: session::Sessions,
    /// When this incarnation started (its uptime goes with `BadSession` refusals).
    started: std::time::Instant,
    /// Bytes of large frames being read, over all connections ([`Limits::read_budget`]).
    read_budget: Arc<Semaphore>,
    counters: Counters,
    /// The calls running as tasks, so that they can be stopped.
    running: Arc<running::Running>,
    /// The objects this server exports (references it sent), with their leases.
    objects: Arc<crate::objects::table::ObjectTable>,
    /// Where the Replies to callbacks from each datagram peer go.
    datagram_ways: crate::objects::reverse::DatagramWays,
}

impl Shared {
    /// The objects this server exports.
    pub(crate) fn objects(&self) -> &Arc<crate::objects::table::ObjectTable> {
        &self.objects
    }

    /// Where the Replies to callbacks from each datagram peer go.
    pub(crate) fn datagram_ways(&self) -> &crate::objects::reverse::DatagramWays {
        &self.datagram_ways
    }

    /// The link that calls back the objects of session `session`'s client, made on
    /// first use; None if the session is not held.
    pub(crate) fn callback_link(
        &self,
        session: u64,
    ) -> Option<Arc<crate::objects::reverse::ReverseLink>> {
        self.sessions.callback_link(session, || {
            crate::objects::reverse::ReverseLink::new(self.objects.clone(), session)
        })
    }

    /// Session `session` announced `client`'s identity and epoch: when the epoch is new,
    /// stops that identity's calls of older epochs as [`ServerConfig::reincarnation`]
    /// says.
    pub(crate) fn new_epoch(
        &self,
        session: u64,
        client: &crate::wire::handshake::ClientEpoch,
        now: std::time::Instant,
    ) {
        let key = self.sessions.identity_key(&client.identity);
        let epoch = client.epoch;
        if !self.sessions.announce(session, key, epoch) {
            return;
        }
        let doomed: Vec<u64> = match self.config.reincarnation {
            Reincarnation::Off => return,
            Reincarnation::Strict => self.running.sessions_before(key, epoch),
            Reincarnation::Gentle => self
                .running
                .sessions_before(key, epoch)
                .into_iter()
                .filter(|&s| self.sessions.owner_gone(s, now))
                .collect(),
        };
        if doomed.is_empty() {
            return;
        }
        let stopped = self.running.stop_where(
            |session, (k, e)| k == key && e < epoch && doomed.contains(&session),
            running::KillReason::Reincarnation,
        );
        tracing::info!(
            epoch,
            killed = stopped.killed,
            uncancellable = stopped.uncancellable,
            "a client identity started a new epoch: its orphans were stopped"
        );
    }

    /// The payload of a `BadSession` refusal of `session`.
    pub(crate) fn session_unknown(&self, session: u64) -> crate::wire::Payload {
        let unknown = crate::wire::handshake::SessionUnknown {
            forgotten: session != 0 && self.sessions.opened_here(session),
            uptime_micros: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
        };
        crate::wire::Payload::of(&unknown)
    }
}

/// Event counts, updated as calls arrive and run.
#[derive(Debug, Default)]
struct Counters {
    executions: AtomicU64,
    duplicates: AtomicU64,
    resent: AtomicU64,
    refused_sessionless: AtomicU64,
    forged: AtomicU64,
    connections: AtomicU64,
    connections_refused: AtomicU64,
    connections_timed_out: AtomicU64,
}

/// What a server has done, for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Calls run (every semantics; an at-least-once call received twice counts twice).
    pub executions: u64,
    /// At-most-once and oneway requests dropped as duplicates of a running or finished
    /// call, or as older than their slot's last call.
    pub duplicates_filtered: u64,
    /// Stored replies sent again for duplicates of finished calls.
    pub replies_resent: u64,
    /// At-most-once and oneway requests refused (or, oneway, dropped) because they named
    /// no session the server holds.
    pub refused_sessionless: u64,
    /// Datagrams dropped because their session tag was wrong.
    pub forged: u64,
    /// Stream connections open now.
    pub connections: u64,
    /// Connections closed at once because [`Limits::max_connections`] were open.
    pub connections_refused: u64,
    /// Connections closed for idling or stalling ([`Limits::idle_timeout`],
    /// [`Limits::frame_timeout`]) or for not reading their replies.
    pub connections_timed_out: u64,
    /// The sessions and their stored replies.
    pub sessions: SessionStats,
    /// The objects exported (references sent) and their leases.
    pub objects: crate::objects::ObjectStats,
    /// Calls stopped before they finished, by reason.
    pub killed: KilledStats,
}

/// Calls a server stopped before they finished, by reason (see [`KillReason`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KilledStats {
    /// Cancelled by their client.
    pub cancelled: u64,
    /// Past their deadline.
    pub deadline: u64,
    /// Expired: their client was not heard from within their quantum.
    pub expired: u64,
    /// Orphans stopped at their restarted client's request (extermination).
    pub exterminated: u64,
    /// Orphans of an older epoch of their client's identity (reincarnation).
    pub reincarnation: u64,
}

/// A server being set up: register services, then serve.
///
/// # Examples
///
/// ```no_run
/// # async fn example(service: impl rpc_runtime::Service) -> std::io::Result<()> {
/// let server = rpc_runtime::Server::new().add_service(service).bind("127.0.0.1:0").await?;
/// println!("serving on {}", server.local_addr());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Server {
    config: ServerConfig,
    services: FxHashMap<u64, Arc<dyn Service>>,
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

impl Server {
    /// A server with the default configuration and no services.
    pub fn new() -> Server {
        Server::with_config(ServerConfig::default())
    }

    /// A server with `config` and no services.
    pub fn with_config(config: ServerConfig) -> Server {
        Server {
            config,
            services: FxHashMap::default(),
        }
    }

    /// Serves `service` at its interface's well-known object id.
    pub fn add_service(self, service: impl Service) -> Server {
        let object = service.spec().object;
        self.add_object(object, service)
    }

    /// Serves `service` at object id `object` (replacing what was there).
    pub fn add_object(mut self, object: u64, service: impl Service) -> Server {
        self.services.insert(object, Arc::new(service));
        self
    }

    /// Listens on `address` and serves in the background until shut down.
    pub async fn bind(self, address: impl ToSocketAddrs) -> std::io::Result<ServerHandle> {
        let listener = TcpListener::bind(address).await?;
        self.serve(listener)
    }

    /// Serves connections from `listener` in the background until shut down.
    pub fn serve(self, listener: TcpListener) -> std::io::Result<ServerHandle> {
        let local_addr = listener.local_addr()?;
        let listening = Listening::Tcp(local_addr);
        Ok(self.start(listening, |shared, stopped| {
            tokio::spawn(accept_loop(listener, shared, stopped))
        }))
    }

    /// Listens on a Unix domain socket at `path` (which must not exist yet) and serves in
    /// the background until shut down. Clients connect to the path
    /// ([`Channel::connect_unix`](crate::Channel::connect_unix)); it is the handle's
    /// [`address`](ServerHandle::address).
    pub fn bind_unix(self, path: impl AsRef<std::path::Path>) -> std::io::Result<ServerHandle> {
        let path = path.as_ref();
        let listener = tokio::net::UnixListener::bind(path)?;
        let listening = Listening::Unix(path.to_path_buf());
        Ok(self.start(listening, |shared, stopped| {
            tokio::spawn(accept_loop(listener, shared, stopped))
        }))
    }

    /// Binds a UDP socket at `address` and serves datagrams on it in the background
    /// until shut down. One socket serves every client; a request or reply too large for
    /// a datagram is refused (use TCP for those).
    pub async fn bind_udp(self, address: impl ToSocketAddrs) -> std::io::Result<ServerHandle> {
        let socket = Arc::new(tokio::net::UdpSocket::bind(address).await?);
        let listening = Listening::Udp(socket.local_addr()?);
        Ok(self.start(listening, |shared, stopped| {
            tokio::spawn(datagram::serve(socket, shared, stopped))
        }))
    }

    /// Builds the shared state and starts the transport's task.
    fn start(
        self,
        listening: Listening,
        run: impl FnOnce(Arc<Shared>, watch::Receiver<bool>) -> tokio::task::JoinHandle<()>,
    ) -> ServerHandle {
        let shared = self.into_shared();
        let permits = shared.permits.available_permits();
        let (stop, stopped) = watch::channel(false);
        let task = run(shared.clone(), stopped);
        ServerHandle {
            listening,
            shared,
            permits,
            stop,
            task,
        }
    }

    /// The state every connection of the server shares, with its object table and the
    /// lease service on it.
    pub(crate) fn into_shared(mut self) -> Arc<Shared> {
        let uid = random_u64();
        let objects = crate::objects::table::ObjectTable::new(uid, self.config.limits);
        let dgc = crate::objects::Dgc(objects.clone());
        self.services
            .insert(crate::Service::spec(&dgc).object, Arc::new(dgc));
        let permits = match self.config.concurrency {
            Concurrency::Concurrent { max_in_flight } => {
                max_in_flight.clamp(1, Semaphore::MAX_PERMITS)
            }
            Concurrency::Sequential => 1,
        };
        Arc::new(Shared {
            uid,
            objects,
            services: self.services,
            permits: Arc::new(Semaphore::new(permits)),
            sessions: session::Sessions::new(self.config.limits),
            started: std::time::Instant::now(),
            read_budget: Arc::new(Semaphore::new(
                // At least one largest frame, or such a frame could never be read.
                (self.config.limits.read_budget)
                    .max(self.config.limits.max_frame)
                    .min(Semaphore::MAX_PERMITS),
            )),
            counters: Counters::default(),
            running: Arc::default(),
            datagram_ways: crate::objects::reverse::DatagramWays::new(
                self.config.limits.max_sessions,
            ),
            config: self.config,
        })
    }
}

/// Runs `method` of `service`, an object of this process, with the encoded `args`, as a
/// server would run it (in a call context, panics caught), for a call through a local
/// reference; its reply exports objects into `exports`.
pub(crate) async fn run_local(
    service: Arc<dyn Service>,
    method: &'static crate::MethodSpec,
    args: &[u8],
    exports: Arc<crate::objects::table::ObjectTable>,
) -> Result<Reply, crate::wire::DecodeError> {
    let arrival =
        crate::objects::scope::Arrival::Unreachable("a local call has no peer", exports.clone());
    let handler = crate::objects::scope::arriving(arrival, || service.call(method.id, args))?;
    let context = CallContext {
        invocation: Invocation {
            session: 0,
            slot: 0,
            seq: 0,
        },
        object: 0,
        interface: service.spec().name,
        method: method.name,
        deadline: None,
        peer: Peer::Local,
        metadata: None,
        switch: None,
        exports: Some(exports),
    };
    Ok(catch_unwind::CatchUnwind::new(handler, context, tracing::Span::none()).await)
}

/// A listener of stream connections: TCP or Unix domain.
trait StreamListener: Send + 'static {
    type Read: tokio::io::AsyncRead + Unpin + Send + 'static;
    type Write: crate::outbox::WriteHalf;
    /// The next connection, split, with its peer.
    fn accept(
        &self,
    ) -> impl std::future::Future<Output = std::io::Result<(Self::Read, Self::Write, Peer)>> + Send;
}

impl StreamListener for TcpListener {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;

    async fn accept(&self) -> std::io::Result<(Self::Read, Self::Write, Peer)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        Ok((read, write, Peer::Tcp(peer)))
    }
}

impl StreamListener for tokio::net::UnixListener {
    type Read = tokio::net::unix::OwnedReadHalf;
    type Write = tokio::net::unix::OwnedWriteHalf;

    async fn accept(&self) -> std::io::Result<(Self::Read, Self::Write, Peer)> {
        let (stream, _) = tokio::net::UnixListener::accept(self).await?;
        let (read, write) = stream.into_split();
        Ok((read, write, Peer::Unix))
    }
}

async fn accept_loop<L: StreamListener>(
    listener: L,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        while connections.try_join_next().is_some() {}
        match accepted {
            // Over the cap: close it at once, rather than leave it in the backlog where
            // it would hold a descriptor and wait for nothing.
            Ok(_) if connections.len() >= shared.config.limits.max_connections => {
                shared
                    .counters
                    .connections_refused
                    .fetch_add(1, Ordering::Relaxed);
            }
            // Each connection's task owns its calls; aborting it (after the grace
            // period) stops them too.
            Ok((read, write, peer)) => {
                connections.spawn(connection::serve(
                    read,
                    write,
                    peer,
                    shared.clone(),
                    stopped.clone(),
                ));
            }
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    let grace = shared.config.shutdown_grace;
    if tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!("shutdown: calls still running after {grace:?} were abandoned");
        connections.abort_all();
    }
}

/// Where a server listens.
#[derive(Debug, Clone)]
enum Listening {
    Tcp(std::net::SocketAddr),
    Udp(std::net::SocketAddr),
    Unix(std::path::PathBuf),
}

/// A running server.
///
/// Keep it for as long as the server should run. Dropping it stops the server as
/// [`ServerHandle::shutdown`] does, without waiting: the stop signal's sender goes with
/// the handle, so the server stops accepting connections and requests at once, and its
/// running calls get the configured grace period in the background. Call `shutdown` to
/// wait for them.
#[derive(Debug)]
#[must_use = "dropping the handle stops the server"]
pub struct ServerHandle {
    listening: Listening,
    shared: Arc<Shared>,
    permits: usize,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The socket address the server listens on; for a Unix domain socket, which has
    /// none, the unspecified address `0.0.0.0:0` (see [`ServerHandle::address`]).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        match &self.listening {
            Listening::Tcp(addr) | Listening::Udp(addr) => *addr,
            Listening::Unix(_) => std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// Where clients reach the server: `host:port`, or a Unix domain socket's path.
    pub fn address(&self) -> String {
        match &self.listening {
            Listening::Tcp(addr) | Listening::Udp(addr) => addr.to_string(),
            Listening::Unix(path) => path.display().to_string(),
        }
    }

    /// How clients reach the server.
    pub fn transport(&self) -> crate::Transport {
        match self.listening {
            Listening::Tcp(_) => crate::Transport::Tcp,
            Listening::Udp(_) => crate::Transport::Udp,
            Listening::Unix(_) => crate::Transport::Unix,
        }
    }

    /// This server incarnation's binding uid.
    pub fn uid(&self) -> u64 {
        self.shared.uid
    }

    /// What the server has done so far.
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        ServerStats {
            executions: c.executions.load(Ordering::Relaxed),
            duplicates_filtered: c.duplicates.load(Ordering::Relaxed),
            replies_resent: c.resent.load(Ordering::Relaxed),
            refused_sessionless: c.refused_sessionless.load(Ordering::Relaxed),
            forged: c.forged.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
            connections_refused: c.connections_refused.load(Ordering::Relaxed),
            connections_timed_out: c.connections_timed_out.load(Ordering::Relaxed),
            sessions: self.shared.sessions.stats(),
            objects: self.shared.objects.stats(),
            killed: {
                let k = &self.shared.running.killed;
                KilledStats {
                    cancelled: k.get(KillReason::Cancelled),
                    deadline: k.get(KillReason::Deadline),
                    expired: k.get(KillReason::Expired),
                    exterminated: k.get(KillReason::Exterminated),
                    reincarnation: k.get(KillReason::Reincarnation),
                }
            },
        }
    }

    /// How many calls run as tasks now (those that had to wait; they are the ones that
    /// can be stopped).
    pub fn calls_waiting(&self) -> usize {
        self.shared.running.len()
    }

    /// How many calls are running now.
    pub fn calls_in_flight(&self) -> usize {
        self.permits - self.shared.permits.available_permits()
    }

    /// Stops accepting connections and requests, lets running calls finish and send
    /// their replies (for at most the configured grace period), then closes every
    /// connection.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
