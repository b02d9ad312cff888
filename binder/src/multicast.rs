//! The multicast backend: servers and clients of one network find each other by IP
//! multicast, with no binder process at all.
//!
//! Every [`Binder::Multicast`](crate::Binder::Multicast) joins one multicast group
//! ([`MulticastConfig::group`], `239.255.77.77:7777` unless configured) and plays both
//! roles:
//!
//! - **exporting**: each live export is *announced* to the group every
//!   [`MulticastConfig::announce_every`], with its lease. An export whose server stops
//!   announcing (the process died, or its [`Exported`](crate::Exported) was dropped) is
//!   forgotten by every listener when its lease runs out; [`Exported::withdraw`](crate::Exported::withdraw) announces
//!   a withdrawal (a lease of 0), which listeners apply at once. A binder also answers a
//!   *query* for a name it exports, unicast to the querier.
//! - **resolving**: a background task reads the group and keeps the announcements it hears
//!   in a bounded cache, by name and binding uid, each until its lease runs out. A lookup
//!   answers from the cache; when the cache has nothing live for the name, the binder sends
//!   a query to the group and waits up to [`MulticastConfig::query_wait`] for answers.
//!   Finding nothing is not an error: the answer is empty, as with every backend.
//!
//! A binder's own exports are put in its own cache as they are announced, so a process
//! resolves what it exports even when multicast loopback is off.
//!
//! The datagrams (`docs/PROTOCOL.md` §10) are `b"RPCd"`, a version byte (1), then one
//! postcard-encoded [`Datagram`]. If an announced address has an unspecified host
//! (`0.0.0.0:port` or `[::]:port`, a server listening on every interface), the receiver
//! replaces the host with the IP address the datagram came from.
//!
//! # Sockets
//!
//! Several binders share the group's port on one host (several processes, or several
//! binders in one process): the group socket is made with `SO_REUSEADDR` and
//! `SO_REUSEPORT`, bound to `0.0.0.0:port`, and joined to the group on
//! [`MulticastConfig::interface`]. On Linux it is also made to receive only the groups it
//! joined itself (`IP_MULTICAST_ALL` off). A second socket, on a port of its own, sends
//! announcements and queries and receives the answers to queries: a datagram unicast to a
//! port several sockets share would reach only one of them.
//!
//! # Against hostile peers
//!
//! Anyone on the network can send datagrams to the group. **Announcements are not
//! authenticated**: a peer can announce any name at any address, or withdraw another's
//! export (until binder authentication comes). What a peer cannot do is make a binder
//! panic or grow without bound:
//!
//! - a datagram over [`MAX_DATAGRAM`] bytes, without the magic, of another version, or
//!   that does not decode is dropped (logged at debug level, and counted by
//!   [`MulticastBinder::dropped_datagrams`]);
//! - an announcement whose name is over [`MAX_NAME`] bytes, whose address is empty or
//!   whose transport code is unknown is dropped;
//! - an announced lease longer than [`LEASE_CLAMP`] times the configured lease is clamped
//!   to that;
//! - the cache holds at most [`MulticastConfig::max_endpoints`] entries. When it is full,
//!   the expired entries are dropped first; if none had expired, the entry evicted is the
//!   oldest of those heard only once (never renewed since): a flood of one-off
//!   announcements churns through itself, while an export that keeps announcing — heard at
//!   least twice — stays. If every entry has been renewed, the newcomer is refused until
//!   one expires.
//!
//! A query is answered with one datagram (at most [`MAX_DATAGRAM`] bytes) per export of
//! the name by this binder, and only for names it exports: what a query with a spoofed
//! source buys an attacker is that many datagrams sent to the victim.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rpc_runtime::wire::{Payload, decode};
use rpc_runtime::{Endpoint, Transport};
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::Notify;

/// The first four bytes of every discovery datagram.
pub const MAGIC: [u8; 4] = *b"RPCd";

/// The discovery protocol version, the byte after [`MAGIC`].
pub const VERSION: u8 = 1;

/// The largest datagram sent or accepted: an Ethernet MTU (1,500 bytes) less the IPv4 and
/// UDP headers, so that a datagram is never fragmented on a LAN.
pub const MAX_DATAGRAM: usize = 1_472;

