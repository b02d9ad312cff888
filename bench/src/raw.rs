//! The raw baselines: bare tokio sockets echoing length-prefixed frames (a big-endian
//! `u32` length, then the payload), with no RPC layer at all.
//!
//! Two TCP baselines:
//! - the *simple* echo ([`simple_server`], [`RawClient`], [`simple_in_flight`]): one
//!   `write` per frame each way, the way a straightforward program is written;
//! - the *hand-batched* echo ([`batched_server`], [`batched_in_flight`]): the client
//!   writes every request it may have in flight in one `write`, and the server answers
//!   every complete frame it has read with one `write`, so that syscalls per call fall as
//!   the number in flight rises. It is the floor for the in-flight rows.
//!
//! And a UDP one ([`udp_echo`]): a datagram back for each datagram.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::measure::Sample;

/// How long a reply may take before a raw in-flight run gives up on its connection.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A frame: `size` as a big-endian `u32`, then `size` bytes.
fn frame(size: usize) -> Vec<u8> {
    let len = u32::try_from(size).expect("a frame under 4 GiB");
    let mut frame = Vec::with_capacity(4 + size);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.resize(4 + size, 3);
    frame
}

/// Where the frame that starts at `at` in `buffer` ends, if it is all there.
fn frame_end(buffer: &[u8], at: usize) -> Option<usize> {
    let header = buffer.get(at..at + 4)?;
    let end = at + 4 + u32::from_be_bytes(header.try_into().expect("4 bytes")) as usize;
    (end <= buffer.len()).then_some(end)
}

/// The length of the complete frames at the start of `buffer`, and how many there are.
fn complete_frames(buffer: &[u8]) -> (usize, u64) {
    let (mut at, mut frames) = (0, 0);
    while let Some(end) = frame_end(buffer, at) {
        at = end;
        frames += 1;
    }
    (at, frames)
}

/// Starts the simple echo server on a loopback port: one task per connection, reading a
/// frame at a time and writing it back with one `write`. Its address.
pub async fn simple_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).ok();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::with_capacity(64 << 10, read);
                let mut frame = Vec::new();
                loop {
                    let Ok(len) = read.read_u32().await else {
                        return;
                    };
                    frame.resize(len as usize + 4, 0);
                    frame[..4].copy_from_slice(&len.to_be_bytes());
                    if read.read_exact(&mut frame[4..]).await.is_err() {
                        return;
                    }
                    if write.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Starts the hand-batched echo server on a loopback port: one task per connection that
/// reads whatever has arrived, answers every complete frame in its buffer, and writes all
/// those replies with one `write`. Its address.
pub async fn batched_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            stream.set_nodelay(true).ok();
            tokio::spawn(async move {
                let mut input = Vec::with_capacity(64 << 10);
                let mut output = Vec::with_capacity(64 << 10);
                loop {
                    match stream.read_buf(&mut input).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    // Answer each complete frame: for an echo, its reply is the frame.
                    let mut at = 0;
                    while let Some(end) = frame_end(&input, at) {
                        output.extend_from_slice(&input[at..end]);
                        at = end;
                    }
                    input.drain(..at);
                    if !output.is_empty() {
                        if stream.write_all(&output).await.is_err() {
                            return;
                        }
                        output.clear();
                    }
                }
            });
        }
    });
    addr
}

/// A raw client of the simple server, one request and reply at a time.
#[derive(Debug)]
pub struct RawClient {
    stream: BufReader<TcpStream>,
    frame: Vec<u8>,
}

impl RawClient {
    /// Connects to the echo server at `addr`.
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        RawClient {
            stream: BufReader::with_capacity(64 << 10, stream),
            frame: Vec::new(),
        }
    }

    /// Sends `payload` in one frame (one `write`) and reads its echo; the echo's length.
    pub async fn echo(&mut self, payload: &[u8]) -> usize {
        let len = u32::try_from(payload.len()).expect("a frame under 4 GiB");
        self.frame.clear();
        self.frame.extend_from_slice(&len.to_be_bytes());
        self.frame.extend_from_slice(payload);
        self.stream
            .get_mut()
            .write_all(&self.frame)
            .await
            .expect("write");
        let len = self.stream.read_u32().await.expect("read") as usize;
        self.frame.resize(len, 0);
        self.stream.read_exact(&mut self.frame).await.expect("read");
        len
    }
}

