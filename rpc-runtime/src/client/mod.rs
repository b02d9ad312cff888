//! The calling side: a [`Channel`] to a server, and the [`Client`] that generated stubs
//! use to make calls over it.

pub(crate) mod binding;
mod call;
mod connection;
mod local;
mod operation;
pub mod orphans;
mod remedies;
mod replies;
mod session;

pub use binding::{Endpoint, ResolveError, Resolver};
pub use operation::{Arguments, Encoded, ReplyMessage, Typed};

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

use crate::error::{CallError, ConnectError, Outcome};
use crate::metadata::Metadata;
use crate::spec::{InterfaceSpec, MethodSpec, Semantics};
use crate::wire::context::ContextOut;
use crate::wire::{self, DEFAULT_MAX_FRAME, FLAG_ONEWAY, Header, Payload};
use call::Call;
use connection::{Connection, Incoming};
use session::ClientSession;

/// How requests travel.
///
/// `#[non_exhaustive]`: other transports may come (QUIC, shared memory), so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Transport {
    /// One TCP connection; reliable, so requests are sent again only after it breaks.
    #[default]
    Tcp,
    /// One datagram per message; lossy, so requests are sent again on a timer.
    Udp,
    /// A Unix domain stream socket on this machine; the address is its path.
    Unix,
}

/// Reply protocol: whether the client acknowledges replies.
///
/// `#[non_exhaustive]`: other reply protocols may come, so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Acknowledge {
    /// RR: request, reply. A slot's next call tells the server it may drop the previous
    /// reply.
    #[default]
    Rr,
    /// RRA: request, reply, acknowledgement. The client acknowledges the reply of every
    /// at-most-once call, so the server drops its copy at once instead of when the slot's
    /// next call arrives (one more message per call).
    Rra,
}

/// When and how often a call is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long the first attempt waits for its reply before a datagram is sent again.
    pub first_wait: Duration,
    /// Each further wait is this many times the previous one...
    pub backoff: u32,
    /// ...up to this.
    pub max_wait: Duration,
    /// The most attempts (sends over UDP, connections over TCP) a call makes.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_wait: Duration::from_millis(100),
            backoff: 2,
            max_wait: Duration::from_secs(1),
            max_attempts: 8,
        }
    }
}

/// How a channel behaves.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// TCP, UDP or a Unix domain socket.
    pub transport: Transport,
    /// RR or RRA.
    pub acknowledge: Acknowledge,
    /// Retransmission (the call's semantics decide whether it may be sent again at all).
    pub retry: RetryPolicy,
    /// How long a call may take in all, attempts included, before failing with
    /// [`CallError::Timeout`].
    pub timeout: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// The largest reply accepted, in bytes.
    pub max_frame: usize,
    /// Slots to ask the server for: the most calls in flight at once on the channel
    /// (the server may grant fewer). Further calls wait for a free slot.
    pub slots: u32,
    /// Expiration (an orphan remedy): each call gets this time quantum on the server,
    /// which stops it when it has heard nothing from this client for that long. While
    /// calls wait, the channel renews its session every third of the quantum, so only
    /// the calls of a client that died (or was cut off) are stopped. None: calls never
    /// expire.
    pub quantum: Option<Duration>,
    /// Extermination (an orphan remedy): every call is recorded in this log before its
    /// request first goes out, and closed when it ends, so that after a crash the next
    /// run finds the calls left running ([`orphans::CallLog::open`]) and has their
    /// servers stop them ([`orphans::exterminate`]). None: no log.
    pub call_log: Option<Arc<orphans::CallLog>>,
    /// Reincarnation (an orphan remedy): the sessions this channel opens carry this
    /// identity and epoch, and its server is remembered in the identity's file, so that
    /// a restart announces its new epoch there ([`orphans::announce`]). None: no
    /// identity.
    pub incarnation: Option<Arc<orphans::Incarnation>>,
    /// Over TCP: how long data written may stay unacknowledged by the server before the
    /// connection is given up (`TCP_USER_TIMEOUT` on Linux; elsewhere the system's
    /// retransmission limit, often many minutes). A server behind a cut link answers
    /// nothing and refuses nothing: this is what notices, so that the calls on that
    /// connection fail (with their outcome) and a bound client moves on. None: the
    /// system's limit. Default 10 s.
    pub unacknowledged_timeout: Option<Duration>,
    /// For clients bound by name ([`Client::bound`]) and groups: how long a lookup of the
    /// name is trusted. Once it is older, the next call looks the name up again in the
    /// background (calls go on meanwhile), keeps the servers still exported with their
    /// channels and sessions, adds new ones and drops those no longer named; a lookup
    /// that fails (the binder unreachable) keeps what was known. Default 1 s.
    pub refresh: Duration,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            transport: Transport::Tcp,
            acknowledge: Acknowledge::Rr,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_frame: DEFAULT_MAX_FRAME,
            slots: 256,
            quantum: None,
            call_log: None,
            incarnation: None,
            refresh: Duration::from_secs(1),
            unacknowledged_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// A connection to one server, shared by every client stub made from it.
