//! Calls through a reference to an object of this process: no socket, but the same
//! encoding both ways, so that the object gets copies of the arguments and the caller
//! copies of the results, exactly as from a remote caller (copy/restore keeps its
//! meaning), and the reply is read by the same code as a remote one.

use std::sync::Arc;

use super::connection::Incoming;
use super::{Arguments, Client, ReplyMessage};
use crate::error::CallError;
use crate::objects::scope::{self, Arrival};
use crate::server::{Reply, Service};
use crate::spec::MethodSpec;
use crate::wire::context::{ContextOut, RequestContext};
use crate::wire::received::Received;
use crate::wire::{FLAG_CONTEXT, Header, Message, Payload, Status};

/// Calls `method` of `service` (or fails for the reason a reference has none) with
/// `arguments`; None for a oneway method.
pub(super) async fn call<A: Arguments + ?Sized>(
    service: &Result<Arc<dyn Service>, &'static str>,
    client: &Client,
    method: &'static MethodSpec,
    arguments: &A,
) -> Result<Option<ReplyMessage>, CallError> {
    let service = service
        .as_ref()
        .map_err(|why| CallError::UnknownObject((*why).to_string()))?;
    let protocol = |e: &dyn std::fmt::Display| {
        CallError::Protocol(format!("a local call of `{}`: {e}", method.name))
    };
    let table = crate::objects::callback_table();
    let context = ContextOut {
        deadline_micros: 0,
        quantum_micros: 0,
        metadata: &[],
    };
    let payload =
        scope::exporting(&table, || arguments.payload(&context)).map_err(|e| protocol(&e))?;
    let header = Header::request((0, 0, 0), 0, client.object(), method.id, method.fingerprint)
        .with_flags(FLAG_CONTEXT);
    let request = payload.seal(&header);
    let (_, with_context) = Message::parse(request.datagram()).map_err(|e| protocol(&e))?;
    let (_, args) = RequestContext::split(with_context).map_err(|e| protocol(&e))?;
    let home = table.clone();
    let (status, payload) =
        match crate::server::run_local(service.clone(), method, args, table).await {
            Ok(Reply::Ok(payload)) => (Status::Ok, payload),
            Ok(Reply::Exception(payload)) => (Status::Exception, payload),
            Ok(Reply::Fault(text)) => (Status::ServerFault, Payload::of(&text)),
            Ok(Reply::None) => return Ok(None),
            Err(e) => (Status::BadRequest, Payload::of(&e.to_string())),
        };
    let bytes = payload
        .seal(&Header::reply_to(&header, status))
        .datagram()
        .to_vec();
    let (header, payload) = Message::parse(&bytes).map_err(|e| protocol(&e))?;
    let payload_at = bytes.len() - payload.len();
    Ok(Some(ReplyMessage {
        incoming: Incoming {
            header,
            message: Received::new(bytes),
            payload_at,
        },
        arrival: Arrival::Unreachable("a local object's reply names no other process", home),
    }))
}
