//! A client that speaks the wire protocol by hand, as a third party would from
//! `docs/PROTOCOL.md`, and as a hostile peer does: it sets every field itself, so tests
//! can send what no generated client would (other sessions' ids, reused ids, forged
//! tags, stalls).

use std::time::Duration;

use rpc_runtime::MethodSpec;
use rpc_runtime::serde::Serialize;
use rpc_runtime::wire::handshake::{AttachRequest, MIN_OPEN_DATAGRAM, OpenRequest, Opened};
use rpc_runtime::wire::tag::{self, Secret};
use rpc_runtime::wire::{HANDSHAKE_SLOT, Header, Kind, Message, Payload, Status, decode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// A request header for `method` of the object `object`, with invocation id `id`.
pub fn request_header(object: u64, method: &MethodSpec, id: (u64, u32, u64)) -> Header {
    Header::request(id, 0, object, method.id, method.fingerprint)
}

/// The message (header and payload) of `header` with `args` encoded as generated code
/// would (a struct is its fields in order, like a tuple).
pub fn message<A: Serialize + ?Sized>(header: &Header, args: &A) -> Message {
    Payload::encode(args).expect("encodable").seal(header)
}

/// A TCP connection driven by hand.
pub struct RawStream {
    /// The socket.
    pub stream: TcpStream,
}

impl RawStream {
    /// Connects to `address`.
    pub async fn connect(address: &str) -> RawStream {
        let stream = TcpStream::connect(address).await.expect("connect");
        // Each message goes out at once, as the test wrote it.
        stream.set_nodelay(true).expect("nodelay");
        RawStream { stream }
    }

    /// Sends one framed message.
    pub async fn send(&mut self, message: &Message) {
        self.stream.write_all(message.frame()).await.expect("send");
    }

    /// The next message, or None if none comes within `wait` (or the server closed).
    pub async fn recv(&mut self, wait: Duration) -> Option<(Header, Vec<u8>)> {
        let read = async {
            let len = self.stream.read_u32().await.ok()? as usize;
            let mut message = vec![0; len];
            self.stream.read_exact(&mut message).await.ok()?;
            let (header, payload) = Message::parse(&message).ok()?;
            Some((header, payload.to_vec()))
        };
        tokio::time::timeout(wait, read).await.ok().flatten()
    }

    /// Opens a session of `slots` slots: its id and secret.
    pub async fn open(&mut self, slots: u32) -> (u64, Secret) {
        let header = Header::control(Kind::Open, 0, HANDSHAKE_SLOT, 42);
        let request = OpenRequest {
            client: None,
            slots,
            padding: Vec::new(),
        };
        self.send(&message(&header, &request)).await;
        let (reply, payload) = self
            .recv(Duration::from_secs(5))
            .await
            .expect("an answer to Open");
        assert_eq!(reply.status(), Some(Status::Ok), "Open refused");
        let opened: Opened = decode(&payload, "opened").expect("an Opened payload");
        (reply.session(), opened.secret)
    }

    /// Attaches `session` by showing `secret`: the server's status.
    pub async fn attach(&mut self, session: u64, secret: Secret) -> Option<Status> {
        let header = Header::control(Kind::Attach, session, HANDSHAKE_SLOT, 43);
        self.send(&message(&header, &AttachRequest { secret }))
            .await;
        let (reply, _) = self.recv(Duration::from_secs(5)).await?;
        reply.status()
    }
}

/// A UDP socket driven by hand, connected to a server.
pub struct RawDatagram {
    /// The socket.
    pub socket: UdpSocket,
}

impl RawDatagram {
    /// A socket on 127.0.0.1 connected to `address`.
    pub async fn connect(address: &str) -> RawDatagram {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        socket.connect(address).await.expect("connect");
        RawDatagram { socket }
    }

    /// Sends one message as it is.
    pub async fn send(&self, message: &Message) {
        self.socket.send(message.datagram()).await.expect("send");
    }

    /// Sends one message with a session tag under `secret`.
    pub async fn send_tagged(&self, message: Message, secret: &Secret) {
        let tagged = message.tagged(secret);
        self.socket.send(tagged.datagram()).await.expect("send");
    }

    /// The next datagram within `wait`: its header, its payload (tag cut off), and
    /// whether it carried a tag that verifies under `secret`.
    pub async fn recv(
        &self,
        wait: Duration,
        secret: Option<&Secret>,
    ) -> Option<(Header, Vec<u8>, bool, usize)> {
        let mut buf = vec![0u8; 65_536];
        let n = tokio::time::timeout(wait, self.socket.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        let datagram = &buf[..n];
        let (header, _) = Message::parse(datagram).ok()?;
        if header.is_tagged() {
            let (covered, found) = tag::split(datagram)?;
            let genuine = secret.is_some_and(|s| tag::verify(s, covered, found));
            let (header, payload) = Message::parse(covered).ok()?;
            return Some((header, payload.to_vec(), genuine, n));
        }
        let (header, payload) = Message::parse(datagram).ok()?;
        Some((header, payload.to_vec(), false, n))
    }

    /// Opens a session: its id and secret.
    pub async fn open(&self, slots: u32) -> (u64, Secret) {
        let header = Header::control(Kind::Open, 0, HANDSHAKE_SLOT, 44);
        let request = OpenRequest {
            client: None,
            slots,
            padding: vec![0; MIN_OPEN_DATAGRAM],
        };
        for _ in 0..10 {
            self.send(&message(&header, &request)).await;
            if let Some((reply, payload, _, _)) = self.recv(Duration::from_millis(500), None).await
            {
                let opened: Opened = decode(&payload, "opened").expect("an Opened payload");
                return (reply.session(), opened.secret);
            }
        }
        panic!("no answer to Open");
    }
}
