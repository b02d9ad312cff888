//! Where a server's replies go: a stream connection's outbox, or a datagram back to the
//! peer that sent the request.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;

use crate::outbox::{Outbox, When, WriteHalf};
use crate::wire::tag::Secret;
use crate::wire::{MAX_DATAGRAM, Message, Payload};

/// A destination for replies.
pub(crate) trait ReplySink: Send + Sync + 'static {
    /// Sends (or queues) a reply; false when the destination is gone.
    fn send(&self, message: Message, when: When) -> bool;
    /// The largest message it carries.
    fn max_message(&self, max_frame: usize) -> usize;
    /// A handle a session may keep, to send a call's reply here as well when a
    /// retransmission of the call arrived here while it ran (streams only: a datagram's
    /// reply goes to the address of the copy that ran).
    fn redirect(&self) -> Option<Arc<dyn ReplySink>> {
        None
    }
    /// Whether `other` is this very destination.
    fn is(&self, _other: &Arc<dyn ReplySink>) -> bool {
        false
    }
}

impl<W: WriteHalf> ReplySink for Outbox<W> {
    fn send(&self, message: Message, when: When) -> bool {
        Outbox::send(self, message, when)
    }

    fn max_message(&self, max_frame: usize) -> usize {
        max_frame
    }
}

/// A stream connection's outbox, as the connection holds it.
impl<W: WriteHalf> ReplySink for Arc<Outbox<W>> {
    fn send(&self, message: Message, when: When) -> bool {
        Outbox::send(self, message, when)
    }

    fn max_message(&self, max_frame: usize) -> usize {
        max_frame
    }

    fn redirect(&self) -> Option<Arc<dyn ReplySink>> {
        Some(self.clone())
    }

    fn is(&self, other: &Arc<dyn ReplySink>) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(other), Arc::as_ptr(self))
    }
}

/// The peer of one datagram, and the socket to answer it from. Cloning it is cheap (no
/// allocation), so a datagram costs none for where its answer goes.
#[derive(Clone)]
pub(crate) struct DatagramPeer {
    pub socket: Arc<UdpSocket>,
    pub peer: SocketAddr,
    /// The secret of the session the datagram proved it belongs to: replies are tagged
    /// with it. None for datagrams outside a session.
    pub secret: Option<Secret>,
    /// For a peer whose address nothing proved (no session tag): the size of its
    /// datagram, which no answer may exceed. Anyone can write any source address on a
    /// datagram; a server that answered with more than it received would let them flood
    /// a third party with its replies.
    pub limit: Option<usize>,
}

impl ReplySink for DatagramPeer {
    /// Sends at once. A datagram the socket cannot take now is dropped, like one the
    /// network loses: the client's retransmission and the session's stored replies
    /// cover both.
    fn send(&self, message: Message, _: When) -> bool {
        let message = match (self.limit, &self.secret) {
            (Some(limit), _) if message.len() > limit => {
                // Only the status fits: the header alone is never longer than the
                // request's, whose fields it copies.
                match Message::parse(message.datagram()) {
                    Ok((header, _)) => Payload::empty().seal(&header),
                    _ => return true,
                }
            }
            (_, Some(secret)) => message.tagged(secret),
            _ => message,
        };
        match self.socket.try_send_to(message.datagram(), self.peer) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(peer = %self.peer, "reply dropped: {e}");
                true
            }
        }
    }

    fn max_message(&self, max_frame: usize) -> usize {
        // Room for the session tag.
        max_frame.min(MAX_DATAGRAM - crate::wire::tag::TAG_LEN)
    }
}
