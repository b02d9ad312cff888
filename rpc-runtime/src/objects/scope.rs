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

use std::net::SocketAddr;

use tokio::net::UdpSocket;

use super::reverse::StreamWay;
use super::table::{ExportError, LocalObject, ObjectTable};
use crate::client::Channel;
use crate::server::Shared;
use crate::wire::EncodeError;

/// How to reach the sender of a message being decoded.
#[derive(Clone)]
pub(crate) enum Arrival {
    /// A reply: the server behind this channel.
    Channel(Channel),
    /// A request: its client, over the way the request came.
    Client(ClientWay),
    /// A local call: references to the sender's own objects cannot be called back (for
    /// this reason); the receiver's own table.
    Unreachable(&'static str, Arc<ObjectTable>),
}

/// How a server reaches the client of a request it is decoding.
#[derive(Clone)]
pub(crate) struct ClientWay {
    pub shared: Arc<Shared>,
    /// The session the request proved; 0 outside a session.
    pub session: u64,
    pub way: Way,
}

/// What a request came over.
#[derive(Clone)]
pub(crate) enum Way {
    /// A stream connection.
    Stream(Arc<StreamWay>),
    /// A datagram, from this address to this socket.
    Datagram(Arc<UdpSocket>, SocketAddr),
}

impl ClientWay {
    /// The session's callback channel, which from now on goes the way this request
    /// came (the client's latest connection or address).
    fn channel(&self) -> Result<Channel, &'static str> {
        if self.session == 0 {
            return Err("the client called outside a session: its objects cannot be called back");
        }
        let link = self
            .shared
            .callback_link(self.session)
            .ok_or("the client's session has ended")?;
        match &self.way {
            Way::Stream(way) => way.plug(&link),
            Way::Datagram(socket, peer) => self.shared.datagram_ways().plug(&link, socket, *peer),
        }
        Ok(link.channel())
    }
}

impl Arrival {
    /// The receiving side's own table: a reference to one of its objects is local here.
    pub fn home(&self) -> &Arc<ObjectTable> {
        match self {
            Arrival::Channel(channel) => channel.exports(),
            Arrival::Client(client) => client.shared.objects(),
            Arrival::Unreachable(_, home) => home,
        }
    }

    /// A channel to the sender, or why there is none.
    pub fn channel(&self) -> Result<Channel, &'static str> {
        match self {
            Arrival::Channel(channel) => Ok(channel.clone()),
            Arrival::Client(client) => client.channel(),
            Arrival::Unreachable(why, _) => Err(why),
        }
    }
}

/// What the copies of one message exported: each object with its id and its copy's
/// transit token.
pub(crate) type Exported = Vec<(Arc<LocalObject>, u64, u64)>;

/// The table of the message being encoded, and what it exported so far: the encoder
/// may run twice over one message (once to measure it), and a call may send its
/// request again; every copy must write the same ids and tokens.
struct Exporting {
    table: Arc<ObjectTable>,
    done: Exported,
    /// Why an export failed: serde's error (postcard's) would lose the words.
    failed: Option<String>,
}

thread_local! {
    static EXPORTS: RefCell<Option<Exporting>> = const { RefCell::new(None) };
    static ARRIVAL: RefCell<Option<Arrival>> = const { RefCell::new(None) };
}

/// Runs `f` (encoding one message) with local objects exported into `table`; an
/// export that failed is the error.
pub(crate) fn exporting<T>(
    table: &Arc<ObjectTable>,
    f: impl FnOnce() -> Result<T, EncodeError>,
) -> Result<T, EncodeError> {
    exporting_again(table, &mut Vec::new(), f)
}

/// [`exporting`], for a copy of a message whose earlier copies exported `done`: their
/// objects keep their ids and tokens, so that a request sent again carries the same
/// arguments as its first copy (the server takes it for a duplicate, not for another
/// request with the same invocation id).
pub(crate) fn exporting_again<T>(
    table: &Arc<ObjectTable>,
    done: &mut Exported,
    f: impl FnOnce() -> Result<T, EncodeError>,
) -> Result<T, EncodeError> {
    let scope = Exporting {
        table: table.clone(),
        done: std::mem::take(done),
        failed: None,
    };
    let before = EXPORTS.with(|e| e.replace(Some(scope)));
    let result = f();
    let ours = EXPORTS.with(|e| std::mem::replace(&mut *e.borrow_mut(), before));
    let failed = ours.and_then(|scope| {
        *done = scope.done;
        scope.failed
    });
    match failed {
        Some(why) => Err(EncodeError::new(why)),
        None => result,
    }
}

/// Runs `f` (decoding one message) with `arrival` as the way to its sender.
pub(crate) fn arriving<R>(arrival: Arrival, f: impl FnOnce() -> R) -> R {
    let before = ARRIVAL.with(|a| a.replace(Some(arrival)));
    let result = f();
    ARRIVAL.with(|a| *a.borrow_mut() = before);
    result
}

/// Exports `object` for the message being encoded: the table's uid, the object's id and
/// the copy's transit token (one per message, however often it is encoded); None
/// outside a message.
pub(crate) fn export(object: &Arc<LocalObject>) -> Option<Result<(u64, u64, u64), ExportError>> {
    EXPORTS.with(|e| {
        let mut scope = e.borrow_mut();
        let scope = scope.as_mut()?;
        if let Some((_, id, token)) = scope.done.iter().find(|(o, ..)| Arc::ptr_eq(o, object)) {
            return Some(Ok((scope.table.uid, *id, *token)));
        }
        let exported = scope.table.export(object);
        if let Err(e) = &exported {
            scope.failed = Some(e.to_string());
        }
        Some(exported.map(|(id, token)| {
            scope.done.push((object.clone(), id, token));
            (scope.table.uid, id, token)
        }))
    })
}

/// The way to the sender of the message decoded here; None outside a message.
pub(crate) fn arrival() -> Option<Arrival> {
    ARRIVAL.with(|a| a.borrow().clone())
}