/// The longest name announced or accepted, in bytes.
pub const MAX_NAME: usize = 255;

/// An announced lease is clamped to this many times the receiver's configured lease.
pub const LEASE_CLAMP: u32 = 10;

/// How a [`Binder::Multicast`](crate::Binder::Multicast) finds its peers, and its bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulticastConfig {
    /// The multicast group and port every binder of the network joins. Default
    /// `239.255.77.77:7777` (an organisation-local address, RFC 2365).
    pub group: SocketAddrV4,
    /// The local interface to join the group on and send from, by its IPv4 address.
    /// Default `0.0.0.0`: the system's choice (the interface of the route to the group,
    /// usually the default route's).
    pub interface: Ipv4Addr,
    /// The TTL of datagrams sent to the group: how many routers they may cross. Default 1:
    /// this network segment only.
    pub ttl: u32,
    /// Whether datagrams sent to the group are also delivered to this host's own members
    /// (`IP_MULTICAST_LOOP`), so that processes of one machine find each other. Default
    /// `true`.
    pub loopback: bool,
    /// How often each live export is announced. Default 1 s.
    pub announce_every: Duration,
    /// The lease announced with each export ([`Binder::export`](crate::Binder::export)):
    /// how long listeners keep it without hearing it again. Default 3 s (three times the
    /// default `announce_every`: two announcements may be lost).
    pub lease: Duration,
    /// How long a lookup that finds nothing live in the cache waits for answers to its
    /// query. Default 200 ms.
    pub query_wait: Duration,
    /// The most endpoints the cache holds (see the module's docs for what happens when it
    /// is full). Default 4,096.
    pub max_endpoints: usize,
}

impl Default for MulticastConfig {
    fn default() -> MulticastConfig {
        MulticastConfig {
            group: SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), 7777),
            interface: Ipv4Addr::UNSPECIFIED,
            ttl: 1,
            loopback: true,
            announce_every: Duration::from_secs(1),
            lease: Duration::from_secs(3),
            query_wait: Duration::from_millis(200),
            max_endpoints: 4_096,
        }
    }
}

/// One export, as announced. `lease_micros == 0` withdraws it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    /// The exported name.
    pub name: String,
    /// Where the server listens: `host:port`, or a Unix socket's path.
    pub address: String,
    /// 0 TCP, 1 UDP, 2 Unix domain socket (as in the binder protocol).
    pub transport: u8,
    /// The server incarnation's binding uid.
    pub binding: u64,
    /// The fingerprint of the interface served.
    pub fingerprint: u64,
    /// How long the export lives from this datagram's arrival, in microseconds; 0 is a
    /// withdrawal.
    pub lease_micros: u64,
}

/// The message a discovery datagram carries, after the magic and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Datagram {
    /// An export is live (or, with a lease of 0, withdrawn). Variant index 0.
    Announce(Announce),
    /// Who exports `name`? Every binder exporting it answers with its announcements,
    /// unicast to the query's source. Variant index 1.
    Query {
        /// The name looked up.
        name: String,
    },
}

/// Why bytes received are not a discovery datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(hidden)]
pub enum Refused {
    /// Over [`MAX_DATAGRAM`] bytes.
    TooLong(usize),
    /// Not starting with [`MAGIC`].
    NoMagic,
    /// Another version of the protocol.
    Version(u8),
    /// The message does not decode.
    Malformed(String),
    /// A name over [`MAX_NAME`] bytes.
    NameTooLong(usize),
    /// An announcement with an unknown transport code.
    Transport(u8),
    /// An announcement with an empty address.
    NoAddress,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooLong(n) => write!(f, "{n} bytes, over {MAX_DATAGRAM}"),
            Refused::NoMagic => write!(f, "no RPCd magic"),
            Refused::Version(v) => write!(f, "version {v} (this binder speaks {VERSION})"),
            Refused::Malformed(e) => write!(f, "{e}"),
            Refused::NameTooLong(n) => write!(f, "a name of {n} bytes, over {MAX_NAME}"),
            Refused::Transport(t) => write!(f, "unknown transport code {t}"),
            Refused::NoAddress => write!(f, "an empty address"),
        }
    }
}

