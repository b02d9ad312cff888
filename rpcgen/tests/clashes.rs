//! Names the generated Rust would define twice are refused in the IDL, with both items
//! named and pointed at, before any code is generated: `rpcgen::load` and
//! `rpcgen::check_str` run the check (`idl::load` alone does not know generated names).

fn errors(text: &str) -> String {
    match rpcgen::check_str("store.idl", text) {
        Ok(_) => panic!("checked clean:\n{text}"),
        Err(d) => d.to_string(),
    }
}

#[test]
fn items_beside_an_interface_clash_with_what_it_generates() {
    insta::assert_snapshot!(errors(
        "package store;
interface Store { get(id: u64) -> u64; }
struct StoreClient { id: u64 }
enum StoreServer { Up, Down }
exception store_interface { Closed }
struct __wire { id: u64 }
struct StoreRef { id: u64 }
"
    ));
}

#[test]
fn methods_and_parameters_clash_with_generated_names() {
    insta::assert_snapshot!(errors(
        "package store;
interface Store {
    readBlock(id: u64) -> bytes;
    read_block(id: u64) -> bytes;
    new() -> u8;
    with_retry();
    put(self: u8, self_: u8, inout __reply: u8);
    into_ref() -> Store;
}
"
    ));
}

#[test]
fn fields_and_variants_clash_as_rust_names() {
    insta::assert_snapshot!(errors(
        "package store;
struct Item { self: u8, self_: u8 }
enum Mode { Self, Self_ }
"
    ));
}

#[test]
fn every_error_is_reported_with_the_idl_errors_in_one_run() {
    let shown = errors(
        "package store;
interface Store { new() -> u65; get() -> u8; }
",
    );
    assert!(shown.contains("unknown type `u65`"), "{shown}");
    // `new` has an error of its own and is left out of the model: no cascade.
    assert!(!shown.contains("defined twice"), "{shown}");
}

#[test]
fn the_idl_front_end_alone_does_not_know_generated_names() {
    let text = "package store; struct StoreClient {} interface Store {}";
    assert!(idl::check_str("store.idl", text).is_ok());
    assert!(rpcgen::check_str("store.idl", text).is_err());
}

#[test]
fn valid_interfaces_have_no_clash() {
    for text in [
        "package bank; struct Account { id: u64 } interface Bank { open(owner: string) -> Account; read_block(id: u64, out data: bytes); }",
        "package kw; struct type { self: bool } interface trait { fn(in: u32, out out: u32) -> u32; }",
    ] {
        if let Err(e) = rpcgen::check_str("ok.idl", text) {
            panic!("{e}");
        }
    }
}