///
/// Cloning is cheap; all clones share one connection (TCP, a Unix domain socket, or a
/// UDP socket), which carries many concurrent
/// calls, and one session with the server (see `docs/PROTOCOL.md` §4), opened when the
/// channel first connects and attached again to each new connection after one breaks.
/// When the connection breaks, calls waiting on it are sent again where their semantics
/// allow; when the server has forgotten the session (it restarted), the channel opens a
/// new one and calls that may have run in the old one fail with an unknown outcome.
#[derive(Debug, Clone)]
pub struct Channel {
    inner: Arc<ChannelInner>,
}

#[derive(Debug)]
struct ChannelInner {
    address: String,
    /// How its connections are made: to the address, or over a client's connection to
    /// this server (callbacks).
    route: Route,
    /// Where local objects sent in its requests are exported.
    exports: Arc<crate::objects::table::ObjectTable>,
    /// The session with the server, kept over reconnections (its calls' replies survive
    /// them) and replaced when the server forgets it.
    session: Mutex<Option<Arc<ClientSession>>>,
    config: ChannelConfig,
    /// Read by every call, written when connecting: a read-write lock, so that calls on
    /// both threads do not queue for it.
    connection: RwLock<Option<Arc<Connection>>>,
    /// Held while connecting, so that a broken connection is replaced once, not once per
    /// waiting caller.
    connecting: tokio::sync::Mutex<()>,
    /// Whether a connection of it carried callbacks, or objects the server may call
    /// back: it must then stay connected while this process has objects to call.
    called_back: std::sync::atomic::AtomicBool,
}

/// How a channel's connections are made.
#[derive(Clone)]
enum Route {
    /// To its address, by its transport.
    Address,
    /// Over the connection a client opened to this server (a callback channel), while
    /// that connection lasts.
    Reverse(std::sync::Weak<crate::objects::reverse::ReverseLink>),
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Route::Address => "Address",
            Route::Reverse(_) => "Reverse",
        })
    }
}

impl Drop for ChannelInner {
    fn drop(&mut self) {
        if let Some(conn) = self
            .connection
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            conn.abort();
        }
    }
}

impl Channel {
    /// Connects to the server at `address` (`host:port`).
    pub async fn connect(address: impl Into<String>) -> Result<Channel, ConnectError> {
        Channel::connect_with(address, ChannelConfig::default()).await
    }

    /// Talks to the server at `address` over UDP, with the default configuration
    /// otherwise.
    pub async fn connect_udp(address: impl Into<String>) -> Result<Channel, ConnectError> {
        let config = ChannelConfig {
            transport: Transport::Udp,
            ..ChannelConfig::default()
        };
        Channel::connect_with(address, config).await
    }

    /// Connects to the server listening on the Unix domain socket at `path`, with the
    /// default configuration otherwise.
    pub async fn connect_unix(path: impl AsRef<std::path::Path>) -> Result<Channel, ConnectError> {
        let config = ChannelConfig {
            transport: Transport::Unix,
            ..ChannelConfig::default()
        };
        Channel::connect_with(path.as_ref().display().to_string(), config).await
    }

    /// Connects with a non-default configuration.
    pub async fn connect_with(
        address: impl Into<String>,
        config: ChannelConfig,
    ) -> Result<Channel, ConnectError> {
        let channel = Channel::lazy(address, config);
        channel.connection().await?;
        Ok(channel)
    }

    /// A channel that connects on its first call (used for bound clients, which may
    /// never call some exports).
    pub fn lazy(address: impl Into<String>, config: ChannelConfig) -> Channel {
        Channel::with_route(
            address.into(),
            config,
            Route::Address,
            crate::objects::callback_table(),
        )
    }

