//! The server's memory stays within its documented bounds under the attacks that used
//! to grow it without limit: sessions opened by the hundred thousand, connections that
//! announce large frames and stall, a client that never reads its replies, and
//! connections opened by the hundred and left idle. Memory is read from
//! `/proc/self/status`; the attackers run in this process too, so they are written to
//! hold little themselves, and the tests run one at a time.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc_runtime::wire::Status;
use rpc_runtime::{Limits, ServerConfig};
use tests::raw::{RawDatagram, RawStream, message, request_header};
use tests::types::echo_interface::{OBJECT, methods};
use tokio::io::AsyncWriteExt;

const MIB: u64 = 1 << 20;

/// One attack at a time: memory is the whole process's.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn config(limits: Limits) -> ServerConfig {
    ServerConfig {
        limits,
        ..ServerConfig::default()
    }
}

/// Calls `fail` on an honest client until `stop`, returning the slowest call.
fn honest_caller(
    address: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(u64, Duration)> {
    tokio::spawn(async move {
        let channel = rpc_runtime::Channel::connect(address).await.unwrap();
        let echo = tests::types::EchoClient::new(channel);
        let (mut calls, mut slowest) = (0, Duration::ZERO);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let started = Instant::now();
            assert_eq!(echo.fail(5).await.expect("an honest call"), 5);
            slowest = slowest.max(started.elapsed());
            calls += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (calls, slowest)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_by_the_hundred_thousand_stay_within_the_history_budget() {
    let _one = ONE_AT_A_TIME.lock().await;
    // RPCGEN_ATTACK_SESSIONS=1000000 for a longer run.
    let sessions: usize = std::env::var("RPCGEN_ATTACK_SESSIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    const BUDGET: usize = 8 << 20;
    let limits = Limits {
        history_bytes: BUDGET,
        max_sessions: usize::MAX,
        ..Limits::default()
    };
    let udp = support::start_udp(config(limits)).await;
    let (rss_before, _) = support::memory();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The honest client is on the same server's sessions, over its own transport.
    let tcp = rpc_runtime::Server::with_config(config(limits))
        .add_service(tests::types::EchoServer::new(
            tests::echo::EchoService::new(),
        ))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let honest = honest_caller(tcp.local_addr().to_string(), stop.clone());

    // Each attacker opens a session, makes one at-most-once call with a 1 KiB reply in
    // it, and never comes back.
    let started = Instant::now();
    let mut attackers = Vec::new();
    for _ in 0..4 {
        let address = udp.address();
        attackers.push(tokio::spawn(async move {
            let raw = RawDatagram::connect(&address).await;
            let blob = vec![1u8; 1024];
            let mut peak = 0;
            for _ in 0..sessions / 4 {
                let (session, secret) = raw.open(1).await;
                let request = message(
                    &request_header(OBJECT, &methods::ECHO_BYTES, (session, 0, 1)),
                    &(&blob[..],),
                );
                raw.send_tagged(request, &secret).await;
                let reply = raw.recv(Duration::from_secs(2), Some(&secret)).await;
                assert!(reply.is_some_and(|r| r.0.status() == Some(Status::Ok)));
                peak = peak.max(support::memory().0);
            }
            peak
        }));
    }
    let mut peak = 0;
    for a in attackers {
        peak = peak.max(a.await.unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (honest_calls, slowest) = honest.await.unwrap();
    let stats = udp.server.stats();
    eprintln!(
        "{sessions} sessions with a 1 KiB reply each in {:.1?}: RSS {} MiB before, peak {} MiB; \
         sessions {:?}; honest client: {honest_calls} calls, slowest {slowest:?}",
        started.elapsed(),
        rss_before / MIB,
        peak / MIB,
        stats.sessions
    );
    assert!(stats.sessions.bytes <= BUDGET, "{:?}", stats.sessions);
    assert!(stats.sessions.evicted > 0);
    assert_eq!(stats.executions, (sessions / 4 * 4) as u64);
    assert!(
        peak < rss_before + 4 * BUDGET as u64 + 48 * MIB,
        "peak RSS {} MiB",
        peak / MIB
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a call stalled {slowest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_announce_large_frames_and_stall_share_one_read_budget() {
    let _one = ONE_AT_A_TIME.lock().await;
    const STALLERS: usize = 300;
    const BUDGET: usize = 32 << 20;
    let running = support::start(config(Limits {
        read_budget: BUDGET,
        frame_timeout: Duration::from_secs(3),
        ..Limits::default()
    }))
    .await;
    let (rss_before, _) = support::memory();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let honest = honest_caller(running.address(), stop.clone());
    // Each announces a 16 MiB frame, sends 1 MiB of it and goes quiet.
    let chunk = vec![0u8; 1 << 20];
    let mut stallers = Vec::new();
    for _ in 0..STALLERS {
        let mut raw = RawStream::connect(&running.address()).await;
        raw.stream
            .write_all(&(16u32 << 20).to_be_bytes())
            .await
            .unwrap();
        // The server may not read it all (it waits for budget): write what fits.
        let _ = tokio::time::timeout(Duration::from_millis(20), raw.stream.write_all(&chunk)).await;
        stallers.push(raw);
    }
    let mut peak = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        peak = peak.max(support::memory().0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (honest_calls, slowest) = honest.await.unwrap();
    let stats = running.server.stats();
    eprintln!(
        "{STALLERS} connections announcing 16 MiB and stalling after 1 MiB: RSS {} MiB before, \
         peak {} MiB; {} closed for stalling; honest client: {honest_calls} calls, slowest {slowest:?}",
        rss_before / MIB,
        peak / MIB,
        stats.connections_timed_out
    );
    assert!(
        peak < rss_before + BUDGET as u64 + 64 * MIB,
        "peak RSS {} MiB",
        peak / MIB
    );
    assert_eq!(stats.connections_timed_out, STALLERS as u64, "{stats:?}");
    assert!(honest_calls > 10);
    drop(stallers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_replies_stops_being_read() {
    let _one = ONE_AT_A_TIME.lock().await;
    const MAX_UNSENT: usize = 1 << 20;
    let running = support::start(config(Limits {
        max_unsent: MAX_UNSENT,
        idle_timeout: Duration::from_secs(3),
        ..Limits::default()
    }))
    .await;
    let (rss_before, _) = support::memory();
    // Idempotent echoes of 64 KiB, outside a session, pipelined, replies never read.
    let value = tests::types::Everything {
        blob: vec![5; 64 << 10].into(),
        ..Default::default()
    };
    let request = message(
        &request_header(OBJECT, &methods::EVERYTHING, (0, 0, 1)),
        &(value,),
    );
    let mut raw = RawStream::connect(&running.address()).await;
    let mut sent = 0u64;
    let mut peak = 0;
    // 2,000 requests would be 128 MiB of replies.
    for _ in 0..2_000 {
        let write = raw.stream.write_all(request.frame());
        if tokio::time::timeout(Duration::from_millis(500), write)
            .await
            .is_err()
        {
            break; // the server stopped reading
        }
        sent += 1;
        peak = peak.max(support::memory().0);
    }
    let executions = running.server.stats().executions;
    eprintln!(
        "a client sending 64 KiB echoes and reading nothing: {sent} requests written before the \
         server stopped reading, {executions} run; RSS {} MiB before, peak {} MiB",
        rss_before / MIB,
        peak / MIB
    );
    assert!(sent < 2_000, "the server kept reading");
    assert!(peak < rss_before + 64 * MIB, "peak RSS {} MiB", peak / MIB);
    // It is closed once it has left its replies unread for the idle timeout.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(running.server.stats().connections_timed_out, 1);
    let echo = running.client().await;
    assert_eq!(echo.fail(1).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_capped_and_closed() {
    let _one = ONE_AT_A_TIME.lock().await;
    const CAP: usize = 500;
    let running = support::start(config(Limits {
        max_connections: CAP,
        idle_timeout: Duration::from_secs(2),
        ..Limits::default()
    }))
    .await;
    let (rss_before, _) = support::memory();
    let mut idle = Vec::new();
    for _ in 0..CAP + 100 {
        idle.push(RawStream::connect(&running.address()).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = running.server.stats();
    let (rss, _) = support::memory();
    eprintln!(
        "{} idle connections: {} held, {} closed at once; RSS {} KiB per held connection",
        CAP + 100,
        stats.connections,
        stats.connections_refused,
        (rss.saturating_sub(rss_before)) / 1024 / CAP as u64
    );
    assert_eq!(stats.connections, CAP as u64);
    assert_eq!(stats.connections_refused, 100);
    // A refused connection reads end of stream at once.
    let mut refused = RawStream::connect(&running.address()).await;
    assert!(refused.recv(Duration::from_secs(1)).await.is_none());
    // Once the idle ones time out, new clients get in.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stats = running.server.stats();
    assert!(stats.connections_timed_out >= CAP as u64, "{stats:?}");
    let echo = running.client().await;
    assert_eq!(echo.fail(1).await.unwrap(), 1);
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_charged_what_they_really_cost() {
    let _one = ONE_AT_A_TIME.lock().await;
    const SESSIONS: usize = 40_000;
    let udp = support::start_udp(config(Limits {
        history_bytes: usize::MAX,
        max_sessions: usize::MAX,
        ..Limits::default()
    }))
    .await;
    let (rss_before, _) = support::memory();
    let raw = RawDatagram::connect(&udp.address()).await;
    let blob = [1u8; 100];
    for _ in 0..SESSIONS {
        let (session, secret) = raw.open(16).await;
        let request = message(
            &request_header(OBJECT, &methods::ECHO_BYTES, (session, 0, 1)),
            &(&blob[..],),
        );
        raw.send_tagged(request, &secret).await;
        assert!(
            raw.recv(Duration::from_secs(2), Some(&secret))
                .await
                .is_some()
        );
    }
    let (rss, _) = support::memory();
    let charged = udp.server.stats().sessions.bytes as u64;
    let grown = rss.saturating_sub(rss_before);
    eprintln!(
        "{SESSIONS} sessions of 16 slots with one 100-byte reply: charged {} bytes each, \
         RSS grew {} bytes each",
        charged / SESSIONS as u64,
        grown / SESSIONS as u64
    );
    assert!(
        grown < charged * 3 / 2 + 4 * MIB,
        "charged {charged} bytes, memory grew {grown}"
    );
}
