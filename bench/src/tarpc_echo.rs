//! The tarpc rows: the same echo as a tarpc 0.38 service over TCP, bincode on the wire.
//!
//! The argument and result are `serde_bytes::ByteBuf`, so that bincode writes them as one
//! length and a block of bytes rather than element by element. Both ends set `TCP_NODELAY`
//! as rpcgen's do. Each call gets a context whose deadline is far away (tarpc's default is
//! 10 s), so no call of a long run is cancelled. The server is tarpc's usual one: a
//! `BaseChannel` per connection, each request executed in a task of its own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_bytes::ByteBuf;
use tarpc::serde_transport;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::{Framed, LengthDelimitedCodec};
use tarpc::{client, context};
use tokio::net::{TcpListener, TcpStream};

use crate::measure::Echoer;

/// How far away each call's deadline is.
const DEADLINE: Duration = Duration::from_secs(600);

/// The largest frame either end accepts (tarpc's codec refuses larger ones).
const MAX_FRAME: usize = 16 << 20;

#[tarpc::service]
trait Echo {
    /// Sends the bytes back.
    async fn echo(data: ByteBuf) -> ByteBuf;
}

#[derive(Clone)]
struct EchoService;

impl Echo for EchoService {
    async fn echo(self, _: context::Context, data: ByteBuf) -> ByteBuf {
        data
    }
}

/// The length-delimited framing both ends use.
fn framed(stream: TcpStream) -> Framed<TcpStream, LengthDelimitedCodec> {
    stream.set_nodelay(true).ok();
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec();
    Framed::new(stream, codec)
}

/// Starts a tarpc echo server on a loopback port; its address.
pub async fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let transport = serde_transport::new(framed(stream), Bincode::default());
            let requests = BaseChannel::with_defaults(transport)
                .execute(EchoService.serve())
                .for_each(|request| async {
                    tokio::spawn(request);
                });
            tokio::spawn(requests);
        }
    });
    addr
}

/// A tarpc echo client: one connection, shared by its clones.
#[derive(Clone)]
pub struct Client {
    inner: EchoClient,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tarpc_echo::Client")
    }
}

impl Client {
    /// Connects to the tarpc echo server at `addr`, with tarpc's default client settings.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let transport = serde_transport::new(framed(stream), Bincode::default());
        Client {
            inner: EchoClient::new(client::Config::default(), transport).spawn(),
        }
    }
}

impl Echoer for Client {
    async fn echo(&self, data: &[u8]) -> usize {
        let mut context = context::current();
        context.deadline = Instant::now() + DEADLINE;
        self.inner
            .echo(context, ByteBuf::from(data.to_vec()))
            .await
            .expect("tarpc call")
            .len()
    }
}