/// Decodes and checks a received discovery datagram: every bound of the module's docs
/// but the lease clamp (which depends on the receiver's configuration). Public for the
/// fuzz target.
#[doc(hidden)]
pub fn decode_datagram(bytes: &[u8]) -> Result<Datagram, Refused> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(Refused::TooLong(bytes.len()));
    }
    let rest = bytes.strip_prefix(&MAGIC).ok_or(Refused::NoMagic)?;
    let (&version, message) = rest.split_first().ok_or(Refused::NoMagic)?;
    if version != VERSION {
        return Err(Refused::Version(version));
    }
    let datagram: Datagram =
        decode(message, "discovery datagram").map_err(|e| Refused::Malformed(e.to_string()))?;
    let name = match &datagram {
        Datagram::Announce(a) => &a.name,
        Datagram::Query { name } => name,
    };
    if name.len() > MAX_NAME {
        return Err(Refused::NameTooLong(name.len()));
    }
    if let Datagram::Announce(a) = &datagram {
        if a.transport > 2 {
            return Err(Refused::Transport(a.transport));
        }
        if a.address.is_empty() {
            return Err(Refused::NoAddress);
        }
    }
    Ok(datagram)
}

/// Encodes a discovery datagram: magic, version, postcard. `None` if it would be over
/// [`MAX_DATAGRAM`] bytes.
#[doc(hidden)]
pub fn encode_datagram(datagram: &Datagram) -> Option<Vec<u8>> {
    let payload = Payload::encode(datagram).ok()?;
    let mut bytes = Vec::with_capacity(MAGIC.len() + 1 + payload.bytes().len());
    bytes.extend_from_slice(&MAGIC);
    bytes.push(VERSION);
    bytes.extend_from_slice(payload.bytes());
    (bytes.len() <= MAX_DATAGRAM).then_some(bytes)
}

/// The group socket: shared port, joined to the group.
fn group_socket(config: &MulticastConfig) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    let port = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, config.group.port());
    socket.bind(&SocketAddr::V4(port).into())?;
    socket.join_multicast_v4(config.group.ip(), &config.interface)?;
    #[cfg(target_os = "linux")]
    socket.set_multicast_all_v4(false)?;
    socket.set_multicast_loop_v4(config.loopback)?;
    socket.set_multicast_ttl_v4(config.ttl)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// The sending socket: a port of its own (answers to queries come back to it), sending
/// to the group on the configured interface.
fn send_socket(config: &MulticastConfig) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).into())?;
    if !config.interface.is_unspecified() {
        socket.set_multicast_if_v4(&config.interface)?;
    }
    socket.set_multicast_loop_v4(config.loopback)?;
    socket.set_multicast_ttl_v4(config.ttl)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// Whether a datagram sent to `config`'s group comes back to this host within `wait`: is
/// there a multicast route, with loopback? Sends one query for a name no one exports.
pub async fn probe(config: &MulticastConfig, wait: Duration) -> std::io::Result<bool> {
    let group = group_socket(config)?;
    let sender = send_socket(config)?;
    let name = format!("rpcgen-probe-{:016x}", fastrand_u64());
    let bytes =
        encode_datagram(&Datagram::Query { name: name.clone() }).expect("a probe query is small");
    sender.send_to(&bytes, config.group).await?;
    let heard = async {
        let mut buf = [0u8; MAX_DATAGRAM + 1];
        loop {
            let Ok((n, _)) = group.recv_from(&mut buf).await else {
                continue;
            };
            if let Ok(Datagram::Query { name: heard }) = decode_datagram(&buf[..n])
                && heard == name
            {
                return;
            }
        }
    };
    Ok(tokio::time::timeout(wait, heard).await.is_ok())
}

/// A random number, without a dependency: the std hasher is randomly keyed.
fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish()
}

/// One cached endpoint.
#[derive(Debug)]
struct Entry {
    endpoint: Endpoint,
    expires: Instant,
    /// The order of first arrival, the key in [`Cache::once`] while never renewed.
    arrival: u64,
    renewed: bool,
}

/// The announcements heard, by name and uid, bounded.
#[derive(Debug, Default)]
struct Cache {
    names: HashMap<String, HashMap<u64, Entry>>,
    len: usize,
    /// The entries heard only once, by order of arrival: the first evicted.
    once: BTreeMap<u64, (String, u64)>,
    arrivals: u64,
    last_purge: Option<Instant>,
    /// Exports withdrawn, by binding uid, until when an announcement of theirs is ignored:
    /// one sent before the withdrawal may arrive after it (reordered on the network, or
    /// sent by the exporter as it withdrew). At most as many as the cache holds.
    withdrawn: HashMap<u64, Instant>,
}

