//! What a server does with one message, whatever carried it: answer a handshake or an
//! acknowledgement, or check a request, filter duplicates, run it and reply.
//!
//! A request is checked before anything runs, in this order: the session it names
//! ([`session_of`]); its target: binding uid, object, method id and fingerprint
//! ([`resolve`]); its arguments (decoded by the service); and, for at-most-once and
//! oneway calls, its invocation id against the session's slot table ([`filter`]).
//! Whatever fails is a [`Refusal`], answered in one place ([`refuse`]); nothing runs.
//!
//! An admitted call takes a permit of the server's semaphore (one permit in sequential
//! mode) and is polled once right here ([`run`]): a handler that finishes without
//! waiting (most do) replies without a task switch. One that must wait continues as a
//! task of its own, so that slow calls do not hold up the connection.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::TryAcquireError;
use tokio::task::JoinSet;

use super::answer::Answer;
use super::catch_unwind::CatchUnwind;
use super::context::CallContext;
use super::handshake::{Checked, Origin, Proof, attach, exterminate, open, peer_hash};
use super::reply_sink::ReplySink;
use super::running::{KillReason, KillSwitch, Limits, supervise};
use super::service::{Handler, Service};
use super::session::Verdict;
use super::{Invocation, Shared};
use crate::metadata::Metadata;
use crate::objects::scope::{Arrival, ClientWay, Way, arriving};
use crate::outbox::When;
use crate::spec::{MethodSpec, Semantics};
use crate::trace;
use crate::wire::context::RequestContext;
use crate::wire::received::sharing;
use crate::wire::{FLAG_ONEWAY, Header, Kind, Message, Payload, Status};

/// Where one message came from and where its answers go.
pub(crate) struct Exchange<'a, S> {
    pub shared: &'a Arc<Shared>,
    /// The connection's outbox, or the datagram's peer.
    pub sink: &'a S,
    /// What the connection has proved (streams) or who sent the datagram.
    pub origin: &'a mut Origin,
    /// The calls of this connection that had to wait, as tasks.
    pub running: &'a mut JoinSet<()>,
    /// When replies are written.
    pub when: When,
    /// What the message came over: the way to call its client back.
    pub way: &'a Way,
}

/// Why a request does not run, and what its client is told.
#[derive(Debug)]
enum Refusal {
    /// An error reply with this status and text.
    Error(Status, String),
    /// `BadSession`, with what this server knows about the session.
    UnknownSession,
    /// `FingerprintMismatch`, with the server's fingerprint of the method.
    Fingerprint(u64),
    /// A finished call's stored reply, sent again.
    Replay(Box<[u8]>),
    /// Nothing at all (a forged datagram; a duplicate of a call running or done).
    Silence,
}

