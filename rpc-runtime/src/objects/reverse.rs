//! Callbacks, the server's side: calls to objects a client sent, carried back over the
//! connection (or, over UDP, to the socket address) the client itself uses.
//!
//! A message's kind says its direction. A client normally sends only requests and
//! control messages (Request, Open, Attach, Ack…) and its server only replies; a
//! callback is the same protocol with the roles swapped: the server sends requests to
//! an object the client exported, and the client replies. So a server that receives a
//! Reply hands it to its callback machinery, which is the ordinary client one: a
//! [`Channel`] whose connection is a *relay* (what it sends goes out on the client's
//! connection; the Replies that come in on it are handed to it by [`ReverseLink::forward`]).
//! Callbacks thus have sessions, slots, invocation ids, the reply history, limits and
//! every call semantics, exactly as forward calls do; and the client needs no
//! listening socket (callbacks reach clients behind NAT and firewalls).
//!
//! A [`ReverseLink`] belongs to the client's *session*, not to one connection: when the
//! client reconnects and attaches its session to a new connection, the link is plugged
//! into that one, and the callback channel reconnects through it (attaching its own
//! session with the client's callback table, so that calls in flight keep their
//! at-most-once history). While the client has no connection, a callback waits for one
//! within its deadline. The link lives as long as the session does on this server.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::table::ObjectTable;
use crate::client::Channel;
use crate::outbox::{StreamOutbox, When};
use crate::wire::Message;

/// Replies queued for a callback channel's connection. Over a stream the connection's
/// reader waits when it is full; over UDP a reply beyond it is dropped, like one the
/// network lost (the call is sent again and its stored reply replayed).
const RELAY_QUEUE: usize = 256;

/// The most callback links one datagram peer address routes replies to. A peer may
/// write any source address on a datagram, so an address is not proof of anything;
/// a reply goes to every link of its address, and the one whose call it answers takes
/// it (the others ignore it, as a client ignores a datagram that is not its reply).
const LINKS_PER_PEER: usize = 4;