/// What [`Cache::insert`] did.
#[derive(Debug, PartialEq, Eq)]
enum Inserted {
    New,
    Renewed,
    Refused,
}

impl Cache {
    /// Remembers that `binding` was withdrawn, until `until` (if there is room).
    fn withdraw(&mut self, binding: u64, until: Instant, max: usize) {
        if self.withdrawn.len() >= max {
            let now = Instant::now();
            self.withdrawn.retain(|_, &mut u| u > now);
        }
        if self.withdrawn.len() < max {
            self.withdrawn.insert(binding, until);
        }
    }

    /// Whether `binding` was withdrawn lately (an announcement of it is a late one).
    fn is_withdrawn(&self, binding: u64, now: Instant) -> bool {
        self.withdrawn
            .get(&binding)
            .is_some_and(|&until| until > now)
    }

    fn remove(&mut self, name: &str, binding: u64) {
        if let Some(by_uid) = self.names.get_mut(name) {
            if let Some(entry) = by_uid.remove(&binding) {
                self.len -= 1;
                if !entry.renewed {
                    self.once.remove(&entry.arrival);
                }
            }
            if by_uid.is_empty() {
                self.names.remove(name);
            }
        }
    }

    fn purge_expired(&mut self, now: Instant) {
        let mut removed = 0;
        let once = &mut self.once;
        self.names.retain(|_, by_uid| {
            by_uid.retain(|_, entry| {
                let live = entry.expires > now;
                if !live {
                    removed += 1;
                    if !entry.renewed {
                        once.remove(&entry.arrival);
                    }
                }
                live
            });
            !by_uid.is_empty()
        });
        self.len -= removed;
        self.last_purge = Some(now);
    }

    fn insert(
        &mut self,
        name: &str,
        endpoint: Endpoint,
        lease: Duration,
        max: usize,
        now: Instant,
    ) -> Inserted {
        let expires = now + lease;
        if let Some(entry) = self
            .names
            .get_mut(name)
            .and_then(|by_uid| by_uid.get_mut(&endpoint.binding))
        {
            if !entry.renewed {
                entry.renewed = true;
                self.once.remove(&entry.arrival);
            }
            entry.endpoint = endpoint;
            entry.expires = expires;
            return Inserted::Renewed;
        }
        if self.len >= max {
            // A full purge costs a pass over the cache: at most every 100 ms under a flood.
            if self
                .last_purge
                .is_none_or(|at| now.duration_since(at) >= Duration::from_millis(100))
            {
                self.purge_expired(now);
            }
            if self.len >= max {
                match self.once.pop_first() {
                    Some((_, (old_name, old_uid))) => {
                        // Marked renewed so that `remove` leaves `once` alone.
                        if let Some(e) = self
                            .names
                            .get_mut(&old_name)
                            .and_then(|m| m.get_mut(&old_uid))
                        {
                            e.renewed = true;
                        }
                        self.remove(&old_name, old_uid);
                    }
                    None => return Inserted::Refused,
                }
            }
        }
        if max == 0 {
            return Inserted::Refused;
        }
        let arrival = self.arrivals;
        self.arrivals += 1;
        self.once
            .insert(arrival, (name.to_string(), endpoint.binding));
        self.names.entry(name.to_string()).or_default().insert(
            endpoint.binding,
            Entry {
                endpoint,
                expires,
                arrival,
                renewed: false,
            },
        );
        self.len += 1;
        Inserted::New
    }

    fn live(&self, name: &str, now: Instant) -> Vec<Endpoint> {
        let mut found: Vec<Endpoint> = self
            .names
            .get(name)
            .into_iter()
            .flat_map(|by_uid| by_uid.values())
            .filter(|e| e.expires > now)
            .map(|e| e.endpoint.clone())
            .collect();
        found.sort_by_key(|e| e.binding);
        found
    }
}