/// Acts on one message; `Err` when the connection must close. `frame`, when the message
/// is large and shared, is the buffer its `bytes` arguments may be slices of.
pub(crate) async fn accept<S: ReplySink + Clone>(
    (header, payload, proof): Checked<'_>,
    frame: Option<&bytes::Bytes>,
    exchange: &mut Exchange<'_, S>,
) -> Result<(), String> {
    let shared = exchange.shared;
    let in_session = matches!(proof, Proof::Session(_));
    let id = (header.session, header.slot, header.seq);
    match header.kind() {
        Some(Kind::Request) => {}
        Some(Kind::Open) => return open(&header, payload, exchange),
        Some(Kind::Attach) => return attach(&header, payload, exchange),
        Some(Kind::Exterminate) => return exterminate(&header, payload, exchange),
        // The client has the reply of (session, slot, seq): drop it (protocol RRA).
        Some(Kind::Ack) => {
            if in_session {
                shared.sessions.acknowledge(id);
                shared.sessions.heard(header.session, Instant::now());
            }
            return Ok(());
        }
        // The client gave up on the call: stop it.
        Some(Kind::Cancel) => {
            if in_session {
                shared.sessions.heard(header.session, Instant::now());
                shared.running.stop(id, KillReason::Cancelled);
            }
            return Ok(());
        }
        // The client is alive: its calls' quanta start again.
        Some(Kind::Renew) => {
            if in_session {
                shared.sessions.heard(header.session, Instant::now());
            }
            return Ok(());
        }
        _ => return Err(format!("a client sent a message of kind {}", header.kind)),
    }
    let admitted = session_of(&proof, shared).and_then(|in_session| {
        let (context, args) = if header.has_context() {
            RequestContext::split(payload)
                .map_err(|e| Refusal::Error(Status::BadRequest, e.to_string()))?
        } else {
            (RequestContext::default(), payload)
        };
        let (service, method) = resolve(&header, shared)?;
        let arrival = Arrival::Client(ClientWay {
            shared: shared.clone(),
            session: if in_session { header.session } else { 0 },
            way: exchange.way.clone(),
        });
        let handler = arriving(arrival, || {
            sharing(frame, || service.call(header.method, args))
        })
        .map_err(|e| Refusal::Error(Status::BadRequest, e.to_string()))?;
        // At-most-once and oneway calls run once per invocation id, which only a session
        // makes trustworthy. The context is not part of what makes a copy a duplicate:
        // a retransmission carries less remaining time.
        if matches!(method.semantics, Semantics::AtMostOnce | Semantics::Maybe) {
            filter(&header, args, method, in_session, exchange)?;
        }
        if context.quantum_micros != 0 && in_session {
            shared.sessions.heard(header.session, Instant::now());
        }
        Ok((service.spec().name, method, handler, context))
    });
    match admitted {
        Ok((interface, method, handler, context)) => {
            let call = Admitted {
                header,
                interface,
                method,
                handler,
                context,
            };
            run(call, exchange).await
        }
        Err(refusal) => {
            refuse(&header, refusal, exchange);
            Ok(())
        }
    }
}

/// Whether a request proved the session it names (false: a call outside any session).
fn session_of(proof: &Proof, shared: &Shared) -> Result<bool, Refusal> {
    let counters = &shared.counters;
    match proof {
        Proof::None => Ok(false),
        Proof::Session(_) => Ok(true),
        Proof::Unknown => {
            counters.refused_sessionless.fetch_add(1, Ordering::Relaxed);
            Err(Refusal::UnknownSession)
        }
        Proof::Forged => {
            counters.forged.fetch_add(1, Ordering::Relaxed);
            Err(Refusal::Silence)
        }
    }
}

/// The object a request is for: a service registered with the server, or an object it
/// exported (owned here: the table may drop it while the call runs).
type Target<'s> = Cow<'s, Arc<dyn Service>>;

/// The service and method a request is for, checked against its binding uid and
/// fingerprint.
fn resolve<'s>(
    header: &Header,
    shared: &'s Shared,
) -> Result<(Target<'s>, &'static MethodSpec), Refusal> {
    if header.binding != 0 && header.binding != shared.uid {
        // The uid is not said: the client knows which it asked for, others need not know.
        return Err(Refusal::Error(
            Status::UnknownBinding,
            "this server is not the binding asked for".into(),
        ));
    }
    let service = match shared.services.get(&header.object) {
        Some(service) => Cow::Borrowed(service),
        None => match shared.objects.get(header.object) {
            Some(object) => Cow::Owned(object.service.clone()),
            None => {
                let text = format!("no object {:#x} on this server", header.object);
                return Err(Refusal::Error(Status::UnknownObject, text));
            }
        },
    };
    let spec = service.spec();
    let Some(method) = spec.method(header.method) else {
        let text = format!(
            "{} has no method with id {:#010x}",
            spec.name, header.method
        );
        return Err(Refusal::Error(Status::UnknownMethod, text));
    };
    if method.fingerprint != header.fingerprint {
        return Err(Refusal::Fingerprint(method.fingerprint));
    }
    Ok((service, method))
}

