//! Calls over a Unix domain socket: the same streams as TCP, on one machine.

use std::sync::Arc;

use rpc_runtime::{CallError, Channel, Server};
use tests::echo::EchoService;
use tests::types::{EchoClient, EchoServer, Oops};

#[tokio::test]
async fn calls_work_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("rpcgen-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server = Server::new()
        .add_service(EchoServer::from_arc(Arc::new(EchoService::new())))
        .bind_unix(&path)
        .unwrap();
    let echo = EchoClient::new(Channel::connect_unix(&path).await.unwrap());
    assert_eq!(echo.fail(3).await.unwrap(), 3);
    assert!(matches!(
        echo.fail(0).await,
        Err(CallError::Exception(Oops::Zero))
    ));
    let big = vec![9u8; 300_000];
    assert_eq!(echo.echo_bytes(&big).await.unwrap(), big);
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let echo = echo.clone();
            tokio::spawn(async move { echo.fail(i + 1).await.unwrap() == i + 1 })
        })
        .collect();
    for call in calls {
        assert!(call.await.unwrap());
    }
    server.shutdown().await;
    std::fs::remove_file(&path).unwrap();
}