    /// The channel that calls back objects of the client of `link`'s connection, over
    /// that connection; what it sends of this server's own objects is exported into
    /// `exports`.
    pub(crate) fn reverse(
        link: std::sync::Weak<crate::objects::reverse::ReverseLink>,
        exports: Arc<crate::objects::table::ObjectTable>,
    ) -> Channel {
        Channel::with_route(
            String::new(),
            ChannelConfig::default(),
            Route::Reverse(link),
            exports,
        )
    }

    fn with_route(
        address: String,
        config: ChannelConfig,
        route: Route,
        exports: Arc<crate::objects::table::ObjectTable>,
    ) -> Channel {
        Channel {
            inner: Arc::new(ChannelInner {
                address,
                route,
                exports,
                session: Mutex::new(None),
                config,
                connection: RwLock::new(None),
                connecting: tokio::sync::Mutex::new(()),
                called_back: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Whether this is a server's channel back to a client (a callback channel), whose
    /// connection comes and goes with the client's.
    pub(crate) fn is_reverse(&self) -> bool {
        matches!(self.inner.route, Route::Reverse(_))
    }

    /// Whether two handles are the same channel.
    fn same(&self, other: &Channel) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// What tells this channel apart from every other one alive.
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// Whether this handle is the channel's only one.
    pub(crate) fn is_unshared(&self) -> bool {
        Arc::strong_count(&self.inner) == 1
    }

    /// The address references to objects behind this channel carry when sent on: the
    /// server's address and transport, or empty for a callback channel (only the server
    /// it belongs to can reach that client).
    pub(crate) fn reference_address(&self) -> String {
        match self.inner.route {
            Route::Address => {
                crate::objects::reference_address(self.inner.config.transport, &self.inner.address)
            }
            Route::Reverse(_) => String::new(),
        }
    }

    /// Where local objects sent in this channel's requests are exported.
    pub(crate) fn exports(&self) -> &Arc<crate::objects::table::ObjectTable> {
        &self.inner.exports
    }

    /// The address this channel connects to.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// The channel's configuration.
    pub fn config(&self) -> &ChannelConfig {
        &self.inner.config
    }

    fn current(&self) -> Option<Arc<Connection>> {
        let slot = self
            .inner
            .connection
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// The live connection, connecting within `deadline` if there is none; None when the
    /// deadline passed first. A live connection costs no timer.
    async fn connection_by(
        &self,
        deadline: tokio::time::Instant,
    ) -> Option<Result<Arc<Connection>, ConnectError>> {
        match self.current() {
            Some(conn) => Some(Ok(conn)),
            None => tokio::time::timeout_at(deadline, self.connection())
                .await
                .ok(),
        }
    }

    /// The live connection, connecting if there is none.
    async fn connection(&self) -> Result<Arc<Connection>, ConnectError> {
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let _connecting = self.inner.connecting.lock().await;
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let address = &self.inner.address;
        let error = |source| ConnectError {
            address: address.clone(),
            source,
        };
        let conn = match &self.inner.route {
            Route::Address => open_connection(address, &self.inner.config).await,
            Route::Reverse(link) => reverse_connection(link, &self.inner.config).await,
        }
        .map_err(error)?;
        // A handshake that fails, or is given up by a call out of time, must not leave
        // the connection's tasks reading a socket nobody will use.
        let unfinished = AbortOnDrop(Some(conn.clone()));
        let session = self.handshake(&conn).await.map_err(error)?;
        unfinished.disarm();
        conn.set_session(session);
        if matches!(self.inner.route, Route::Address) {
            let channel = Arc::downgrade(&self.inner);
            conn.on_lost(move |carried| keep_reachable(channel.clone(), carried));
        }
        *self
            .inner
            .connection
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }
}

impl Channel {
    /// The session for a new connection: the channel's, attached to it (streams) or
    /// used as it is (datagrams carry its tag), or a new one when there is none or the
    /// server has forgotten it.
    async fn handshake(&self, conn: &Connection) -> std::io::Result<Arc<ClientSession>> {
        let timeout = self.inner.config.connect_timeout;
        let held = self
            .inner
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(|s| !s.is_lost());
        if let Some(session) = held {
            if conn.is_datagram() || session::attach(conn, &session, timeout).await? {
                return Ok(session);
            }
            session.mark_lost();
        }
        let session =
            session::open(conn, self.inner.config.slots, self.client_epoch(), timeout).await?;
        self.remember_server().await;
        *self
            .inner
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(session.clone());
        Ok(session)
    }
}

/// Makes calls to one object on one server; what generated `...Client` stubs wrap.
#[derive(Debug, Clone)]
pub struct Client {
    target: Target,
    interface: &'static InterfaceSpec,
    object: u64,
    timeout: Duration,
    retry: Option<RetryPolicy>,
    /// Sent with every call; None (the usual case) costs nothing.
    metadata: Option<Arc<Metadata>>,
}

/// Where a client's calls go.
#[derive(Debug, Clone)]
enum Target {
    /// The server behind one channel; `binding` is the incarnation asked for (0: any).
    Channel { channel: Channel, binding: u64 },
    /// The servers a binder names, chosen per call.
    Bound(Arc<binding::Binding>),
    /// An object of this process, called directly; or, for `Err`, nothing (a null or
    /// dead reference), and why.
    Local(Result<Arc<dyn crate::Service>, &'static str>),
}

impl std::fmt::Debug for dyn crate::Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Service({})", self.spec().name)
    }
}

impl Client {
    /// A client of `interface` bound by `name` through `resolver` (a binder): the name is
    /// looked up on the first call, calls go round the live exports, and a server that
    /// restarted or went away is replaced by looking the name up again. A call is sent
    /// again to another server only where that is safe: always for idempotent and
    /// last-of-many calls, for at-most-once calls only if no earlier attempt may have
    /// run; otherwise it fails with an unknown outcome.
    pub fn bound(
        resolver: Arc<dyn Resolver>,
        name: impl Into<String>,
        interface: &'static InterfaceSpec,
        config: ChannelConfig,
    ) -> Client {
        Client {
            timeout: config.timeout,
            target: Target::Bound(Arc::new(binding::Binding::new(
                resolver,
                name.into(),
                interface,
                config,
            ))),
            interface,
            object: interface.object,
            retry: None,
            metadata: None,
        }
    }

    /// A client of `interface`'s well-known object on the server behind `channel`.
    pub fn new(channel: Channel, interface: &'static InterfaceSpec) -> Client {
        Client {
            timeout: channel.config().timeout,
            target: Target::Channel {
                channel,
                binding: 0,
            },
            interface,
            object: interface.object,
            retry: None,
            metadata: None,
        }
    }

    /// A client of `service`, an object of this process: calls run it directly (their
    /// arguments and results still go through the wire encoding).
    pub(crate) fn local(
        service: Arc<dyn crate::Service>,
        interface: &'static InterfaceSpec,
    ) -> Client {
        Client::of_target(Target::Local(Ok(service)), interface)
    }

    /// A client whose calls all fail with [`CallError::UnknownObject`], saying `why`.
    pub(crate) fn unreachable(interface: &'static InterfaceSpec, why: &'static str) -> Client {
        Client::of_target(Target::Local(Err(why)), interface)
    }

    fn of_target(target: Target, interface: &'static InterfaceSpec) -> Client {
        Client {
            timeout: ChannelConfig::default().timeout,
            target,
            interface,
            object: interface.object,
            retry: None,
            metadata: None,
        }
    }

    /// The same client with another per-call timeout. It covers everything a call does:
    /// looking the name up, connecting, every attempt.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The same client, sending `key` = `value` in the metadata of every call (for one
    /// call, use it on a clone: `client.clone().with_metadata(..)`). The handler reads
    /// it from [`CallContext::metadata`](crate::server::CallContext::metadata).
    ///
    /// Metadata is bounded ([`MAX_METADATA_ENTRIES`](wire::context::MAX_METADATA_ENTRIES),
    /// [`MAX_METADATA_BYTES`](wire::context::MAX_METADATA_BYTES)); a call with more fails
    /// with [`CallError::InvalidMetadata`] before anything is sent.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Client {
        let mut metadata = self.metadata.as_deref().cloned().unwrap_or_default();
        metadata.insert(key, value);
        self.metadata = Some(Arc::new(metadata));
        self
    }

    /// The metadata sent with every call.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.metadata.as_deref()
    }

    /// The same client with another retransmission policy than its channel's.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Client {
        self.retry = Some(retry);
        self
    }

    /// The same client, addressing object `object` and, for a client of one channel, the
    /// server incarnation `binding` (from a binder; a bound client asks each export for
    /// its own).
    pub fn with_target(mut self, binding: u64, object: u64) -> Client {
        if let Target::Channel { binding: b, .. } = &mut self.target {
            *b = binding;
        }
        self.object = object;
        self
    }

    /// The interface this client calls.
    pub fn interface(&self) -> &'static InterfaceSpec {
        self.interface
    }

