//! The rpcgen rows: the stubs generated from `idl/echo.idl` over `rpc-runtime`, TCP or UDP.
//!
//! Every call the benchmark makes through a generated client goes through [`arg`] and the
//! two `Echoer` impls below. The generated client borrows its `bytes` parameters
//! (`echo(&self, data: &[u8]) -> Result<Bytes, CallError>`), so the caller's slice goes
//! out as it is, with no copy.

use rpc_runtime::{Bytes, Channel, ChannelConfig, Server, ServerHandle};

use crate::echo::{Echo, EchoClient, EchoServer};
use crate::measure::Echoer;

/// The argument the generated client takes for `bytes`, made from the caller's slice.
fn arg(data: &[u8]) -> &[u8] {
    data
}

/// The echo service: the bytes back, under either semantics.
#[derive(Debug, Default)]
struct EchoService;

impl Echo for EchoService {
    async fn echo(&self, data: Bytes) -> Bytes {
        data
    }

    async fn echo_idempotent(&self, data: Bytes) -> Bytes {
        data
    }
}

/// Starts an rpcgen echo server on a loopback TCP port, or with `udp` a UDP one.
pub async fn server(udp: bool) -> ServerHandle {
    let server = Server::new().add_service(EchoServer::new(EchoService));
    let bound = if udp {
        server.bind_udp("127.0.0.1:0").await
    } else {
        server.bind("127.0.0.1:0").await
    };
    bound.expect("bind")
}

/// A client calling the at-most-once `echo`; clones share its connection.
#[derive(Debug, Clone)]
pub struct AtMostOnce(EchoClient);

/// A client calling the `[idempotent]` `echo_idempotent`; clones share its connection.
#[derive(Debug, Clone)]
pub struct Idempotent(EchoClient);

impl AtMostOnce {
    /// A new connection (or UDP channel) to `server`, over the transport it serves.
    pub async fn connect(server: &ServerHandle) -> AtMostOnce {
        let config = ChannelConfig {
            transport: server.transport(),
            ..ChannelConfig::default()
        };
        let channel = Channel::connect_with(server.address(), config).await;
        AtMostOnce(EchoClient::new(channel.expect("connect")))
    }

    /// The same connection, calling the idempotent method instead.
    pub fn idempotent(&self) -> Idempotent {
        Idempotent(self.0.clone())
    }
}

impl Echoer for AtMostOnce {
    async fn echo(&self, data: &[u8]) -> usize {
        self.0.echo(arg(data)).await.expect("rpcgen call").len()
    }
}

impl Echoer for Idempotent {
    async fn echo(&self, data: &[u8]) -> usize {
        self.0
            .echo_idempotent(arg(data))
            .await
            .expect("rpcgen call")
            .len()
    }
}
