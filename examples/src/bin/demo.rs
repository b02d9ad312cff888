//! The one-process demo: a bank server (from `idl/bank.idl`) and a calculator (from a
//! `#[remote]` trait), each with a client over real loopback TCP, showing each kind of
//! call and what came back; then the bank over a lossy network, a stock ticker whose
//! clients receive callbacks on listener objects they serve themselves, and a store
//! replicated on three servers, written with a quorum and read from the first to answer.

use examples::accounts::Accounts;
use examples::bank::{BankClient, BankError, BankServer};
use examples::calc::{CalcClient, CalcServer, Calculator};
use examples::market::{Market, Recorder};
use examples::ticker::{Listener, TickerClient, TickerServer};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc_runtime::chaos::{Faults, Proxy};
use rpc_runtime::{CallError, Channel, ChannelConfig, RetryPolicy, Server, Transport};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::new()
        .add_service(BankServer::new(Accounts::new()))
        .bind("127.0.0.1:0")
        .await?;
    println!("bank server listening on {}", server.local_addr());

    let bank = BankClient::new(Channel::connect(server.local_addr().to_string()).await?);

    let alice = bank.open("alice").await?;
    println!("open(\"alice\")              -> {alice:?}");
    let bob = bank.open("bob").await?;
    println!("open(\"bob\")                -> account {}", bob.id);

    let balance = bank.deposit(alice.id, 100).await?;
    println!(
        "deposit({}, 100)             -> balance {balance}   (at-most-once)",
        alice.id
    );

    let mut amount = 250;
    print!(
        "transfer({} -> {}, inout amount = {amount})",
        alice.id, bob.id
    );
    bank.transfer(alice.id, bob.id, &mut amount).await?;
    println!(" -> amount written back: {amount}   (copy/restore)");

    let balance = bank.balance(bob.id).await?;
    println!(
        "balance({})                  -> {balance}   (idempotent: at-least-once)",
        bob.id
    );

    match bank.balance(99).await {
        Err(CallError::Exception(BankError::NotFound { id })) => {
            println!("balance(99)                 -> exception NotFound {{ id: {id} }}")
        }
        other => println!("balance(99)                 -> unexpected {other:?}"),
    }

    let mut block = rpc_runtime::Bytes::new();
    bank.read_block(7, &mut block).await?;
    println!(
        "read_block(7, out data)     -> data = {} bytes {:?}...",
        block.len(),
        &block[..8]
    );

    bank.audit("demo done").await?;
    println!("audit(\"demo done\")          -> sent   (oneway: maybe, no reply)");

    let tick = bank.tick().await?;
    println!("tick()                      -> {tick}   (last-of-many)");

    server.shutdown().await;
    println!("bank server shut down\n");

    // The same machinery from a `#[remote]` trait instead of an IDL file.
    let calc_server = Server::new()
        .add_service(CalcServer::new(Calculator::default()))
        .bind("127.0.0.1:0")
        .await?;
    let calc = CalcClient::new(Channel::connect(calc_server.local_addr().to_string()).await?);
    println!("#[remote] calculator on {}", calc_server.local_addr());
    println!("add(2, 40)                  -> {}", calc.add(2, 40).await?);
    match calc.divide(1, 0).await {
        Err(CallError::Exception(e)) => println!("divide(1, 0)                -> exception: {e}"),
        other => println!("divide(1, 0)                -> unexpected {other:?}"),
    }
    let mut value = 21;
    calc.double(&mut value).await?;
    println!("double(inout value = 21)    -> value written back: {value}");
    calc_server.shutdown().await;

    lossy_bank().await?;
    ticker().await?;
    replicated_store().await
}

