//! The client's side of the orphan remedies that talk to servers: exterminating the
//! calls a crashed run left behind (from its [`CallLog`]), and announcing a new epoch
//! of an [`Incarnation`] to the servers it knew (reincarnation). Expiration needs no
//! step of its own: a channel with a quantum renews its session while calls wait.

use std::collections::BTreeMap;
use std::time::Duration;

use super::orphans::{Incarnation, LoggedCall, transport_code, transport_from_code};
use super::session::{self, exchange};
use super::{Channel, ChannelConfig, open_connection};
use crate::wire::handshake::{
    ClientEpoch, ExterminateRequest, Exterminated, MAX_EXTERMINATE_CALLS,
};
use crate::wire::{self, Kind, Payload, Status};

/// What an extermination did, over every server named in the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extermination {
    /// Calls that were running and were stopped.
    pub killed: u32,
    /// Calls that were running and opted out of cancellation: they run to their end.
    pub uncancellable: u32,
    /// Calls that were not running any more (finished, or their server restarted).
    pub not_running: u32,
    /// Calls whose server could not be reached or did not answer: they may still run
    /// (expiration or reincarnation is the remedy for those).
    pub unreachable: u32,
}

/// A session of a logged call: its server's address, transport and session id.
type SessionKey<'a> = (&'a str, u8, u64);

/// A session's secret and the `(slot, seq)` of its logged calls.
type SessionCalls<'a> = (&'a [u8; 16], Vec<(u32, u64)>);

/// Asks the servers of `calls` (the leftovers of [`CallLog::open`](super::orphans::CallLog::open)) to stop them,
/// proving with each session's secret that this client owned them, within `timeout` per
/// server. Calls the stopped ones made to further servers are stopped there in turn (a
/// handler's dropped calls cancel themselves), so the whole chain goes.
pub async fn exterminate(calls: &[LoggedCall], timeout: Duration) -> Extermination {
    let mut by_session: BTreeMap<SessionKey<'_>, SessionCalls<'_>> = BTreeMap::new();
    for call in calls {
        by_session
            .entry((&call.address, call.transport, call.session))
            .or_insert_with(|| (&call.secret, Vec::new()))
            .1
            .push((call.slot, call.seq));
    }
    let mut total = Extermination::default();
    for ((address, transport, session), (secret, calls)) in by_session {
        let count = u32::try_from(calls.len()).unwrap_or(u32::MAX);
        match exterminate_in(address, transport, session, *secret, calls, timeout).await {
            Ok(answer) => {
                total.killed += answer.killed;
                total.uncancellable += answer.uncancellable;
                total.not_running += answer.not_running;
            }
            Err(e) => {
                tracing::warn!(%address, "could not exterminate {count} calls: {e}");
                total.unreachable += count;
            }
        }
    }
    total
}

/// Exterminates `calls` of `session` on the server at `address`.
async fn exterminate_in(
    address: &str,
    transport: u8,
    session: u64,
    secret: [u8; 16],
    calls: Vec<(u32, u64)>,
    timeout: Duration,
) -> std::io::Result<Exterminated> {
    let config = config_for(transport, timeout)?;
    let conn = tokio::time::timeout(timeout, open_connection(address, &config))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let mut total = Exterminated {
        killed: 0,
        uncancellable: 0,
        not_running: 0,
    };
    let result = async {
        for chunk in calls.chunks(MAX_EXTERMINATE_CALLS) {
            let request = ExterminateRequest {
                secret,
                calls: chunk.to_vec(),
            };
            let payload = Payload::encode(&request).map_err(std::io::Error::other)?;
            let reply = exchange(&conn, Kind::Exterminate, session, payload, timeout).await?;
            if reply.header.status() != Some(Status::Ok) {
                return Err(std::io::Error::other(format!(
                    "the server refused (status {})",
                    reply.header.status_code()
                )));
            }
            let answer: Exterminated = wire::decode(reply.payload(), "exterminate reply")
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            total.killed += answer.killed;
            total.uncancellable += answer.uncancellable;
            total.not_running += answer.not_running;
        }
        Ok(total)
    }
    .await;
    conn.abort();
    result
}

/// Announces `incarnation`'s epoch to every server it remembers, within `timeout` per
/// server, by opening a session that carries it: each server then stops the identity's
/// calls of older epochs, as its reincarnation rule says. How many servers were reached.
pub async fn announce(incarnation: &Incarnation, timeout: Duration) -> usize {
    let epoch = ClientEpoch {
        identity: incarnation.secret(),
        epoch: incarnation.epoch(),
    };
    let mut reached = 0;
    for (address, transport) in incarnation.servers() {
        let announced = async {
            let config = config_for(transport, timeout)?;
            let conn = tokio::time::timeout(timeout, open_connection(&address, &config))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            let opened = session::open(&conn, 1, Some(epoch), timeout).await;
            conn.abort();
            opened.map(drop)
        }
        .await;
        match announced {
            Ok(()) => reached += 1,
            Err(e) => tracing::warn!(%address, "could not announce epoch {}: {e}", epoch.epoch),
        }
    }
    reached
}

/// A configuration to reach a server of transport code `transport`.
fn config_for(transport: u8, timeout: Duration) -> std::io::Result<ChannelConfig> {
    let transport = transport_from_code(transport).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unknown transport code {transport}"),
        )
    })?;
    Ok(ChannelConfig {
        transport,
        connect_timeout: timeout,
        slots: 1,
        ..ChannelConfig::default()
    })
}

impl Channel {
    /// The epoch a new session of this channel announces, if it has an identity.
    pub(super) fn client_epoch(&self) -> Option<ClientEpoch> {
        let incarnation = self.config().incarnation.as_ref()?;
        Some(ClientEpoch {
            identity: incarnation.secret(),
            epoch: incarnation.epoch(),
        })
    }

    /// Remembers this channel's server in its identity's file (once per server: known
    /// ones cost no write), so that a restart announces its new epoch there.
    pub(super) async fn remember_server(&self) {
        let Some(incarnation) = self.config().incarnation.clone() else {
            return;
        };
        let address = self.address().to_string();
        let code = transport_code(self.config().transport);
        let remembered =
            tokio::task::spawn_blocking(move || incarnation.remember_server(&address, code)).await;
        if let Ok(Err(e)) = remembered {
            tracing::warn!("could not remember the server for reincarnation: {e}");
        }
    }
}

/// The record of a call about to be sent on `channel` in invocation `id` of a session
/// with `secret`.
pub(super) fn logged_call(channel: &Channel, id: (u64, u32, u64), secret: [u8; 16]) -> LoggedCall {
    LoggedCall {
        address: channel.address().to_string(),
        transport: transport_code(channel.config().transport),
        session: id.0,
        secret,
        slot: id.1,
        seq: id.2,
    }
}
