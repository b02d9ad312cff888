//! The call path of rpcgen against tarpc 0.38 and raw tokio sockets, in one process and
//! one run:
//!
//! ```text
//! cargo bench --manifest-path bench/Cargo.toml                      # system allocator
//! cargo bench --manifest-path bench/Cargo.toml --features mimalloc  # mimalloc
//! RPCGEN_BENCH_QUICK=1 cargo bench --manifest-path bench/Cargo.toml # every case shorter
//! RPCGEN_BENCH_ONLY=in-flight,large cargo bench --manifest-path bench/Cargo.toml
//! ```
//!
//! The cases: `sequential`, `in-flight`, `large`, `udp`, `allocations`.
//!
//! Each case sends the same payloads through generated rpcgen stubs (`Echo.echo` of
//! `idl/echo.idl`, over `rpc-runtime`), a tarpc service, and a bare tokio echo of
//! length-prefixed frames, and prints one markdown table with rpcgen's ratios to the
//! others. Machines are noisy: compare ratios, not absolute numbers. README.md says what
//! each row measures.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rpcgen_bench::alloc::{self, Counting, Inner};
use rpcgen_bench::measure::{self, Echoer, Sample};
use rpcgen_bench::raw::{self, RawClient};
use rpcgen_bench::report::{Table, Unit};
use rpcgen_bench::rpcgen_echo::{self, AtMostOnce};
use rpcgen_bench::tarpc_echo;

#[global_allocator]
static ALLOCATOR: Counting<Inner> = alloc::CHOSEN;

/// The small payload of every call-rate and latency row.
const SMALL: usize = 64;
/// The large payload.
const LARGE: usize = 1 << 20;
/// Calls in flight per connection in the in-flight rows.
const DEPTH: usize = 64;

/// How long each case runs.
struct Lengths {
    /// Sequential calls per system, after a tenth as many to warm up.
    sequential: usize,
    /// 1 MiB calls per system.
    large: usize,
    /// Time per system in each in-flight row, split into `rounds` alternating slices.
    window: Duration,
    /// Slices per in-flight row.
    rounds: u32,
    /// Calls counted per system for the allocation row.
    allocation_calls: u64,
}

fn main() {
    let quick = std::env::var_os("RPCGEN_BENCH_QUICK").is_some();
    let lengths = if quick {
        Lengths {
            sequential: 2_000,
            large: 20,
            window: Duration::from_millis(300),
            rounds: 2,
            allocation_calls: 1_000,
        }
    } else {
        Lengths {
            sequential: 20_000,
            large: 200,
            window: Duration::from_secs(2),
            rounds: 4,
            allocation_calls: 10_000,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(&lengths, quick));
}

/// Everything the rows call: servers started once, clients connected once.
struct Systems {
    raw_addr: std::net::SocketAddr,
    batched_addr: std::net::SocketAddr,
    raw: RawClient,
    tarpc_addr: std::net::SocketAddr,
    tarpc: tarpc_echo::Client,
    rpcgen_server: rpc_runtime::ServerHandle,
    rpcgen: AtMostOnce,
}

async fn run(lengths: &Lengths, quick: bool) {
    let raw_addr = raw::simple_server().await;
    let batched_addr = raw::batched_server().await;
    let tarpc_addr = tarpc_echo::server().await;
    let rpcgen_server = rpcgen_echo::server(false).await;
    let mut systems = Systems {
        raw: RawClient::connect(raw_addr).await,
        raw_addr,
        batched_addr,
        tarpc: tarpc_echo::Client::connect(tarpc_addr).await,
        tarpc_addr,
        rpcgen: AtMostOnce::connect(&rpcgen_server).await,
        rpcgen_server,
    };
    let mut table = Table::new();
    let mut notes = Vec::new();

    // RPCGEN_BENCH_ONLY=in-flight,large (say) runs only those cases.
    let only = std::env::var("RPCGEN_BENCH_ONLY").ok();
    let runs = |case: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|c| c == case))
    };
    if runs("sequential") {
        eprintln!("sequential 64 B ...");
        notes.push(sequential(&mut systems, lengths, &mut table).await);
    }
    if runs("in-flight") {
        eprintln!("64 in flight ...");
        notes.push(in_flight(&systems, lengths, 1, &mut table).await);
        eprintln!("4 connections x 64 in flight ...");
        notes.push(in_flight(&systems, lengths, 4, &mut table).await);
    }
    if runs("large") {
        eprintln!("1 MiB ...");
        large(&mut systems, lengths, &mut table).await;
    }
    if runs("udp") {
        eprintln!("UDP ...");
        notes.push(udp(lengths, &mut table).await);
    }
    if runs("allocations") {
        eprintln!("allocations ...");
        allocations(&mut systems, lengths, &mut table).await;
    }

    let title = format!(
        "rpcgen vs tarpc 0.38 vs raw tokio sockets: same process, 2 worker threads, {}{}",
        alloc::NAME,
        if quick { " (RPCGEN_BENCH_QUICK)" } else { "" },
    );
    table.print(&title);
    println!(
        "\nLatencies and allocations: lower is better; rates: higher. Ratios are rpcgen's number over the other's."
    );
    println!(
        "raw TCP is the simple echo (one write per frame) except in the in-flight rows, which use the hand-batched echo; the UDP row's raw column is a raw UDP echo."
    );
    for note in notes {
        println!("{note}");
    }
    println!(
        "\nTargets (2 cores): sequential <= 1.1x raw (the median of back-to-back ratios), UDP p50 <= 1.1x raw UDP; 64 in flight, on 1 and on 4 connections, >= 3x tarpc; 1 MiB >= 0.8x raw and >= tarpc, system allocator; at most 2 allocations per small call on each side (pinned by tests/tests/allocations.rs)."
    );
    systems.rpcgen_server.shutdown().await;
}

