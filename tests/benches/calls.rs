//! The call path against a raw TCP echo, in one process and one run:
//!
//! ```text
//! cargo bench -p tests --bench calls
//! ```
//!
//! Each case runs the same payloads through generated rpcgen stubs (`Echo.echo_bytes`
//! over `rpc-runtime`) and through a bare tokio TCP echo of length-prefixed frames, and
//! prints both with their ratio. Machines are noisy: compare ratios, not absolute times.
//!
//! The process uses mimalloc. With glibc's allocator every megabyte `Vec` the API hands
//! over (the argument a caller gives, the result it gets back) is a fresh `mmap` and
//! `munmap`, page faults and TLB shootdowns included, which costs several times the copy
//! itself; a server moving large `bytes` should use a modern allocator too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rpc_runtime::{Channel, Server};
use tests::echo::EchoService;
use tests::types::{EchoClient, EchoServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SMALL: usize = 64;
const LARGE: usize = 1 << 20;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let quick = std::env::var_os("RPCGEN_BENCH_QUICK").is_some();
    let window = if quick {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(2)
    };
    let sequential_calls = if quick { 2_000 } else { 20_000 };
    let large_calls = if quick { 20 } else { 200 };

    let server = Server::new()
        .add_service(EchoServer::new(EchoService::new()))
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let rpc_addr = server.local_addr().to_string();
    let raw_addr = raw_echo_server().await;

    let rpc = EchoClient::new(Channel::connect(rpc_addr.clone()).await.expect("connect"));
    let mut raw = RawClient::connect(&raw_addr).await;

    println!(
        "rpcgen call path vs raw tokio echoes (TCP, and UDP for the UDP row), same process, 2 worker threads, mimalloc\n"
    );
    println!("| case | rpcgen | raw socket | rpcgen / raw |");
    println!("|---|---|---|---|");

    // Sequential 64-byte calls.
    let payload = vec![7u8; SMALL];
    let mut rpc_hist = histogram();
    let mut raw_hist = histogram();
    for _ in 0..sequential_calls / 10 {
        rpc.echo_bytes(&payload).await.expect("warm-up call");
        raw.echo(&payload).await;
    }
    // Interleave the two so that both see the same machine.
    let mut rpc_time = Duration::ZERO;
    let mut raw_time = Duration::ZERO;
    for _ in 0..sequential_calls {
        let t = Instant::now();
        rpc.echo_bytes(&payload).await.expect("call");
        let e = t.elapsed();
        rpc_time += e;
        rpc_hist.record(e.as_nanos() as u64).ok();
        let t = Instant::now();
        raw.echo(&payload).await;
        let e = t.elapsed();
        raw_time += e;
        raw_hist.record(e.as_nanos() as u64).ok();
    }
    for (what, q) in [("p50", 0.50), ("p99", 0.99)] {
        let (r, w) = (rpc_hist.value_at_quantile(q), raw_hist.value_at_quantile(q));
        row(
            &format!("sequential 64 B, latency {what}"),
            &micros(r),
            &micros(w),
            r as f64 / w as f64,
        );
    }
    let (r, w) = (
        sequential_calls as f64 / rpc_time.as_secs_f64(),
        sequential_calls as f64 / raw_time.as_secs_f64(),
    );
    row("sequential 64 B, calls/s", &rate(r), &rate(w), r / w);

    // 64 calls in flight on one connection.
    let r = rpc_in_flight(std::slice::from_ref(&rpc), 64, SMALL, window).await;
    let w = raw_in_flight(&raw_addr, 1, 64, SMALL, window).await;
    row(
        "64 in flight, 1 connection, calls/s",
        &rate(r),
        &rate(w),
        r / w,
    );

    // 4 connections x 64 in flight.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(EchoClient::new(
            Channel::connect(rpc_addr.clone()).await.expect("connect"),
        ));
    }
    let r = rpc_in_flight(&clients, 64, SMALL, window).await;
    let w = raw_in_flight(&raw_addr, 4, 64, SMALL, window).await;
    row(
        "4 connections x 64 in flight, calls/s",
        &rate(r),
        &rate(w),
        r / w,
    );

    // 1 MiB echo.
    let big = vec![1u8; LARGE];
    rpc.echo_bytes(&big).await.expect("warm-up");
    raw.echo(&big).await;
    let mut rpc_time = Duration::ZERO;
    let mut raw_time = Duration::ZERO;
    for _ in 0..large_calls {
        let t = Instant::now();
        let back = rpc.echo_bytes(&big).await.expect("call");
        rpc_time += t.elapsed();
        assert_eq!(back.len(), LARGE);
        let t = Instant::now();
        raw.echo(&big).await;
        raw_time += t.elapsed();
    }
    let mb = (LARGE * large_calls) as f64 / 1e6;
    let (r, w) = (mb / rpc_time.as_secs_f64(), mb / raw_time.as_secs_f64());
    row(
        "1 MiB bytes echo, MB/s (each way)",
        &format!("{r:.0}"),
        &format!("{w:.0}"),
        r / w,
    );

    // UDP: sequential 64-byte calls against a raw UDP echo.
    let udp_server = Server::new()
        .add_service(EchoServer::new(EchoService::new()))
        .bind_udp("127.0.0.1:0")
        .await
        .expect("bind udp");
    let udp = EchoClient::new(
        Channel::connect_udp(udp_server.local_addr().to_string())
            .await
            .expect("udp channel"),
    );
    let raw_udp = raw_udp_echo().await;
    let mut rpc_hist = histogram();
    let mut raw_hist = histogram();
    let mut buf = vec![0u8; 2048];
    for i in 0..sequential_calls + sequential_calls / 10 {
        let t = Instant::now();
        udp.echo_bytes(&payload).await.expect("udp call");
        let rpc_e = t.elapsed();
        let t = Instant::now();
        raw_udp.send(&payload).await.expect("send");
        raw_udp.recv(&mut buf).await.expect("recv");
        let raw_e = t.elapsed();
        if i >= sequential_calls / 10 {
            rpc_hist.record(rpc_e.as_nanos() as u64).ok();
            raw_hist.record(raw_e.as_nanos() as u64).ok();
        }
    }
    let (r, w) = (
        rpc_hist.value_at_quantile(0.5),
        raw_hist.value_at_quantile(0.5),
    );
    row(
        "UDP sequential 64 B, latency p50",
        &micros(r),
        &micros(w),
        r as f64 / w as f64,
    );
    let sessions = udp_server.stats().sessions;
    println!(
        "\nSessions after the UDP run: {} session(s), {} stored replies, {} bytes in all (slot tables included).",
        sessions.sessions, sessions.replies, sessions.bytes,
    );

    println!(
        "\nTargets (2 cores): sequential p50 <= 1.2x raw (TCP and UDP); 64 in flight on one connection >= 400,000 calls/s; 1 MiB >= 0.8x raw."
    );
    udp_server.shutdown().await;
    server.shutdown().await;
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

