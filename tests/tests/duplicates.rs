//! Duplicate requests of at-most-once calls do not run again, over a raw socket where the
//! test sets every field of the invocation id (session, slot, sequence number).

mod support;

use std::time::Duration;

use rpc_runtime::wire::{Header, Kind, Payload, Status};
use tests::raw::{RawStream, message, request_header};
use tests::types::echo_interface::{OBJECT, methods};

const WAIT: Duration = Duration::from_secs(2);
const SHORT: Duration = Duration::from_millis(150);

#[tokio::test]
async fn a_duplicate_at_most_once_request_runs_once_and_gets_the_stored_reply() {
    let running = support::echo().await;
    let mut raw = RawStream::connect(&running.address()).await;
    let (session, _) = raw.open(4).await;
    let nap = message(
        &request_header(OBJECT, &methods::NAP, (session, 0, 1)),
        &(40u32,),
    );

    raw.send(&nap).await;
    raw.send(&nap).await; // while the first copy runs: dropped
    let first = raw.recv(WAIT).await.expect("a reply");
    assert_eq!(first.0.status(), Some(Status::Ok));
    let second = raw.recv(SHORT).await;
    assert!(
        second.is_none(),
        "one reply for two copies: {second:?} {:?}",
        running.server.stats()
    );

    raw.send(&nap).await; // after it finished: the stored reply again
    let again = raw.recv(WAIT).await.expect("a resent reply");
    assert_eq!(again, first);

    let stats = running.server.stats();
    assert_eq!(stats.executions, 1);
    assert_eq!(stats.duplicates_filtered, 2);
    assert_eq!(stats.replies_resent, 1);
    assert_eq!(stats.sessions.replies, 1);

    // The slot's next call tells the server the client has the first reply: it is
    // dropped, and a late copy of the first call is older than the slot's last call,
    // neither run nor answered.
    let fail = message(
        &request_header(OBJECT, &methods::FAIL, (session, 0, 2)),
        &(5i32,),
    );
    raw.send(&fail).await;
    let (header, _) = raw.recv(WAIT).await.expect("fail(5) replies");
    assert_eq!((header.seq(), header.status()), (2, Some(Status::Ok)));
    raw.send(&nap).await;
    assert!(
        raw.recv(SHORT).await.is_none(),
        "a stale duplicate gets nothing"
    );
    let stats = running.server.stats();
    assert_eq!(stats.executions, 2);
    assert_eq!(stats.sessions.replies, 1, "only seq 2's reply is kept");

    // An acknowledgement drops seq 2's reply (protocol RRA), and leaves a mark: a copy
    // of seq 2 arriving later still does not run.
    raw.send(&Payload::empty().seal(&Header::control(Kind::Ack, session, 0, 2)))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(running.server.stats().sessions.replies, 0);
    raw.send(&fail).await;
    assert!(raw.recv(SHORT).await.is_none(), "a duplicate after the ack");
    assert_eq!(running.server.stats().executions, 2);
}

#[tokio::test]
async fn an_invocation_id_reused_for_another_request_is_refused() {
    let running = support::echo().await;
    let mut raw = RawStream::connect(&running.address()).await;
    let (session, _) = raw.open(1).await;
    let id = (session, 0, 1);
    raw.send(&message(
        &request_header(OBJECT, &methods::FAIL, id),
        &(1i32,),
    ))
    .await;
    let (first, payload) = raw.recv(WAIT).await.expect("a reply");
    assert_eq!(first.status(), Some(Status::Ok));
    for (what, other) in [
        (
            "other arguments",
            message(&request_header(OBJECT, &methods::FAIL, id), &(2i32,)),
        ),
        (
            "another method",
            message(&request_header(OBJECT, &methods::NAP, id), &(1u32,)),
        ),
    ] {
        raw.send(&other).await;
        let (header, text) = raw.recv(WAIT).await.expect("a refusal");
        assert_eq!(header.status(), Some(Status::IdReused), "{what}");
        assert_ne!(text, payload, "{what}: never the other call's reply");
    }
    assert_eq!(running.server.stats().executions, 1);
}

#[tokio::test]
async fn at_most_once_calls_outside_a_session_are_refused_and_idempotent_ones_run() {
    let running = support::echo().await;
    let mut raw = RawStream::connect(&running.address()).await;
    raw.send(&message(
        &request_header(OBJECT, &methods::FAIL, (0, 0, 1)),
        &(1i32,),
    ))
    .await;
    let (header, _) = raw.recv(WAIT).await.expect("a refusal");
    assert_eq!(header.status(), Some(Status::BadSession));

    let value = tests::types::Everything::default();
    let everything = message(
        &request_header(OBJECT, &methods::EVERYTHING, (0, 0, 1)),
        &(value,),
    );
    raw.send(&everything).await;
    raw.send(&everything).await;
    assert!(raw.recv(WAIT).await.is_some());
    assert!(raw.recv(WAIT).await.is_some());
    let stats = running.server.stats();
    assert_eq!((stats.executions, stats.duplicates_filtered), (2, 0));
    assert_eq!(
        stats.sessions.replies, 0,
        "at-least-once calls keep no reply"
    );
}

#[tokio::test]
async fn generated_clients_keep_one_reply_per_slot_in_use() {
    let running = support::echo().await;
    let echo = running.client().await;
    for i in 1..=200 {
        assert_eq!(echo.fail(i).await.unwrap(), i);
    }
    let stats = running.server.stats();
    assert_eq!(stats.executions, 200);
    assert_eq!(stats.sessions.replies, 1, "{stats:?}");
    assert_eq!(stats.sessions.evicted, 0);
}

#[tokio::test]
async fn with_rra_the_client_acknowledges_and_no_reply_is_kept() {
    let running = support::echo().await;
    let config = rpc_runtime::ChannelConfig {
        acknowledge: rpc_runtime::Acknowledge::Rra,
        ..rpc_runtime::ChannelConfig::default()
    };
    let echo = running.client_with(config).await;
    for i in 1..=50 {
        assert_eq!(echo.fail(i).await.unwrap(), i);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stats = running.server.stats();
    assert_eq!(stats.executions, 50);
    assert_eq!(
        stats.sessions.replies, 0,
        "every reply acknowledged: {stats:?}"
    );
}

#[tokio::test]
async fn a_client_whose_session_was_forgotten_opens_a_new_one() {
    let running = support::start(rpc_runtime::ServerConfig {
        limits: rpc_runtime::Limits {
            max_sessions: 1,
            ..rpc_runtime::Limits::default()
        },
        ..rpc_runtime::ServerConfig::default()
    })
    .await;
    let echo = running.client().await;
    assert_eq!(echo.fail(1).await.unwrap(), 1);
    // Another client's session pushes this one out.
    let mut other = RawStream::connect(&running.address()).await;
    other.open(1).await;
    assert_eq!(running.server.stats().sessions.evicted, 1);
    // The next call is refused in the old session (it certainly did not run: TCP
    // delivered its one copy to this server), so it goes again in a new one.
    assert_eq!(echo.fail(2).await.unwrap(), 2);
    let stats = running.server.stats();
    assert_eq!((stats.executions, stats.sessions.opened), (2, 3));
    assert_eq!(stats.refused_sessionless, 1);
}
