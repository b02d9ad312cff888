//! One call from its start to its end: where each attempt goes, what it sends, what a
//! lost attempt means for the next, and when to give up.
//!
//! A call is a series of attempts within one deadline, which covers everything the call
//! does: asking the binder, connecting, waiting for a slot, waiting for the reply.
//! Attempts differ by transport ([`Backoff`] paces datagrams; a stream's request is sent
//! again only after its connection broke) and by semantics, which decide whether
//! anything may be sent again and with which id:
//!
//! | semantics | an attempt after a lost one |
//! |---|---|
//! | at-least-once | the same invocation id; may run again |
//! | at-most-once | the same invocation id, which the server's session filters; never to another server or session once it may have run |
//! | last-of-many | a new number in the same slot, so that only the last attempt's reply counts |
//!
//! [`History`] keeps what the attempts so far prove about whether the call ran, which
//! decides the outcome a failure reports.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::connection::{Connection, Incoming};
use super::orphans::LogTicket;
use super::remedies;
use super::session::{ClientSession, SlotLease};
use super::{Arguments, Channel, Client, RetryPolicy, binding, check_metadata, unreached};
use crate::error::{CallError, ConnectError, Outcome};
use crate::metadata::Metadata;
use crate::spec::{MethodSpec, Semantics};
use crate::trace;
use crate::wire::context::ContextOut;
use crate::wire::handshake::SessionUnknown;
use crate::wire::{Header, Kind, Payload, Status};

/// The waits between datagram attempts: `first_wait`, then growing by `backoff` up to
/// `max_wait`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    policy: RetryPolicy,
    wait: Duration,
}

impl Backoff {
    pub fn new(policy: RetryPolicy) -> Backoff {
        Backoff {
            policy,
            wait: policy.first_wait,
        }
    }

    /// The current wait.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Moves on to the next wait.
    pub fn grow(&mut self) {
        self.wait = (self.wait * self.policy.backoff).min(self.policy.max_wait);
    }

    /// Whether `attempts` attempts are all the policy allows.
    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.policy.max_attempts
    }
}

/// What the attempts of a call so far did.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct History {
    /// Attempts begun.
    pub attempts: u32,
    /// Whether any request went out.
    pub sent: bool,
    /// Whether a request went out in the current invocation and nothing proves that it
    /// did not run.
    pub maybe_ran: bool,
    /// Whether the server said the call is running, during the current attempt.
    pub running: bool,
    /// Attempts during which the server said so: they do not count against the retry
    /// policy's attempts (the deadline still bounds them).
    pub running_attempts: u32,
}

/// The invocation of a call on one channel: a slot of the channel's session, kept over
/// retransmissions, given back when the call ends.
struct Invocation {
    channel: Channel,
    lease: SlotLease,
    /// When its first request went out.
    first_sent: Option<Instant>,
    /// Its record in the channel's call log (extermination), under the id it was
    /// logged with; closed when the invocation ends.
    logged: Option<((u64, u32, u64), LogTicket)>,
}

/// How an attempt ended, when the call goes on.
enum Attempt {
    /// The server's answer.
    Answered(Incoming),
    /// No answer, for this reason; another attempt may follow.
    Lost(String),
}

/// A call in progress.
pub(super) struct Call<'c> {
    client: &'c Client,
    method: &'static MethodSpec,
    deadline: Instant,
    /// The time the call was given: the client's timeout, or less inside a handler whose
    /// own deadline comes first.
    budget: Duration,
    /// The metadata of the call this one is made in, inside a handler (its trace goes
    /// on).
    parent: Option<Arc<Metadata>>,
    backoff: Backoff,
    /// Where attempts go: a channel and the binding uid to ask for. For a bound client,
    /// the binder's choice, dropped when that server refuses or cannot be reached.
    target: Option<(Channel, u64)>,
    invocation: Option<Invocation>,
    history: History,
    /// The objects the request's arguments exported, with their ids and tokens: every
    /// copy of the request carries the same.
    exported: crate::objects::scope::Exported,
}