/// Whether a message is a reply of this protocol version (its first two bytes are the
/// version and the kind); anything else goes the usual way, where garbage is refused.
pub(crate) fn is_reply(message: &[u8]) -> bool {
    message.get(..2) == Some(&[crate::wire::VERSION, crate::wire::Kind::Reply as u8])
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What carries a link's messages to its client now.
#[derive(Clone)]
pub(crate) enum Carrier {
    /// The outbox of the stream connection the session is attached to.
    Stream(Weak<dyn StreamOutbox>),
    /// The server's UDP socket, to the address the client's datagrams came from.
    Datagram(Arc<UdpSocket>, SocketAddr),
}

impl Carrier {
    fn is_datagram(&self) -> bool {
        matches!(self, Carrier::Datagram(..))
    }

    /// Whether a relay made over `self` can go on over `other`: the same stream, or
    /// datagrams (which need no connection: only their address changes).
    fn continues(&self, other: &Carrier) -> bool {
        match (self, other) {
            (Carrier::Stream(a), Carrier::Stream(b)) => Weak::ptr_eq(a, b),
            (Carrier::Datagram(..), Carrier::Datagram(..)) => true,
            _ => false,
        }
    }
}

struct LinkState {
    carrier: Option<Carrier>,
    /// Into the callback channel's current relay connection, if it has one.
    inbox: Option<mpsc::Sender<Vec<u8>>>,
    /// Counts relays: a relay sends only while it is the current one, so that nothing
    /// of an old relay goes out on a new connection where its session is not attached.
    relay: u64,
}

/// The server's way to call back the objects of one client session.
pub(crate) struct ReverseLink {
    /// The session whose client it calls back.
    pub session: u64,
    /// Where objects this server sends in its calls back are exported: its own table.
    pub exports: Arc<ObjectTable>,
    state: Mutex<LinkState>,
    /// Bumped whenever a carrier is plugged, for a relay waiting for one.
    plugged: watch::Sender<u64>,
    channel: OnceLock<Channel>,
}

/// The callback channel's end of a relay: what it receives, and its number.
pub(crate) struct Relay {
    pub link: Weak<ReverseLink>,
    pub number: u64,
    pub datagram: bool,
    pub inbox: mpsc::Receiver<Vec<u8>>,
}

impl ReverseLink {
    pub fn new(exports: Arc<ObjectTable>, session: u64) -> Arc<ReverseLink> {
        Arc::new(ReverseLink {
            session,
            exports,
            state: Mutex::new(LinkState {
                carrier: None,
                inbox: None,
                relay: 0,
            }),
            plugged: watch::Sender::new(0),
            channel: OnceLock::new(),
        })
    }

    /// The channel that calls the client's objects (one per session).
    pub fn channel(self: &Arc<Self>) -> Channel {
        self.channel
            .get_or_init(|| Channel::reverse(Arc::downgrade(self), self.exports.clone()))
            .clone()
    }

    /// From now on, messages to the client go by `carrier`. A relay over another
    /// connection is closed: the channel reconnects over this one.
    pub fn plug(&self, carrier: Carrier) {
        {
            let mut state = lock(&self.state);
            if !state
                .carrier
                .as_ref()
                .is_some_and(|c| c.continues(&carrier))
            {
                state.inbox = None;
                state.relay += 1;
            }
            state.carrier = Some(carrier);
        }
        self.plugged.send_modify(|n| *n += 1);
    }

    /// The connection of `outbox` is gone: if it carried this link, nothing does now
    /// (the channel's relay closes; its calls wait for the client to come back).
    pub fn unplug(&self, outbox: &Weak<dyn StreamOutbox>) {
        let mut state = lock(&self.state);
        if matches!(&state.carrier, Some(Carrier::Stream(o)) if Weak::ptr_eq(o, outbox)) {
            state.carrier = None;
            state.inbox = None;
            state.relay += 1;
        }
    }

    /// A new relay for the channel, over the carrier plugged now or, if none is, the
    /// next one plugged; an error once the link is gone (its session was forgotten).
    /// The caller bounds the wait (a call's deadline).
    pub async fn dial(link: &Weak<ReverseLink>) -> io::Result<Relay> {
        let gone = || {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "the client that sent the reference is gone (its session ended)",
            )
        };
        loop {
            let mut plugged = {
                let link_now = link.upgrade().ok_or_else(gone)?;
                let mut state = lock(&link_now.state);
                if let Some(carrier) = &state.carrier {
                    let datagram = carrier.is_datagram();
                    let (sender, inbox) = mpsc::channel(RELAY_QUEUE);
                    state.inbox = Some(sender);
                    state.relay += 1;
                    return Ok(Relay {
                        link: link.clone(),
                        number: state.relay,
                        datagram,
                        inbox,
                    });
                }
                link_now.plugged.subscribe()
            };
            // Ends with an error when the link is dropped.
            plugged.changed().await.map_err(|_| gone())?;
        }
    }

    /// The address the link's datagrams go to now, if they are datagrams.
    fn datagram_peer(&self) -> Option<SocketAddr> {
        match &lock(&self.state).carrier {
            Some(Carrier::Datagram(_, peer)) => Some(*peer),
            _ => None,
        }
    }

    /// The carrier of relay `number`, if it is still the current relay.
    fn carrier_of(&self, number: u64) -> Option<Carrier> {
        let state = lock(&self.state);
        (state.relay == number)
            .then(|| state.carrier.clone())
            .flatten()
    }

    /// Sends a message of relay `number` to the client; false if that relay is over.
    pub async fn send(&self, number: u64, message: Message) -> bool {
        match self.carrier_of(number) {
            Some(Carrier::Stream(outbox)) => {
                outbox.upgrade().is_some_and(|o| o.send(message, When::Now))
            }
            // A datagram the network loses or the socket refuses is sent again.
            Some(Carrier::Datagram(socket, peer)) => {
                let _ = socket.send_to(message.datagram(), peer).await;
                true
            }
            None => false,
        }
    }

    /// [`send`](Self::send) without waiting (from a `Drop`).
    pub fn send_now(&self, number: u64, message: Message) -> bool {
        match self.carrier_of(number) {
            Some(Carrier::Stream(outbox)) => {
                outbox.upgrade().is_some_and(|o| o.send(message, When::Now))
            }
            Some(Carrier::Datagram(socket, peer)) => {
                socket.try_send_to(message.datagram(), peer).is_ok()
            }
            None => false,
        }
    }

    /// Hands a Reply from the client to the channel's relay; dropped if there is none
    /// (nobody waits for it).
    pub async fn forward(&self, message: Vec<u8>) {
        let (inbox, datagram) = {
            let state = lock(&self.state);
            let datagram = state.carrier.as_ref().is_some_and(Carrier::is_datagram);
            (state.inbox.clone(), datagram)
        };
        let Some(inbox) = inbox else {
            return;
        };
        if datagram {
            let _ = inbox.try_send(message);
        } else {
            let _ = inbox.send(message).await;
        }
    }
}

/// The callback link plugged into one stream connection: the link of the session last
/// attached (or sending a reference) on it. A connection carries the callbacks of one
/// session at a time; a client's channel uses one session per connection.
pub(crate) struct StreamWay {
    outbox: Weak<dyn StreamOutbox>,
    plugged: Mutex<Option<Arc<ReverseLink>>>,
}

impl StreamWay {
    pub fn new(outbox: Weak<dyn StreamOutbox>) -> Arc<StreamWay> {
        Arc::new(StreamWay {
            outbox,
            plugged: Mutex::new(None),
        })
    }

    /// Carries `link`'s messages on this connection from now on.
    pub fn plug(&self, link: &Arc<ReverseLink>) {
        let before = {
            let mut plugged = lock(&self.plugged);
            if plugged.as_ref().is_some_and(|l| Arc::ptr_eq(l, link)) {
                return;
            }
            plugged.replace(link.clone())
        };
        if let Some(before) = before {
            before.unplug(&self.outbox);
        }
        link.plug(Carrier::Stream(self.outbox.clone()));
    }

