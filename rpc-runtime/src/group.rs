//! Group invocation: one call to every server bound to a name at once, with the
//! members' replies combined by a [`Policy`].
//!
//! A [`Group`] holds one generated client per member (each with its own channel,
//! session and invocation ids, so an at-most-once method still runs at most once *on each
//! member*), and calls them all through the same generated method:
//!
//! ```no_run
//! # async fn example(binder: std::sync::Arc<dyn rpc_runtime::Resolver>) {
//! # #[derive(Clone)] struct BankClient(rpc_runtime::Client);
//! # impl BankClient { async fn balance(&self) -> Result<u64, rpc_runtime::CallError> { Ok(0) } }
//! # impl rpc_runtime::objects::Interface for BankClient {
//! #     fn spec() -> &'static rpc_runtime::InterfaceSpec { unimplemented!() }
//! #     fn from_client(client: rpc_runtime::Client) -> Self { BankClient(client) }
//! # }
//! use rpc_runtime::group::{Group, Policy};
//!
//! let banks: Group<BankClient> = Group::bound(binder, "bank", Default::default());
//! // The balance two members agree on.
//! let reply = banks
//!     .call_with(Policy::Quorum(2), |bank| async move { bank.balance().await })
//!     .await;
//! # drop(reply);
//! # }
//! ```
//!
//! Membership is what the resolver says, looked up again when it is older than
//! [`ChannelConfig::refresh`] (or [`Group::with_refresh`]) (a member that starts exporting joins at the next call after
//! that; one that stops is dropped). Every member call has the group's timeout; a member
//! that has not answered by then is reported with its error (`Timeout`), not waited for.
//! A policy that decides early ([`Policy::First`], [`Policy::Quorum`]) returns at once;
//! the other members' calls go on in the background to their end (they are not
//! cancelled: an at-most-once call stopped half way would leave that member's outcome
//! unknown), and the reply lists them as pending.
//!
//! There is no guarantee of delivery or order across members beyond what the policy
//! checks: `docs/GROUPS.md` says when to use which.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::Channel;
use crate::client::{ChannelConfig, Client, Endpoint, Resolver};
use crate::error::CallError;
use crate::objects::Interface;

/// How a group call combines its members' replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The first member's successful reply; the call fails only if every member fails.
    First,
    /// Every member's outcome; the value is set when all members succeeded with equal
    /// replies.
    All,
    /// `k` members' equal successful replies; fails as soon as that can no longer
    /// happen.
    Quorum(usize),
}

/// One member of a group: where it is, and the generated client calling it.
#[derive(Clone)]
struct Member<C> {
    endpoint: Endpoint,
    client: C,
}

/// A member's address and binding uid, as replies name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberId {
    /// Where the member listens.
    pub address: String,
    /// The member server incarnation's binding uid.
    pub binding: u64,
}

/// One member's outcome of a group call.
#[derive(Debug)]
pub struct MemberReply<T, E> {
    /// Which member.
    pub member: MemberId,
    /// What its call returned: a reply, or why there is none (`Timeout` for a member
    /// that did not answer in time).
    pub result: Result<T, CallError<E>>,
}

/// What a group call produced.
#[derive(Debug)]
pub struct GroupReply<T, E> {
    /// What the policy decided: the first success ([`Policy::First`]), the value `k`
    /// members agreed on ([`Policy::Quorum`]), or for [`Policy::All`] the value every
    /// member returned if they all agree.
    pub value: Option<T>,
    /// The outcomes in by the time the call returned, in the order they came.
    pub replies: Vec<MemberReply<T, E>>,
    /// Members whose calls were still running when the policy decided; they go on in
    /// the background.
    pub pending: Vec<MemberId>,
}

/// Why a group call produced no value.
#[derive(Debug, thiserror::Error)]
pub enum GroupError<T: std::fmt::Debug, E: std::fmt::Debug> {
    /// The resolver could not look the name up.
    #[error("looking up the group's members: {0}")]
    Unbound(String),
    /// Nobody serves the name now.
    #[error("the group has no members")]
    NoMembers,
    /// The policy's condition cannot be met: no member succeeded ([`Policy::First`]), or
    /// `k` equal successes can no longer come ([`Policy::Quorum`]). Every outcome in is
    /// here.
    #[error("the group's policy was not met: {} of {} members answered, {} succeeded", .0.replies.len(), .0.replies.len() + .0.pending.len(), .0.replies.iter().filter(|r| r.result.is_ok()).count())]
    NotMet(GroupReply<T, E>),
}

/// Where a group's members come from.
enum Source {
    /// The exports of a name.
    Bound {
        resolver: Arc<dyn Resolver>,
        name: String,
    },
    /// A fixed list.
    Fixed(Vec<Endpoint>),
}

