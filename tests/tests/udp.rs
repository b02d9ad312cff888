//! Calls over UDP: one datagram per message, one server socket for many clients.

mod support;

use std::time::Duration;

use rpc_runtime::{
    CallError, Channel, ChannelConfig, Outcome, RetryPolicy, ServerConfig, Transport,
};
use tests::types::{EchoClient, Oops};

async fn udp_client(address: String) -> EchoClient {
    EchoClient::new(Channel::connect_udp(address).await.unwrap())
}

#[tokio::test]
async fn calls_work_over_udp_for_many_clients_of_one_socket() {
    let running = support::start_udp(ServerConfig::default()).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(udp_client(running.address()).await);
    }
    for (i, echo) in clients.iter().enumerate() {
        let i = i as i32 + 1;
        assert_eq!(echo.fail(i).await.unwrap(), i);
        assert!(matches!(
            echo.fail(-i).await,
            Err(CallError::Exception(Oops::Negative { .. }))
        ));
        let (mut a, mut b) = ("x".to_string(), "y".to_string());
        echo.swap(&mut a, &mut b).await.unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("y", "x"));
    }
    let echo = &clients[0];
    echo.note("over udp").await.unwrap();
    echo.fail(1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(running.service.notes(), ["over udp"]);
}

#[tokio::test]
async fn a_request_too_large_for_a_datagram_is_refused_before_sending() {
    let running = support::start_udp(ServerConfig::default()).await;
    let echo = udp_client(running.address()).await;
    let err = echo.echo_bytes(&vec![0; 70_000]).await.unwrap_err();
    assert!(
        // A datagram's 65,507 bytes, less the session tag's 8.
        matches!(err, CallError::TooLarge { limit: 65_499, .. }),
        "{err:?}"
    );
    assert_eq!(err.outcome(), Outcome::NotExecuted);
    // A reply too large for a datagram becomes a fault for that call.
    let (mut data, mut label) = (Vec::new(), String::new());
    let err = echo.fill(40_000, &mut data, &mut label).await.unwrap_err();
    assert!(matches!(err, CallError::ServerFault { .. }), "{err:?}");
    assert_eq!(echo.fill(2, &mut data, &mut label).await.unwrap(), 2);
}

/// UDP with four attempts 10 to 40 ms apart: a silent server is given up on after about
/// 100 ms.
fn impatient() -> ChannelConfig {
    ChannelConfig {
        transport: Transport::Udp,
        retry: RetryPolicy {
            first_wait: Duration::from_millis(10),
            backoff: 2,
            max_wait: Duration::from_millis(40),
            max_attempts: 4,
        },
        ..ChannelConfig::default()
    }
}

#[tokio::test]
async fn when_the_server_is_gone_a_call_retransmits_then_gives_up_with_an_unknown_outcome() {
    let running = support::start_udp(ServerConfig::default()).await;
    let address = running.address();
    let config = impatient();
    let echo = EchoClient::new(
        Channel::connect_with(&address, config.clone())
            .await
            .unwrap(),
    );
    running.server.shutdown().await;
    let started = std::time::Instant::now();
    let err = echo.fail(1).await.unwrap_err();
    assert_eq!(err.outcome(), Outcome::Unknown, "{err:?}");
    assert!(
        matches!(
            err,
            CallError::Connection {
                attempts: Some(4),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("after 4 attempts"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn with_no_server_connecting_fails_and_nothing_was_sent() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap().to_string();
    drop(socket);
    let config = ChannelConfig {
        transport: Transport::Udp,
        connect_timeout: Duration::from_millis(300),
        ..ChannelConfig::default()
    };
    // Opening the session gets no answer: the channel cannot be made.
    let err = Channel::connect_with(&address, config.clone())
        .await
        .unwrap_err();
    assert_eq!(err.source.kind(), std::io::ErrorKind::TimedOut, "{err}");
    // A lazy channel's call fails the same way, certainly not run.
    let echo = EchoClient::new(Channel::lazy(address, config));
    let err = echo.fail(1).await.unwrap_err();
    assert_eq!(err.outcome(), Outcome::NotExecuted, "{err:?}");
}

#[tokio::test]
async fn a_call_longer_than_its_retransmissions_is_waited_for_while_the_server_says_it_runs() {
    let running = support::start_udp(ServerConfig::default()).await;
    // Four attempts 10 to 40 ms apart give up after about 100 ms on a silent server;
    // this call runs 600 ms. Each copy sent while it runs is answered `Running`, so the
    // client waits on (within its timeout) instead of giving up on a working server.
    let config = impatient();
    let echo = EchoClient::new(
        Channel::connect_with(running.address(), config)
            .await
            .unwrap(),
    );
    let started = std::time::Instant::now();
    assert_eq!(echo.nap(600).await.unwrap(), 1);
    assert!(started.elapsed() >= Duration::from_millis(600));
    let stats = running.server.stats();
    assert_eq!(stats.executions, 1, "it ran once");
    assert!(stats.duplicates_filtered >= 4, "{stats:?}");
}