impl<'c> Call<'c> {
    pub fn new(client: &'c Client, method: &'static MethodSpec) -> Call<'c> {
        let now = Instant::now();
        let mut deadline = now + client.timeout;
        // A call made by a handler ends when that handler's call does, at the latest.
        let (inherited, parent) = crate::server::inherited().unwrap_or_default();
        if let Some(inherited) = inherited {
            deadline = deadline.min(Instant::from_std(inherited));
        }
        Call {
            client,
            method,
            deadline,
            budget: deadline.saturating_duration_since(now),
            parent,
            backoff: Backoff::new(client.retry()),
            target: None,
            invocation: None,
            history: History::default(),
            exported: Vec::new(),
        }
    }

    /// Makes attempts until one is answered or the call must give up, in the call's
    /// span.
    pub async fn run<A: Arguments + ?Sized, E>(
        mut self,
        request: &A,
    ) -> Result<(Incoming, Channel), CallError<E>> {
        let span = tracing::info_span!(
            "rpc.call",
            rpc.interface = self.client.interface.name,
            rpc.method = self.method.name,
            rpc.semantics = ?self.method.semantics,
            rpc.invocation = tracing::field::Empty,
            rpc.attempts = tracing::field::Empty,
            rpc.outcome = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        let metadata = trace::outgoing(
            &span,
            self.client.metadata.as_deref(),
            self.parent.as_deref(),
        );
        check_metadata(&metadata)?;
        let result = self
            .attempts(request, &metadata)
            .instrument(span.clone())
            .await;
        if !span.is_disabled() {
            span.record("rpc.attempts", self.history.attempts);
            match &result {
                Ok(incoming) => span.record(
                    "rpc.outcome",
                    tracing::field::debug(incoming.header.status()),
                ),
                Err(e) => span.record("rpc.outcome", e.label()),
            };
        }
        let incoming = result?;
        match self.target {
            Some((channel, _)) => Ok((incoming, channel)),
            None => Err(CallError::Protocol("a reply without a channel".into())),
        }
    }

    /// Makes attempts until one is answered or the call must give up.
    async fn attempts<A: Arguments + ?Sized, E>(
        &mut self,
        request: &A,
        metadata: &[(String, String)],
    ) -> Result<Incoming, CallError<E>> {
        loop {
            self.history.attempts += 1;
            let lost = match self.attempt(request, metadata).await? {
                Attempt::Answered(incoming) => return Ok(incoming),
                Attempt::Lost(why) => why,
            };
            if std::mem::take(&mut self.history.running) {
                self.history.running_attempts += 1;
            }
            let out_of_time = Instant::now() >= self.deadline;
            let counted = self.history.attempts - self.history.running_attempts;
            if out_of_time || self.backoff.exhausted(counted) {
                return Err(self.give_up(lost, out_of_time));
            }
            if self.target.is_none() {
                // Give a restarting server a moment before looking it up again.
                tokio::time::sleep_until(self.deadline.min(Instant::now() + self.backoff.wait()))
                    .await;
            }
            self.backoff.grow();
        }
    }

    /// One attempt: find the server, connect, send, wait.
    async fn attempt<A: Arguments + ?Sized, E>(
        &mut self,
        request: &A,
        metadata: &[(String, String)],
    ) -> Result<Attempt, CallError<E>> {
        let (channel, binding) = self.target().await?;
        let conn = match channel.connection_by(self.deadline).await {
            Some(Ok(conn)) => conn,
            Some(Err(e)) => return self.unreachable(e, binding).await,
            None => return Err(self.out_of_time()),
        };
        let Some(session) = conn.session().cloned() else {
            return Err(CallError::Protocol("a connection without a session".into()));
        };
        let id = self.invocation(&channel, &session).await?.lease.id();
        self.log(&channel, id, session.secret).await?;
        let span = tracing::Span::current();
        if !span.is_disabled() {
            let (s, slot, seq) = id;
            span.record(
                "rpc.invocation",
                tracing::field::display(format_args!("{s:x}/{slot}/{seq}")),
            );
        }
        let quantum = channel.config().quantum;
        let context = ContextOut {
            // At least 1: 0 would mean "no deadline".
            deadline_micros: micros(self.deadline.saturating_duration_since(Instant::now())).max(1),
            quantum_micros: quantum.map_or(0, micros),
            metadata,
        };
        let mut reply = conn.register(id.1, id.2);
        let mut header = self.client.header(self.method, id, binding);
        if conn.is_datagram() {
            // A copy that finds the call still running is answered so (a datagram reply
            // lost while re-registering is replayed to the next copy).
            header.flags |= crate::wire::FLAG_PROGRESS;
        }
        let message = self.client.request(
            self.method,
            request,
            header,
            context,
            (&channel, &conn),
            &mut self.exported,
        )?;
        if !conn.send(message).await {
            return Ok(Attempt::Lost(
                "the connection closed before the request was sent".into(),
            ));
        }
        // From here until the reply, giving up on the call (dropping it, or running out
        // of time) tells the server to stop it.
        let cancel = CancelOnDrop {
            conn: &conn,
            id: Some(id),
        };
        self.history.sent = true;
        let first_sent = match &mut self.invocation {
            Some(invocation) => *invocation.first_sent.get_or_insert_with(Instant::now),
            None => Instant::now(),
        };
        // Over a stream the reply is waited for until the deadline; a datagram is sent
        // again when its wait runs out.
        let until = if conn.is_datagram() {
            self.deadline.min(Instant::now() + self.backoff.wait())
        } else {
            self.deadline
        };
        let waited = loop {
            let waited = tokio::time::timeout_at(until, reply);
            let waited = match quantum {
                None => waited.await,
                Some(quantum) => tokio::select! {
                    waited = waited => waited,
                    never = renew(&conn, &session, quantum) => match never {},
                },
            };
            match waited {
                // The server is working on it: wait on, and this attempt does not count
                // against the policy's attempts.
                Ok(Ok(incoming)) if incoming.header.status() == Some(Status::Running) => {
                    self.history.running = true;
                    reply = conn.register(id.1, id.2);
                }
                waited => break waited,
            }
        };
        match waited {
            Ok(Ok(incoming)) => {
                cancel.disarm();
                self.judge(incoming, &conn, &session, binding, first_sent)
                    .await
            }
            Ok(Err((why, _))) => {
                cancel.disarm(); // the connection is gone: nothing to tell it
                self.history.maybe_ran = true;
                Ok(Attempt::Lost(why))
            }
            Err(_) => {
                if Instant::now() < self.deadline {
                    cancel.disarm(); // a datagram's wait: the same call is sent again
                }
                self.history.maybe_ran = true;
                Ok(Attempt::Lost("no reply in time".into()))
            }
        }
    }

    /// The channel and binding uid of the next attempt, asking the binder if needed
    /// (within the call's deadline).
    async fn target<E>(&mut self) -> Result<(Channel, u64), CallError<E>> {
        if let Some(target) = &self.target {
            return Ok(target.clone());
        }
        let Some(target) = self.client.target_by(self.deadline).await else {
            return Err(self.out_of_time());
        };
        let target = target?;
        if self
            .invocation
            .as_ref()
            .is_some_and(|i| !i.channel.same(&target.0))
        {
            self.invocation = None; // another server: another invocation
        }
        self.target = Some(target.clone());
        Ok(target)
    }

    /// The invocation for this attempt: the one already begun on `channel`'s `session`
    /// (renumbered for last-of-many), or a new one in a free slot.
    async fn invocation<E>(
        &mut self,
        channel: &Channel,
        session: &Arc<ClientSession>,
    ) -> Result<&mut Invocation, CallError<E>> {
        if self
            .invocation
            .as_ref()
            .is_some_and(|i| !Arc::ptr_eq(i.lease.session(), session))
        {
            // The server forgot the session the earlier attempts went out in.
            if self.may_have_run_at_most_once() {
                return Err(CallError::SessionLost {
                    method: self.method.name,
                });
            }
            self.invocation = None;
        }
        match &mut self.invocation {
            Some(invocation) => {
                if self.method.semantics == Semantics::LastOfMany {
                    invocation.lease.renumber();
                }
            }
            None => {
                let Some(lease) = session.lease(self.deadline).await else {
                    return Err(if self.history.sent {
                        CallError::Timeout(self.budget)
                    } else {
                        no_free_slot(self.budget)
                    });
                };
                self.invocation = Some(Invocation {
                    channel: channel.clone(),
                    lease,
                    first_sent: None,
                    logged: None,
                });
            }
        }
        match &mut self.invocation {
            Some(invocation) => Ok(invocation),
            None => unreachable!("an invocation was just made"),
        }
    }

    /// Records invocation `id` in the channel's call log before its request first goes
    /// out (again under a new number, for last-of-many).
    async fn log<E>(
        &mut self,
        channel: &Channel,
        id: (u64, u32, u64),
        secret: [u8; 16],
    ) -> Result<(), CallError<E>> {
        let Some(log) = &channel.config().call_log else {
            return Ok(());
        };
        let Some(invocation) = &mut self.invocation else {
            return Ok(());
        };
        if invocation
            .logged
            .as_ref()
            .is_some_and(|(logged, _)| *logged == id)
        {
            return Ok(());
        }
        invocation.logged = None; // an older number's record is closed first
        let call = remedies::logged_call(channel, id, secret);
        let ticket = log.begin_async(call).await.map_err(|e| {
            CallError::connection(format!("cannot log the call: {e}"), Outcome::NotExecuted)
        })?;
        invocation.logged = Some((id, ticket));
        Ok(())
    }

    /// What an answer means: the reply, or a refusal that another attempt may overcome.
    async fn judge<E>(
        &mut self,
        incoming: Incoming,
        conn: &Connection,
        session: &ClientSession,
        binding: u64,
        first_sent: Instant,
    ) -> Result<Attempt, CallError<E>> {
        match incoming.header.status() {
            Some(Status::UnknownBinding) if self.client.is_bound() => {
                // A new incarnation: it certainly did not run this. The request was in a
                // session only this incarnation has (an older one's was refused with
                // BadSession), so no copy of it can have gone anywhere else either.
                self.server_gone(binding).await?;
                Ok(Attempt::Lost("the server restarted".into()))
            }
            Some(Status::BadSession) => {
                // The channel needs a new session; what went out in the old one may have
                // run before the server forgot it, unless this server never had the
                // session and was already serving before the first request left. A
                // refusal proves that this copy did not run where it arrived; over a
                // stream that was the only copy, but a datagram may have been duplicated
                // on the way, and another copy may have run on an earlier incarnation.
                session.mark_lost();
                conn.close("the server forgot the session");
                let copies_may_have_run = (self.history.maybe_ran || conn.is_datagram())
                    && !never_had_it_since(incoming.payload(), first_sent);
                self.history.maybe_ran = copies_may_have_run;
                if self.may_have_run_at_most_once() {
                    return Err(CallError::SessionLost {
                        method: self.method.name,
                    });
                }
                Ok(Attempt::Lost("the server forgot the session".into()))
            }
            _ => {
                self.client.acknowledge(conn, self.method, &incoming).await;
                Ok(Attempt::Answered(incoming))
            }
        }
    }

    /// A server that could not be reached: a bound client tries another; a client of
    /// one channel gives up.
    async fn unreachable<E>(
        &mut self,
        error: ConnectError,
        binding: u64,
    ) -> Result<Attempt, CallError<E>> {
        if self.client.is_bound() {
            self.server_gone(binding).await?;
            return Ok(Attempt::Lost(error.to_string()));
        }
        // A callback's client may be reconnecting (its new connection's handshake cut
        // short, say): tried again within the call's time and attempts.
        if self.target.as_ref().is_some_and(|(c, _)| c.is_reverse()) {
            return Ok(Attempt::Lost(error.to_string()));
        }
        let error = CallError::from(error);
        Err(if self.history.sent {
            error.with_outcome(Outcome::Unknown)
        } else {
            error
        })
    }

    /// Forgets the server of `binding`: the next attempt asks the binder again. An
    /// at-most-once call that may have run there cannot go anywhere else.
    async fn server_gone<E>(&mut self, binding: u64) -> Result<(), CallError<E>> {
        self.client.forget(binding).await;
        self.target = None;
        if self.may_have_run_at_most_once() {
            return Err(binding::lost_with_server(self.client.interface.name));
        }
        Ok(())
    }

    fn may_have_run_at_most_once(&self) -> bool {
        self.history.maybe_ran && self.method.semantics == Semantics::AtMostOnce
    }

    /// The error of a call whose deadline passed before it could finish.
    fn out_of_time<E>(&self) -> CallError<E> {
        if self.history.sent {
            CallError::Timeout(self.budget)
        } else {
            unreached(self.budget)
        }
    }

    /// The error of a call that ran out of attempts or time; `lost` says why the last
    /// attempt failed.
    fn give_up<E>(&self, lost: String, out_of_time: bool) -> CallError<E> {
        if self.history.sent && out_of_time {
            return CallError::Timeout(self.budget);
        }
        let outcome = if self.history.sent && self.history.maybe_ran {
            Outcome::Unknown
        } else {
            Outcome::NotExecuted
        };
        CallError::gave_up(self.history.attempts, lost, outcome)
    }
}

