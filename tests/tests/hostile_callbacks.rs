//! Peers that abuse the callback direction: a client that floods its server with
//! Replies nobody asked for (over TCP and UDP, after making the server open a callback
//! link to it), and a server that floods a client's callback table with handshakes and
//! calls. Memory is read from `/proc/self/status`; honest peers keep being served and
//! called back throughout.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rpc_runtime::wire::handshake::{MIN_OPEN_DATAGRAM, OpenRequest, Opened};
use rpc_runtime::wire::{HANDSHAKE_SLOT, Header, Kind, Message, Payload, Status, decode};
use rpc_runtime::{Channel, ChannelConfig, Limits, ObjectRef, RetryPolicy, Transport};
use support::{hub_server_on, memory};
use tests::hub::CountingListener;
use tests::objects::{HubClient, Listener, hub_interface, listener_interface};
use tests::raw::{RawDatagram, RawStream, message, request_header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);

/// What a peer may grow by in these tests: the floods are far larger.
const GROWTH: u64 = 64 << 20;

/// A reference to an object the sender says it serves (address empty: the sender).
fn forged_listener() -> ObjectRef {
    ObjectRef {
        address: String::new(),
        binding: 1,
        object: 2,
        interface: listener_interface::NAME.into(),
        token: 3,
    }
}

/// `count` Replies nobody asked for, in many sessions and slots, as one buffer of
/// frames (`datagram`: as separate messages instead).
fn false_replies(first: u64, count: u64) -> Vec<Message> {
    (first..first + count)
        .map(|i| {
            let header =
                Header::control(Kind::Reply, i.wrapping_mul(0x9e37_79b9), (i % 64) as u32, i);
            Payload::encode(&i).unwrap().seal(&header)
        })
        .collect()
}