    /// The channel the calls go over; None for a client bound by name, whose calls go
    /// to whichever export the binder names.
    pub fn channel(&self) -> Option<&Channel> {
        match &self.target {
            Target::Channel { channel, .. } => Some(channel),
            Target::Bound(_) | Target::Local(_) => None,
        }
    }

    /// The configuration calls follow: the channel's, or the one given to
    /// [`Client::bound`].
    fn config(&self) -> &ChannelConfig {
        match &self.target {
            Target::Channel { channel, .. } => channel.config(),
            Target::Bound(binding) => binding.config(),
            Target::Local(_) => local_config(),
        }
    }

    fn retry(&self) -> RetryPolicy {
        self.retry.unwrap_or(self.config().retry)
    }

    fn is_bound(&self) -> bool {
        matches!(self.target, Target::Bound(_))
    }

    /// doOperation: sends a request for `method` with `arguments` to this client's
    /// object and waits for the reply, keeping the method's semantics (retransmission,
    /// invocation ids, the server's reply history; see `docs/SEMANTICS.md`). For a
    /// `oneway` method it returns `None` once the request is on its way.
    ///
    /// Generated stubs are this and nothing more: [`Client::call`] passes its arguments
    /// as [`Typed`] and decodes the reply; a caller without generated code passes
    /// [`Encoded`] bytes and reads the [`ReplyMessage`] itself (`rpc-dynamic` does).
    pub async fn do_operation<A: Arguments + ?Sized>(
        &self,
        method: &'static MethodSpec,
        arguments: &A,
    ) -> Result<Option<ReplyMessage>, CallError> {
        if let Target::Local(service) = &self.target {
            return local::call(service, self, method, arguments).await;
        }
        if method.semantics == Semantics::Maybe {
            self.send_oneway(method, arguments).await?;
            return Ok(None);
        }
        let (incoming, channel) = Call::new(self, method).run(arguments).await?;
        Ok(Some(ReplyMessage {
            incoming,
            arrival: crate::objects::scope::Arrival::Channel(channel),
        }))
    }