/// What the binder, its receiving task and its announcers share.
#[derive(Debug)]
struct Shared {
    config: MulticastConfig,
    sender: UdpSocket,
    cache: Mutex<Cache>,
    /// This binder's live exports, by uid, to answer queries.
    exports: Mutex<HashMap<u64, Announce>>,
    /// Woken at every new cache entry (lookups waiting for answers).
    arrived: Notify,
    dropped: std::sync::atomic::AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn transport_of(code: u8) -> Transport {
    match code {
        1 => Transport::Udp,
        2 => Transport::Unix,
        _ => Transport::Tcp,
    }
}

/// `address` with an unspecified host replaced by `source`'s IP.
fn substitute(address: &str, source: Option<IpAddr>) -> String {
    match (address.parse::<SocketAddr>(), source) {
        (Ok(mut at), Some(ip)) if at.ip().is_unspecified() => {
            at.set_ip(ip);
            at.to_string()
        }
        // Our own export, put in our own cache: this host.
        (Ok(mut at), None) if at.ip().is_unspecified() => {
            at.set_ip(match at.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
            at.to_string()
        }
        _ => address.to_string(),
    }
}

impl Shared {
    /// Applies an announcement heard from `source` (`None`: one of ours).
    fn apply(&self, announce: &Announce, source: Option<IpAddr>) {
        let mut cache = lock(&self.cache);
        let now = Instant::now();
        if announce.lease_micros == 0 {
            cache.remove(&announce.name, announce.binding);
            cache.withdraw(
                announce.binding,
                now + self.config.lease,
                self.config.max_endpoints,
            );
            return;
        }
        if cache.is_withdrawn(announce.binding, now) {
            tracing::debug!(
                "discovery: an announcement of `{}` after its withdrawal, ignored",
                announce.name
            );
            return;
        }
        let clamp = self.config.lease.saturating_mul(LEASE_CLAMP);
        let lease = Duration::from_micros(announce.lease_micros).min(clamp);
        let endpoint = Endpoint {
            address: substitute(&announce.address, source),
            transport: transport_of(announce.transport),
            binding: announce.binding,
            fingerprint: announce.fingerprint,
        };
        let inserted = cache.insert(
            &announce.name,
            endpoint,
            lease,
            self.config.max_endpoints,
            Instant::now(),
        );
        drop(cache);
        match inserted {
            Inserted::New => self.arrived.notify_waiters(),
            Inserted::Renewed => {}
            Inserted::Refused => tracing::debug!(
                "discovery: cache full ({} endpoints), announcement of `{}` refused",
                self.config.max_endpoints,
                announce.name
            ),
        }
    }

    fn drop_datagram(&self, from: SocketAddr, why: &dyn std::fmt::Display) {
        self.dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!("discovery: dropped a datagram from {from}: {why}");
    }

    async fn handle(&self, bytes: &[u8], from: SocketAddr) {
        match decode_datagram(bytes) {
            Ok(Datagram::Announce(announce)) => self.apply(&announce, Some(from.ip())),
            Ok(Datagram::Query { name }) => {
                let answers: Vec<Announce> = lock(&self.exports)
                    .values()
                    .filter(|a| a.name == name)
                    .cloned()
                    .collect();
                for answer in answers {
                    if let Some(bytes) = encode_datagram(&Datagram::Announce(answer))
                        && let Err(e) = self.sender.send_to(&bytes, from).await
                    {
                        tracing::debug!("discovery: answering {from}: {e}");
                    }
                }
            }
            Err(why) => self.drop_datagram(from, &why),
        }
    }

    /// Sends `announce` to the group.
    async fn announce(&self, announce: &Announce) -> std::io::Result<()> {
        let bytes = encode_datagram(&Datagram::Announce(announce.clone())).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the announcement of `{}` is over {MAX_DATAGRAM} bytes",
                    announce.name
                ),
            )
        })?;
        self.sender.send_to(&bytes, self.config.group).await?;
        Ok(())
    }
}

/// Reads both sockets until the binder is dropped (the task is aborted).
async fn receive(shared: Arc<Shared>, group: UdpSocket) {
    // One byte more than the largest accepted datagram, so that a longer one shows.
    let mut on_group = vec![0u8; MAX_DATAGRAM + 1];
    let mut on_sender = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let (n, from, buf) = tokio::select! {
            got = group.recv_from(&mut on_group) => match got {
                Ok((n, from)) => (n, from, &on_group),
                Err(e) => { pause(e).await; continue; }
            },
            got = shared.sender.recv_from(&mut on_sender) => match got {
                Ok((n, from)) => (n, from, &on_sender),
                Err(e) => { pause(e).await; continue; }
            },
        };
        shared.handle(&buf[..n], from).await;
    }
}