struct Membership<C> {
    members: Vec<Member<C>>,
    looked_up: Option<Instant>,
}

/// A client of every server bound to a name; see the [module](self) documentation.
pub struct Group<C> {
    source: Source,
    config: ChannelConfig,
    policy: Policy,
    refresh: Duration,
    membership: Mutex<Membership<C>>,
}

impl<C: Interface> Group<C> {
    /// The group of the servers exporting `name` in `resolver` (a binder), with channels
    /// configured by `config` (its timeout is every member call's), and policy
    /// [`Policy::All`].
    pub fn bound(
        resolver: Arc<dyn Resolver>,
        name: impl Into<String>,
        config: ChannelConfig,
    ) -> Group<C> {
        Group::with_source(
            Source::Bound {
                resolver,
                name: name.into(),
            },
            config,
        )
    }

    /// The group of the servers at `endpoints`.
    pub fn of(endpoints: Vec<Endpoint>, config: ChannelConfig) -> Group<C> {
        Group::with_source(Source::Fixed(endpoints), config)
    }

    fn with_source(source: Source, config: ChannelConfig) -> Group<C> {
        Group {
            source,
            refresh: config.refresh,
            config,
            policy: Policy::All,
            membership: Mutex::new(Membership {
                members: Vec::new(),
                looked_up: None,
            }),
        }
    }

    /// The same group with `policy` for [`Group::call`].
    pub fn with_policy(mut self, policy: Policy) -> Group<C> {
        self.policy = policy;
        self
    }

    /// The same group, looking its membership up again when it is older than `refresh`
    /// (default: the channel configuration's [`refresh`](ChannelConfig::refresh)).
    pub fn with_refresh(mut self, refresh: Duration) -> Group<C> {
        self.refresh = refresh;
        self
    }

    /// The members now (looked up again if the last lookup is older than the refresh).
    pub async fn members(&self) -> Result<Vec<MemberId>, String> {
        Ok(self
            .current()
            .await?
            .iter()
            .map(|m| member_id(&m.endpoint))
            .collect())
    }

    /// Calls `call` on every member with the group's policy; see [`Group::call_with`].
    pub async fn call<T, E, F, Fut>(&self, call: F) -> Result<GroupReply<T, E>, GroupError<T, E>>
    where
        F: Fn(C) -> Fut,
        Fut: Future<Output = Result<T, CallError<E>>> + Send + 'static,
        T: PartialEq + Clone + std::fmt::Debug + Send + 'static,
        E: std::fmt::Debug + Send + 'static,
    {
        self.call_with(self.policy, call).await
    }

    /// Calls `call` (a call of one generated method, given that member's client) on
    /// every member at once, and combines the outcomes by `policy`.
    pub async fn call_with<T, E, F, Fut>(
        &self,
        policy: Policy,
        call: F,
    ) -> Result<GroupReply<T, E>, GroupError<T, E>>
    where
        F: Fn(C) -> Fut,
        Fut: Future<Output = Result<T, CallError<E>>> + Send + 'static,
        T: PartialEq + Clone + std::fmt::Debug + Send + 'static,
        E: std::fmt::Debug + Send + 'static,
    {
        let members = self.current().await.map_err(GroupError::Unbound)?;
        if members.is_empty() {
            return Err(GroupError::NoMembers);
        }
        let mut running = JoinSet::new();
        let mut pending = Vec::with_capacity(members.len());
        for member in members {
            let id = member_id(&member.endpoint);
            let future = call(member.client);
            let tag = id.clone();
            running.spawn(async move { (tag, future.await) });
            pending.push(id);
        }
        let mut tally = Tally {
            policy,
            total: pending.len(),
            replies: Vec::new(),
        };
        while let Some(joined) = running.join_next().await {
            let (member, result) = match joined {
                Ok(done) => done,
                // A member call that panicked is that member's failure, not the group's.
                Err(e) => {
                    tracing::warn!("a group member's call failed to run: {e}");
                    continue;
                }
            };
            pending.retain(|p| *p != member);
            tally.replies.push(MemberReply { member, result });
            match tally.verdict() {
                Verdict::Wait => {}
                decided => {
                    // The rest finish in the background: not cancelled (see the module).
                    running.detach_all();
                    return tally.finish(decided, pending);
                }
            }
        }
        // Every member is in (or its call could not run).
        tally.total = tally.replies.len();
        let decided = tally.verdict();
        tally.finish(decided, pending)
    }

