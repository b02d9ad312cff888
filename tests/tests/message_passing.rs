//! The message-passing layer under the stubs: doOperation, getRequest, sendReply.
//!
//! - a server written by hand with `getRequest`/`sendReply` serves a generated client,
//!   `inout`/`out` parameters and exceptions-free faults included;
//! - the same loop keeps at-most-once under 30% loss and 10% duplication over UDP: the
//!   session filters duplicates before the loop sees them;
//! - a generated server answers `doOperation` with bytes encoded by hand;
//! - the mailbox is bounded: a stalled loop holds at most its capacity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc_runtime::chaos::Proxy;
use rpc_runtime::client::Encoded;
use rpc_runtime::server::{Requests, mailbox};
use rpc_runtime::wire::{self, Payload};
use rpc_runtime::{Bytes, CallError, Channel, Client, Reply, Server, Transport};
use tests::calc::CalcClient;
use tests::calc::calc_interface::{self, methods};
use tests::calc_trait::{CalcServer, Calculator};
use tests::ledger_idl::{LedgerClient, ledger_interface};
use tests::lossy::{client_config, faults};

/// The calculator, served by hand: decode each request record, answer its reply record.
async fn calculator_loop(mut requests: Requests) {
    let mut total = 0i64;
    while let Some(request) = requests.get_request().await {
        let args = request.payload().clone();
        let reply = match request.method().id {
            id if id == methods::ADD.id => {
                let (a, b): (i64, i64) = wire::decode(&args, "add").unwrap();
                total += a + b;
                Reply::ok(&(a + b))
            }
            id if id == methods::TOTAL.id => Reply::ok(&total),
            id if id == methods::ACCUMULATE.id => {
                // `inout acc` comes in after `values` and goes back as the reply record.
                let (values, acc): (Vec<i64>, i64) = wire::decode(&args, "accumulate").unwrap();
                let sum: i64 = values.iter().sum();
                total += sum;
                Reply::ok(&(acc + sum))
            }
            id if id == methods::WORDS.id => {
                // The result first, then `out count`.
                let text: String = wire::decode(&args, "words").unwrap();
                let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
                let count = words.len() as u32;
                Reply::Ok(Payload::encode(&(words, count)).unwrap())
            }
            id if id == methods::RESET.id => {
                assert!(!request.wants_reply(), "oneway calls want no reply");
                total = 0;
                continue;
            }
            id if id == methods::ECHO.id => {
                let (data, label): (Bytes, Option<String>) = wire::decode(&args, "echo").unwrap();
                let mut out = label.unwrap_or_default().into_bytes();
                out.extend_from_slice(&data);
                Reply::ok(&Bytes::from(out))
            }
            // `stats` is left unanswered: dropping the request answers it with a fault.
            _ => {
                drop(request);
                continue;
            }
        };
        assert!(request.send_reply(reply));
    }
}

