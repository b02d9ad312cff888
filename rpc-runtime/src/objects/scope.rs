//! What encoding and decoding a message needs to know about references, set by the
//! runtime around the encoding or decoding of each message it sends or receives: serde
//! has no room for it in its signatures, so it is kept for the thread while that one
//! message is encoded or decoded (a synchronous piece of code), and restored after.
//!
//! - Encoding: the table a local object sent in this message is exported into (the
//!   callback table for a client's requests, the server's own table for its replies and
//!   for the calls it makes back over a client's connection).
//! - Decoding: how to reach the peer that sent the message, for the references it sends
//!   to its own objects (their address is empty).

use std::cell::RefCell;
use std::sync::Arc;

use super::reverse::ReverseLink;
use super::table::ObjectTable;
use crate::client::Channel;

/// How to reach the sender of a message being decoded.
#[derive(Clone)]
pub(crate) enum Arrival {
    /// A reply: the server behind this channel.
    Channel(Channel),
    /// A request on a stream connection: its client, over that connection.
    Link(Arc<ReverseLink>),
    /// A request from a datagram peer, or in-process: references to the sender's own
    /// objects cannot be called back.
    Unreachable(&'static str),
}

impl Arrival {
    /// A channel to the sender, or why there is none.
    pub fn channel(&self) -> Result<Channel, &'static str> {
        match self {
            Arrival::Channel(channel) => Ok(channel.clone()),
            Arrival::Link(link) => Ok(link.channel()),
            Arrival::Unreachable(why) => Err(why),
        }
    }
}

thread_local! {
    static EXPORTS: RefCell<Option<Arc<ObjectTable>>> = const { RefCell::new(None) };
    static ARRIVAL: RefCell<Option<Arrival>> = const { RefCell::new(None) };
}

/// Runs `f` (encoding one message) with local objects exported into `table`.
pub(crate) fn exporting<R>(table: &Arc<ObjectTable>, f: impl FnOnce() -> R) -> R {
    let before = EXPORTS.with(|e| e.replace(Some(table.clone())));
    let result = f();
    EXPORTS.with(|e| *e.borrow_mut() = before);
    result
}

/// Runs `f` (decoding one message) with `arrival` as the way to its sender.
pub(crate) fn arriving<R>(arrival: Arrival, f: impl FnOnce() -> R) -> R {
    let before = ARRIVAL.with(|a| a.replace(Some(arrival)));
    let result = f();
    ARRIVAL.with(|a| *a.borrow_mut() = before);
    result
}

/// The table local objects are exported into here; None outside a message.
pub(crate) fn exports() -> Option<Arc<ObjectTable>> {
    EXPORTS.with(|e| e.borrow().clone())
}

/// The way to the sender of the message decoded here; None outside a message.
pub(crate) fn arrival() -> Option<Arrival> {
    ARRIVAL.with(|a| a.borrow().clone())
}
