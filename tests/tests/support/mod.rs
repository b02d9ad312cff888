//! Starting an echo server on loopback for a test.

#![allow(dead_code)]

use std::sync::Arc;

use rpc_runtime::{Channel, ChannelConfig, Server, ServerConfig, ServerHandle, Transport};
use tests::echo::EchoService;
use tests::types::{EchoClient, EchoServer};

/// A running echo server and its service, for inspecting counters.
pub struct Running {
    pub server: ServerHandle,
    pub service: Arc<EchoService>,
}

impl Running {
    pub fn address(&self) -> String {
        self.server.local_addr().to_string()
    }

    pub async fn client(&self) -> EchoClient {
        EchoClient::new(
            Channel::connect(self.address())
                .await
                .expect("connect to the test server"),
        )
    }

    pub async fn client_with(&self, config: ChannelConfig) -> EchoClient {
        let channel = Channel::connect_with(self.address(), config)
            .await
            .expect("connect");
        EchoClient::new(channel)
    }
}

/// An echo server on a loopback TCP port.
pub async fn start(config: ServerConfig) -> Running {
    start_on(config, Transport::Tcp).await
}

/// An echo server on a loopback UDP socket.
pub async fn start_udp(config: ServerConfig) -> Running {
    start_on(config, Transport::Udp).await
}

async fn start_on(config: ServerConfig, transport: Transport) -> Running {
    let service = Arc::new(EchoService::new());
    let server = Server::with_config(config).add_service(EchoServer::from_arc(service.clone()));
    let server = match transport {
        Transport::Udp => server.bind_udp("127.0.0.1:0").await,
        _ => server.bind("127.0.0.1:0").await,
    };
    Running {
        server: server.expect("bind a loopback port"),
        service,
    }
}

pub async fn echo() -> Running {
    start(ServerConfig::default()).await
}

/// An echo server with the default configuration on a loopback UDP socket.
pub async fn echo_udp() -> Running {
    start_udp(ServerConfig::default()).await
}

/// This process's resident memory now and at its peak, in bytes, from
/// `/proc/self/status` (`VmRSS`, `VmHWM`).
pub fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A server of the remote object tests' hub (`idl/objects.idl`) on a loopback TCP port,
/// with object bounds `limits`.
pub async fn hub_server(limits: rpc_runtime::Limits) -> ServerHandle {
    hub_server_on(limits, Transport::Tcp).await
}

/// [`hub_server`] over `transport` (TCP or UDP).
pub async fn hub_server_on(limits: rpc_runtime::Limits, transport: Transport) -> ServerHandle {
    let config = ServerConfig {
        limits,
        ..ServerConfig::default()
    };
    let server = Server::with_config(config).add_service(tests::objects::HubServer::new(
        tests::hub::HubService::default(),
    ));
    match transport {
        Transport::Udp => server.bind_udp("127.0.0.1:0").await,
        _ => server.bind("127.0.0.1:0").await,
    }
    .expect("bind")
}

/// Waits up to `within` for `done`, checking every 20 ms; whether it came.
pub async fn eventually(within: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + within;
    while std::time::Instant::now() < end {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    done()
}

/// A ledger server (`idl/ledger.idl`) counting its runs in `counts`, on `address` over
/// `transport` (TCP or UDP).
pub async fn serve_ledger(
    counts: &Arc<tests::ledger::Counts>,
    address: &str,
    transport: Transport,
) -> ServerHandle {
    let server = Server::with_config(ServerConfig::default())
        .add_service(tests::ledger_idl::LedgerServer::new(counts.clone()));
    match transport {
        Transport::Udp => server.bind_udp(address).await.unwrap(),
        _ => server.bind(address).await.unwrap(),
    }
}

/// A ledger client bound to `ledger` through `binder`, over `transport`, patient enough
/// for servers that come and go (30 ms first retransmission, 20 attempts, 10 s).
pub fn bound_ledger(
    binder: &rpc_binder::Binder,
    transport: Transport,
) -> tests::ledger_idl::LedgerClient {
    let config = ChannelConfig {
        transport,
        retry: rpc_runtime::RetryPolicy {
            first_wait: std::time::Duration::from_millis(30),
            max_attempts: 20,
            ..rpc_runtime::RetryPolicy::default()
        },
        timeout: std::time::Duration::from_secs(10),
        ..ChannelConfig::default()
    };
    tests::ledger_idl::LedgerClient::from_client(rpc_runtime::Client::bound(
        Arc::new(binder.clone()),
        "ledger",
        &tests::ledger_idl::ledger_interface::SPEC,
        config,
    ))
}

/// A hub client talking to the UDP hub `server` through a proxy that loses 10% of the
/// datagrams, duplicates 20% and delays each up to 5 ms (faults drawn from `seed`); the
/// proxy too, for its counts.
pub async fn lossy_udp_hub(
    server: &ServerHandle,
    seed: u64,
) -> (tests::objects::HubClient, rpc_runtime::chaos::Proxy) {
    let faults = rpc_runtime::chaos::Faults {
        loss: 0.1,
        duplicate: 0.2,
        max_delay: std::time::Duration::from_millis(5),
        seed,
        ..rpc_runtime::chaos::Faults::default()
    };
    let proxy = rpc_runtime::chaos::Proxy::udp(server.local_addr(), faults)
        .await
        .unwrap();
    let hub = tests::objects::HubClient::new(
        Channel::connect_udp(proxy.local_addr().to_string())
            .await
            .unwrap(),
    );
    (hub, proxy)
}
