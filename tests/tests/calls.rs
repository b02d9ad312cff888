//! Calls from generated clients to generated servers over real loopback TCP.

mod support;

use std::time::Duration;

use rpc_runtime::{CallError, Concurrency, Outcome, ServerConfig};
use tests::types::{Oops, Shape, echo_interface};

#[tokio::test]
async fn inout_parameters_are_written_back() {
    let running = support::echo().await;
    let echo = running.client().await;
    let mut a = "left".to_string();
    let mut b = "right".to_string();
    echo.swap(&mut a, &mut b).await.unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("right", "left"));
}

#[tokio::test]
async fn out_parameters_are_written_and_the_result_returned() {
    let running = support::echo().await;
    let echo = running.client().await;
    let mut data = vec![99; 3];
    let mut label = "old".to_string();
    let n = echo.fill(5, &mut data, &mut label).await.unwrap();
    assert_eq!(n, 5);
    assert_eq!(data, [0, 1, 2, 3, 4]);
    assert_eq!(label, "5 numbers");
}

#[tokio::test]
async fn exceptions_arrive_typed() {
    let running = support::echo().await;
    let echo = running.client().await;
    assert_eq!(echo.fail(7).await.unwrap(), 7);
    match echo.fail(-3).await {
        Err(CallError::Exception(Oops::Negative { code: -3 })) => {}
        other => panic!("expected Negative, got {other:?}"),
    }
    let err = echo.fail(0).await.unwrap_err();
    assert!(matches!(err, CallError::Exception(Oops::Zero)));
    assert_eq!(err.outcome(), Outcome::Executed);
    assert_eq!(err.to_string(), "the server raised: Oops::Zero");
    // Each variant reads as the IDL names it, with its values.
    assert_eq!(
        Oops::Negative { code: -3 }.to_string(),
        "Oops::Negative: code -3"
    );
    assert_eq!(
        Oops::Message("no".into()).to_string(),
        "Oops::Message: \"no\""
    );
}

