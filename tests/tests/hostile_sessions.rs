//! Peers that lie about sessions: another client's session id, forged datagram tags,
//! acknowledgements of calls that never ran, late duplicates, floods of oneway calls,
//! deep nesting, and datagrams that try to make the server amplify. Each test asserts the
//! property the honest client relies on: its at-most-once calls run once, and nothing
//! anyone else sends changes that or reads its replies.

mod support;

use std::time::Duration;

use rpc_runtime::wire::{FLAG_ONEWAY, Header, Kind, ONEWAY_SLOT, Payload, Status, VERSION};
use tests::raw::{RawDatagram, RawStream, message, request_header};
use tests::types::echo_interface::{OBJECT, methods};

const WAIT: Duration = Duration::from_secs(2);
const SHORT: Duration = Duration::from_millis(200);

#[tokio::test]
async fn another_connection_cannot_use_read_ack_or_advance_a_session() {
    let running = support::echo().await;
    let mut owner = RawStream::connect(&running.address()).await;
    let (session, secret) = owner.open(4).await;
    let call = |seq, code: i32| {
        message(
            &request_header(OBJECT, &methods::FAIL, (session, 0, seq)),
            &(code,),
        )
    };
    owner.send(&call(1, 7)).await;
    let (_, stored) = owner.recv(WAIT).await.expect("the owner's reply");

    let mut thief = RawStream::connect(&running.address()).await;
    // Naming the session: the same request, another method, the owner's next number,
    // the largest number there is. Each is refused; none runs, none reads the reply.
    for (what, request) in [
        ("the owner's request", call(1, 7)),
        (
            "another method",
            message(
                &request_header(OBJECT, &methods::NAP, (session, 0, 1)),
                &(1u32,),
            ),
        ),
        ("the owner's next number", call(2, 666)),
        ("the last number", call(u64::MAX, 666)),
    ] {
        thief.send(&request).await;
        let (header, payload) = thief.recv(WAIT).await.expect("a refusal");
        assert_eq!(header.status(), Some(Status::BadSession), "{what}");
        assert_ne!(payload, stored, "{what}: the owner's reply leaked");
    }
    // An acknowledgement from the thief drops nothing; a wrong secret attaches nothing.
    thief
        .send(&Payload::empty().seal(&Header::control(Kind::Ack, session, 0, 1)))
        .await;
    let mut wrong = secret;
    wrong[0] ^= 1;
    assert_eq!(thief.attach(session, wrong).await, Some(Status::BadSession));
    assert_eq!(running.server.stats().executions, 1);

    // The owner's retransmission still gets its stored reply, and its next call runs
    // with its own arguments.
    owner.send(&call(1, 7)).await;
    assert_eq!(owner.recv(WAIT).await.expect("a replay").1, stored);
    owner.send(&call(2, 8)).await;
    let (header, payload) = owner.recv(WAIT).await.expect("the next call");
    assert_eq!(header.status(), Some(Status::Ok));
    assert_eq!(rpc_runtime::wire::decode::<i32>(&payload, "r").unwrap(), 8);
    // The owner itself acknowledging a number it never used changes nothing either.
    owner
        .send(&Payload::empty().seal(&Header::control(Kind::Ack, session, 0, u64::MAX)))
        .await;
    owner.send(&call(3, 9)).await;
    assert_eq!(owner.recv(WAIT).await.unwrap().0.status(), Some(Status::Ok));
    assert_eq!(running.server.stats().executions, 3);

    // Whoever shows the secret may attach: that is what a reconnecting owner does.
    let mut again = RawStream::connect(&running.address()).await;
    assert_eq!(again.attach(session, secret).await, Some(Status::Ok));
    again.send(&call(3, 9)).await;
    assert_eq!(
        again.recv(WAIT).await.unwrap().0.status(),
        Some(Status::Ok),
        "a replay"
    );
    assert_eq!(running.server.stats().executions, 3);
}