    /// Hands a Reply read on the connection to the plugged link; the session of that
    /// link (whose client is thus alive).
    pub async fn forward(&self, message: Vec<u8>) -> Option<u64> {
        let link = lock(&self.plugged).clone()?;
        link.forward(message).await;
        Some(link.session)
    }

    /// The connection is done.
    pub fn close(&self) {
        if let Some(link) = lock(&self.plugged).take() {
            link.unplug(&self.outbox);
        }
    }
}

/// Which callback links the Replies from each datagram peer address go to, bounded by
/// the server's session count (a link belongs to a session).
pub(crate) struct DatagramWays {
    by_peer: Mutex<HashMap<SocketAddr, Vec<Weak<ReverseLink>>>>,
    max_peers: usize,
}

impl DatagramWays {
    pub fn new(max_peers: usize) -> DatagramWays {
        DatagramWays {
            by_peer: Mutex::new(HashMap::new()),
            max_peers: max_peers.max(1),
        }
    }

    /// Carries `link`'s messages through `socket` to `peer` from now on.
    pub fn plug(&self, link: &Arc<ReverseLink>, socket: &Arc<UdpSocket>, peer: SocketAddr) {
        let weak = Arc::downgrade(link);
        let mut by_peer = lock(&self.by_peer);
        // The link leaves the address it was reached at before.
        if let Some(before) = link.datagram_peer().filter(|&before| before != peer)
            && let Some(links) = by_peer.get_mut(&before)
        {
            links.retain(|l| !Weak::ptr_eq(l, &weak));
            if links.is_empty() {
                by_peer.remove(&before);
            }
        }
        if by_peer.len() >= self.max_peers && !by_peer.contains_key(&peer) {
            by_peer.retain(|_, links| {
                links.retain(|l| l.strong_count() > 0);
                !links.is_empty()
            });
            if by_peer.len() >= self.max_peers {
                tracing::debug!(%peer, "too many datagram peers with callbacks");
                return;
            }
        }
        let links = by_peer.entry(peer).or_default();
        if !links.iter().any(|l| Weak::ptr_eq(l, &weak)) {
            links.retain(|l| l.strong_count() > 0);
            if links.len() >= LINKS_PER_PEER {
                links.remove(0);
            }
            links.push(weak);
        }
        drop(by_peer);
        link.plug(Carrier::Datagram(socket.clone(), peer));
    }

    /// Hands a Reply from `peer` to its links; the sessions of those links.
    pub async fn forward(&self, peer: SocketAddr, message: &[u8]) -> Vec<u64> {
        let links: Vec<Arc<ReverseLink>> = match lock(&self.by_peer).get(&peer) {
            Some(links) => links.iter().filter_map(Weak::upgrade).collect(),
            None => return Vec::new(),
        };
        let mut sessions = Vec::with_capacity(links.len());
        for link in links {
            link.forward(message.to_vec()).await;
            sessions.push(link.session);
        }
        sessions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(session: u64) -> Arc<ReverseLink> {
        let limits = crate::server::Limits::default();
        ReverseLink::new(ObjectTable::new(session, limits), session)
    }

    fn routed(ways: &DatagramWays) -> usize {
        lock(&ways.by_peer).values().map(Vec::len).sum()
    }

    /// A peer may write any source address: what it can make the server remember is
    /// bounded by peers and by links per peer, and a link moves rather than spreads.
    #[tokio::test]
    async fn datagram_routes_stay_within_their_bounds_whatever_addresses_peers_claim() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let ways = DatagramWays::new(3);
        let peer = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let links: Vec<_> = (0..20).map(link).collect();
        // One link claiming a thousand addresses is routed from the last one only.
        for port in 1..=1_000 {
            ways.plug(&links[0], &socket, peer(port));
        }
        assert_eq!(routed(&ways), 1);
        assert_eq!(links[0].datagram_peer(), Some(peer(1_000)));
        // Twenty links on one address: the last four.
        for l in &links {
            ways.plug(l, &socket, peer(7));
        }
        assert_eq!(lock(&ways.by_peer)[&peer(7)].len(), LINKS_PER_PEER);
        // More addresses than the bound, each with a live link: refused beyond it.
        for (i, l) in links[..10].iter().enumerate() {
            ways.plug(l, &socket, peer(2_000 + i as u16));
        }
        assert!(
            lock(&ways.by_peer).len() <= 3,
            "{:?}",
            lock(&ways.by_peer).len()
        );
        assert!(routed(&ways) <= 3 * LINKS_PER_PEER);
        // Links that are gone make room again.
        drop(links);
        let fresh = link(99);
        ways.plug(&fresh, &socket, peer(3_000));
        assert_eq!(lock(&ways.by_peer)[&peer(3_000)].len(), 1);
    }
}