/// Whether a `BadSession` refusal with `payload` proves that no copy of an invocation
/// first sent at `first_sent` ran: the refusing server never had the session, and has
/// been running since before that first send, so it held the address the whole time and
/// every copy reached it (or nothing), never the incarnation that had the session. A
/// server address is served by one incarnation at a time (a restarted server binds the
/// port its predecessor released). Both durations err on the safe side (the server counts
/// from after it bound its port, the client until the refusal arrived); the margin
/// covers the two clocks' rates.
fn never_had_it_since(payload: &[u8], first_sent: tokio::time::Instant) -> bool {
    let Ok(unknown) = crate::wire::decode::<SessionUnknown>(payload, "session refusal") else {
        return false;
    };
    let since = first_sent.elapsed();
    !unknown.forgotten && Duration::from_micros(unknown.uptime_micros) > since + since / 100
}

/// Tells the server to stop call `id` when dropped, unless disarmed first: a call given
/// up (its future dropped, its time out) leaves no orphan behind it.
struct CancelOnDrop<'a> {
    conn: &'a Connection,
    id: Option<(u64, u32, u64)>,
}

impl CancelOnDrop<'_> {
    fn disarm(mut self) {
        self.id = None;
    }
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some((session, slot, seq)) = self.id {
            let header = Header::control(Kind::Cancel, session, slot, seq);
            let _ = self.conn.send_now(Payload::empty().seal(&header));
        }
    }
}