    /// The reply of a call that must have one.
    async fn two_way<Req: Serialize + ?Sized>(
        &self,
        method: &'static MethodSpec,
        request: &Req,
    ) -> Result<ReplyMessage, CallError> {
        self.do_operation(method, &Typed(request))
            .await?
            .ok_or_else(|| {
                CallError::Protocol(format!(
                    "`{}` is oneway: it has no reply to wait for",
                    method.name
                ))
            })
    }

    /// Calls `method`, which raises no exception, with `request` (its `in` and `inout`
    /// arguments) and waits for the reply (its result and `inout`/`out` values).
    pub async fn call<Req, Rep>(
        &self,
        method: &'static MethodSpec,
        request: &Req,
    ) -> Result<Rep, CallError>
    where
        Req: Serialize + ?Sized,
        Rep: DeserializeOwned,
    {
        let reply = self.two_way(method, request).await?;
        reply.decode(method, |_| {
            Err(wire::DecodeError::Malformed {
                what: "exception",
                message: "the method declares no exception".into(),
            })
        })
    }

    /// Like [`Client::call`], for a method that may raise exception `E`.
    pub async fn call_raising<Req, Rep, E>(
        &self,
        method: &'static MethodSpec,
        request: &Req,
    ) -> Result<Rep, CallError<E>>
    where
        Req: Serialize + ?Sized,
        Rep: DeserializeOwned,
        E: DeserializeOwned,
    {
        let reply = self
            .two_way(method, request)
            .await
            .map_err(|e| e.map_exception(|never| match never {}))?;
        reply.decode(method, |bytes| wire::decode(bytes, "exception"))
    }

    /// The object id this client calls.
    pub(crate) fn object(&self) -> u64 {
        self.object
    }

