//! A call's timeout covers everything the call does: asking the binder and connecting,
//! not only waiting for the reply.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc_runtime::{
    CallError, Channel, ChannelConfig, Client, Endpoint, Outcome, ResolveError, Resolver,
};
use tests::ledger_idl::{LedgerClient, ledger_interface};

/// A binder that never answers.
struct Silent;

impl Resolver for Silent {
    fn resolve<'a>(
        &'a self,
        _name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Endpoint>, ResolveError>> + Send + 'a>> {
        Box::pin(std::future::pending())
    }
}

const TIMEOUT: Duration = Duration::from_millis(300);

/// Fails `call` within a little more than [`TIMEOUT`], as not executed.
async fn fails_in_time(call: impl Future<Output = Result<u64, CallError>>) {
    let started = Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the call ends by itself")
        .expect_err("nothing answers");
    let took = started.elapsed();
    assert!(took >= TIMEOUT && took < TIMEOUT * 4, "{took:?}: {error}");
    assert_eq!(error.outcome(), Outcome::NotExecuted, "{error}");
}

#[tokio::test]
async fn the_timeout_covers_a_binder_that_does_not_answer() {
    let config = ChannelConfig {
        timeout: TIMEOUT,
        ..ChannelConfig::default()
    };
    let client = LedgerClient::from_client(Client::bound(
        Arc::new(Silent),
        "ledger",
        &ledger_interface::SPEC,
        config,
    ));
    fails_in_time(client.record(1)).await;
}

#[tokio::test]
async fn the_timeout_covers_a_server_that_accepts_and_never_answers() {
    // The kernel completes the connection from its backlog; nobody ever reads it, so the
    // handshake waits (connect_timeout is 10 s) until the call's timeout ends it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let channel = Channel::lazy(
        listener.local_addr().unwrap().to_string(),
        ChannelConfig::default(),
    );
    let client = LedgerClient::new(channel).with_timeout(TIMEOUT);
    fails_in_time(client.record(1)).await;
    // The abandoned connection was closed, not left with a task reading it: the
    // server's side sees its end.
    let closed = tokio::task::spawn_blocking(move || {
        let (mut accepted, _) = listener.accept().unwrap();
        accepted
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        std::io::Read::read_to_end(&mut accepted, &mut Vec::new())
    });
    closed.await.unwrap().expect("the client closed it");
}
