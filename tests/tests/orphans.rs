//! The four remedies for orphans, with a real client process killed while 100 long
//! calls of it run on a server: each remedy stops them within its bound, the server
//! counts them, and a client that stays alive keeps its calls.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc_runtime::server::{KilledStats, Reincarnation};
use rpc_runtime::{Channel, ChannelConfig, Server, ServerConfig, ServerHandle};
use tests::orphans::{WorkerClient, WorkerServer};
use tests::worker::Work;

const CALLS: usize = 100;

/// A `Worker` server on loopback, with `rule` for new epochs.
async fn serve(work: &Arc<Work>, rule: Reincarnation) -> ServerHandle {
    let config = ServerConfig {
        reincarnation: rule,
        ..ServerConfig::default()
    };
    Server::with_config(config)
        .add_service(WorkerServer::new(work.clone()))
        .bind("127.0.0.1:0")
        .await
        .expect("bind")
}

/// A client process; its lines come through `lines`.
struct Client {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Client {
    fn start(server: &ServerHandle, remedy: &str, dir: &std::path::Path, millis: u64) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orphan-client"))
            .args([
                &server.address(),
                remedy,
                &dir.display().to_string(),
                &CALLS.to_string(),
                &millis.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the client process");
        let stdout = child.stdout.take().expect("piped");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Client { child, lines }
    }

    /// The next line starting with `prefix` (within 20 s).
    fn line(&self, prefix: &str) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            // The server runs on this runtime: wait off its workers.
            let line = tokio::task::block_in_place(|| self.lines.recv_timeout(left))
                .unwrap_or_else(|_| panic!("no line {prefix:?} from the client"));
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("kill the client");
        self.child.wait().expect("reap it");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `n` calls run on `server` (within 20 s).
async fn running(server: &ServerHandle, n: usize) {
    let until = Instant::now() + Duration::from_secs(20);
    while server.calls_waiting() != n {
        assert!(
            Instant::now() < until,
            "{} calls running, not {n}",
            server.calls_waiting()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `work` counts `dropped` handlers dropped; how long that took.
async fn orphans_gone(work: &Work, dropped: u64) -> Duration {
    let started = Instant::now();
    while work.counts().2 < dropped {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "orphans left: {:?}",
            work.counts()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

fn state_dir(name: &str) -> tempdir::Dir {
    tempdir::Dir::new(name)
}

/// A directory removed at the end of the test.
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(name: &str) -> Dir {
            let path = std::env::temp_dir().join(format!(
                "rpcgen-orphans-{name}-{}-{}",
                std::process::id(),
                rpc_runtime::server::invocation().map_or(0, |i| i.seq)
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("a state directory");
            Dir(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn killed(server: &ServerHandle) -> KilledStats {
    server.stats().killed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiration_stops_a_dead_clients_calls_within_its_quantum() {
    let work = Work::new();
    let server = serve(&work, Reincarnation::Off).await;
    let dir = state_dir("expiration");
    let client = Client::start(&server, "expiration", &dir.0, 60_000);
    client.line("calling");
    running(&server, CALLS).await;
    // Alive, the client renews: a few quanta pass and nothing expires.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(server.calls_waiting(), CALLS);
    assert_eq!(killed(&server).expired, 0);
    client.kill();
    let took = orphans_gone(&work, CALLS as u64).await;
    // Within the 300 ms quantum after the last renewal, which came at most a third of
    // a quantum before the kill.
    assert!(took <= Duration::from_millis(450), "{took:?}");
    assert_eq!(killed(&server).expired, CALLS as u64);
    assert_eq!(server.calls_waiting(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extermination_replays_the_log_after_a_restart() {
    let work = Work::new();
    let server = serve(&work, Reincarnation::Off).await;
    let dir = state_dir("extermination");
    let client = Client::start(&server, "extermination", &dir.0, 60_000);
    assert_eq!(client.line("exterminated"), "exterminated 0");
    client.line("calling");
    running(&server, CALLS).await;
    client.kill();
    // Nothing stops them while the client is down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.calls_waiting(), CALLS);
    let restarted_at = Instant::now();
    let again = Client::start(&server, "extermination", &dir.0, 1);
    assert_eq!(again.line("exterminated"), format!("exterminated {CALLS}"));
    let took = orphans_gone(&work, CALLS as u64).await + restarted_at.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(killed(&server).exterminated, CALLS as u64);
    assert_eq!(again.line("done"), format!("done {CALLS}"));
    // The restarted client's own calls ended: its log is empty again.
    drop(again);
    let (_, leftovers) =
        rpc_runtime::client::orphans::CallLog::open(dir.0.join("calls.log")).expect("the log");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reincarnation_stops_every_call_of_older_epochs() {
    let work = Work::new();
    let server = serve(&work, Reincarnation::Strict).await;
    let dir = state_dir("reincarnation");
    // An older incarnation that stays alive: the start of the next one stops its calls
    // at once (the price of strictness: a client that shares the identity and lives on
    // loses its calls too).
    let alive = Client::start(&server, "reincarnation", &dir.0, 60_000);
    alive.line("calling");
    running(&server, CALLS).await;
    let dead = Client::start(&server, "reincarnation", &dir.0, 60_000);
    dead.line("calling");
    orphans_gone(&work, CALLS as u64).await;
    assert_eq!(alive.line("done"), "done 0");
    running(&server, CALLS).await;
    dead.kill();
    let restarted_at = Instant::now();
    let again = Client::start(&server, "reincarnation", &dir.0, 1);
    assert_eq!(again.line("announced"), "announced 1");
    // Gone by the time the new epoch was announced.
    orphans_gone(&work, 2 * CALLS as u64).await;
    let took = restarted_at.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(killed(&server).reincarnation, 2 * CALLS as u64);
    assert_eq!(again.line("done"), format!("done {CALLS}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gentle_reincarnation_spares_a_client_that_can_be_found() {
    let work = Work::new();
    let server = serve(&work, Reincarnation::Gentle).await;
    let dir = state_dir("gentle");
    let alive = Client::start(&server, "reincarnation", &dir.0, 3_000);
    alive.line("calling");
    running(&server, CALLS).await;
    let dead = Client::start(&server, "reincarnation", &dir.0, 60_000);
    dead.line("calling");
    running(&server, 2 * CALLS).await;
    dead.kill();
    let again = Client::start(&server, "reincarnation", &dir.0, 1);
    assert_eq!(again.line("announced"), "announced 1");
    orphans_gone(&work, CALLS as u64).await;
    assert_eq!(killed(&server).reincarnation, CALLS as u64);
    // The older incarnation still connected keeps its calls: they run to their end.
    assert_eq!(alive.line("done"), format!("done {CALLS}"));
    assert_eq!(
        work.counts().2,
        CALLS as u64,
        "only the dead one's calls were stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_expiration_never_stops_a_live_clients_long_call() {
    let work = Work::new();
    let server = serve(&work, Reincarnation::Off).await;
    let config = ChannelConfig {
        quantum: Some(Duration::from_millis(100)),
        ..ChannelConfig::default()
    };
    let client = WorkerClient::new(
        Channel::connect_with(server.address(), config)
            .await
            .expect("connect"),
    );
    // Ten quanta long, twice at once.
    let (a, b) = tokio::join!(client.work(1000), client.nap(1000));
    assert_eq!((a.unwrap(), b.unwrap()), (1000, 1000));
    assert_eq!(killed(&server), KilledStats::default());
}