#[tokio::test]
async fn unknown_methods_and_other_signatures_are_refused_without_running() {
    let running = support::echo().await;
    let echo = running.client().await;
    let channel = rpc_runtime::Channel::connect(running.address())
        .await
        .unwrap();
    let client = rpc_runtime::Client::new(channel, &echo_interface::SPEC);

    static MISSING: rpc_runtime::MethodSpec = rpc_runtime::MethodSpec {
        name: "missing",
        id: 0x1234_5678,
        fingerprint: 1,
        semantics: rpc_runtime::Semantics::AtMostOnce,
        cancellable: true,
    };
    let err = client.call::<_, u32>(&MISSING, &()).await.unwrap_err();
    assert!(
        matches!(
            err,
            CallError::UnknownMethod {
                method: "missing",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.outcome(), Outcome::NotExecuted);

    // Same id as `nap`, another signature.
    static CHANGED: rpc_runtime::MethodSpec = rpc_runtime::MethodSpec {
        fingerprint: 42,
        ..echo_interface::methods::NAP
    };
    let err = client.call::<_, u32>(&CHANGED, &(5u32,)).await.unwrap_err();
    match err {
        CallError::FingerprintMismatch {
            client: 42, server, ..
        } => {
            assert_eq!(server, echo_interface::methods::NAP.fingerprint)
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    // The connection is still good.
    assert_eq!(echo.fail(1).await.unwrap(), 1);
}

#[tokio::test]
async fn a_panicking_handler_gets_a_fault_reply_and_the_server_goes_on() {
    let running = support::echo().await;
    let echo = running.client().await;
    match echo.explode("boom").await {
        Err(CallError::ServerFault {
            method: "explode",
            message,
        }) => assert!(message.contains("boom"), "{message}"),
        other => panic!("expected a server fault, got {other:?}"),
    }
    assert_eq!(echo.fail(2).await.unwrap(), 2);
}

#[tokio::test]
async fn a_thousand_concurrent_calls_on_one_connection_are_all_answered_correctly() {
    let running = support::echo().await;
    let echo = running.client().await;
    let calls = (0..1000).map(|i| {
        let echo = echo.clone();
        tokio::spawn(async move {
            let data = format!("call {i}").into_bytes();
            let back = echo.echo_bytes(&data).await.unwrap();
            assert_eq!(back, data);
            let mut a = format!("a{i}");
            let mut b = format!("b{i}");
            echo.swap(&mut a, &mut b).await.unwrap();
            assert_eq!((a, b), (format!("b{i}"), format!("a{i}")));
        })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap();
    }
}

#[tokio::test]
async fn a_sequential_server_runs_one_call_at_a_time() {
    for (concurrency, expect_parallel) in [
        (Concurrency::Sequential, false),
        (Concurrency::Concurrent { max_in_flight: 64 }, true),
    ] {
        let running = support::start(ServerConfig {
            concurrency,
            ..ServerConfig::default()
        })
        .await;
        let echo = running.client().await;
        let naps: Vec<_> = (0..8)
            .map(|_| {
                let echo = echo.clone();
                tokio::spawn(async move { echo.nap(20).await.unwrap() })
            })
            .collect();
        let mut most = 0;
        for nap in naps {
            most = most.max(nap.await.unwrap());
        }
        assert_eq!(
            most > 1,
            expect_parallel,
            "{concurrency:?}: at most {most} at once"
        );
    }
}

#[tokio::test]
async fn oneway_calls_return_at_once_and_run() {
    let running = support::echo().await;
    let echo = running.client().await;
    echo.note("first").await.unwrap();
    echo.note("second").await.unwrap();
    // A two-way call on the same connection is answered after the notes were read.
    echo.fail(1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(running.service.notes(), ["first", "second"]);
}

#[tokio::test]
async fn a_slow_call_times_out_with_an_unknown_outcome() {
    let running = support::echo().await;
    let echo = running
        .client()
        .await
        .with_timeout(Duration::from_millis(30));
    let err = echo.nap(500).await.unwrap_err();
    assert!(matches!(err, CallError::Timeout(_)), "{err:?}");
    assert_eq!(err.outcome(), Outcome::Unknown);
}

#[tokio::test]
async fn shutdown_lets_running_calls_finish() {
    let running = support::echo().await;
    let echo = running.client().await;
    let slow = tokio::spawn(async move { echo.nap(100).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    running.server.shutdown().await;
    assert_eq!(slow.await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn connecting_to_nothing_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = rpc_runtime::Channel::connect(address.clone())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to {address}")),
        "{err}"
    );
}

#[test]
fn shapes_have_defaults_for_out_parameters() {
    assert_eq!(Shape::default(), Shape::Empty);
}

#[tokio::test]
async fn oversized_requests_are_refused_before_sending_and_oversized_results_become_faults() {
    let running = support::start(ServerConfig {
        limits: rpc_runtime::Limits {
            max_frame: 64 << 10,
            ..rpc_runtime::Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let small = running
        .client_with(rpc_runtime::ChannelConfig {
            max_frame: 1 << 10,
            ..rpc_runtime::ChannelConfig::default()
        })
        .await;
    let err = small.echo_bytes(&[0; 4 << 10]).await.unwrap_err();
    assert!(
        matches!(err, CallError::TooLarge { limit: 1024, .. }),
        "{err:?}"
    );
    assert_eq!(err.outcome(), Outcome::NotExecuted);

    // 100,000 numbers do not fit the server's 64 KiB frames: that call faults, the
    // connection and the next call are fine.
    let echo = running.client().await;
    let (mut data, mut label) = (Vec::new(), String::new());
    match echo.fill(100_000, &mut data, &mut label).await {
        Err(CallError::ServerFault {
            method: "fill",
            message,
        }) => {
            assert!(message.contains("over the frame limit"), "{message}")
        }
        other => panic!("expected a server fault, got {other:?}"),
    }
    assert!(data.is_empty(), "a failed call writes nothing back");
    assert_eq!(echo.fill(3, &mut data, &mut label).await.unwrap(), 3);
}

#[tokio::test]
async fn dropping_the_server_handle_stops_the_server() {
    let running = support::echo().await;
    let address = running.address();
    let echo = running.client().await;
    assert_eq!(echo.fail(1).await.unwrap(), 1);
    // What `ServerHandle`'s `#[must_use]` says: no handle, no server.
    drop(running);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if rpc_runtime::Channel::connect(address.clone())
            .await
            .is_err()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server still accepts connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(echo.fail(2).await.is_err(), "the server still answers");
}
