//! Bad bytes from a raw socket close that connection, with a logged error; other
//! clients keep being served.

mod support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `bytes` on a fresh connection and says whether the server closed it (reads end
/// of stream) within a second.
async fn server_closes_after(address: &str, bytes: &[u8]) -> bool {
    let mut raw = TcpStream::connect(address).await.unwrap();
    raw.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), raw.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn malformed_and_oversized_frames_close_only_their_connection() {
    let running = support::echo().await;
    let echo = running.client().await;
    assert_eq!(echo.fail(1).await.unwrap(), 1);
    let address = running.address();

    let cases: [(&str, Vec<u8>); 5] = [
        ("an announced 4 GiB frame", vec![0xff, 0xff, 0xff, 0xff]),
        (
            "17 MiB, over the 16 MiB limit",
            (17u32 << 20).to_be_bytes().to_vec(),
        ),
        ("an unknown protocol version", vec![0, 0, 0, 3, 9, 0, 0]),
        ("a truncated header", vec![0, 0, 0, 2, 1, 0]),
        (
            "a reply sent to a server",
            vec![0, 0, 0, 11, 2, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0],
        ),
    ];
    for (what, bytes) in cases {
        assert!(
            server_closes_after(&address, &bytes).await,
            "{what}: connection still open"
        );
        // The well-behaved client on its own connection is unaffected.
        assert_eq!(echo.fail(2).await.unwrap(), 2, "after {what}");
    }
}

#[tokio::test]
async fn undecodable_arguments_get_an_error_reply_and_the_connection_stays() {
    let running = support::echo().await;
    let echo = running.client().await;
    let channel = rpc_runtime::Channel::connect(running.address())
        .await
        .unwrap();
    let client = rpc_runtime::Client::new(channel, &tests::types::echo_interface::SPEC);
    // `fail` takes an i32; send a string instead.
    let err = client
        .call::<_, i32>(
            &tests::types::echo_interface::methods::FAIL,
            &"not a number at all",
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("could not decode the arguments of `fail`"),
        "{err}"
    );
    assert_eq!(echo.fail(3).await.unwrap(), 3);
}

#[tokio::test]
async fn a_peer_that_stalls_mid_frame_does_not_hold_up_others() {
    let running = support::echo().await;
    let echo = running.client().await;
    let mut staller = TcpStream::connect(running.address()).await.unwrap();
    // Announce 1000 bytes, send 10, then go quiet.
    staller.write_all(&1000u32.to_be_bytes()).await.unwrap();
    staller.write_all(&[1; 10]).await.unwrap();
    for i in 1..50 {
        assert_eq!(echo.fail(i).await.unwrap(), i);
    }
    drop(staller);
}
