//! Where a server's replies go: a stream connection's outbox, or a datagram back to the
//! peer that sent the request.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;

use crate::outbox::{Outbox, When, WriteHalf};
use crate::wire::{MAX_DATAGRAM, Message};

/// A destination for replies.
pub(crate) trait ReplySink: Send + Sync + 'static {
    /// Sends (or queues) a reply; false when the destination is gone.
    fn send(&self, message: Message, when: When) -> bool;
    /// The largest message it carries.
    fn max_message(&self, max_frame: usize) -> usize;
}

impl<W: WriteHalf> ReplySink for Outbox<W> {
    fn send(&self, message: Message, when: When) -> bool {
        Outbox::send(self, message, when)
    }

    fn max_message(&self, max_frame: usize) -> usize {
        max_frame
    }
}

/// The peer of one datagram, and the socket to answer it from.
pub(crate) struct DatagramPeer {
    pub socket: Arc<UdpSocket>,
    pub peer: SocketAddr,
}

impl ReplySink for DatagramPeer {
    /// Sends at once. A datagram the socket cannot take now is dropped, like one the
    /// network loses: the client's retransmission and the reply history cover both.
    fn send(&self, message: Message, _: When) -> bool {
        match self.socket.try_send_to(message.datagram(), self.peer) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(peer = %self.peer, "reply dropped: {e}");
                true
            }
        }
    }

    fn max_message(&self, max_frame: usize) -> usize {
        max_frame.min(MAX_DATAGRAM)
    }
}
