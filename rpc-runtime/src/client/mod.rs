//! The calling side: a [`Channel`] to a server, and the [`Client`] that generated stubs
//! use to make calls over it.

mod binding;
mod connection;
mod replies;
mod session;

pub use binding::{Endpoint, ResolveError, Resolver};

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

use crate::error::{CallError, ConnectError, Outcome};
use crate::spec::{InterfaceSpec, MethodSpec, Semantics};
use crate::wire::handshake::SessionUnknown;
use crate::wire::{self, DEFAULT_MAX_FRAME, FLAG_ONEWAY, Header, Payload, Status};
use connection::{Connection, Incoming};
use session::{ClientSession, SlotLease};

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
    /// TCP or UDP.
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
        }
    }
}

/// A connection to one server, shared by every client stub made from it.
///
/// Cloning is cheap; all clones share one TCP connection, which carries many concurrent
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
    /// The session with the server, kept over reconnections (its calls' replies survive
    /// them) and replaced when the server forgets it.
    session: Mutex<Option<Arc<ClientSession>>>,
    config: ChannelConfig,
    connection: Mutex<Option<Arc<Connection>>>,
    /// Held while connecting, so that a broken connection is replaced once, not once per
    /// waiting caller.
    connecting: tokio::sync::Mutex<()>,
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
        Channel {
            inner: Arc::new(ChannelInner {
                address: address.into(),
                session: Mutex::new(None),
                config,
                connection: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Whether two handles are the same channel.
    fn same(&self, other: &Channel) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
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
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().filter(|c| !c.is_closed()).cloned()
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
        let config = &self.inner.config;
        let conn = match config.transport {
            Transport::Tcp => {
                let stream =
                    tokio::time::timeout(config.connect_timeout, TcpStream::connect(address))
                        .await
                        .map_err(|_| error(std::io::ErrorKind::TimedOut.into()))?
                        .map_err(error)?;
                Connection::start_tcp(stream, config.max_frame, config.slots)
            }
            Transport::Udp => {
                let socket = udp_socket(address).await.map_err(error)?;
                Connection::start_datagram(socket, config.slots)
            }
            Transport::Unix => {
                let stream = tokio::time::timeout(
                    config.connect_timeout,
                    tokio::net::UnixStream::connect(address),
                )
                .await
                .map_err(|_| error(std::io::ErrorKind::TimedOut.into()))?
                .map_err(error)?;
                Connection::start_unix(stream, config.max_frame, config.slots)
            }
        };
        let session = self.handshake(&conn).await.map_err(|e| {
            conn.abort();
            error(e)
        })?;
        conn.set_session(session);
        *self
            .inner
            .connection
            .lock()
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
        let session = session::open(conn, self.inner.config.slots, timeout).await?;
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
    channel: Channel,
    interface: &'static InterfaceSpec,
    binding: u64,
    object: u64,
    timeout: Duration,
    retry: Option<RetryPolicy>,
    /// For clients bound by name: the binder's answer, used instead of `channel`.
    bound: Option<Arc<binding::Binding>>,
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
        let name = name.into();
        Client {
            timeout: config.timeout,
            channel: Channel::lazy(format!("<bound to {name}>"), config.clone()),
            interface,
            binding: 0,
            object: interface.object,
            retry: None,
            bound: Some(Arc::new(binding::Binding::new(
                resolver, name, interface, config,
            ))),
        }
    }
    /// A client of `interface`'s well-known object on the server behind `channel`.
    pub fn new(channel: Channel, interface: &'static InterfaceSpec) -> Client {
        Client {
            timeout: channel.config().timeout,
            channel,
            interface,
            binding: 0,
            object: interface.object,
            retry: None,
            bound: None,
        }
    }

    /// The same client with another per-call timeout (attempts included).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The same client with another retransmission policy than its channel's.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Client {
        self.retry = Some(retry);
        self
    }

    /// The same client, addressing the server's incarnation `binding` (from a binder) and
    /// object `object`.
    pub fn with_target(mut self, binding: u64, object: u64) -> Client {
        self.binding = binding;
        self.object = object;
        self
    }

    /// The interface this client calls.
    pub fn interface(&self) -> &'static InterfaceSpec {
        self.interface
    }

    /// The channel the calls go over.
    pub fn channel(&self) -> &Channel {
        &self.channel
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
        self.invoke(method, request, |_| {
            Err(wire::DecodeError::Malformed {
                what: "exception",
                message: "the method declares no exception".into(),
            })
        })
        .await
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
        self.invoke(method, request, |bytes| wire::decode(bytes, "exception"))
            .await
    }

    async fn invoke<Req, Rep, E>(
        &self,
        method: &'static MethodSpec,
        request: &Req,
        exception: fn(&[u8]) -> Result<E, wire::DecodeError>,
    ) -> Result<Rep, CallError<E>>
    where
        Req: Serialize + ?Sized,
        Rep: DeserializeOwned,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let retry = self.retry.unwrap_or(self.channel.config().retry);
        let at_most_once = method.semantics == Semantics::AtMostOnce;
        let mut wait = retry.first_wait;
        // Where the call goes: the channel and binding uid; for a bound client, the
        // binder's choice, replaced when that server refuses or cannot be reached.
        let mut target: Option<(Channel, u64)> = None;
        // The invocation: a slot of the channel's session, kept over retransmissions
        // (a last-of-many call renumbers it for each), given back when the call ends.
        let mut lease: Option<(Channel, SlotLease)> = None;
        // When the invocation's first request went out.
        let mut first_sent: Option<tokio::time::Instant> = None;
        let mut sent = false;
        // An attempt went out in the current invocation and nothing proves it did not
        // run.
        let mut maybe_ran = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (channel, binding) = match &target {
                Some(t) => t.clone(),
                None => {
                    let t = self.target().await?;
                    target = Some(t.clone());
                    t
                }
            };
            if lease.as_ref().is_some_and(|(c, _)| !c.same(&channel)) {
                lease = None; // another server: another invocation
            }
            let lost = match channel.connection().await {
                Err(e) => match &self.bound {
                    Some(bound) => {
                        bound.forget(binding).await;
                        target = None;
                        if maybe_ran && at_most_once {
                            return Err(binding::lost_with_server(self.interface.name));
                        }
                        e.to_string()
                    }
                    None if sent => return Err(CallError::from(e).with_outcome(Outcome::Unknown)),
                    None => return Err(e.into()),
                },
                Ok(conn) => {
                    let Some(session) = conn.session().cloned() else {
                        return Err(CallError::Protocol("a connection without a session".into()));
                    };
                    if lease
                        .as_ref()
                        .is_some_and(|(_, l)| !Arc::ptr_eq(l.session(), &session))
                    {
                        // The server forgot the session the earlier attempts went out in.
                        if maybe_ran && at_most_once {
                            return Err(CallError::SessionLost {
                                method: method.name,
                            });
                        }
                        lease = None;
                        first_sent = None;
                    }
                    let lease = match &mut lease {
                        Some((_, lease)) => {
                            if method.semantics == Semantics::LastOfMany {
                                lease.renumber();
                            }
                            lease
                        }
                        None => match session.lease(deadline).await {
                            Some(new) => &mut lease.insert((channel.clone(), new)).1,
                            None if sent => return Err(CallError::Timeout(self.timeout)),
                            None => return Err(no_free_slot(self.timeout)),
                        },
                    };
                    let id = lease.id();
                    let reply = conn.register(id.1, id.2);
                    let payload = self.encode(method, request)?;
                    let message = match self.seal(
                        &channel,
                        method,
                        payload,
                        id,
                        binding,
                        0,
                        conn.is_datagram(),
                    ) {
                        Ok(message) => message,
                        Err(e) => return Err(e),
                    };
                    if conn.send(message).await {
                        sent = true;
                        let first_sent = *first_sent.get_or_insert_with(tokio::time::Instant::now);
                        // Over a stream the reply is waited for until the deadline; a
                        // datagram is sent again when its wait runs out.
                        let until = if conn.is_datagram() {
                            deadline.min(tokio::time::Instant::now() + wait)
                        } else {
                            deadline
                        };
                        // A refusal proves that this copy did not run where it arrived.
                        // Over a stream that was the only copy; a datagram may have been
                        // duplicated on the way, and another copy may have run on the
                        // server incarnation that came before.
                        let copies_may_have_run = maybe_ran || conn.is_datagram();
                        match tokio::time::timeout_at(until, reply).await {
                            Ok(Ok(incoming)) => match incoming.header.status() {
                                Some(Status::UnknownBinding) if self.bound.is_some() => {
                                    // A new incarnation: it certainly did not run this. The
                                    // request was in a session only this incarnation has
                                    // (an older one's was refused with BadSession), so no
                                    // copy of it can have gone anywhere else either.
                                    if let Some(bound) = &self.bound {
                                        bound.forget(binding).await;
                                    }
                                    target = None;
                                    if maybe_ran && at_most_once {
                                        return Err(binding::lost_with_server(self.interface.name));
                                    }
                                    "the server restarted".to_string()
                                }
                                Some(Status::BadSession) => {
                                    // The channel needs a new session; what went out in the
                                    // old one may have run before the server forgot it,
                                    // unless this server never had the session and was
                                    // already serving before the first request left.
                                    session.mark_lost();
                                    conn.close("the server forgot the session");
                                    let copies_may_have_run = copies_may_have_run
                                        && !never_had_it_since(incoming.payload(), first_sent);
                                    if copies_may_have_run && at_most_once {
                                        return Err(CallError::SessionLost {
                                            method: method.name,
                                        });
                                    }
                                    maybe_ran = copies_may_have_run;
                                    "the server forgot the session".to_string()
                                }
                                _ => {
                                    self.acknowledge(&conn, method, &incoming).await;
                                    return interpret(method, &incoming, exception);
                                }
                            },
                            Ok(Err((message, _))) => {
                                maybe_ran = true;
                                message
                            }
                            Err(_) => {
                                maybe_ran = true;
                                "no reply in time".to_string()
                            }
                        }
                    } else {
                        "the connection closed before the request was sent".to_string()
                    }
                }
            };
            let out_of_time = tokio::time::Instant::now() >= deadline;
            if out_of_time || attempt >= retry.max_attempts {
                return Err(if !sent {
                    CallError::gave_up(attempt, lost, Outcome::NotExecuted)
                } else if out_of_time {
                    CallError::Timeout(self.timeout)
                } else {
                    CallError::gave_up(
                        attempt,
                        lost,
                        if maybe_ran {
                            Outcome::Unknown
                        } else {
                            Outcome::NotExecuted
                        },
                    )
                });
            }
            if target.is_none() {
                // Give a restarting server a moment before looking it up again.
                tokio::time::sleep(
                    wait.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
                )
                .await;
            }
            wait = (wait * retry.backoff).min(retry.max_wait);
        }
    }

    /// The channel and binding uid of the next attempt.
    async fn target<E>(&self) -> Result<(Channel, u64), CallError<E>> {
        match &self.bound {
            Some(bound) => bound.pick().await,
            None => Ok((self.channel.clone(), self.binding)),
        }
    }

    /// With RRA, tells the server it may drop its copy of an at-most-once call's reply.
    async fn acknowledge(&self, conn: &Connection, method: &MethodSpec, incoming: &Incoming) {
        if self.channel.config().acknowledge == Acknowledge::Rra
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
        let payload = self.encode(method, request)?;
        let (channel, binding) = self.target().await?;
        let conn = channel.connection().await?;
        let Some(session) = conn.session() else {
            return Err(CallError::Protocol("a connection without a session".into()));
        };
        let message = self.seal(
            &channel,
            method,
            payload,
            session.oneway_id(),
            binding,
            FLAG_ONEWAY,
            conn.is_datagram(),
        )?;
        if conn.send(message).await {
            Ok(())
        } else {
            Err(not_sent())
        }
    }

    /// Encodes a request's arguments.
    fn encode<Req, E>(
        &self,
        method: &'static MethodSpec,
        request: &Req,
    ) -> Result<Payload, CallError<E>>
    where
        Req: Serialize + ?Sized,
    {
        Payload::encode(request).map_err(|e| {
            CallError::Protocol(format!(
                "cannot encode the arguments of `{}`: {e}",
                method.name
            ))
        })
    }

    /// Puts the request header in front, refusing a message too large to send.
    #[allow(clippy::too_many_arguments)]
    fn seal<E>(
        &self,
        channel: &Channel,
        method: &'static MethodSpec,
        payload: Payload,
        id: (u64, u32, u64),
        binding: u64,
        flags: u8,
        datagram: bool,
    ) -> Result<wire::Message, CallError<E>> {
        let mut header = Header::request(id, binding, self.object, method.id, method.fingerprint);
        header.flags |= flags;
        let message = payload.seal(&header);
        let limit = if datagram {
            // Room for the session tag.
            (wire::MAX_DATAGRAM - wire::tag::TAG_LEN).min(channel.config().max_frame)
        } else {
            channel.config().max_frame
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

/// Whether a `BadSession` refusal with `payload` proves that no copy of an invocation
/// first sent at `first_sent` ran: the refusing server never had the session, and has
/// been running since before that first send, so it held the address the whole time and
/// every copy reached it (or nothing), never the incarnation that had the session. A
/// server address is served by one incarnation at a time (a restarted server binds the
/// port its predecessor released). Both durations err on the safe side (the server counts
/// from after it bound its port, the client until the refusal arrived); the margin
/// covers the two clocks' rates.
fn never_had_it_since(payload: &[u8], first_sent: tokio::time::Instant) -> bool {
    let Ok(unknown) = wire::decode::<SessionUnknown>(payload, "session refusal") else {
        return false;
    };
    let since = first_sent.elapsed();
    !unknown.forgotten && Duration::from_micros(unknown.uptime_micros) > since + since / 100
}

/// The error of a call that found no free slot of its session before its deadline.
fn no_free_slot<E>(timeout: Duration) -> CallError<E> {
    CallError::connection(
        format!("every slot of the session stayed busy for {timeout:?}"),
        Outcome::NotExecuted,
    )
}

/// The error of a request the connection closed on before it went out.
fn not_sent<E>() -> CallError<E> {
    CallError::connection(
        "the connection closed before the request was sent",
        Outcome::NotExecuted,
    )
}

/// Turns a reply into the call's result.
fn interpret<Rep, E>(
    method: &'static MethodSpec,
    incoming: &Incoming,
    exception: fn(&[u8]) -> Result<E, wire::DecodeError>,
) -> Result<Rep, CallError<E>>
where
    Rep: DeserializeOwned,
{
    crate::wire::received::sharing(incoming.message.shared(), || {
        outcome(method, incoming, exception)
    })
}

/// [`interpret`], decoding from the reply's message.
fn outcome<Rep, E>(
    method: &'static MethodSpec,
    incoming: &Incoming,
    exception: fn(&[u8]) -> Result<E, wire::DecodeError>,
) -> Result<Rep, CallError<E>>
where
    Rep: DeserializeOwned,
{
    let payload = incoming.payload();
    let text = || wire::decode::<String>(payload, "message").unwrap_or_else(|e| e.to_string());
    let malformed =
        |e: wire::DecodeError| CallError::Protocol(format!("reply to `{}`: {e}", method.name));
    match incoming.header.status() {
        Some(Status::Ok) => wire::decode(payload, "results").map_err(malformed),
        Some(Status::Exception) => {
            Err(CallError::Exception(exception(payload).map_err(malformed)?))
        }
        Some(Status::UnknownMethod | Status::UnknownObject) => Err(CallError::UnknownMethod {
            method: method.name,
            message: text(),
        }),
        Some(Status::FingerprintMismatch) => Err(CallError::FingerprintMismatch {
            method: method.name,
            client: method.fingerprint,
            server: wire::decode(payload, "fingerprint").map_err(malformed)?,
        }),
        Some(Status::ServerFault) => Err(CallError::ServerFault {
            method: method.name,
            message: text(),
        }),
        Some(Status::BadRequest) => Err(CallError::Protocol(format!(
            "the server could not decode the arguments of `{}`: {}",
            method.name,
            text()
        ))),
        Some(Status::UnknownBinding) => Err(CallError::UnknownBinding(text())),
        Some(Status::ReplyLost) => Err(CallError::ReplyLost {
            method: method.name,
        }),
        Some(Status::BadSession) => Err(CallError::SessionLost {
            method: method.name,
        }),
        Some(Status::Misordered | Status::IdReused) => Err(CallError::Protocol(format!(
            "the server refused the invocation id of `{}`: {}",
            method.name,
            text()
        ))),
        Some(Status::Busy) => Err(CallError::connection(
            format!("the server is busy: {}", text()),
            Outcome::NotExecuted,
        )),
        None => Err(CallError::Protocol(format!(
            "reply to `{}` has unknown status {}",
            method.name, incoming.header.status
        ))),
    }
}