/// Passes an at-most-once or oneway request through its session's slot table (or
/// oneway window): only a new invocation runs.
fn filter<S: ReplySink>(
    header: &Header,
    payload: &[u8],
    method: &MethodSpec,
    in_session: bool,
    exchange: &Exchange<'_, S>,
) -> Result<(), Refusal> {
    let shared = exchange.shared;
    let counters = &shared.counters;
    if !in_session {
        counters.refused_sessionless.fetch_add(1, Ordering::Relaxed);
        return Err(Refusal::Error(
            Status::BadSession,
            "at-most-once and oneway calls need a session: open one first".into(),
        ));
    }
    let digest = shared.sessions.digest(
        header.object,
        header.method,
        header.fingerprint,
        header.flags & FLAG_ONEWAY,
        payload,
    );
    let (peer, redirect) = match &*exchange.origin {
        Origin::Stream { .. } => (0, exchange.sink.redirect()),
        Origin::Datagram { peer, .. } => (peer_hash(peer), None),
    };
    let verdict = shared.sessions.begin(
        (header.session, header.slot, header.seq),
        digest,
        peer,
        method.semantics == Semantics::Maybe,
        redirect,
        Instant::now(),
    );
    let duplicate = || counters.duplicates.fetch_add(1, Ordering::Relaxed);
    match verdict {
        Verdict::Run => Ok(()),
        // A retransmitted datagram of a call still running: a client that understands
        // it is told so, so that it keeps waiting rather than give up on a server that
        // seems not to answer.
        Verdict::Running if header.flags() & crate::wire::FLAG_PROGRESS != 0 => {
            duplicate();
            Err(Refusal::Error(Status::Running, String::new()))
        }
        Verdict::Running | Verdict::Done | Verdict::Stale | Verdict::OtherPeer => {
            duplicate();
            Err(Refusal::Silence)
        }
        Verdict::Replay(reply) => {
            duplicate();
            counters.resent.fetch_add(1, Ordering::Relaxed);
            Err(Refusal::Replay(reply))
        }
        Verdict::ReplyLost => {
            duplicate();
            let text = format!("`{}` ran; its reply was not kept", method.name);
            Err(Refusal::Error(Status::ReplyLost, text))
        }
        Verdict::Reused => Err(Refusal::Error(
            Status::IdReused,
            "this invocation id was used by another request".into(),
        )),
        Verdict::NoSlot => Err(Refusal::Error(
            Status::Misordered,
            "the session has no such slot".into(),
        )),
        Verdict::NoSession => {
            counters.refused_sessionless.fetch_add(1, Ordering::Relaxed);
            Err(Refusal::UnknownSession)
        }
    }
}

/// Answers a request that does not run (oneway requests get no answer but a replay).
fn refuse<S: ReplySink>(header: &Header, refusal: Refusal, exchange: &Exchange<'_, S>) {
    let reply = |status: Status, payload: Payload| {
        let _ = exchange.sink.send(
            payload.seal(&Header::reply_to(header, status)),
            exchange.when,
        );
    };
    match refusal {
        Refusal::Silence => {}
        Refusal::Replay(stored) => {
            let _ = exchange
                .sink
                .send(Message::from_bytes(&stored), exchange.when);
        }
        _ if header.is_oneway() => {}
        Refusal::Error(status, text) => reply(status, Payload::of(&text)),
        Refusal::UnknownSession => reply(
            Status::BadSession,
            exchange.shared.session_unknown(header.session),
        ),
        Refusal::Fingerprint(ours) => reply(Status::FingerprintMismatch, Payload::of(&ours)),
    }
}

/// A permit of the server's semaphore, held by a call that went on as a task: given back
/// when the call ends (or its task is aborted).
struct HeldPermit(Arc<Shared>);

impl Drop for HeldPermit {
    fn drop(&mut self) {
        self.0.permits.add_permits(1);
    }
}

/// A request that passed every check, ready to run.
struct Admitted {
    header: Header,
    interface: &'static str,
    method: &'static MethodSpec,
    handler: Handler,
    context: RequestContext,
}