#[tokio::test]
async fn a_hand_written_loop_serves_a_generated_client() {
    let (mailbox, requests) = mailbox(&calc_interface::SPEC, 16);
    tokio::spawn(calculator_loop(requests));
    let server = Server::new()
        .add_service(mailbox)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let calc = CalcClient::new(Channel::connect(server.address()).await.unwrap());

    assert_eq!(calc.add(2, 3).await.unwrap(), 5);
    let mut acc = 10;
    calc.accumulate(&vec![1, 2, 3], &mut acc).await.unwrap();
    assert_eq!(acc, 16, "inout comes back from the loop");
    let mut count = 0;
    let words = calc.words("to be or not", &mut count).await.unwrap();
    assert_eq!((words.len(), count), (4, 4), "out comes back from the loop");
    assert_eq!(calc.total().await.unwrap(), 11);
    calc.reset().await.unwrap();
    let echoed = calc
        .echo(b"xyz", &Some("label:".to_string()))
        .await
        .unwrap();
    assert_eq!(&echoed[..], b"label:xyz");
    assert_eq!(calc.total().await.unwrap(), 0, "the oneway reset ran first");
    match calc.stats().await {
        Err(CallError::ServerFault { message, .. }) => {
            assert!(message.contains("dropped without a reply"), "{message}")
        }
        other => panic!("a dropped request must fault, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_hand_written_loop_keeps_at_most_once_under_loss_and_duplication() {
    const CALLS: u64 = 200;
    let (mailbox, mut requests) = mailbox(&ledger_interface::SPEC, 64);
    let runs: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    let counted = runs.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.get_request().await {
            let token: u64 = wire::decode(request.payload(), "token").unwrap();
            let ran = {
                let mut runs = counted.lock().unwrap();
                let n = runs.entry(token).or_default();
                *n += 1;
                *n
            };
            request.send_reply(Reply::ok(&ran));
        }
    });
    let server = Server::new()
        .add_service(mailbox)
        .bind_udp("127.0.0.1:0")
        .await
        .unwrap();
    let proxy = Proxy::udp(server.local_addr(), faults(13)).await.unwrap();
    let channel = Channel::connect_with(
        proxy.local_addr().to_string(),
        client_config(Transport::Udp),
    )
    .await
    .unwrap();
    let ledger = LedgerClient::new(channel);
    let calls = (0..CALLS).map(|token| {
        let ledger = ledger.clone();
        tokio::spawn(async move { (token, ledger.record(token).await) })
    });
    let mut ok = 0;
    for call in calls {
        let (token, result) = call.await.unwrap();
        if let Ok(ran) = result {
            assert_eq!(ran, 1, "token {token}: an Ok at-most-once call ran once");
            ok += 1;
        }
    }
    assert!(
        ok > CALLS * 9 / 10,
        "only {ok} of {CALLS} calls got through"
    );
    let runs = runs.lock().unwrap();
    assert!(
        runs.values().all(|&n| n == 1),
        "an at-most-once call ran twice"
    );
    let stats = proxy.stats();
    assert!(stats.duplicated > 0 && stats.dropped > 0, "{stats:?}");
    assert!(
        server.stats().duplicates_filtered > 0,
        "the session filtered duplicates"
    );
}

#[tokio::test]
async fn a_generated_server_answers_do_operation_with_encoded_arguments() {
    let server = Server::new()
        .add_service(CalcServer::new(Calculator::default()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let channel = Channel::connect(server.address()).await.unwrap();
    let client = Client::new(channel, &calc_interface::SPEC);
    let args = Payload::encode(&(40i64, 2i64)).unwrap().bytes().to_vec();
    let reply = client
        .do_operation(&methods::ADD, &Encoded(&args))
        .await
        .unwrap()
        .expect("add has a reply");
    let results = reply
        .outcome(&methods::ADD, |_| Ok(()))
        .expect("add returned");
    assert_eq!(wire::decode::<i64>(results, "sum").unwrap(), 42);
    // A oneway method: the request goes, no reply comes.
    let none = client
        .do_operation(&methods::RESET, &Encoded(&[]))
        .await
        .unwrap();
    assert!(none.is_none());
    // Arguments that do not decode are the server's BadRequest, as for any client.
    let reply = client
        .do_operation(&methods::ADD, &Encoded(&[0xff]))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        reply.outcome(&methods::ADD, |_| Ok(())),
        Err(CallError::Protocol(m)) if m.contains("could not decode")
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_loop_holds_no_more_than_its_capacity() {
    const CAPACITY: usize = 4;
    let (mailbox, mut requests) = mailbox(&calc_interface::SPEC, CAPACITY);
    let server = Server::new()
        .add_service(mailbox)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let calc = CalcClient::new(Channel::connect(server.address()).await.unwrap());
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let calc = calc.clone();
            tokio::spawn(async move { calc.add(i, 1).await })
        })
        .collect();
    // Nobody takes requests: the mailbox fills to its capacity and no further.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(requests.waiting(), CAPACITY);
    assert_eq!(server.calls_in_flight(), 64, "the others wait for room");
    // The loop starts: every call is served.
    tokio::spawn(async move {
        while let Some(request) = requests.get_request().await {
            let (a, b): (i64, i64) = wire::decode(request.payload(), "add").unwrap();
            request.send_reply(Reply::ok(&(a + b)));
        }
    });
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), i as i64 + 1);
    }
    server.shutdown().await;
}
