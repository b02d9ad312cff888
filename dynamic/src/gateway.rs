//! An HTTP/JSON gateway to rpcgen services (feature `gateway`; `cargo rpcgen gateway`).
//!
//! It loads interfaces from a model and serves, over HTTP/1.1:
//!
//! - `POST /<package>.<Interface>/<method>` with the arguments as a JSON object (the
//!   `in` and `inout` parameters by name; an empty body is `{}`): the call is made with
//!   the method's semantics through a [`DynamicClient`] and answered in JSON;
//! - `GET /`: every interface and method, with its path, semantics, id and fingerprint.
//!
//! | the call | HTTP status | body |
//! |---|---|---|
//! | returned | 200 | the reply record: `{"result": ..., "amount": ...}` (`inout`/`out` values by name) |
//! | `oneway`, sent | 202 | `null` |
//! | raised its exception | 422 | `{"exception": "bank.BankError", "value": {"NotFound": {"id": 9}}}` |
//! | no such interface or method in the IDL | 404 | `{"error": ...}` |
//! | the body is not JSON, or does not fit the parameters | 400 | `{"error": "...: `amount`: expected i64, found string"}` |
//! | the body is larger than [`MAX_BODY`] | 413 | |
//! | the server failed running it (a panic) | 500 | `{"error": ...}` |
//! | the server cannot be reached, refused the call, or disagrees on the interface | 502 | `{"error": ...}` |
//! | no server exports the binder name | 503 | `{"error": ...}` |
//! | no reply in time, or the server stopped the call at its deadline | 504 | `{"error": ...}` |
//!
//! Every answer to a call carries the header `rpc-outcome`: `executed`, `not-executed`
//! or `unknown` — whether the call ran, as far as the gateway can know (a 504 after the
//! request went out is `unknown`: it may have run).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rpc_runtime::{CallError, Outcome};

use crate::{DynamicClient, DynamicError, DynamicInterface, Target, describe_json};

/// The largest request body accepted, in bytes (1 MiB); larger ones get 413.
pub const MAX_BODY: usize = 1 << 20;

/// The name of the header that says whether a call ran.
pub const OUTCOME_HEADER: &str = "rpc-outcome";

/// What a gateway serves: a client per interface, by full name.
#[derive(Debug)]
pub struct Gateway {
    clients: HashMap<String, DynamicClient>,
    listing: serde_json::Value,
}

impl Gateway {
    /// A gateway to `interfaces`, whose calls go to `target`.
    pub fn new(interfaces: Vec<DynamicInterface>, target: &Target) -> Gateway {
        let listing = describe_json(&interfaces);
        let clients = interfaces
            .into_iter()
            .map(|interface| {
                let client = target.client(interface.spec());
                (
                    interface.spec().name.to_owned(),
                    DynamicClient::new(Arc::new(interface), client),
                )
            })
            .collect();
        Gateway { clients, listing }
    }

    /// The gateway's routes, to serve with [`axum::serve()`] or nest in a larger app.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(list))
            .route("/{interface}/{method}", post(call))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(Arc::new(self))
    }
}

/// Serves `gateway` on `listener` until the task is dropped or the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, gateway: Gateway) -> std::io::Result<()> {
    axum::serve(listener, gateway.router()).await
}

async fn list(State(gateway): State<Arc<Gateway>>) -> Response {
    axum::Json(gateway.listing.clone()).into_response()
}

async fn call(
    State(gateway): State<Arc<Gateway>>,
    Path((interface, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(client) = gateway.clients.get(&interface) else {
        let known: Vec<&str> = gateway.clients.keys().map(String::as_str).collect();
        let text = format!(
            "no interface `{interface}` (interfaces: {})",
            known.join(", ")
        );
        return answer(StatusCode::NOT_FOUND, Outcome::NotExecuted, error(text));
    };
    let arguments = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice(&body) {
            Ok(json) => json,
            Err(e) => {
                let text = format!("the body is not JSON: {e}");
                return answer(StatusCode::BAD_REQUEST, Outcome::NotExecuted, error(text));
            }
        }
    };
    let oneway = client
        .interface()
        .method(&method)
        .is_ok_and(|m| m.method.semantics == idl::Semantics::Maybe);
    match client.call_json(&method, &arguments).await {
        Ok(reply) if oneway => answer(StatusCode::ACCEPTED, Outcome::Unknown, reply),
        Ok(reply) => answer(StatusCode::OK, Outcome::Executed, reply),
        Err(DynamicError::Call(CallError::Exception(exception))) => answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            Outcome::Executed,
            client.exception_json(&method, &exception),
        ),
        Err(e) => answer(status_of(&e), e.outcome(), error(e.to_string())),
    }
}

/// The HTTP status of a failed call (see the module's table).
fn status_of(e: &DynamicError) -> StatusCode {
    match e {
        DynamicError::UnknownMethod(_) => StatusCode::NOT_FOUND,
        DynamicError::Arguments { .. } => StatusCode::BAD_REQUEST,
        DynamicError::Call(call) => match call {
            CallError::Exception(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CallError::ServerFault { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            CallError::Unbound(_) => StatusCode::SERVICE_UNAVAILABLE,
            CallError::Timeout(_) | CallError::Killed { .. } => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        },
    }
}

fn error(text: String) -> serde_json::Value {
    serde_json::json!({ "error": text })
}

fn answer(status: StatusCode, outcome: Outcome, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let outcome = match outcome {
        Outcome::Executed => "executed",
        Outcome::NotExecuted => "not-executed",
        _ => "unknown",
    };
    response
        .headers_mut()
        .insert(OUTCOME_HEADER, HeaderValue::from_static(outcome));
    response
}
