//! Serving over UDP: one socket, many clients, one message per datagram.
//!
//! Each datagram goes through the same checks and dispatch as a request read from a
//! connection, and its reply goes back to the address it came from. A datagram that is
//! not a well-formed request is dropped with a debug log line: on UDP anyone can send
//! anything, and one bad datagram says nothing about the next. A Reply answers a
//! callback this server made to a client's object, and goes to that callback's channel.
//!
//! The same loop serves a client's callback table over UDP ([`serve_relayed`]): there
//! the datagrams are handed over by the client's connection, and the answers go out
//! through the client's own socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::Shared;
use super::dispatch::{Exchange, accept};
use super::handshake::{Origin, Proof, authenticate};
use super::reply_sink::DatagramPeer;
use crate::objects::reverse::is_reply;
use crate::objects::scope::Way;
use crate::outbox::When;

/// Serves datagrams until the server shuts down; then lets running calls finish.
pub(crate) async fn serve(
    socket: Arc<UdpSocket>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut running = JoinSet::new();
    // One byte more than the largest datagram, to see one that was cut.
    let mut buf = vec![0u8; crate::wire::MAX_DATAGRAM + 1];
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buf) => received,
            _ = stopped.wait_for(|stop| *stop) => break,
            Some(_) = running.join_next(), if !running.is_empty() => continue,
        };
        let (len, peer) = match received {
            Ok(received) => received,
            // An ICMP error for an earlier reply (the client went away): nothing to do.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => {
                tracing::warn!("receiving a datagram failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if is_reply(&buf[..len]) {
            for session in shared.datagram_ways().forward(peer, &buf[..len]).await {
                shared.sessions.heard(session, Instant::now());
            }
            continue;
        }
        receive(&buf[..len], peer, &socket, &shared, &mut running).await;
    }
    finish(running, &shared).await;
}

/// Serves the datagrams `inbox` hands over as if they came from `peer`, answering
/// through `socket`, until `inbox` closes (a UDP client's callback table: the
/// datagrams are its server's calls back, the socket the client's).
pub(crate) async fn serve_relayed(
    mut inbox: mpsc::Receiver<Vec<u8>>,
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    shared: Arc<Shared>,
) {
    let mut running = JoinSet::new();
    loop {
        let datagram = tokio::select! {
            datagram = inbox.recv() => datagram,
            Some(_) = running.join_next(), if !running.is_empty() => continue,
        };
        let Some(datagram) = datagram else {
            break;
        };
        receive(&datagram, peer, &socket, &shared, &mut running).await;
    }
    finish(running, &shared).await;
}

/// Checks and acts on one datagram from `peer`.
async fn receive(
    datagram: &[u8],
    peer: SocketAddr,
    socket: &Arc<UdpSocket>,
    shared: &Arc<Shared>,
    running: &mut JoinSet<()>,
) {
    let len = datagram.len();
    let mut origin = Origin::Datagram { peer, len };
    let checked = match authenticate(datagram, &origin, shared) {
        Ok(checked) => checked,
        Err(why) => {
            tracing::debug!(%peer, "datagram dropped: {why}");
            return;
        }
    };
    let sink = DatagramPeer {
        socket: socket.clone(),
        peer,
        secret: match &checked.2 {
            Proof::Session(secret) => *secret,
            _ => None,
        },
        limit: match &checked.2 {
            Proof::Session(_) => None,
            _ => Some(len),
        },
    };
    let way = Way::Datagram(socket.clone(), peer);
    let mut exchange = Exchange {
        shared,
        sink: &sink,
        origin: &mut origin,
        running,
        when: When::Now,
        way: &way,
    };
    if let Err(why) = accept(checked, None, &mut exchange).await {
        tracing::debug!(%peer, "datagram dropped: {why}");
    }
}

/// Lets running calls finish, within the shutdown grace.
async fn finish(mut running: JoinSet<()>, shared: &Shared) {
    let grace = shared.config.shutdown_grace;
    if tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        running.abort_all();
    }
}
