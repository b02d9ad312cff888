//! The reply history: duplicate requests of at-most-once calls do not run again, over a
//! raw socket where the test controls invocation ids.

mod support;

use std::time::Duration;

use rpc_runtime::wire::{Header, Kind, Message, Payload, Status};
use tests::types::echo_interface::methods;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request of `method` from client 77 numbered `seq`, carrying watermark `ack`, with
/// its arguments encoded as generated code would (a struct is its fields in order, like
/// a tuple).
fn request<A: rpc_runtime::serde::Serialize>(
    method: &rpc_runtime::MethodSpec,
    seq: u64,
    ack: u64,
    args: &A,
) -> Vec<u8> {
    let mut header = Header::request(
        77,
        seq,
        0,
        tests::types::echo_interface::OBJECT,
        method.id,
        method.fingerprint,
    );
    header.ack = ack;
    Payload::encode(args)
        .expect("encodable")
        .seal(&header)
        .frame()
        .to_vec()
}

/// The next reply on `raw`, or None if none comes within `wait`.
async fn reply(raw: &mut TcpStream, wait: Duration) -> Option<(Header, Vec<u8>)> {
    let read = async {
        let len = raw.read_u32().await.ok()? as usize;
        let mut message = vec![0; len];
        raw.read_exact(&mut message).await.ok()?;
        let (header, payload) = Message::parse(&message).ok()?;
        Some((header, payload.to_vec()))
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

#[tokio::test]
async fn a_duplicate_at_most_once_request_runs_once_and_gets_the_stored_reply() {
    let running = support::echo().await;
    let mut raw = TcpStream::connect(running.address()).await.unwrap();
    let nap = request(&methods::NAP, 1, 1, &(40u32,));

    raw.write_all(&nap).await.unwrap();
    raw.write_all(&nap).await.unwrap(); // while the first copy runs: dropped
    let (first, payload) = reply(&mut raw, Duration::from_secs(2))
        .await
        .expect("a reply");
    assert_eq!(first.status(), Some(Status::Ok));
    assert!(
        reply(&mut raw, Duration::from_millis(100)).await.is_none(),
        "one reply for two copies"
    );

    raw.write_all(&nap).await.unwrap(); // after it finished: the stored reply again
    let (again, again_payload) = reply(&mut raw, Duration::from_secs(2))
        .await
        .expect("a resent reply");
    assert_eq!((again, again_payload), (first, payload.clone()));

    let stats = running.server.stats();
    assert_eq!(stats.executions, 1);
    assert_eq!(stats.duplicates_filtered, 2);
    assert_eq!(stats.replies_resent, 1);
    assert_eq!(stats.history.entries, 1);

    // Seq 2 says the client is done with everything below 2: seq 1 is forgotten, and a
    // late copy of it is stale, neither run nor answered.
    raw.write_all(&request(&methods::FAIL, 2, 2, &(5i32,)))
        .await
        .unwrap();
    let (header, _) = reply(&mut raw, Duration::from_secs(2))
        .await
        .expect("fail(5) replies");
    assert_eq!((header.seq, header.status()), (2, Some(Status::Ok)));
    raw.write_all(&nap).await.unwrap();
    assert!(
        reply(&mut raw, Duration::from_millis(150)).await.is_none(),
        "a stale duplicate gets nothing"
    );
    let stats = running.server.stats();
    assert_eq!(stats.executions, 2);
    assert_eq!(stats.history.entries, 1, "only seq 2 is kept");

    // An acknowledgement forgets seq 2 (protocol RRA).
    let ack = Payload::empty().seal(&Header {
        kind: Kind::Ack as u8,
        ..Header::request(77, 2, 0, 0, 0, 0)
    });
    raw.write_all(ack.frame()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(running.server.stats().history.entries, 0);
}

#[tokio::test]
async fn idempotent_requests_run_every_copy() {
    let running = support::echo().await;
    let mut raw = TcpStream::connect(running.address()).await.unwrap();
    let value = tests::types::Everything::default();
    let everything = request(&methods::EVERYTHING, 1, 1, &(value,));
    raw.write_all(&everything).await.unwrap();
    raw.write_all(&everything).await.unwrap();
    assert!(reply(&mut raw, Duration::from_secs(2)).await.is_some());
    assert!(reply(&mut raw, Duration::from_secs(2)).await.is_some());
    let stats = running.server.stats();
    assert_eq!((stats.executions, stats.duplicates_filtered), (2, 0));
    assert_eq!(
        stats.history.entries, 0,
        "at-least-once calls keep no history"
    );
}

#[tokio::test]
async fn generated_clients_keep_the_history_small_with_their_watermark() {
    let running = support::echo().await;
    let echo = running.client().await;
    for i in 1..=200 {
        assert_eq!(echo.fail(i).await.unwrap(), i);
    }
    let stats = running.server.stats();
    assert_eq!(stats.executions, 200);
    assert!(stats.history.entries <= 1, "{stats:?}");
    assert_eq!(stats.history.evicted, 0);
}

#[tokio::test]
async fn with_rra_the_client_acknowledges_and_the_history_empties() {
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
        stats.history.entries, 0,
        "every reply acknowledged: {stats:?}"
    );
}
