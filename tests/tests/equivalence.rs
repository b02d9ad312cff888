//! One emitter, two front ends: the calculator written in IDL (`idl/calc.idl`) and as a
//! `#[remote]` trait (`src/calc_trait.rs`) give the same model and the same code, and a
//! client of one form calls a server of the other over a real socket.

use rpc_runtime::{Channel, Server};
use tests::calc_trait::{CalcServer, Calculator};

/// Both models: from the IDL file, and from the trait's source.
fn models() -> (idl::Model, idl::Model) {
    let from_idl = idl::load(&["idl/calc.idl"]).expect("calc.idl is valid");
    let file = syn::parse_file(include_str!("../src/calc_trait.rs")).expect("calc_trait.rs parses");
    let item = file
        .items
        .iter()
        .find_map(|i| match i {
            syn::Item::Trait(t) if t.ident == "Calc" => Some(t),
            _ => None,
        })
        .expect("calc_trait.rs declares `trait Calc`");
    let from_trait = rpcgen::remote::model_from_trait(item, "calc").expect("the trait is valid");
    (from_idl, from_trait)
}

#[test]
fn both_front_ends_give_the_same_interface() {
    let (a, b) = models();
    let (a, b) = (&a.packages[0].interfaces[0], &b.packages[0].interfaces[0]);
    assert_eq!(a.name, b.name);
    assert_eq!(a.docs, b.docs);
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.methods.len(), b.methods.len());
    for (x, y) in a.methods.iter().zip(&b.methods) {
        assert_eq!(
            (
                &x.name,
                x.id,
                x.fingerprint,
                x.semantics,
                &x.result,
                &x.docs
            ),
            (
                &y.name,
                y.id,
                y.fingerprint,
                y.semantics,
                &y.result,
                &y.docs
            )
        );
        let params = |m: &idl::Method| {
            m.params
                .iter()
                .map(|p| (p.name.clone(), p.mode, p.ty.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(params(x), params(y), "parameters of `{}`", x.name);
    }
}

#[test]
fn both_front_ends_generate_identical_code() {
    let (a, b) = models();
    let code = |m: &idl::Model| rpcgen::emit::package_tokens(m, &m.packages[0]).to_string();
    let (a, b) = (code(&a), code(&b));
    assert!(
        a.contains("pub trait Calc")
            && a.contains("pub struct CalcClient")
            && a.contains("pub struct CalcServer")
    );
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_client_from_the_idl_calls_a_server_from_the_trait() {
    let server = Server::new()
        .add_service(CalcServer::new(Calculator::default()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let address = server.local_addr().to_string();

    let idl_client = tests::calc::CalcClient::new(Channel::connect(address.clone()).await.unwrap());
    assert_eq!(idl_client.add(2, 3).await.unwrap(), 5);
    let mut acc = 10;
    idl_client
        .accumulate(&vec![1, 2, 3], &mut acc)
        .await
        .unwrap();
    assert_eq!(acc, 16);
    let mut count = 0;
    let words = idl_client.words("one two three", &mut count).await.unwrap();
    assert_eq!((words.len(), count), (3, 3));
    assert_eq!(
        idl_client.echo(b"ab", &Some("c".into())).await.unwrap(),
        &b"abc"[..]
    );

    let trait_client = tests::calc_trait::CalcClient::new(Channel::connect(address).await.unwrap());
    assert_eq!(trait_client.total().await.unwrap(), 6);
    assert_eq!(trait_client.stats().await.unwrap()["total"], 6.0);
    trait_client.reset().await.unwrap();
    // A two-way call after the oneway one on the same connection sees its effect.
    assert_eq!(trait_client.total().await.unwrap(), 0);
    server.shutdown().await;
}
