//! Calling rpcgen services without generated code.
//!
//! Generated stubs know their types at compile time. This crate knows them at run time,
//! from a checked [`idl::Model`]:
//!
//! - [`Value`]: a value of any IDL type, encoded to and decoded from exactly the
//!   postcard bytes generated code reads and writes ([`codec`]), and converted to and from
//!   JSON with the mapping `docs/DYNAMIC.md` documents ([`json`]);
//! - [`DynamicInterface`]: an interface's wire facts made from the model (what
//!   generated code has as constants) and its methods' request and reply records;
//! - [`DynamicClient`]: calls by method name with [`Value`] or JSON arguments, over
//!   [`rpc_runtime::Client::do_operation`], the call path of the generated stubs, so
//!   every method keeps its semantics; to one server or through a binder ([`Target`]);
//! - [`describe()`]: what `cargo rpcgen describe` prints;
//! - `gateway` (feature `gateway`): an HTTP/JSON gateway, `POST /package.Interface/method`.
//!
//! A server without generated code is the runtime's own
//! [`mailbox`](rpc_runtime::server::mailbox) (getRequest/sendReply) with
//! [`DynamicInterface::spec`] and the [`codec`].

mod client;
pub mod codec;
mod describe;
#[cfg(feature = "gateway")]
pub mod gateway;
mod interface;
pub mod json;
mod target;
pub mod value;

pub use client::{DynamicClient, DynamicError};
pub use describe::{describe, describe_json};
pub use interface::{DynamicInterface, DynamicMethod, Record, semantics, semantics_text};
pub use target::Target;
pub use value::{Fields, Value, ValueError};