/// Times one call into `histogram`; the time it took.
async fn timed<F: Future<Output = usize>>(histogram: &mut Histogram<u64>, call: F) -> Duration {
    let started = Instant::now();
    std::hint::black_box(call.await);
    let elapsed = started.elapsed();
    measure::record(histogram, elapsed);
    elapsed
}

/// Sequential 64-byte calls, the systems taking turns call by call; a note with the
/// median of the paired ratios.
///
/// On these machines a loopback round trip takes one of two times (about 20 µs or
/// about 55 µs, as the two ends' tasks share a thread or not), and the mode changes over
/// thousands of calls; a p50 lands on either, so a ratio of p50s can be off by a factor
/// of three in either direction. Calls made back to back share the mode: the median of
/// their ratios compares like with like.
async fn sequential(systems: &mut Systems, lengths: &Lengths, table: &mut Table) -> String {
    let payload = vec![7u8; SMALL];
    let idempotent = systems.rpcgen.idempotent();
    for _ in 0..lengths.sequential / 10 {
        systems.raw.echo(&payload).await;
        systems.tarpc.echo(&payload).await;
        systems.rpcgen.echo(&payload).await;
        idempotent.echo(&payload).await;
    }
    let mut hist: [Histogram<u64>; 4] = std::array::from_fn(|_| measure::histogram());
    let mut time = [Duration::ZERO; 4];
    // rpcgen's time over raw's and over tarpc's, call by call.
    let mut paired: [Vec<f64>; 3] = std::array::from_fn(|_| Vec::with_capacity(lengths.sequential));
    for i in 0..lengths.sequential {
        // Each system goes first as often as the others: a call right after another
        // system's may find that system's tasks still finishing on the other thread.
        let mut one = [Duration::ZERO; 4];
        for turn in 0..4 {
            let system = (i + turn) % 4;
            let h = &mut hist[system];
            one[system] = match system {
                0 => timed(h, systems.raw.echo(&payload)).await,
                1 => timed(h, systems.tarpc.echo(&payload)).await,
                2 => timed(h, systems.rpcgen.echo(&payload)).await,
                _ => timed(h, idempotent.echo(&payload)).await,
            };
        }
        let [raw, tarpc, rpcgen, idem] = one;
        paired[0].push(rpcgen.as_secs_f64() / raw.as_secs_f64());
        paired[1].push(rpcgen.as_secs_f64() / tarpc.as_secs_f64());
        paired[2].push(idem.as_secs_f64() / raw.as_secs_f64());
        for (total, one) in time.iter_mut().zip([raw, tarpc, rpcgen, idem]) {
            *total += one;
        }
    }
    let [raw, tarpc, rpcgen, idem] = &hist;
    for (what, q) in [("p50", 0.50), ("p99", 0.99)] {
        let at = |h: &Histogram<u64>| h.value_at_quantile(q) as f64;
        table.row(
            format!("sequential 64 B, latency {what}"),
            Unit::Nanos,
            Some(at(raw)),
            Some(at(tarpc)),
            at(rpcgen),
        );
        table.row(
            format!("sequential 64 B, latency {what}, rpcgen `[idempotent]`"),
            Unit::Nanos,
            Some(at(raw)),
            Some(at(tarpc)),
            at(idem),
        );
    }
    let rate = |t: Duration| lengths.sequential as f64 / t.as_secs_f64();
    table.row(
        "sequential 64 B, calls/s",
        Unit::PerSecond,
        Some(rate(time[0])),
        Some(rate(time[1])),
        rate(time[2]),
    );
    let [raw, tarpc, idem] = paired.map(median);
    format!(
        "sequential 64 B, median of the ratios of calls made back to back: rpcgen/raw = {raw:.2}, rpcgen/tarpc = {tarpc:.2}, rpcgen `[idempotent]`/raw = {idem:.2}."
    )
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `DEPTH` calls in flight on each of `connections` connections per system, the systems
/// taking turns in `lengths.rounds` slices; a note with the simple raw echo's rate.
async fn in_flight(
    systems: &Systems,
    lengths: &Lengths,
    connections: usize,
    table: &mut Table,
) -> String {
    let mut tarpc = vec![systems.tarpc.clone()];
    let mut rpcgen = vec![systems.rpcgen.clone()];
    for _ in 1..connections {
        tarpc.push(tarpc_echo::Client::connect(systems.tarpc_addr).await);
        rpcgen.push(AtMostOnce::connect(&systems.rpcgen_server).await);
    }
    // A short run of each, discarded: new connections, first tasks, buffers grown.
    let warm_up = lengths.window / 10;
    raw::batched_in_flight(systems.batched_addr, connections, DEPTH, SMALL, warm_up).await;
    measure::in_flight(&tarpc, DEPTH, SMALL, warm_up).await;
    measure::in_flight(&rpcgen, DEPTH, SMALL, warm_up).await;
    raw::simple_in_flight(systems.raw_addr, connections, DEPTH, SMALL, warm_up).await;
    let slice = lengths.window / lengths.rounds;
    let mut samples = [Sample::default(); 4];
    for _ in 0..lengths.rounds {
        samples[0] +=
            raw::batched_in_flight(systems.batched_addr, connections, DEPTH, SMALL, slice).await;
        samples[1] += measure::in_flight(&tarpc, DEPTH, SMALL, slice).await;
        samples[2] += measure::in_flight(&rpcgen, DEPTH, SMALL, slice).await;
        samples[3] +=
            raw::simple_in_flight(systems.raw_addr, connections, DEPTH, SMALL, slice).await;
    }
    let case = if connections == 1 {
        format!("{DEPTH} in flight, 1 connection, calls/s")
    } else {
        format!("{connections} connections x {DEPTH} in flight, calls/s")
    };
    let [batched, tarpc, rpcgen, simple] = samples.map(|s| s.per_second());
    table.row(
        format!("{case} (raw: hand-batched)"),
        Unit::PerSecond,
        Some(batched),
        Some(tarpc),
        rpcgen,
    );
    format!(
        "{case}: the simple raw echo (one write per frame) did {} calls/s; rpcgen/simple raw = {:.2}.",
        rpcgen_bench::report::thousands(simple.round() as u64),
        rpcgen / simple,
    )
}

/// 1 MiB echoes, the systems taking turns call by call; MB/s each way.
async fn large(systems: &mut Systems, lengths: &Lengths, table: &mut Table) {
    let big = vec![1u8; LARGE];
    systems.raw.echo(&big).await;
    systems.tarpc.echo(&big).await;
    systems.rpcgen.echo(&big).await;
    let mut time = [Duration::ZERO; 3];
    for _ in 0..lengths.large {
        let started = Instant::now();
        assert_eq!(systems.raw.echo(&big).await, LARGE);
        time[0] += started.elapsed();
        let started = Instant::now();
        assert_eq!(systems.tarpc.echo(&big).await, LARGE);
        time[1] += started.elapsed();
        let started = Instant::now();
        assert_eq!(systems.rpcgen.echo(&big).await, LARGE);
        time[2] += started.elapsed();
    }
    let megabytes = (LARGE * lengths.large) as f64 / 1e6;
    let [raw, tarpc, rpcgen] = time.map(|t| megabytes / t.as_secs_f64());
    table.row(
        "1 MiB bytes echo, MB/s (each way)",
        Unit::MegabytesPerSecond,
        Some(raw),
        Some(tarpc),
        rpcgen,
    );
}

/// Sequential 64-byte calls over UDP against a raw UDP echo (tarpc has no UDP transport);
/// a note on the sessions the rpcgen server kept.
async fn udp(lengths: &Lengths, table: &mut Table) -> String {
    let server = rpcgen_echo::server(true).await;
    let rpcgen = AtMostOnce::connect(&server).await;
    let idempotent = rpcgen.idempotent();
    let raw_udp = raw::udp_echo().await;
    let payload = vec![7u8; SMALL];
    let mut buf = vec![0u8; 2048];
    let mut hist: [Histogram<u64>; 3] = std::array::from_fn(|_| measure::histogram());
    let warm_up = lengths.sequential / 10;
    for i in 0..lengths.sequential + warm_up {
        let started = Instant::now();
        raw_udp.send(&payload).await.expect("send");
        raw_udp.recv(&mut buf).await.expect("recv");
        let raw_elapsed = started.elapsed();
        let started = Instant::now();
        rpcgen.echo(&payload).await;
        let rpcgen_elapsed = started.elapsed();
        let started = Instant::now();
        idempotent.echo(&payload).await;
        let idempotent_elapsed = started.elapsed();
        if i >= warm_up {
            measure::record(&mut hist[0], raw_elapsed);
            measure::record(&mut hist[1], rpcgen_elapsed);
            measure::record(&mut hist[2], idempotent_elapsed);
        }
    }
    let [raw, rpcgen_p50, idempotent_p50] = hist.map(|h| h.value_at_quantile(0.5) as f64);
    table.row(
        "UDP sequential 64 B, latency p50 (raw: UDP echo)",
        Unit::Nanos,
        Some(raw),
        None,
        rpcgen_p50,
    );
    table.row(
        "UDP sequential 64 B, latency p50, rpcgen `[idempotent]` (raw: UDP echo)",
        Unit::Nanos,
        Some(raw),
        None,
        idempotent_p50,
    );
    let sessions = server.stats().sessions;
    server.shutdown().await;
    format!(
        "Sessions after the UDP run: {} session(s), {} stored replies, {} bytes in all (slot tables included).",
        sessions.sessions, sessions.replies, sessions.bytes,
    )
}

/// Heap allocations per sequential 64-byte call, client and server together (the whole
/// process: nothing else runs meanwhile), each system alone after a warm-up.
async fn allocations(systems: &mut Systems, lengths: &Lengths, table: &mut Table) {
    let payload = vec![7u8; SMALL];
    let n = lengths.allocation_calls;
    let per_call = |before: u64| (alloc::allocations() - before) as f64 / n as f64;

    for _ in 0..n / 10 {
        systems.raw.echo(&payload).await;
    }
    let before = alloc::allocations();
    for _ in 0..n {
        systems.raw.echo(&payload).await;
    }
    let raw = per_call(before);

    let tarpc = count(&systems.tarpc, &payload, n).await;
    let rpcgen = count(&systems.rpcgen, &payload, n).await;
    let idempotent = count(&systems.rpcgen.idempotent(), &payload, n).await;
    table.row(
        "heap allocations per 64 B call (client + server)",
        Unit::Allocations,
        Some(raw),
        Some(tarpc),
        rpcgen,
    );
    table.row(
        "heap allocations per 64 B call (client + server), rpcgen `[idempotent]`",
        Unit::Allocations,
        Some(raw),
        Some(tarpc),
        idempotent,
    );
}

/// Allocations per call of `n` sequential calls through `client`, after `n / 10` to warm up.
async fn count(client: &impl Echoer, payload: &[u8], n: u64) -> f64 {
    for _ in 0..n / 10 {
        client.echo(payload).await;
    }
    let before = alloc::allocations();
    for _ in 0..n {
        client.echo(payload).await;
    }
    (alloc::allocations() - before) as f64 / n as f64
}
