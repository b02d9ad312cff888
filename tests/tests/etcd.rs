//! The binder's etcd backend against a real etcd (`.ci/run` starts one and sets
//! RPCGEN_ETCD; built only with the `etcd` feature).

#![cfg(feature = "etcd")]

use std::time::Duration;

use rpc_binder::Binder;
use rpc_runtime::Transport;

async fn etcd() -> Binder {
    let endpoint =
        std::env::var("RPCGEN_ETCD").expect("RPCGEN_ETCD names the etcd to test against");
    Binder::etcd(&[endpoint.as_str()])
        .await
        .expect("connect to etcd")
}

#[tokio::test]
async fn exports_are_leased_keys_that_vanish_when_not_kept_alive() {
    let binder = etcd().await;
    let name = format!("lease-test-{}", std::process::id());
    let kept = binder
        .export_at(
            &name,
            "127.0.0.1:1",
            1,
            Transport::Tcp,
            9,
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    let dropped = binder
        .export_at(
            &name,
            "127.0.0.1:2",
            2,
            Transport::Udp,
            9,
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    let found = binder.lookup(&name).await.unwrap();
    assert_eq!(found.iter().map(|e| e.uid).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(found[1].transport, 1);
    drop(dropped); // stops its keep-alive: etcd deletes it when the lease runs out
    tokio::time::sleep(Duration::from_secs(4)).await;
    let found = binder.lookup(&name).await.unwrap();
    assert_eq!(
        found.iter().map(|e| e.uid).collect::<Vec<_>>(),
        [1],
        "the kept one lives on"
    );
    kept.withdraw().await;
    assert!(binder.lookup(&name).await.unwrap().is_empty());
}