fn row(case: &str, rpc: &str, raw: &str, ratio: f64) {
    println!("| {case} | {rpc} | {raw} | {ratio:.2} |");
}

fn micros(nanos: u64) -> String {
    format!("{:.1} µs", nanos as f64 / 1000.0)
}

fn rate(per_second: f64) -> String {
    let n = per_second.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `depth` calls kept in flight on each client for `window`; calls per second.
async fn rpc_in_flight(clients: &[EchoClient], depth: usize, size: usize, window: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + window;
    let mut tasks = Vec::new();
    for client in clients {
        for _ in 0..depth {
            let client = client.clone();
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let payload = vec![3u8; size];
                while Instant::now() < deadline {
                    client.echo_bytes(&payload).await.expect("call");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    let started = Instant::now();
    for t in tasks {
        t.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The raw baseline: an echo of length-prefixed frames, one task per connection.
async fn raw_echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
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

/// The raw UDP baseline: an echo of datagrams; returns a client socket connected to it.
async fn raw_udp_echo() -> tokio::net::UdpSocket {
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, peer)) = server.recv_from(&mut buf).await {
            let _ = server.send_to(&buf[..n], peer).await;
        }
    });
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    client.connect(addr).await.expect("connect");
    client
}

/// A raw client doing one request-reply at a time.
struct RawClient {
    stream: BufReader<TcpStream>,
    frame: Vec<u8>,
}

impl RawClient {
    async fn connect(addr: &str) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        RawClient {
            stream: BufReader::with_capacity(64 << 10, stream),
            frame: Vec::new(),
        }
    }

    async fn echo(&mut self, payload: &[u8]) {
        self.frame.clear();
        self.frame
            .extend_from_slice(&(payload.len() as u32).to_be_bytes());
        self.frame.extend_from_slice(payload);
        self.stream
            .get_mut()
            .write_all(&self.frame)
            .await
            .expect("write");
        let len = self.stream.read_u32().await.expect("read") as usize;
        self.frame.resize(len, 0);
        self.stream.read_exact(&mut self.frame).await.expect("read");
    }
}

/// `depth` frames kept in flight on each of `connections` raw connections for `window`.
async fn raw_in_flight(
    addr: &str,
    connections: usize,
    depth: usize,
    size: usize,
    window: Duration,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + window;
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..connections {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        let (read, mut write) = stream.into_split();
        // A credit per frame that may be in flight; the reader returns one per reply.
        let credits = Arc::new(Semaphore::new(depth));
        let writer_credits = credits.clone();
        let frame: Vec<u8> = (size as u32)
            .to_be_bytes()
            .into_iter()
            .chain(vec![3u8; size])
            .collect();
        writers.push(tokio::spawn(async move {
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
        readers.push(tokio::spawn(async move {
            let mut read = BufReader::with_capacity(64 << 10, read);
            let mut body = vec![0u8; size];
            while Instant::now() < deadline {
                let reply = async {
                    read.read_u32().await?;
                    read.read_exact(&mut body).await
                };
                match tokio::time::timeout(Duration::from_secs(5), reply).await {
                    Ok(Ok(_)) => {}
                    _ => break,
                }
                done.fetch_add(1, Ordering::Relaxed);
                credits.add_permits(1);
            }
            credits.close();
        }));
    }
    let started = Instant::now();
    for t in readers.into_iter().chain(writers) {
        t.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