/// Renews `session` every third of `quantum` while a call waits (expiration), for as
/// long as it waits; calls waiting together share one renewal per period.
async fn renew(
    conn: &Connection,
    session: &ClientSession,
    quantum: Duration,
) -> std::convert::Infallible {
    let every = quantum / 3;
    loop {
        tokio::time::sleep(every).await;
        if session.renewal_due(every) {
            let header = Header::control(Kind::Renew, session.id, 0, 0);
            let _ = conn.send(Payload::empty().seal(&header)).await;
        }
    }
}

/// A duration in whole microseconds, saturating.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The error of a call that found no free slot of its session before its deadline.
fn no_free_slot<E>(timeout: Duration) -> CallError<E> {
    CallError::connection(
        format!("every slot of the session stayed busy for {timeout:?}"),
        Outcome::NotExecuted,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_counts_attempts() {
        let mut backoff = Backoff::new(RetryPolicy {
            first_wait: Duration::from_millis(100),
            backoff: 3,
            max_wait: Duration::from_millis(500),
            max_attempts: 3,
        });
        let mut waits = Vec::new();
        for _ in 0..4 {
            waits.push(backoff.wait().as_millis());
            backoff.grow();
        }
        assert_eq!(waits, [100, 300, 500, 500]);
        assert!(!backoff.exhausted(2));
        assert!(backoff.exhausted(3));
    }
}