#[tokio::test]
async fn datagrams_without_the_secret_are_dropped_and_nothing_is_amplified() {
    let running = support::echo_udp().await;
    let address = running.address();
    let owner = RawDatagram::connect(&address).await;
    let (session, secret) = owner.open(4).await;
    let big = vec![7u8; 30_000];
    let request = || {
        message(
            &request_header(OBJECT, &methods::ECHO_BYTES, (session, 0, 1)),
            &(&big[..],),
        )
    };
    owner.send_tagged(request(), &secret).await;
    let (header, payload, genuine, _) = owner.recv(WAIT, Some(&secret)).await.expect("a reply");
    assert!(genuine && header.status() == Some(Status::Ok));
    assert!(payload.len() > 30_000);

    let attacker = RawDatagram::connect(&address).await;
    // A small datagram naming the call, untagged: at most a bare refusal, never larger
    // than what was sent, never the stored reply.
    let probe = Payload::empty().seal(&request_header(
        OBJECT,
        &methods::ECHO_BYTES,
        (session, 0, 1),
    ));
    attacker.send(&probe).await;
    let (header, _, _, size) = attacker.recv(WAIT, None).await.expect("a bare refusal");
    assert_eq!(header.status(), Some(Status::BadSession));
    assert!(
        size <= probe.len(),
        "{size} bytes answered to {}",
        probe.len()
    );
    // A forged tag: dropped and counted.
    attacker.send_tagged(request(), &[9; 16]).await;
    assert!(attacker.recv(SHORT, None).await.is_none());
    assert_eq!(running.server.stats().forged, 1);
    // The owner's own datagram, captured and sent from another address: the stored
    // reply goes to no one but the address that made the call.
    let captured = request().tagged(&secret);
    attacker.socket.send(captured.datagram()).await.unwrap();
    assert!(
        attacker.recv(SHORT, None).await.is_none(),
        "a replay to another address"
    );
    // The owner's retransmission is answered.
    owner.send_tagged(request(), &secret).await;
    assert!(owner.recv(WAIT, Some(&secret)).await.is_some_and(|r| r.2));
    assert_eq!(running.server.stats().executions, 1);

    // Outside sessions too, no answer is larger than its question.
    let unknown = request_header(OBJECT, &methods::FAIL, (0, 0, 1)).with_method(0xdead);
    let small = Payload::empty().seal(&unknown);
    attacker.send(&small).await;
    let (header, _, _, size) = attacker.recv(WAIT, None).await.expect("a refusal");
    assert_eq!(header.status(), Some(Status::UnknownMethod));
    assert!(
        size <= small.len(),
        "{size} bytes answered to {}",
        small.len()
    );
    // An Open too small to pay for its answer gets none.
    let open = Payload::encode(&rpc_runtime::wire::handshake::OpenRequest {
        slots: 4,
        client: None,
        padding: Vec::new(),
    })
    .unwrap()
    .seal(&Header::control(
        Kind::Open,
        0,
        rpc_runtime::wire::HANDSHAKE_SLOT,
        1,
    ));
    attacker.send(&open).await;
    assert!(attacker.recv(SHORT, None).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_oneway_calls_leave_at_most_once_filtering_as_it_was() {
    const ONEWAY: u64 = 1_100_000;
    let running = support::echo().await;
    let mut raw = RawStream::connect(&running.address()).await;
    let (session, _) = raw.open(4).await;
    let fail = message(
        &request_header(OBJECT, &methods::FAIL, (session, 0, 1)),
        &(3i32,),
    );
    raw.send(&fail).await;
    assert!(raw.recv(WAIT).await.is_some());
    let before = running.server.stats().sessions;

    // Every oneway call twice, in batches written at once.
    let mut batch = Vec::with_capacity(1 << 20);
    for seq in 1..=ONEWAY {
        let header = request_header(OBJECT, &methods::NOTE, (session, ONEWAY_SLOT, seq))
            .with_flags(FLAG_ONEWAY);
        let frame = message(&header, &("",));
        batch.extend_from_slice(frame.frame());
        batch.extend_from_slice(frame.frame());
        if batch.len() > (1 << 20) - 64 || seq == ONEWAY {
            tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &batch)
                .await
                .unwrap();
            batch.clear();
        }
    }
    // The at-most-once call is still filtered: its copy gets the stored reply.
    raw.send(&fail).await;
    let (header, _) = raw.recv(Duration::from_secs(120)).await.expect("a replay");
    assert_eq!(header.status(), Some(Status::Ok));
    let stats = running.server.stats();
    assert_eq!(stats.executions, 1 + ONEWAY, "each oneway call ran once");
    assert_eq!(running.service.notes().len() as u64, ONEWAY);
    assert_eq!(stats.replies_resent, 1);
    assert_eq!(
        stats.sessions.bytes, before.bytes,
        "oneway calls cost no memory"
    );
    assert_eq!(stats.duplicates_filtered, ONEWAY + 1);
}

#[tokio::test]
async fn a_value_nested_30000_deep_is_a_bad_request_not_a_crash() {
    let running = support::echo().await;
    let mut raw = RawStream::connect(&running.address()).await;
    // `Everything` ends with a `Tree`; its default is four zero bytes. Replace it with a
    // tree whose `kids` nest 30,000 deep: value, left, right, then a list of one.
    let mut args = Payload::encode(&(tests::types::Everything::default(),))
        .unwrap()
        .bytes()
        .to_vec();
    args.truncate(args.len() - 4);
    for _ in 0..30_000 {
        args.extend_from_slice(&[0, 0, 0, 1]);
    }
    args.extend_from_slice(&[0, 0, 0, 0]);
    let header = request_header(OBJECT, &methods::EVERYTHING, (0, 0, 1));
    let mut frame = Payload::empty().seal(&header).frame().to_vec();
    frame.extend_from_slice(&args);
    let len = (frame.len() - 4) as u32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &frame)
        .await
        .unwrap();
    let (reply, text) = raw.recv(WAIT).await.expect("a refusal");
    assert_eq!(reply.status(), Some(Status::BadRequest));
    let text = rpc_runtime::wire::decode::<String>(&text, "text").unwrap();
    assert!(text.contains("nesting deeper than"), "{text}");
    let echo = running.client().await;
    assert_eq!(echo.fail(1).await.unwrap(), 1, "the server is still there");
    assert_eq!(VERSION, reply.version());
}