/// Runs an admitted call: takes a permit, polls the handler once here, and continues it
/// as a task only if it must wait, registered so that it can be stopped.
async fn run<S: ReplySink + Clone>(
    call: Admitted,
    exchange: &mut Exchange<'_, S>,
) -> Result<(), String> {
    let shared = exchange.shared;
    let Admitted {
        header,
        interface,
        method,
        handler,
        context: request,
    } = call;
    // Waiting here holds up this connection's reader: back-pressure on a client that
    // sends faster than the server runs calls. A free permit is taken without waiting
    // (and without a reference count: the call borrows it while it runs here).
    let permit = match shared.permits.try_acquire() {
        Ok(permit) => permit,
        Err(TryAcquireError::NoPermits) => shared
            .permits
            .acquire()
            .await
            .map_err(|_| "the server is shutting down".to_string())?,
        Err(TryAcquireError::Closed) => return Err("the server is shutting down".into()),
    };
    shared.counters.executions.fetch_add(1, Ordering::Relaxed);
    let arrived = tokio::time::Instant::now();
    let deadline = (request.deadline_micros != 0)
        .then(|| arrived + Duration::from_micros(request.deadline_micros));
    let context = CallContext {
        invocation: Invocation {
            session: header.session,
            slot: header.slot,
            seq: header.seq,
        },
        object: header.object,
        interface,
        method: method.name,
        deadline: deadline.map(tokio::time::Instant::into_std),
        peer: exchange.origin.peer(),
        metadata: (!request.metadata.is_empty())
            .then(|| Arc::new(Metadata::from_entries(request.metadata))),
        switch: None,
        exports: Some(shared.objects.clone()),
    };
    let span = tracing::info_span!(
        "rpc.serve",
        rpc.interface = interface,
        rpc.method = method.name,
        rpc.semantics = ?method.semantics,
        rpc.invocation = tracing::field::Empty,
        rpc.outcome = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        parent_id = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let (s, slot, seq) = (header.session, header.slot, header.seq);
        span.record(
            "rpc.invocation",
            tracing::field::display(format_args!("{s:x}/{slot}/{seq}")),
        );
        trace::incoming(context.metadata(), &span);
    }
    let answer = Answer {
        header,
        method: method.name,
        // A `oneway` method never replies, whatever the flag says.
        wanted: !header.is_oneway() && method.semantics != Semantics::Maybe,
        remember: method.semantics == Semantics::AtMostOnce,
        span: span.clone(),
    };
    let mut call = CatchUnwind::new(handler, context, span);
    match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut call).poll(cx))).await {
        Poll::Ready(reply) => {
            drop(permit);
            answer.send(shared, Ok(reply), exchange.sink, exchange.when);
        }
        Poll::Pending => {
            // The task outlives this borrow: it holds the permit by a guard instead.
            permit.forget();
            let held = HeldPermit(shared.clone());
            let sink = exchange.sink.clone();
            let switch = Arc::new(KillSwitch::default());
            call.watch(switch.clone());
            let id = (header.session, header.slot, header.seq);
            let owner = (header.session != 0)
                .then(|| shared.sessions.owner_of(header.session))
                .flatten();
            let registered = shared
                .running
                .enter(id, switch.clone(), method.cancellable, owner);
            let quantum = (request.quantum_micros != 0 && header.session != 0)
                .then(|| Duration::from_micros(request.quantum_micros));
            exchange.running.spawn(async move {
                let shared = held.0.clone();
                let last_heard = || shared.sessions.last_heard(header.session);
                let limits = Limits {
                    deadline,
                    quantum: quantum.map(|q| (q, &last_heard as _)),
                };
                let outcome = supervise(
                    call,
                    &switch,
                    method.cancellable,
                    limits,
                    &shared.running.killed,
                )
                .await;
                drop(registered);
                drop(held);
                answer.send(&shared, outcome, &sink, When::Now);
            });
        }
    }
    Ok(())
}