    /// The channel and binding uid of a call: the client's own, or the binder's choice,
    /// asked for within `deadline`; None when the deadline passed first. A client of one
    /// channel has no binder to ask, and costs no timer.
    async fn target_by<E>(
        &self,
        deadline: tokio::time::Instant,
    ) -> Option<Result<(Channel, u64), CallError<E>>> {
        match &self.target {
            Target::Channel { channel, binding } => Some(Ok((channel.clone(), *binding))),
            Target::Bound(bound) => tokio::time::timeout_at(deadline, bound.pick()).await.ok(),
            Target::Local(_) => Some(Err(CallError::Protocol(
                "a local object has no channel".into(),
            ))),
        }
    }

    /// Forgets the export of `binding` (a bound client's server that went away).
    async fn forget(&self, binding: u64) {
        if let Target::Bound(bound) = &self.target {
            bound.forget(binding).await;
        }
    }

    /// With RRA, tells the server it may drop its copy of an at-most-once call's reply.
    async fn acknowledge(&self, conn: &Connection, method: &MethodSpec, incoming: &Incoming) {
        if self.config().acknowledge == Acknowledge::Rra
            && method.semantics == Semantics::AtMostOnce
        {
            let h = &incoming.header;
            let header = Header::control(wire::Kind::Ack, h.session, h.slot, h.seq);
            let _ = conn.send(Payload::empty().seal(&header)).await;
        }
    }

    /// Sends a `oneway` call: returns once the request is queued on the connection.
    pub async fn send<Req>(
        &self,
        method: &'static MethodSpec,
        request: &Req,
    ) -> Result<(), CallError>
    where
        Req: Serialize + ?Sized,
    {
        self.do_operation(method, &Typed(request)).await.map(drop)
    }

    /// Sends a `oneway` request: no reply, no retransmission.
    async fn send_oneway<A: Arguments + ?Sized>(
        &self,
        method: &'static MethodSpec,
        arguments: &A,
    ) -> Result<(), CallError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let unreached = || unreached(self.timeout);
        let (channel, binding) = self.target_by(deadline).await.ok_or_else(unreached)??;
        let conn = channel
            .connection_by(deadline)
            .await
            .ok_or_else(unreached)??;
        let Some(session) = conn.session() else {
            return Err(CallError::Protocol("a connection without a session".into()));
        };
        let id = session.oneway_id();
        let metadata = self.metadata.as_deref().map_or(&[][..], Metadata::as_slice);
        check_metadata(metadata)?;
        let context = ContextOut {
            deadline_micros: 0,
            quantum_micros: 0,
            metadata,
        };
        let mut header = self.header(method, id, binding);
        header.flags |= FLAG_ONEWAY;
        let message = self.request(
            method,
            arguments,
            header,
            context,
            (&channel, &conn),
            &mut Vec::new(),
        )?;
        if conn.send(message).await {
            Ok(())
        } else {
            Err(CallError::connection(
                "the connection closed before the request was sent",
                Outcome::NotExecuted,
            ))
        }
    }

    /// The request header of invocation `id` of `method` on this client's object,
    /// addressed to `binding`.
    fn header(&self, method: &'static MethodSpec, id: (u64, u32, u64), binding: u64) -> Header {
        Header::request(id, binding, self.object, method.id, method.fingerprint)
    }

    /// The request message of `method` under `header`, with call context `context`, to
    /// go over `channel`'s connection `conn`; refused when too large for `conn`. The
    /// objects its arguments carry keep the ids and tokens `exported` gave them in
    /// earlier copies.
    fn request<A: Arguments + ?Sized, E>(
        &self,
        method: &'static MethodSpec,
        arguments: &A,
        mut header: Header,
        context: ContextOut<'_>,
        (channel, conn): (&Channel, &Connection),
        exported: &mut crate::objects::scope::Exported,
    ) -> Result<wire::Message, CallError<E>> {
        let payload = crate::objects::scope::exporting_again(channel.exports(), exported, || {
            arguments.payload(&context)
        })
        .map_err(|e| {
            CallError::Protocol(format!(
                "cannot encode the arguments of `{}`: {e}",
                method.name
            ))
        })?;
        if !exported.is_empty() {
            conn.sent_objects();
        }
        header.flags |= wire::FLAG_CONTEXT;
        let message = payload.seal(&header);
        let max_frame = self.config().max_frame;
        let limit = if conn.is_datagram() {
            // Room for the session tag.
            (wire::MAX_DATAGRAM - wire::tag::TAG_LEN).min(max_frame)
        } else {
            max_frame
        };
        if message.len() > limit {
            return Err(CallError::TooLarge {
                size: message.len(),
                limit,
            });
        }
        Ok(message)
    }
}

