//! Serving over UDP: one socket, many clients, one message per datagram.
//!
//! Each datagram goes through the same checks and dispatch as a request read from a
//! connection, and its reply goes back to the address it came from. A datagram that is
//! not a well-formed request is dropped with a debug log line: on UDP anyone can send
//! anything, and one bad datagram says nothing about the next.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Shared;
use super::dispatch::{Exchange, accept};
use super::handshake::{Origin, Proof, authenticate};
use super::reply_sink::DatagramPeer;
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
        let mut origin = Origin::Datagram { peer, len };
        let checked = match authenticate(&buf[..len], &origin, &shared) {
            Ok(checked) => checked,
            Err(why) => {
                tracing::debug!(%peer, "datagram dropped: {why}");
                continue;
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
        let mut exchange = Exchange {
            shared: &shared,
            sink: &sink,
            origin: &mut origin,
            running: &mut running,
            when: When::Now,
            link: None,
        };
        if let Err(why) = accept(checked, None, &mut exchange).await {
            tracing::debug!(%peer, "datagram dropped: {why}");
        }
    }
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