/// The bank over UDP through a proxy that loses 30% of datagrams, duplicates 10% and
/// delays each up to 20 ms: 100 at-most-once deposits of 1 still add up to 100.
async fn lossy_bank() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::new()
        .add_service(BankServer::new(Accounts::new()))
        .bind_udp("127.0.0.1:0")
        .await?;
    let faults = Faults {
        loss: 0.30,
        duplicate: 0.10,
        max_delay: Duration::from_millis(20),
        seed: 7,
        ..Faults::default()
    };
    let proxy = Proxy::udp(server.local_addr(), faults).await?;
    let config = ChannelConfig {
        transport: Transport::Udp,
        // Half the round trips fail here: allow many attempts.
        retry: RetryPolicy {
            first_wait: Duration::from_millis(60),
            max_attempts: 25,
            ..RetryPolicy::default()
        },
        ..ChannelConfig::default()
    };
    let bank =
        BankClient::new(Channel::connect_with(proxy.local_addr().to_string(), config).await?);
    println!("\nbank over UDP through a lossy proxy (30% loss, 10% duplicates, up to 20 ms delay)");
    let account = bank.open("dora").await?;
    let mut balance = 0;
    for _ in 0..100 {
        balance = bank.deposit(account.id, 1).await?;
    }
    println!(
        "100 x deposit(1)            -> balance {balance}   (at-most-once: each ran exactly once)"
    );
    let s = server.stats();
    let p = proxy.stats();
    println!(
        "proxy: {} datagrams, {} dropped, {} duplicated",
        p.received, p.dropped, p.duplicated
    );
    println!(
        "server: {} executions, {} duplicates filtered, {} replies resent; {} session(s) holding {} stored replies in {} bytes, {} evicted",
        s.executions,
        s.duplicates_filtered,
        s.replies_resent,
        s.sessions.sessions,
        s.sessions.replies,
        s.sessions.bytes,
        s.sessions.evicted
    );

    // The same server, called with no generated code: what `cargo rpcgen call` does.
    let arguments = format!(r#"{{"id": {}}}"#, account.id);
    println!(
        "\n$ cargo rpcgen call examples/idl/bank.idl {} --transport udp bank.Bank/balance '{arguments}'",
        server.address()
    );
    let model = std::sync::Arc::new(idl::load(&[concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/idl/bank.idl"
    )])?);
    let interface = std::sync::Arc::new(rpc_dynamic::DynamicInterface::new(model, "bank.Bank")?);
    let target = rpc_dynamic::Target::address(
        server.address(),
        ChannelConfig {
            transport: Transport::Udp,
            ..ChannelConfig::default()
        },
    );
    let client =
        rpc_dynamic::DynamicClient::new(interface.clone(), target.client(interface.spec()));
    let reply = client
        .call_json("balance", &serde_json::from_str(&arguments)?)
        .await?;
    println!("{}", serde_json::to_string_pretty(&reply)?);
    server.shutdown().await;
    Ok(())
}

