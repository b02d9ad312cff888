//! Fault injection: proxies that sit between clients and a server on 127.0.0.1 and lose,
//! duplicate, delay and reorder datagrams ([`Proxy::udp`]) or cut TCP connections
//! ([`Proxy::tcp`]), for tests and for trying an application's behaviour.
//!
//! Every decision (drop this one? duplicate it? how long to delay it? when to cut?)
//! comes from a random generator seeded with [`Faults::seed`], one generator per
//! direction and connection, so a failing run can be replayed from its seed: the same
//! datagrams get the same fates. (Which datagram arrives first after random delays also
//! depends on timing, which no seed controls.)
//!
//! Enabled by the `chaos` feature.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// What a proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Probability that a datagram is dropped.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Each datagram is delayed by a random time up to this; different delays reorder.
    pub max_delay: Duration,
    /// TCP only: each connection is cut after a random time between these two (None:
    /// never).
    pub cut_after: Option<(Duration, Duration)>,
    /// UDP only: probability that a datagram from a client is kept and delivered once
    /// more, long after ([`Faults::replay_after`]): a late duplicate that arrives after
    /// its call has been answered and acknowledged, as an old datagram stuck in a
    /// network might.
    pub replay: f64,
    /// How late a replayed datagram arrives: a random time up to this.
    pub replay_after: Duration,
    /// Seed of the random decisions.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            loss: 0.0,
            duplicate: 0.0,
            max_delay: Duration::ZERO,
            cut_after: None,
            replay: 0.0,
            replay_after: Duration::from_secs(1),
            seed: 1,
        }
    }
}

/// What a proxy has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Datagrams (or connections) received.
    pub received: u64,
    /// Datagrams dropped.
    pub dropped: u64,
    /// Datagrams delivered twice.
    pub duplicated: u64,
    /// Connections cut.
    pub cut: u64,
    /// Datagrams delivered once more, late.
    pub replayed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    cut: AtomicU64,
    replayed: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ProxyStats {
        ProxyStats {
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            duplicated: self.duplicated.load(Ordering::Relaxed),
            cut: self.cut.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
        }
    }
}

/// A running proxy. Clients send to (or connect to) [`Proxy::local_addr`]; it stops
/// when dropped.
#[derive(Debug)]
pub struct Proxy {
    local_addr: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// A lossy UDP path to `server`, on 127.0.0.1. Each client gets a socket of its own
    /// towards the server, so replies find their way back; faults apply both ways.
    pub async fn udp(server: SocketAddr, faults: Faults) -> std::io::Result<Proxy> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let local_addr = front.local_addr()?;
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run_udp(front, server, faults, counters.clone()));
        Ok(Proxy {
            local_addr,
            counters,
            task,
        })
    }

    /// A TCP path to `server`, on 127.0.0.1, that cuts every connection after a random
    /// time ([`Faults::cut_after`]).
    pub async fn tcp(server: SocketAddr, faults: Faults) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let local_addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run_tcp(listener, server, faults, counters.clone()));
        Ok(Proxy {
            local_addr,
            counters,
            task,
        })
    }

    /// Where clients send or connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> ProxyStats {
        self.counters.snapshot()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One direction of faults: a seeded generator and the counters.
#[derive(Clone)]
struct Fate {
    faults: Faults,
    counters: Arc<Counters>,
}

impl Fate {
    /// The delays of the copies of one datagram to deliver: none, one or two.
    fn decide(&self, rng: &mut fastrand::Rng) -> Vec<Duration> {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        if rng.f64() < self.faults.loss {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Vec::new();
        }
        let copies = if rng.f64() < self.faults.duplicate {
            self.counters.duplicated.fetch_add(1, Ordering::Relaxed);
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| self.faults.max_delay.mul_f64(rng.f64()))
            .collect()
    }
}

/// Sends `bytes` to `to` from `socket` after each delay.
fn deliver(socket: &Arc<UdpSocket>, to: Option<SocketAddr>, bytes: &[u8], delays: Vec<Duration>) {
    for delay in delays {
        let socket = socket.clone();
        let bytes = bytes.to_vec();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let _ = match to {
                Some(to) => socket.send_to(&bytes, to).await,
                None => socket.send(&bytes).await,
            };
        });
    }
}

async fn run_udp(
    front: Arc<UdpSocket>,
    server: SocketAddr,
    faults: Faults,
    counters: Arc<Counters>,
) {
    let fate = Fate { faults, counters };
    let mut upstreams: HashMap<SocketAddr, (Arc<UdpSocket>, JoinHandle<()>)> = HashMap::new();
    let mut rng = fastrand::Rng::with_seed(faults.seed);
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((len, client)) = front.recv_from(&mut buf).await else {
            continue;
        };
        if !upstreams.contains_key(&client) {
            let Ok(upstream) = UdpSocket::bind("127.0.0.1:0").await else {
                continue;
            };
            if upstream.connect(server).await.is_err() {
                continue;
            }
            let upstream = Arc::new(upstream);
            // Replies: from the server back to this client, with faults of their own.
            let back = tokio::spawn(relay_back(
                upstream.clone(),
                front.clone(),
                client,
                fate.clone(),
                faults.seed ^ upstreams.len() as u64 ^ 0x9e37_79b9_7f4a_7c15,
            ));
            upstreams.insert(client, (upstream, back));
        }
        let mut delays = fate.decide(&mut rng);
        if rng.f64() < faults.replay {
            fate.counters.replayed.fetch_add(1, Ordering::Relaxed);
            delays.push(faults.replay_after.mul_f64(0.5 + rng.f64() / 2.0));
        }
        if let Some((upstream, _)) = upstreams.get(&client) {
            deliver(upstream, None, &buf[..len], delays);
        }
    }
}

async fn relay_back(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    fate: Fate,
    seed: u64,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut buf = vec![0u8; 65_536];
    loop {
        match upstream.recv(&mut buf).await {
            Ok(len) => {
                let delays = fate.decide(&mut rng);
                deliver(&front, Some(client), &buf[..len], delays);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return,
        }
    }
}

async fn run_tcp(
    listener: TcpListener,
    server: SocketAddr,
    faults: Faults,
    counters: Arc<Counters>,
) {
    let mut rng = fastrand::Rng::with_seed(faults.seed);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        let life = faults
            .cut_after
            .map(|(min, max)| min + (max.saturating_sub(min)).mul_f64(rng.f64()));
        let counters = counters.clone();
        connections.spawn(async move {
            let Ok(upstream) = TcpStream::connect(server).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let (mut client, mut upstream) = (client, upstream);
            let relay = tokio::io::copy_bidirectional(&mut client, &mut upstream);
            match life {
                Some(life) => {
                    if tokio::time::timeout(life, relay).await.is_err() {
                        counters.cut.fetch_add(1, Ordering::Relaxed);
                        // Dropping both ends resets the connections mid-stream.
                        let _ = client.shutdown().await;
                    }
                }
                None => {
                    let _ = relay.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
}