/// The configuration of clients of local objects (they have no channel).
fn local_config() -> &'static ChannelConfig {
    static CONFIG: std::sync::OnceLock<ChannelConfig> = std::sync::OnceLock::new();
    CONFIG.get_or_init(ChannelConfig::default)
}

/// Refuses metadata beyond the bounds a server enforces, before anything is sent.
fn check_metadata<E>(metadata: &[(String, String)]) -> Result<(), CallError<E>> {
    wire::context::check_metadata(metadata).map_err(CallError::InvalidMetadata)
}

/// Aborts a connection when dropped, unless disarmed first.
struct AbortOnDrop(Option<Arc<Connection>>);

impl AbortOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            conn.abort();
        }
    }
}

/// A new connection to `address` as `config` says, before any handshake.
async fn open_connection(
    address: &str,
    config: &ChannelConfig,
) -> std::io::Result<Arc<Connection>> {
    let timed_out = |_| std::io::Error::from(std::io::ErrorKind::TimedOut);
    Ok(match config.transport {
        Transport::Tcp => {
            let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(address))
                .await
                .map_err(timed_out)??;
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
            if let Some(limit) = config.unacknowledged_timeout {
                socket2::SockRef::from(&stream).set_tcp_user_timeout(Some(limit))?;
            }
            Connection::start_tcp(stream, config.max_frame, config.slots)
        }
        Transport::Udp => {
            let socket = udp_socket(address).await?;
            Connection::start_datagram(socket, config.slots)
        }
        Transport::Unix => {
            let stream = tokio::time::timeout(
                config.connect_timeout,
                tokio::net::UnixStream::connect(address),
            )
            .await
            .map_err(timed_out)??;
            Connection::start_unix(stream, config.max_frame, config.slots)
        }
    })
}

/// Reconnects the channel of `inner`, whose connection was lost, in the background with
/// growing pauses, if a connection of it ever carried callbacks (`carried`: this one
/// did), until it is connected, dropped, or this process has no object left to call
/// back.
fn keep_reachable(inner: std::sync::Weak<ChannelInner>, carried: bool) {
    use std::sync::atomic::Ordering;
    let Some(channel) = inner.upgrade() else {
        return;
    };
    if carried {
        channel.called_back.store(true, Ordering::Relaxed);
    }
    if !channel.called_back.load(Ordering::Relaxed)
        || tokio::runtime::Handle::try_current().is_err()
    {
        return;
    }
    drop(channel);
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(20);
        loop {
            tokio::time::sleep(pause).await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let channel = Channel { inner };
            if channel.current().is_some() || crate::objects::callback_stats().exported == 0 {
                return;
            }
            match channel.connection().await {
                Ok(_) => return,
                Err(e) => tracing::debug!("reconnecting for callbacks: {e}"),
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    });
}

/// A new connection over the connection of `link`'s client (a callback channel),
/// waiting for the client to have one.
async fn reverse_connection(
    link: &std::sync::Weak<crate::objects::reverse::ReverseLink>,
    config: &ChannelConfig,
) -> std::io::Result<Arc<Connection>> {
    let relay = crate::objects::reverse::ReverseLink::dial(link).await?;
    Ok(Connection::start_relay(
        relay,
        config.slots,
        config.max_frame,
    ))
}

/// A UDP socket connected to `address`, bound to the unspecified address of its family.
async fn udp_socket(address: &str) -> std::io::Result<tokio::net::UdpSocket> {
    let target = tokio::net::lookup_host(address)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
    let local = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = tokio::net::UdpSocket::bind(local).await?;
    socket.connect(target).await?;
    Ok(socket)
}

/// The error of a call that could not reach its server before its deadline: nothing
/// was sent.
fn unreached<E>(timeout: Duration) -> CallError<E> {
    CallError::connection(
        format!("could not reach the server within the call's timeout of {timeout:?}"),
        Outcome::NotExecuted,
    )
}
