//! Calls without generated code: arguments as [`Value`]s or JSON, encoded by the model,
//! sent with [`Client::do_operation`](rpc_runtime::Client::do_operation) — the call
//! path of the generated stubs, with each method's semantics — and the reply decoded by
//! the model.

use std::sync::Arc;

use rpc_runtime::client::Encoded;
use rpc_runtime::{CallError, Client};

use crate::interface::{DynamicInterface, DynamicMethod};
use crate::{Value, ValueError, codec, json};

/// Why a dynamic call failed.
#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    /// The interface has no such method.
    #[error("{0}")]
    UnknownMethod(String),
    /// The arguments do not fit the method's parameters; nothing was sent.
    #[error("arguments of `{method}`: {error}")]
    Arguments {
        /// The method called.
        method: String,
        /// What does not fit, and where.
        error: ValueError,
    },
    /// The call failed: the runtime's error, the exception decoded as a [`Value`].
    #[error("{0}")]
    Call(CallError<Value>),
}

impl DynamicError {
    /// Whether the call ran on the server, as far as the caller can know.
    pub fn outcome(&self) -> rpc_runtime::Outcome {
        match self {
            DynamicError::Call(e) => e.outcome(),
            _ => rpc_runtime::Outcome::NotExecuted,
        }
    }
}

/// A client of one interface, typed by a model at run time.
#[derive(Debug, Clone)]
pub struct DynamicClient {
    interface: Arc<DynamicInterface>,
    client: Client,
}

impl DynamicClient {
    /// Calls `interface` through `client`, a runtime client made for
    /// `interface.spec()` (of one channel, or bound by name through a binder).
    pub fn new(interface: Arc<DynamicInterface>, client: Client) -> DynamicClient {
        DynamicClient { interface, client }
    }

    /// The interface called.
    pub fn interface(&self) -> &Arc<DynamicInterface> {
        &self.interface
    }

    /// Calls `method` with `arguments`, a struct value of its request record (the `in`
    /// and `inout` parameters by name). Returns the reply record (result and
    /// `inout`/`out` values by name), or None for a `oneway` method.
    pub async fn call(
        &self,
        method: &str,
        arguments: &Value,
    ) -> Result<Option<Value>, DynamicError> {
        let method = self.method(method)?;
        let model = self.interface.model();
        let bytes = codec::encode_record(model, &method.request, arguments).map_err(|error| {
            DynamicError::Arguments {
                method: method.method.name.clone(),
                error,
            }
        })?;
        self.send(method, &bytes).await
    }

    /// Calls `method` with its arguments as a JSON object (see `docs/DYNAMIC.md` for
    /// the mapping), and returns the reply record as JSON; `null` for a `oneway`
    /// method.
    pub async fn call_json(
        &self,
        method: &str,
        arguments: &serde_json::Value,
    ) -> Result<serde_json::Value, DynamicError> {
        let method = self.method(method)?;
        let model = self.interface.model();
        let invalid = |error| DynamicError::Arguments {
            method: method.method.name.clone(),
            error,
        };
        let arguments =
            json::from_json_record(model, &method.request, arguments).map_err(invalid)?;
        let bytes = codec::encode_record(model, &method.request, &arguments).map_err(invalid)?;
        match self.send(method, &bytes).await? {
            None => Ok(serde_json::Value::Null),
            Some(reply) => json::to_json_record(model, &method.reply, &reply).map_err(|e| {
                DynamicError::Call(CallError::Protocol(format!(
                    "reply to `{}`: {e}",
                    method.method.name
                )))
            }),
        }
    }

    /// The JSON form of an exception a call raised: `{"exception": "bank.BankError",
    /// "value": {"NotFound": {"id": 9}}}`.
    pub fn exception_json(&self, method: &str, exception: &Value) -> serde_json::Value {
        let raised = self.method(method).ok().and_then(DynamicMethod::exception);
        let value = raised
            .as_ref()
            .and_then(|ty| json::to_json(self.interface.model(), ty, exception).ok())
            .unwrap_or(serde_json::Value::Null);
        let name = raised.map(|ty| ty.to_string()).unwrap_or_default();
        serde_json::json!({ "exception": name, "value": value })
    }

    fn method(&self, name: &str) -> Result<&DynamicMethod, DynamicError> {
        self.interface
            .method(name)
            .map_err(DynamicError::UnknownMethod)
    }

    /// doOperation with the encoded request record; the reply decoded by the model.
    async fn send(
        &self,
        method: &DynamicMethod,
        request: &[u8],
    ) -> Result<Option<Value>, DynamicError> {
        let model = self.interface.model();
        let reply = self
            .client
            .do_operation(method.spec, &Encoded(request))
            .await
            .map_err(|e| DynamicError::Call(e.map_exception(|never| match never {})))?;
        let Some(reply) = reply else {
            return Ok(None);
        };
        let exception = method.exception();
        let results = reply
            .outcome(method.spec, |bytes| match &exception {
                Some(ty) => codec::decode(model, ty, bytes),
                None => Err(rpc_runtime::wire::DecodeError::Malformed {
                    what: "exception",
                    message: "the method declares no exception".into(),
                }),
            })
            .map_err(DynamicError::Call)?;
        codec::decode_record(model, &method.reply, results)
            .map(Some)
            .map_err(|e| {
                DynamicError::Call(CallError::Protocol(format!(
                    "reply to `{}`: {e}",
                    method.method.name
                )))
            })
    }
}