/// The stock ticker (`idl/ticker.idl`): remote objects. Two clients each subscribe a
/// listener object they serve themselves; the server calls the listeners back over the
/// clients' own connections (the clients listen on no socket) while client A keeps
/// calling the server.
async fn ticker() -> Result<(), Box<dyn std::error::Error>> {
    const UPDATES: u64 = 5;
    const B_WANTS: u64 = 2;
    let market = Market::new(UPDATES, Duration::from_millis(40));
    let server = Server::new()
        .add_service(TickerServer::new(market.clone()))
        .bind("127.0.0.1:0")
        .await?;
    let address = server.local_addr().to_string();
    println!("\nstock ticker on {address}: clients A and B serve their own listener objects");
    let a = TickerClient::new(Channel::connect(&address).await?);
    let b = TickerClient::new(Channel::connect(&address).await?);
    let tapes = [Recorder::all(), Recorder::new(B_WANTS)];
    let id = a.subscribe("RUST", &tapes[0].clone().into_ref()).await?;
    println!(
        "A: subscribe(\"RUST\", listener.into_ref()) -> subscription {id}   (wants all {UPDATES} updates)"
    );
    let id = b.subscribe("RUST", &tapes[1].clone().into_ref()).await?;
    println!(
        "B: subscribe(\"RUST\", listener.into_ref()) -> subscription {id}   (answers false to update {B_WANTS})"
    );
    // The server leases the listeners in the background: wait for it (briefly).
    settle(|| rpc_runtime::objects::callback_stats().leases == 2).await;
    let objects = server.stats().objects;
    let callbacks = rpc_runtime::objects::callback_stats();
    // What this process holds of other processes' objects: here, only the server does.
    let held = rpc_runtime::objects::held_stats();
    println!(
        "server objects: exported {}, leases {}   (it exports none: it holds {} listener(s) of {} client(s))",
        objects.exported, objects.leases, held.references, held.owners
    );
    println!(
        "client callback table: exported {}, leases {}   (A's and B's listeners, leased by the server)",
        callbacks.exported, callbacks.leases
    );

    // A keeps calling the server while the callbacks come the other way on its connection.
    let deadline = Instant::now() + Duration::from_secs(2);
    let (mut quotes, mut quote) = (0, 0);
    let mut shown = [0; 2];
    while (tapes[0].received() < UPDATES as usize || tapes[1].received() < B_WANTS as usize)
        && Instant::now() < deadline
    {
        quote = a.quote("RUST").await?;
        quotes += 1;
        show_updates(&tapes, &mut shown, quotes);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    show_updates(&tapes, &mut shown, quotes);
    println!(
        "A: {quotes} x quote(\"RUST\") while the callbacks arrived -> last {quote}   (forward calls on the same connection)"
    );
    // The server dropped both listeners (done, declined): their leases end, and the
    // callback table collects them.
    settle(|| rpc_runtime::objects::callback_stats().exported == 0).await;
    let stats = market.stats();
    let callbacks = rpc_runtime::objects::callback_stats();
    println!(
        "market: {} updates delivered, {} subscription(s) completed, {} declined, {} running",
        stats.delivered, stats.completed, stats.declined, stats.running
    );
    println!(
        "client callback table: exported {}, leases {}, {} collected   (the server let go of both)",
        callbacks.exported, callbacks.leases, callbacks.collected_total
    );
    server.shutdown().await;
    Ok(())
}

/// The replicated store (`idl/replica.idl`): three members exported under one name in
/// the embedded binder, one of them slow; a group client writes to all of them with a
/// quorum of two and reads from the first to answer.
async fn replicated_store() -> Result<(), Box<dyn std::error::Error>> {
    use examples::replica::{StoreClient, StoreServer, store_interface};
    use examples::replicas::Replica;
    use rpc_runtime::group::{Group, Policy};

    let binder = rpc_binder::Binder::embedded();
    let replicas = [
        Arc::new(Replica::new()),
        Arc::new(Replica::new()),
        Arc::new(Replica::slow(Duration::from_millis(300))),
    ];
    let mut members = Vec::new();
    for replica in &replicas {
        let server = Server::new()
            .add_service(StoreServer::from_arc(replica.clone()))
            .bind("127.0.0.1:0")
            .await?;
        let exported = binder
            .export("store", &server, store_interface::FINGERPRINT)
            .await?;
        members.push((server, exported));
    }
    println!(
        "
replicated store: 3 members export \"store\" (the third answers after 300 ms)"
    );
    let stores: Group<StoreClient> =
        Group::bound(Arc::new(binder), "store", ChannelConfig::default());
    let started = Instant::now();
    let written = stores
        .call_with(Policy::Quorum(2), |s| async move {
            s.put("greeting", "hello").await
        })
        .await?;
    println!(
        "put(\"greeting\", \"hello\") to all, Quorum(2) -> version {:?} after {} ms   ({} answered, {} still running)",
        written.value,
        started.elapsed().as_millis(),
        written.replies.len(),
        written.pending.len()
    );
    let started = Instant::now();
    let read = stores
        .call_with(Policy::First, |s| async move { s.get("greeting").await })
        .await?;
    let entry = read.value.unwrap_or_default();
    println!(
        "get(\"greeting\") from all, First -> {:?} (version {}) after {} ms",
        entry.value,
        entry.version,
        started.elapsed().as_millis()
    );
    let all = stores
        .call_with(Policy::All, |s| async move { s.get("greeting").await })
        .await?;
    let versions: Vec<String> = all
        .replies
        .iter()
        .map(|r| match &r.result {
            Ok(entry) => format!("{}", entry.version),
            Err(e) => format!("{e}"),
        })
        .collect();
    println!(
        "get(\"greeting\") from all, All -> every member's version: {}   (the slow one caught up)",
        versions.join(", ")
    );
    for (server, exported) in members {
        exported.withdraw().await;
        server.shutdown().await;
    }
    Ok(())
}

/// Prints the updates A's and B's listeners received since the last time.
fn show_updates(tapes: &[Arc<Recorder>; 2], shown: &mut [usize; 2], quotes: u32) {
    for ((name, tape), shown) in ["A", "B"].iter().zip(tapes).zip(shown) {
        for update in &tape.updates()[*shown..] {
            println!(
                "{name}'s listener <- price(\"{}\", {}, {}) -> {}   (A's quote() calls so far: {quotes})",
                update.symbol, update.cents, update.seq, update.more
            );
            *shown += 1;
        }
    }
}

/// Waits up to a second for `done`, checking every 5 ms.
async fn settle(mut done: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(1);
    while !done() && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