    /// The members, looked up again if the membership is older than the refresh; members
    /// still exporting keep their clients (their channels and sessions).
    async fn current(&self) -> Result<Vec<Member<C>>, String> {
        {
            let membership = self
                .membership
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if membership
                .looked_up
                .is_some_and(|at| at.elapsed() < self.refresh)
            {
                return Ok(membership.members.clone());
            }
        }
        let found = match &self.source {
            Source::Bound { resolver, name } => resolver
                .resolve(name)
                .await
                .map_err(|e| format!("`{name}`: {e}"))?,
            Source::Fixed(endpoints) => endpoints.clone(),
        };
        let spec = C::spec();
        if let Some(other) = found.iter().find(|e| e.fingerprint != spec.fingerprint)
            && found.iter().all(|e| e.fingerprint != spec.fingerprint)
        {
            return Err(crate::client::binding::other_version(
                &format!("the {} server(s) found", found.len()),
                spec,
                other.fingerprint,
            ));
        }
        let mut membership = self
            .membership
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let before = std::mem::take(&mut membership.members);
        // A member of another version would refuse every call: it is left out.
        membership.members = found
            .into_iter()
            .filter(|e| e.fingerprint == spec.fingerprint)
            .map(|endpoint| {
                match before.iter().find(|m| {
                    m.endpoint.binding == endpoint.binding && m.endpoint.address == endpoint.address
                }) {
                    Some(kept) => kept.clone(),
                    None => Member {
                        client: self.client_for(&endpoint),
                        endpoint,
                    },
                }
            })
            .collect();
        membership.looked_up = Some(Instant::now());
        Ok(membership.members.clone())
    }

    /// A generated client of the member at `endpoint`.
    fn client_for(&self, endpoint: &Endpoint) -> C {
        let config = ChannelConfig {
            transport: endpoint.transport,
            ..self.config.clone()
        };
        let spec = C::spec();
        let channel = Channel::lazy(endpoint.address.clone(), config);
        C::from_client(Client::new(channel, spec).with_target(endpoint.binding, spec.object))
    }
}

fn member_id(endpoint: &Endpoint) -> MemberId {
    MemberId {
        address: endpoint.address.clone(),
        binding: endpoint.binding,
    }
}

/// What a policy says about the outcomes in so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not yet decided.
    Wait,
    /// Decided: the value is that of the reply at this index.
    Value(usize),
    /// Decided: there is no value.
    NoValue,
    /// The condition can no longer be met.
    NotMet,
}

struct Tally<T, E> {
    policy: Policy,
    total: usize,
    replies: Vec<MemberReply<T, E>>,
}

impl<T: PartialEq + Clone + std::fmt::Debug, E: std::fmt::Debug> Tally<T, E> {
    /// How many successes equal reply `i`'s (itself included); None if it failed.
    fn equal_to(&self, i: usize) -> Option<usize> {
        let value = self.replies[i].result.as_ref().ok()?;
        Some(
            self.replies
                .iter()
                .filter(|o| o.result.as_ref().ok() == Some(value))
                .count(),
        )
    }

    /// The index of a success that at least `k` successes equal, if any.
    fn agreed(&self, k: usize) -> Option<usize> {
        (0..self.replies.len()).find(|&i| self.equal_to(i).is_some_and(|n| n >= k))
    }

    /// The verdict while some members may still be running.
    fn verdict(&self) -> Verdict {
        let left = self.total - self.replies.len();
        match self.policy {
            Policy::First => match self.replies.iter().position(|r| r.result.is_ok()) {
                Some(i) => Verdict::Value(i),
                None if left == 0 => Verdict::NotMet,
                None => Verdict::Wait,
            },
            Policy::All if left == 0 => match self.agreed(self.total) {
                Some(i) => Verdict::Value(i),
                None => Verdict::NoValue,
            },
            Policy::All => Verdict::Wait,
            Policy::Quorum(k) => {
                let k = k.max(1);
                if let Some(i) = self.agreed(k) {
                    return Verdict::Value(i);
                }
                // The largest group of equal successes, joined by every member still
                // running, is the best that can still happen.
                let best = (0..self.replies.len())
                    .filter_map(|i| self.equal_to(i))
                    .max()
                    .unwrap_or(0);
                if left == 0 || best + left < k {
                    Verdict::NotMet
                } else {
                    Verdict::Wait
                }
            }
        }
    }

    fn finish(
        self,
        verdict: Verdict,
        pending: Vec<MemberId>,
    ) -> Result<GroupReply<T, E>, GroupError<T, E>> {
        let value = match verdict {
            Verdict::Value(i) => self.replies[i].result.as_ref().ok().cloned(),
            _ => None,
        };
        let reply = GroupReply {
            value,
            replies: self.replies,
            pending,
        };
        match verdict {
            Verdict::NotMet => Err(GroupError::NotMet(reply)),
            _ => Ok(reply),
        }
    }
}