/// The simple client pipelined: on each of `connections` connections to the simple
/// server, a writer task writes a frame (one `write`) whenever fewer than `depth` are in
/// flight, and a reader task reads the replies; for `window`.
pub async fn simple_in_flight(
    addr: SocketAddr,
    connections: usize,
    depth: usize,
    size: usize,
    window: Duration,
) -> Sample {
    let done = Arc::new(AtomicU64::new(0));
    let streams = connect_all(addr, connections).await;
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = Vec::new();
    for stream in streams {
        let (read, mut write) = stream.into_split();
        // A credit per frame that may be in flight; the reader returns one per reply.
        let credits = Arc::new(Semaphore::new(depth));
        let writer_credits = credits.clone();
        let frame = frame(size);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let Ok(permit) = writer_credits.acquire().await else {
                    break;
                };
                permit.forget();
                if write.write_all(&frame).await.is_err() {
                    break;
                }
            }
        }));
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut read = BufReader::with_capacity(64 << 10, read);
            let mut body = vec![0u8; size];
            while Instant::now() < deadline {
                let reply = async {
                    read.read_u32().await?;
                    read.read_exact(&mut body).await
                };
                match tokio::time::timeout(REPLY_TIMEOUT, reply).await {
                    Ok(Ok(_)) => {}
                    _ => break,
                }
                done.fetch_add(1, Ordering::Relaxed);
                credits.add_permits(1);
            }
            credits.close();
        }));
    }
    for task in tasks {
        task.await.expect("a raw task");
    }
    Sample {
        count: done.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

/// The hand-batched client: on each of `connections` connections to the batched server,
/// one task keeps `depth` frames in flight, writing every frame it may send in one
/// `write` (all `depth` at first, then as many as the last read completed) and reading
/// whatever replies have arrived; for `window`, then until the last reply is in.
pub async fn batched_in_flight(
    addr: SocketAddr,
    connections: usize,
    depth: usize,
    size: usize,
    window: Duration,
) -> Sample {
    let streams = connect_all(addr, connections).await;
    let started = Instant::now();
    let deadline = started + window;
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|stream| tokio::spawn(batched_connection(stream, depth, size, deadline)))
        .collect();
    let mut count = 0;
    for task in tasks {
        count += task.await.expect("a raw task");
    }
    Sample {
        count,
        elapsed: started.elapsed(),
    }
}

/// One connection of [`batched_in_flight`]; the replies it received.
async fn batched_connection(
    mut stream: TcpStream,
    depth: usize,
    size: usize,
    deadline: Instant,
) -> u64 {
    let frame = frame(size);
    let mut output = Vec::with_capacity(depth * frame.len());
    let mut input = Vec::with_capacity(64 << 10);
    let mut in_flight = 0;
    let mut done = 0;
    loop {
        if in_flight < depth && Instant::now() < deadline {
            output.clear();
            for _ in in_flight..depth {
                output.extend_from_slice(&frame);
            }
            if stream.write_all(&output).await.is_err() {
                break;
            }
            in_flight = depth;
        }
        if in_flight == 0 {
            break;
        }
        match tokio::time::timeout(REPLY_TIMEOUT, stream.read_buf(&mut input)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
        let (end, frames) = complete_frames(&input);
        input.drain(..end);
        in_flight -= frames as usize;
        done += frames;
    }
    done
}

/// Starts a UDP echo (a datagram back to its sender for each datagram) on a loopback port,
/// and returns a client socket connected to it.
pub async fn udp_echo() -> UdpSocket {
    let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, peer)) = server.recv_from(&mut buf).await {
            let _ = server.send_to(&buf[..n], peer).await;
        }
    });
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    client.connect(addr).await.expect("connect");
    client
}

/// `connections` TCP connections to `addr`, with Nagle's algorithm off.
async fn connect_all(addr: SocketAddr, connections: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        streams.push(stream);
    }
    streams
}
