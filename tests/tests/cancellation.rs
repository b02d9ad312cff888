//! Deadlines and cancellation reach the server: a call given up on, by its deadline or by
//! dropping its future, stops running there, down a chain of servers; an uncancellable
//! method runs on; metadata and the trace context arrive intact.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc_runtime::{
    CallError, Channel, ChannelConfig, Server, ServerConfig, ServerHandle, Transport,
};
use tests::orphans::{WorkerClient, WorkerServer};
use tests::worker::Work;

async fn serve(work: &Arc<Work>, transport: Transport) -> ServerHandle {
    let server =
        Server::with_config(ServerConfig::default()).add_service(WorkerServer::new(work.clone()));
    match transport {
        Transport::Udp => server.bind_udp("127.0.0.1:0").await,
        _ => server.bind("127.0.0.1:0").await,
    }
    .expect("bind")
}

async fn client(server: &ServerHandle, timeout: Duration) -> WorkerClient {
    let config = ChannelConfig {
        transport: server.transport(),
        timeout,
        ..ChannelConfig::default()
    };
    WorkerClient::new(
        Channel::connect_with(server.address(), config)
            .await
            .expect("connect"),
    )
}

/// Waits (at most 5 s) until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < until, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_deadline_of_50_ms_drops_a_10_s_handler_on_the_server_within_a_few_ms() {
    for transport in [Transport::Tcp, Transport::Udp] {
        let work = Work::new();
        let server = serve(&work, transport).await;
        let client = client(&server, Duration::from_millis(50)).await;
        let started = Instant::now();
        let error = client.work(10_000).await.expect_err("too slow");
        assert!(matches!(error, CallError::Timeout(_)), "{error}");
        eventually("the handler is dropped", || work.counts().2 == 1).await;
        let dropped = work.dropped_at()[0].duration_since(started);
        // The server's deadline is the client's, less the time the request took to
        // arrive: a little after 50 ms, never before.
        assert!(
            dropped >= Duration::from_millis(45) && dropped < Duration::from_millis(50 + 30),
            "{transport:?}: dropped {dropped:?} after the call began"
        );
        assert_eq!(work.counts(), (1, 0, 1));
        let stats = server.stats().killed;
        assert_eq!(stats.deadline + stats.cancelled, 1, "{stats:?}");
        let remaining = work.seen()[0]
            .remaining
            .expect("a deadline came with the call");
        assert!(remaining <= Duration::from_millis(50), "{remaining:?}");
        assert_eq!(server.calls_waiting(), 0);
    }
}

#[tokio::test]
async fn dropping_a_call_drops_its_handler_on_the_server() {
    for transport in [Transport::Tcp, Transport::Udp] {
        let work = Work::new();
        let server = serve(&work, transport).await;
        let client = client(&server, Duration::from_secs(30)).await;
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.work(10_000).await }
        });
        eventually("the call starts", || work.counts().0 == 1).await;
        let dropped_at = Instant::now();
        call.abort();
        eventually("the handler is dropped", || work.counts().2 == 1).await;
        let took = work.dropped_at()[0].duration_since(dropped_at);
        assert!(took < Duration::from_millis(50), "{transport:?}: {took:?}");
        assert_eq!(server.stats().killed.cancelled, 1);
        // The slot it had is free and the channel works on.
        assert_eq!(client.work(1).await.unwrap(), 1);
    }
}

#[tokio::test]
async fn an_uncancellable_method_runs_to_its_end_and_sees_that_it_was_cancelled() {
    let work = Work::new();
    let server = serve(&work, Transport::Tcp).await;
    let client = client(&server, Duration::from_millis(50)).await;
    let error = client
        .steady(300)
        .await
        .expect_err("too slow for its caller");
    assert!(matches!(error, CallError::Timeout(_)), "{error}");
    eventually("it ends", || work.counts().1 == 1).await;
    assert_eq!(work.counts(), (1, 1, 0));
    assert_eq!(
        work.saw_cancelled.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn cancelling_at_the_client_stops_a_chain_of_three_servers() {
    let last = Work::new();
    let last_server = serve(&last, Transport::Tcp).await;
    let middle = Work::relaying_to(client(&last_server, Duration::from_secs(30)).await);
    let middle_server = serve(&middle, Transport::Tcp).await;
    let first = Work::relaying_to(client(&middle_server, Duration::from_secs(30)).await);
    let first_server = serve(&first, Transport::Tcp).await;
    let client = client(&first_server, Duration::from_secs(30)).await;

    // A deadline goes down the chain: each hop gets what its caller has left.
    let timed = client.clone().with_timeout(Duration::from_millis(100));
    let error = timed.relay(2, 10_000).await.expect_err("too slow");
    assert!(matches!(error, CallError::Timeout(_)), "{error}");
    for (hop, work) in [&first, &middle, &last].into_iter().enumerate() {
        let what = format!("hop {hop} is dropped: {:?}", work.counts());
        eventually(&what, || work.counts().2 == 1).await;
    }
    let remaining: Vec<Duration> = [&first, &middle, &last]
        .iter()
        .map(|w| w.seen()[0].remaining.expect("a deadline"))
        .collect();
    assert!(
        remaining[0] <= Duration::from_millis(100) && remaining[2] <= remaining[0],
        "{remaining:?}"
    );

    // Dropping the call at the client stops all three.
    let call = tokio::spawn(async move { client.relay(2, 10_000).await });
    eventually("the last hop starts", || last.counts().0 == 2).await;
    let cancelled_at = Instant::now();
    call.abort();
    for work in [&first, &middle, &last] {
        eventually("every hop is dropped", || work.counts().2 == 2).await;
        let took = work.dropped_at()[1].duration_since(cancelled_at);
        assert!(took < Duration::from_millis(100), "{took:?}");
        assert_eq!(work.counts().1, 0, "nothing ran to its end");
    }
}

#[tokio::test]
async fn metadata_arrives_intact_and_is_bounded() {
    let work = Work::new();
    let server = serve(&work, Transport::Tcp).await;
    let client = client(&server, Duration::from_secs(5))
        .await
        .with_metadata("authorization", "Bearer é-token")
        .with_metadata("tenant", "");
    assert_eq!(client.nap(1).await.unwrap(), 1);
    let seen = &work.seen()[0].metadata;
    assert_eq!(seen.get("authorization"), Some("Bearer é-token"));
    assert_eq!(seen.get("tenant"), Some(""));
    assert_eq!(seen.len(), 2);
    // Over the bound: refused before anything is sent.
    let big = client.clone().with_metadata("big", "x".repeat(20_000));
    let error = big.nap(1).await.expect_err("too much metadata");
    assert!(matches!(error, CallError::InvalidMetadata(_)), "{error}");
    assert_eq!(error.outcome(), rpc_runtime::Outcome::NotExecuted);
    assert_eq!(work.counts().0, 1);
}