/// The honest side of each test: a client whose listener the hub calls back 50 times
/// per round, until `rounds` rounds are done; the notifications acknowledged.
async fn honest_rounds(hub: HubClient, rounds: u32) -> u32 {
    let listener = Arc::new(CountingListener::new(None));
    let reference = listener.clone().into_ref();
    let mut acknowledged = 0;
    for _ in 0..rounds {
        listener.last.store(0, Ordering::Relaxed);
        acknowledged += hub.subscribe(&reference, 50).await.unwrap();
    }
    assert_eq!(listener.out_of_order.load(Ordering::Relaxed), 0);
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_flooding_replies_on_its_connection_costs_the_server_nothing() {
    const FLOOD: u64 = 1_000_000;
    let server = hub_server_on(Limits::default(), Transport::Tcp).await;
    let address = server.local_addr().to_string();
    let mut flooder = RawStream::connect(&address).await;
    let (session, _) = flooder.open(4).await;
    // The hub keeps the flooder's "listener": it now has a callback link to this
    // connection, whose lease call arrives here as a request.
    let keep = request_header(
        hub_interface::OBJECT,
        &hub_interface::methods::KEEP,
        (session, 0, 1),
    );
    flooder
        .send(&message(&keep, &vec![forged_listener()]))
        .await;
    let mut kept = false;
    while let Some((header, _)) = flooder.recv(WAIT).await {
        if header.kind() == Some(Kind::Reply) && header.seq() == 1 {
            assert_eq!(header.status(), Some(Status::Ok));
            kept = true;
            break;
        }
    }
    assert!(kept, "the hub answered keep");
    let honest = {
        let hub = HubClient::new(Channel::connect(&address).await.unwrap());
        tokio::spawn(honest_rounds(hub, 20))
    };
    let (before, _) = memory();
    // Read what the server sends meanwhile (its lease calls), so that it never waits.
    let (mut read, mut write) = flooder.stream.into_split();
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        while matches!(read.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    for batch in (0..FLOOD).step_by(20_000) {
        let mut frames = Vec::new();
        for reply in false_replies(batch, 20_000) {
            frames.extend_from_slice(reply.frame());
        }
        write
            .write_all(&frames)
            .await
            .expect("the server keeps reading");
    }
    let (after, _) = memory();
    eprintln!("growth: {} KiB", after.saturating_sub(before) >> 10);
    assert_eq!(
        honest.await.unwrap(),
        1_000,
        "the honest client was called back throughout"
    );
    assert!(
        after < before + GROWTH,
        "the server grew by {} MiB over {FLOOD} false replies",
        after.saturating_sub(before) >> 20
    );
    // The flooder is still a client like any other: its connection serves it.
    let echo = request_header(
        hub_interface::OBJECT,
        &hub_interface::methods::ECHO,
        (session, 1, 1),
    );
    write
        .write_all(message(&echo, &5u32).frame())
        .await
        .unwrap();
    drop(write);
    drain.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datagram_peer_flooding_replies_costs_the_server_nothing() {
    const FLOOD: u64 = 1_000_000;
    let server = hub_server_on(Limits::default(), Transport::Udp).await;
    let address = server.local_addr().to_string();
    let flooder = RawDatagram::connect(&address).await;
    let (session, secret) = flooder.open(4).await;
    let keep = request_header(
        hub_interface::OBJECT,
        &hub_interface::methods::KEEP,
        (session, 0, 1),
    );
    let mut kept = false;
    for _ in 0..10 {
        flooder
            .send_tagged(message(&keep, &vec![forged_listener()]), &secret)
            .await;
        while let Some((header, ..)) = flooder
            .recv(Duration::from_millis(300), Some(&secret))
            .await
        {
            if header.kind() == Some(Kind::Reply) && header.seq() == 1 {
                kept = header.status() == Some(Status::Ok);
            }
        }
        if kept {
            break;
        }
    }
    assert!(kept, "the hub answered keep");
    let honest = {
        // The flood fills the server's socket buffer, and the kernel drops honest
        // datagrams with the rest: the honest client needs more patience than usual.
        let config = ChannelConfig {
            transport: Transport::Udp,
            retry: RetryPolicy {
                max_attempts: 40,
                ..RetryPolicy::default()
            },
            ..ChannelConfig::default()
        };
        let hub = HubClient::new(Channel::connect_with(&address, config).await.unwrap());
        tokio::spawn(honest_rounds(hub, 20))
    };
    let (before, _) = memory();
    let mut sent = 0u64;
    for batch in (0..FLOOD).step_by(10_000) {
        for reply in false_replies(batch, 10_000) {
            // Loopback drops what the server's socket cannot take; that is the point.
            if flooder.socket.send(reply.datagram()).await.is_ok() {
                sent += 1;
            }
        }
    }
    let (after, _) = memory();
    eprintln!("growth: {} KiB", after.saturating_sub(before) >> 10);
    assert_eq!(
        honest.await.unwrap(),
        1_000,
        "the honest client was called back throughout"
    );
    assert!(sent > FLOOD / 2, "{sent}");
    assert!(
        after < before + GROWTH,
        "the server grew by {} MiB over {sent} false replies",
        after.saturating_sub(before) >> 20
    );
}

/// The session a flooding server grants its client.
const SESSION: u64 = 0x00cd_ef01_2345_6789;

/// A server that answers its one client's handshake and `keep` honestly, then floods
/// the listener it was given with `opens` handshakes and `calls` calls of its own in
/// forged sessions and none; counts the client's answers in the returned counter.
async fn flooding_server(opens: u64, calls: u64) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let answers = Arc::new(AtomicU64::new(0));
    let counted = answers.clone();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut read, write) = stream.into_split();
        let write = Arc::new(tokio::sync::Mutex::new(write));
        loop {
            let Ok(len) = read.read_u32().await else {
                return;
            };
            let mut frame = vec![0; len as usize];
            if read.read_exact(&mut frame).await.is_err() {
                return;
            }
            let (header, payload) = Message::parse(&frame).expect("a well-formed message");
            match header.kind() {
                Some(Kind::Open) => {
                    let open: OpenRequest = decode(payload, "open").unwrap();
                    let opened = Opened {
                        secret: [9; 16],
                        slots: open.slots,
                    };
                    let reply = Header::control(Kind::Reply, SESSION, HANDSHAKE_SLOT, header.seq());
                    let message = Payload::encode(&opened).unwrap().seal(&reply);
                    write.lock().await.write_all(message.frame()).await.unwrap();
                }
                Some(Kind::Request) if header.method() == hub_interface::methods::KEEP.id => {
                    let (_, arguments) =
                        rpc_runtime::wire::context::RequestContext::split(payload).unwrap();
                    let refs: Vec<ObjectRef> = decode(arguments, "listeners").unwrap();
                    let reply = Header::reply_to(&header, Status::Ok);
                    let message = Payload::encode(&1u32).unwrap().seal(&reply);
                    write.lock().await.write_all(message.frame()).await.unwrap();
                    tokio::spawn(flood(write.clone(), refs[0].clone(), opens, calls));
                }
                Some(Kind::Reply) => {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
    (address, answers)
}

/// Sends `opens` handshakes, then `calls` notifications to `target` in forged
/// sessions and outside any, in batches.
async fn flood(
    write: Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>,
    target: ObjectRef,
    opens: u64,
    calls: u64,
) {
    let open = OpenRequest {
        client: None,
        slots: 64,
        padding: vec![0; MIN_OPEN_DATAGRAM],
    };
    let mut frames = Vec::new();
    for i in 0..opens + calls {
        let message = if i < opens {
            message(&Header::control(Kind::Open, 0, HANDSHAKE_SLOT, i), &open)
        } else {
            let session = if i % 2 == 0 { 0 } else { i };
            let header = Header::request(
                (session, (i % 64) as u32, i),
                target.binding,
                target.object,
                listener_interface::methods::NOTIFY.id,
                listener_interface::methods::NOTIFY.fingerprint,
            );
            message(&header, &(i, "flood"))
        };
        frames.extend_from_slice(message.frame());
        if frames.len() > 1 << 20 {
            if write.lock().await.write_all(&frames).await.is_err() {
                return;
            }
            frames.clear();
        }
    }
    let _ = write.lock().await.write_all(&frames).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_flooding_the_callback_table_leaves_the_client_bounded_and_working() {
    const OPENS: u64 = 100_000;
    const CALLS: u64 = 1_000_000;
    let (address, answers) = flooding_server(OPENS, CALLS).await;
    let (before, _) = memory();
    let flooded = HubClient::new(Channel::connect(&address).await.unwrap());
    let listener = Arc::new(CountingListener::new(None));
    let reference = listener.clone().into_ref();
    assert_eq!(flooded.keep(&vec![reference]).await.unwrap(), 1);
    // Every handshake and call gets its answer (a session, or a refusal): wait for
    // them all, which also shows the flood was read to its end.
    let all = OPENS + CALLS;
    let end = std::time::Instant::now() + Duration::from_secs(120);
    while answers.load(Ordering::Relaxed) < all && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (after, _) = memory();
    eprintln!("growth: {} KiB", after.saturating_sub(before) >> 10);
    assert_eq!(
        answers.load(Ordering::Relaxed),
        all,
        "every message was answered"
    );
    assert_eq!(
        listener.received.load(Ordering::Relaxed),
        0,
        "no call outside a session the client opened ran"
    );
    assert!(
        after < before + GROWTH,
        "the client grew by {} MiB over {OPENS} handshakes and {CALLS} calls",
        after.saturating_sub(before) >> 20
    );
    // The same process is still called back by an honest server.
    let honest = hub_server_on(Limits::default(), Transport::Tcp).await;
    let hub = HubClient::new(
        Channel::connect(honest.local_addr().to_string())
            .await
            .unwrap(),
    );
    assert_eq!(honest_rounds(hub, 4).await, 200);
}