/// After a receive error (an ICMP error reported on the socket, say): a short pause, so
/// that a lasting error does not spin.
async fn pause(e: std::io::Error) {
    tracing::debug!("discovery: receiving: {e}");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// The multicast backend's state: sockets, cache, local exports, and the receiving task
/// (stopped when the last [`Binder`](crate::Binder) clone holding it is dropped).
#[derive(Debug)]
pub struct MulticastBinder {
    shared: Arc<Shared>,
    receiver: tokio::task::JoinHandle<()>,
}

impl Drop for MulticastBinder {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

/// Removes an export from its binder's table when its announcer stops (dropped or
/// aborted), so that queries are no longer answered for it.
struct Announcing {
    shared: Arc<Shared>,
    uid: u64,
}

impl Drop for Announcing {
    fn drop(&mut self) {
        lock(&self.shared.exports).remove(&self.uid);
    }
}

/// Why an export was refused before anything was sent.
#[derive(Debug)]
pub(crate) enum ExportRefused {
    /// Another export of this binder has the uid.
    Conflict,
    /// Too long a name, an address that does not fit, or the network refused the
    /// first announcement.
    Invalid(String),
}

impl MulticastBinder {
    /// Joins the group and starts listening.
    pub(crate) fn start(config: MulticastConfig) -> std::io::Result<MulticastBinder> {
        let group = group_socket(&config)?;
        let sender = send_socket(&config)?;
        let shared = Arc::new(Shared {
            config,
            sender,
            cache: Mutex::new(Cache::default()),
            exports: Mutex::new(HashMap::new()),
            arrived: Notify::new(),
            dropped: std::sync::atomic::AtomicU64::new(0),
        });
        let receiver = tokio::spawn(receive(shared.clone(), group));
        Ok(MulticastBinder { shared, receiver })
    }

    /// The configuration this binder runs with.
    pub fn config(&self) -> &MulticastConfig {
        &self.shared.config
    }

    /// How many endpoints the cache holds now (expired ones not yet purged included):
    /// never more than [`MulticastConfig::max_endpoints`].
    pub fn cached_endpoints(&self) -> usize {
        lock(&self.shared.cache).len
    }

    /// How many datagrams were dropped as malformed since the binder started.
    pub fn dropped_datagrams(&self) -> u64 {
        self.shared
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Announces `announce` now and then every `min(announce_every, lease / 3)` until the
    /// returned task is aborted.
    pub(crate) async fn export(
        &self,
        announce: Announce,
    ) -> Result<tokio::task::JoinHandle<()>, ExportRefused> {
        if announce.name.len() > MAX_NAME {
            return Err(ExportRefused::Invalid(format!(
                "a name of {} bytes (at most {MAX_NAME} can be announced)",
                announce.name.len()
            )));
        }
        {
            let mut exports = lock(&self.shared.exports);
            if let Some(existing) = exports.get(&announce.binding)
                && (existing.name != announce.name || existing.address != announce.address)
            {
                return Err(ExportRefused::Conflict);
            }
            exports.insert(announce.binding, announce.clone());
        }
        let guard = Announcing {
            shared: self.shared.clone(),
            uid: announce.binding,
        };
        self.shared.apply(&announce, None);
        if let Err(e) = self.shared.announce(&announce).await {
            drop(guard);
            lock(&self.shared.cache).remove(&announce.name, announce.binding);
            return Err(ExportRefused::Invalid(format!(
                "announcing `{}` to {}: {e}",
                announce.name, self.shared.config.group
            )));
        }
        let lease = Duration::from_micros(announce.lease_micros);
        let period = self
            .shared
            .config
            .announce_every
            .min(lease / 3)
            .max(Duration::from_millis(1));
        Ok(tokio::spawn(async move {
            let guard = guard;
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is now: announced above
            loop {
                ticks.tick().await;
                // Withdrawn meanwhile (the task is being stopped): nothing more to say.
                if !lock(&guard.shared.exports).contains_key(&announce.binding) {
                    return;
                }
                guard.shared.apply(&announce, None);
                if let Err(e) = guard.shared.announce(&announce).await {
                    // The next announcement may get through; the lease covers two misses.
                    tracing::warn!("announcing `{}`: {e}", announce.name);
                }
            }
        }))
    }

    /// Withdraws export `uid`: forgotten here, and a withdrawal announced to the group.
    pub(crate) async fn withdraw(&self, uid: u64) {
        let Some(mut announce) = lock(&self.shared.exports).remove(&uid) else {
            return;
        };
        lock(&self.shared.cache).remove(&announce.name, uid);
        announce.lease_micros = 0;
        if let Err(e) = self.shared.announce(&announce).await {
            tracing::warn!("withdrawing `{}`: {e}", announce.name);
        }
    }

    /// The live endpoints of `name`: from the cache, or else after a query and up to
    /// [`MulticastConfig::query_wait`] of answers. Once a first answer came, the lookup
    /// waits a quarter of `query_wait` more (or what is left of it) for other exports of
    /// the name, then answers.
    pub async fn resolve(&self, name: &str) -> std::io::Result<Vec<Endpoint>> {
        let found = lock(&self.shared.cache).live(name, Instant::now());
        if !found.is_empty() || name.len() > MAX_NAME {
            return Ok(found);
        }
        let deadline = tokio::time::Instant::now() + self.shared.config.query_wait;
        let bytes = encode_datagram(&Datagram::Query {
            name: name.to_string(),
        })
        .ok_or_else(|| std::io::Error::other("the query does not fit in a datagram"))?;
        let mut asked = false;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let found = lock(&self.shared.cache).live(name, Instant::now());
            if !found.is_empty() {
                let more =
                    (deadline - tokio::time::Instant::now()).min(self.shared.config.query_wait / 4);
                tokio::time::sleep(more).await;
                return Ok(lock(&self.shared.cache).live(name, Instant::now()));
            }
            if !asked {
                self.shared
                    .sender
                    .send_to(&bytes, self.shared.config.group)
                    .await?;
                asked = true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce(name: &str, uid: u64) -> Announce {
        Announce {
            name: name.to_string(),
            address: "127.0.0.1:9".to_string(),
            transport: 0,
            binding: uid,
            fingerprint: 7,
            lease_micros: 1_000_000,
        }
    }

    #[test]
    fn datagrams_round_trip_and_start_with_magic_and_version() {
        let datagram = Datagram::Announce(announce("bank", 0x1234));
        let bytes = encode_datagram(&datagram).unwrap();
        assert_eq!(&bytes[..5], b"RPCd\x01");
        // Variant 0, then the name as a length and its bytes.
        assert_eq!(&bytes[5..11], b"\x00\x04bank");
        assert_eq!(decode_datagram(&bytes).unwrap(), datagram);
        let query = encode_datagram(&Datagram::Query { name: "x".into() }).unwrap();
        assert_eq!(query, b"RPCd\x01\x01\x01x");
    }

    #[test]
    fn the_worked_example_of_protocol_md_section_10() {
        let announce = Announce {
            name: "bank".into(),
            address: "10.0.0.5:7000".into(),
            transport: 0,
            binding: 0x1234,
            fingerprint: 7,
            lease_micros: 3_000_000,
        };
        let mut expected = b"RPCd\x01\x00\x04bank\x0d10.0.0.5:7000\x00".to_vec();
        expected.extend_from_slice(&[0xb4, 0x24, 0x07, 0xc0, 0x8d, 0xb7, 0x01]);
        assert_eq!(
            encode_datagram(&Datagram::Announce(announce)).unwrap(),
            expected
        );
        assert_eq!(
            encode_datagram(&Datagram::Query {
                name: "bank".into()
            })
            .unwrap(),
            b"RPCd\x01\x01\x04bank"
        );
    }

    #[test]
    fn bad_datagrams_are_refused() {
        let good = encode_datagram(&Datagram::Announce(announce("bank", 1))).unwrap();
        assert_eq!(decode_datagram(b"RPC"), Err(Refused::NoMagic));
        assert_eq!(decode_datagram(b"RPCd"), Err(Refused::NoMagic));
        let mut other = good.clone();
        other[4] = 2;
        assert_eq!(decode_datagram(&other), Err(Refused::Version(2)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            decode_datagram(&trailing),
            Err(Refused::Malformed(_))
        ));
        assert!(matches!(
            decode_datagram(&good[..good.len() - 1]),
            Err(Refused::Malformed(_))
        ));
        assert_eq!(
            decode_datagram(&vec![0; MAX_DATAGRAM + 1]),
            Err(Refused::TooLong(MAX_DATAGRAM + 1))
        );
        let long = encode_datagram(&Datagram::Query {
            name: "n".repeat(MAX_NAME + 1),
        })
        .unwrap();
        assert_eq!(
            decode_datagram(&long),
            Err(Refused::NameTooLong(MAX_NAME + 1))
        );
        let mut unknown = announce("bank", 1);
        unknown.transport = 3;
        let bytes = encode_datagram(&Datagram::Announce(unknown)).unwrap();
        assert_eq!(decode_datagram(&bytes), Err(Refused::Transport(3)));
        let big = Announce {
            address: "a".repeat(MAX_DATAGRAM),
            ..announce("bank", 1)
        };
        assert_eq!(encode_datagram(&Datagram::Announce(big)), None);
    }

    fn endpoint(uid: u64) -> Endpoint {
        Endpoint {
            address: "127.0.0.1:9".into(),
            transport: Transport::Tcp,
            binding: uid,
            fingerprint: 7,
        }
    }

    #[test]
    fn a_withdrawn_export_is_remembered_for_a_lease_and_the_memory_is_bounded() {
        let mut cache = Cache::default();
        let now = Instant::now();
        let lease = Duration::from_millis(600);
        cache.withdraw(1, now + lease, 2);
        assert!(
            cache.is_withdrawn(1, now),
            "a late announcement of 1 is ignored"
        );
        assert!(!cache.is_withdrawn(1, now + lease), "but not after a lease");
        assert!(!cache.is_withdrawn(2, now));
        cache.withdraw(2, now + lease, 2);
        // Full of live entries: a third is not remembered (nothing grows past the bound).
        cache.withdraw(3, now + lease, 2);
        assert_eq!(cache.withdrawn.len(), 2);
        assert!(!cache.is_withdrawn(3, now));
    }

    #[test]
    fn a_full_cache_evicts_the_oldest_entry_heard_once_and_keeps_renewed_ones() {
        let mut cache = Cache::default();
        let now = Instant::now();
        let lease = Duration::from_secs(10);
        assert_eq!(
            cache.insert("kept", endpoint(1), lease, 3, now),
            Inserted::New
        );
        assert_eq!(
            cache.insert("kept", endpoint(1), lease, 3, now),
            Inserted::Renewed
        );
        for uid in 2..100 {
            cache.insert(&format!("flood{uid}"), endpoint(uid), lease, 3, now);
            assert!(cache.len <= 3);
        }
        assert_eq!(cache.live("kept", now).len(), 1);
        assert_eq!(cache.live("flood99", now).len(), 1);
        assert_eq!(cache.live("flood98", now).len(), 1);
        assert_eq!(cache.live("flood97", now).len(), 0);
        assert_eq!(cache.once.len(), 2);
        // Every entry renewed: newcomers are refused until one expires.
        cache.insert("flood99", endpoint(99), lease, 3, now);
        cache.insert("flood98", endpoint(98), lease, 3, now);
        assert_eq!(
            cache.insert("new", endpoint(200), lease, 3, now),
            Inserted::Refused
        );
        let later = now + Duration::from_secs(11);
        assert_eq!(
            cache.insert("new", endpoint(200), lease, 3, later),
            Inserted::New
        );
        assert_eq!(cache.len, 1);
        cache.remove("new", 200);
        assert_eq!((cache.len, cache.once.len(), cache.names.len()), (0, 0, 0));
    }

    #[test]
    fn an_unspecified_host_becomes_the_source() {
        let source = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(substitute("0.0.0.0:80", source), "10.0.0.5:80");
        assert_eq!(substitute("10.1.1.1:80", source), "10.1.1.1:80");
        assert_eq!(substitute("/tmp/x.sock", source), "/tmp/x.sock");
        assert_eq!(substitute("0.0.0.0:80", None), "127.0.0.1:80");
    }
}
