//! A server that lies to its client: replies for calls that are not in flight, for slots
//! the session does not have, for other sessions, and a flood of them. The client takes
//! a reply only for the call waiting on its slot with its number, keeps nothing else, and
//! its real calls are answered as if nothing happened.

mod support;

use std::time::Duration;

use rpc_runtime::wire::context::RequestContext;
use rpc_runtime::wire::handshake::{OpenRequest, Opened};
use rpc_runtime::wire::{HANDSHAKE_SLOT, Header, Kind, Message, Payload, Status, decode};
use rpc_runtime::{Channel, ChannelConfig};
use tests::ledger_idl::LedgerClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The session the lying server grants.
const SESSION: u64 = 0x00ab_cdef_1234_5678;

/// Serves one client by hand: answers its Open, then each request with `lies(request)`
/// first and the true reply (the token plus one) after them.
async fn lying_server(lies: fn(&Header) -> Vec<Message>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        while let Some(frame) = read_frame(&mut stream).await {
            let (header, payload) = Message::parse(&frame).expect("a well-formed request");
            match header.kind() {
                Some(Kind::Open) => {
                    let open: OpenRequest = decode(payload, "open").unwrap();
                    let opened = Opened {
                        secret: [7; 16],
                        slots: open.slots,
                    };
                    let reply = Header::control(Kind::Reply, SESSION, HANDSHAKE_SLOT, header.seq());
                    let message = Payload::encode(&opened).unwrap().seal(&reply);
                    stream.write_all(message.frame()).await.unwrap();
                }
                Some(Kind::Request) => {
                    // Requests carry a call context before their arguments.
                    let (_, arguments) = RequestContext::split(payload).unwrap();
                    let token: u64 = decode(arguments, "token").unwrap();
                    let mut out = Vec::new();
                    for lie in lies(&header) {
                        out.extend_from_slice(lie.frame());
                    }
                    let truth = Header::reply_to(&header, Status::Ok);
                    out.extend_from_slice(
                        Payload::encode(&(token + 1)).unwrap().seal(&truth).frame(),
                    );
                    stream.write_all(&out).await.unwrap();
                }
                _ => {}
            }
        }
    });
    address
}

async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let len = stream.read_u32().await.ok()? as usize;
    let mut frame = vec![0; len];
    stream.read_exact(&mut frame).await.ok()?;
    Some(frame)
}

/// A reply carrying 999 (which no true reply carries) for (`session`, `slot`, `seq`).
fn false_reply(session: u64, slot: u32, seq: u64) -> Message {
    let header = Header::control(Kind::Reply, session, slot, seq);
    Payload::encode(&999u64).unwrap().seal(&header)
}

fn client(address: String) -> LedgerClient {
    let config = ChannelConfig {
        timeout: Duration::from_secs(10),
        ..ChannelConfig::default()
    };
    LedgerClient::new(Channel::lazy(address, config))
}

#[tokio::test]
async fn replies_for_calls_not_waiting_are_never_taken_for_the_one_that_is() {
    let address = lying_server(|request| {
        let (slot, seq) = (request.slot(), request.seq());
        vec![
            false_reply(SESSION, slot, seq + 1), // the slot's next call
            false_reply(SESSION, slot, seq.wrapping_sub(1)), // its last one
            false_reply(SESSION, slot + 1, seq), // another slot
            false_reply(SESSION, u32::MAX - 7, seq), // a slot the table lacks
            false_reply(SESSION, HANDSHAKE_SLOT, seq), // a handshake that is over
        ]
    })
    .await;
    let ledger = client(address);
    for token in 0..200 {
        assert_eq!(ledger.record(token).await.unwrap(), token + 1);
    }
}

#[tokio::test]
async fn a_reply_naming_another_session_closes_the_connection_and_is_never_taken() {
    let address =
        lying_server(|request| vec![false_reply(SESSION ^ 1, request.slot(), request.seq())]).await;
    let config = ChannelConfig {
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_millis(500),
        ..ChannelConfig::default()
    };
    let ledger = LedgerClient::new(Channel::lazy(address, config));
    // The lie comes first on the stream: the client stops trusting the connection there,
    // so the true reply behind it is not read either, and the call may have run.
    let error = ledger
        .record(1)
        .await
        .expect_err("a lie is never an answer");
    assert_eq!(error.outcome(), rpc_runtime::Outcome::Unknown, "{error}");
}

#[tokio::test]
async fn a_flood_of_unsolicited_replies_costs_the_client_no_memory() {
    const FLOOD: u32 = 200_000;
    let address = lying_server(|request| {
        (0..FLOOD)
            .map(|i| false_reply(SESSION, i % 300, request.seq() + 1 + u64::from(i)))
            .collect()
    })
    .await;
    let ledger = client(address);
    assert_eq!(ledger.record(1).await.unwrap(), 2, "warm-up");
    let (before, _) = support::memory();
    for token in 2..7 {
        // Each call's true reply comes after 200,000 false ones.
        assert_eq!(ledger.record(token).await.unwrap(), token + 1);
    }
    let (after, _) = support::memory();
    // The false replies pass through the read buffer and are dropped one by one; what
    // the test itself builds to send them (about 10 MB a call) comes and goes.
    assert!(
        after < before + (64 << 20),
        "the client grew by {} MiB",
        (after.saturating_sub(before)) >> 20
    );
}
