//! `cargo rpcgen call`, `describe` and the HTTP gateway against the example bank, a real
//! server on 127.0.0.1: every method of `examples/idl/bank.idl` from a shell and over
//! HTTP, by address over TCP, UDP and a Unix socket, and by a binder name.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use examples::accounts::Accounts;
use examples::bank::{BankServer, bank_interface};
use rpc_dynamic::gateway::{Gateway, OUTCOME_HEADER};
use rpc_dynamic::{DynamicInterface, Target};
use rpc_runtime::{ChannelConfig, Server, ServerHandle};
use serde_json::{Value, json};

const BANK_IDL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/idl/bank.idl");

fn rpcgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-rpcgen"))
        .arg("rpcgen")
        .args(args)
        .output()
        .expect("run cargo-rpcgen")
}

/// `cargo rpcgen call` with `target` (address and flags), and its stdout as JSON.
fn call(target: &[&str], method: &str, arguments: &str) -> (i32, Value, String) {
    let mut args = vec!["call", BANK_IDL];
    args.extend_from_slice(target);
    args.extend([method, arguments]);
    let out = rpcgen(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

async fn bank() -> (ServerHandle, Arc<Accounts>) {
    let accounts = Arc::new(Accounts::new());
    let server = Server::new()
        .add_service(BankServer::from_arc(accounts.clone()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    (server, accounts)
}

/// Every method of the bank, called as a person would from a shell.
fn every_method(target: &[&str], accounts: &Accounts) {
    let (code, reply, err) = call(target, "bank.Bank/open", r#"{"owner": "ana"}"#);
    assert_eq!(code, 0, "{err}");
    let id = reply["result"]["id"].as_u64().expect("an account id");
    assert_eq!(reply["result"]["owner"], "ana");
    assert_eq!(reply["result"]["tags"], json!(["new"]));
    assert_eq!(reply["result"]["note"], Value::Null);
    let (_, other, _) = call(target, "bank.Bank/open", r#"{"owner": "ben"}"#);
    let other = other["result"]["id"].as_u64().unwrap();

    let deposit = format!(r#"{{"id": {id}, "amount": 100}}"#);
    let (code, reply, err) = call(target, "bank.Bank/deposit", &deposit);
    assert_eq!((code, reply), (0, json!({"result": 100})), "{err}");
    let (code, reply, _) = call(target, "bank.Bank/balance", &format!(r#"{{"id": {id}}}"#));
    assert_eq!((code, reply), (0, json!({"result": 100})));

    // inout comes back by name.
    let transfer = format!(r#"{{"from": {id}, "to": {other}, "amount": 30}}"#);
    let (code, reply, err) = call(target, "bank.Bank/transfer", &transfer);
    assert_eq!((code, reply), (0, json!({"amount": 30})), "{err}");
    // out: bytes as base64.
    let (code, reply, _) = call(
        target,
        "bank.Bank/read_block",
        &format!(r#"{{"id": {id}}}"#),
    );
    assert_eq!(code, 0);
    let block: Vec<u8> = id.to_le_bytes().repeat(4);
    let encoded = reply["data"].as_str().expect("base64 text");
    assert_eq!(encoded.len(), block.len().div_ceil(3) * 4);

    // oneway: null, and the server got it.
    let (code, reply, _) = call(target, "bank.Bank/audit", r#"{"line": "from a shell"}"#);
    assert_eq!((code, reply), (0, Value::Null));
    // last-of-many, no arguments.
    let (code, reply, _) = call(target, "bank.Bank/tick", "{}");
    assert_eq!(code, 0);
    assert!(reply["result"].as_u64().is_some());

    // The exception, with its variant, and exit status 1.
    let (code, reply, _) = call(target, "bank.Bank/deposit", r#"{"id": 999, "amount": 1}"#);
    assert_eq!(code, 1);
    assert_eq!(
        reply,
        json!({"exception": "bank.BankError", "value": {"NotFound": {"id": 999}}})
    );
    for _ in 0..50 {
        if accounts.audit_log().iter().any(|l| l == "from a shell") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the oneway audit never arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bank_method_can_be_called_from_a_shell_over_each_transport() {
    let (tcp, accounts) = bank().await;
    every_method(&[&tcp.address()], &accounts);

    let udp = Server::new()
        .add_service(BankServer::from_arc(accounts.clone()))
        .bind_udp("127.0.0.1:0")
        .await
        .unwrap();
    let address = udp.address();
    every_method(&[&address, "--transport", "udp"], &accounts);

    let path: PathBuf =
        std::env::temp_dir().join(format!("rpcgen-call-{}.sock", std::process::id()));
    let unix = Server::new()
        .add_service(BankServer::from_arc(accounts.clone()))
        .bind_unix(&path)
        .unwrap();
    let path_text = path.display().to_string();
    every_method(&[&path_text, "--transport", "unix"], &accounts);
    drop(unix);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_a_binder_name_reaches_the_exported_server() {
    let daemon = rpc_binder::daemon::serve("127.0.0.1:0").await.unwrap();
    let binder = rpc_binder::Binder::daemon(daemon.address()).await.unwrap();
    let (server, accounts) = bank().await;
    let _export = binder
        .export("bank", &server, bank_interface::FINGERPRINT)
        .await
        .unwrap();
    let binder_address = daemon.address();
    every_method(&["--binder", &binder_address, "bank"], &accounts);
    // A name nobody exports: a clear error, nothing ran.
    let (code, _, err) = call(
        &["--binder", &binder_address, "nobody", "--timeout", "1s"],
        "bank.Bank/tick",
        "{}",
    );
    assert_eq!(code, 1);
    assert!(err.contains("did not run"), "{err}");
}

#[test]
fn wrong_arguments_are_explained_in_terms_of_the_idl() {
    // Nothing listens there: arguments are checked before anything is sent.
    let target = ["127.0.0.1:9"];
    let cases = [
        (
            "bank.Bank/deposit",
            r#"{"id": 1, "amount": "lots"}"#,
            "`amount`: expected i64",
        ),
        ("bank.Bank/deposit", r#"{"id": 1}"#, "`amount`"),
        (
            "bank.Bank/deposit",
            r#"{"id": 1, "amount": 1, "colour": 2}"#,
            "colour",
        ),
        ("bank.Bank/deposit", r#"{"id": -1, "amount": 1}"#, "`id`"),
        ("bank.Bank/deposit", "{not json", "not JSON"),
        ("bank.Bank/withdraw", "{}", "no method `withdraw`"),
        ("bank.Vault/open", "{}", "no interface `bank.Vault`"),
        ("deposit", "{}", "package.Interface/method"),
    ];
    for (method, arguments, expected) in cases {
        let (code, _, err) = call(&target, method, arguments);
        assert_eq!(code, 2, "{method} {arguments}: {err}");
        assert!(err.contains(expected), "{method} {arguments}: {err}");
    }
}

#[test]
fn describe_lists_interfaces_methods_semantics_ids_and_fingerprints() {
    let out = rpcgen(&["describe", BANK_IDL]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let fingerprint = format!("fingerprint {:#018x}", bank_interface::FINGERPRINT);
    assert!(
        text.starts_with(&format!("bank.Bank  {fingerprint}")),
        "{text}"
    );
    assert!(text.contains(&format!("object {:#018x}", bank_interface::OBJECT)));
    let deposit = bank_interface::methods::DEPOSIT;
    assert!(text.contains("deposit(id: u64, amount: i64) -> i64 raises bank.BankError"));
    assert!(text.contains(&format!(
        "at-most-once (the default)  id {:#010x}  fingerprint {:#018x}",
        deposit.id, deposit.fingerprint
    )));
    assert!(text.contains("transfer(from: u64, to: u64, inout amount: i64)"));
    assert!(text.contains("maybe [oneway]"));
    let out = rpcgen(&["describe", "--json", BANK_IDL]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["methods"].as_array().unwrap().len(), 7);
}

/// One HTTP/1.1 exchange over a fresh connection: status, outcome header, JSON body.
fn http(address: &str, method: &str, path: &str, body: &str) -> (u16, String, Value) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let outcome = head
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{OUTCOME_HEADER}: ")))
        .unwrap_or("")
        .to_owned();
    (
        status,
        outcome,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bank_method_can_be_called_over_http_through_the_gateway() {
    let (server, accounts) = bank().await;
    let model = Arc::new(idl::load(&[BANK_IDL]).unwrap());
    let target = Target::address(server.address(), ChannelConfig::default());
    let gateway = Gateway::new(DynamicInterface::all(&model), &target);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(rpc_dynamic::gateway::serve(listener, gateway));

    let post = |path: &str, body: &str| http(&address, "POST", path, body);
    let (status, outcome, reply) = post("/bank.Bank/open", r#"{"owner": "ana"}"#);
    assert_eq!((status, outcome.as_str()), (200, "executed"));
    let id = reply["result"]["id"].as_u64().unwrap();
    let (_, _, other) = post("/bank.Bank/open", r#"{"owner": "ben"}"#);
    let other = other["result"]["id"].as_u64().unwrap();
    let (status, _, reply) = post(
        "/bank.Bank/deposit",
        &format!(r#"{{"id": {id}, "amount": 100}}"#),
    );
    assert_eq!((status, reply), (200, json!({"result": 100})));
    let (status, _, reply) = post("/bank.Bank/balance", &format!(r#"{{"id": {id}}}"#));
    assert_eq!((status, reply), (200, json!({"result": 100})));
    let (status, _, reply) = post(
        "/bank.Bank/transfer",
        &format!(r#"{{"from": {id}, "to": {other}, "amount": 250}}"#),
    );
    assert_eq!(
        (status, reply),
        (200, json!({"amount": 100})),
        "inout: what moved"
    );
    let (status, _, reply) = post("/bank.Bank/read_block", &format!(r#"{{"id": {id}}}"#));
    assert_eq!(status, 200);
    assert!(reply["data"].is_string());
    let (status, _, reply) = post("/bank.Bank/audit", r#"{"line": "over http"}"#);
    assert_eq!((status, reply), (202, Value::Null));
    let (status, _, reply) = post("/bank.Bank/tick", "");
    assert_eq!(status, 200, "an empty body is no arguments");
    assert!(reply["result"].is_u64());

    // The exception: 422, as JSON; it ran.
    let (status, outcome, reply) = post("/bank.Bank/balance", r#"{"id": 999}"#);
    assert_eq!((status, outcome.as_str()), (422, "executed"));
    assert_eq!(
        reply,
        json!({"exception": "bank.BankError", "value": {"NotFound": {"id": 999}}})
    );
    // Wrong input: 400 and 404, and nothing ran.
    let (status, outcome, reply) = post("/bank.Bank/deposit", r#"{"id": 1, "amount": "x"}"#);
    assert_eq!((status, outcome.as_str()), (400, "not-executed"));
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("`amount`: expected i64")
    );
    let (status, _, _) = post("/bank.Bank/deposit", "{oops");
    assert_eq!(status, 400);
    let (status, _, _) = post("/bank.Bank/withdraw", "{}");
    assert_eq!(status, 404);
    let (status, _, _) = post("/bank.Vault/open", "{}");
    assert_eq!(status, 404);
    // Too large a body: refused before it is read whole.
    let big = format!(
        r#"{{"line": "{}"}}"#,
        "x".repeat(rpc_dynamic::gateway::MAX_BODY)
    );
    let (status, _, _) = post("/bank.Bank/audit", &big);
    assert_eq!(status, 413);
    // The listing.
    let (status, _, listing) = http(&address, "GET", "/", "");
    assert_eq!(status, 200);
    assert_eq!(listing[0]["name"], "bank.Bank");
    assert_eq!(listing[0]["methods"][1]["path"], "/bank.Bank/deposit");
    assert!(
        accounts.audit_log().iter().any(|l| l == "over http") || {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            accounts.audit_log().iter().any(|l| l == "over http")
        }
    );

    // The server goes away: 502, and the call did not run.
    server.shutdown().await;
    let (status, outcome, _) = post("/bank.Bank/balance", &format!(r#"{{"id": {id}}}"#));
    assert!(status == 502 || status == 504, "{status}");
    assert_ne!(outcome, "executed");
}
