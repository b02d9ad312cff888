//! The `#[remote]` front end runs the same model-level checks as the IDL's: the findings
//! of `idl::rules` and of the generated-name check come back as `syn` errors. (Where they
//! point is shown by the trybuild cases of the `tests` crate, `tests/ui/`.)

fn errors(source: &str) -> Vec<String> {
    let item: syn::ItemTrait = syn::parse_str(source).expect("the trait parses");
    match rpcgen::remote::model_from_trait(&item, "p") {
        Ok(_) => panic!("accepted:\n{source}"),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn colliding_method_ids_are_refused_like_in_the_idl() {
    // The names of `idl/tests/corpus/invalid/method_id_collision.idl`.
    let found = errors("pub trait Api { async fn yaczf(&self); async fn glbpp(&self, x: u8); }");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("methods `yaczf` and `glbpp` have the same id 0xaec12bf4"),
        "{found:?}"
    );
}

#[test]
fn oneway_methods_cannot_raise() {
    let found = errors(
        "pub trait Log { #[oneway] async fn write(&self, line: String) -> Result<(), LogError>; }",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("a `#[oneway]` call gets no reply, so it cannot raise an exception"),
        "{found:?}"
    );
}

#[test]
fn trait_errors_and_model_errors_are_reported_together() {
    let found = errors(
        "pub trait Store { fn sync(&self); async fn new(&self); async fn keys(&self, m: std::collections::HashMap<f32, u8>); }",
    );
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].contains("must be `async`"), "{found:?}");
    assert!(
        found.iter().any(|e| e.contains("cannot be a map key")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|e| e.contains("`new` would be defined twice")),
        "{found:?}"
    );
}

fn model(source: &str) -> idl::Model {
    let item: syn::ItemTrait = syn::parse_str(source).expect("the trait parses");
    rpcgen::remote::model_from_trait(&item, "p").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn uncancellable_clears_the_flag_and_keeps_ids_and_fingerprints() {
    let marked = model(
        "pub trait Worker {
            async fn work(&self, millis: u64) -> u64;
            #[uncancellable]
            async fn steady(&self, millis: u64) -> u64;
            #[idempotent]
            #[uncancellable]
            async fn nap(&self, millis: u64) -> u64;
            #[uncancellable]
            #[oneway]
            async fn note(&self, line: String);
        }",
    );
    let flags: Vec<(&str, bool)> = marked.packages[0].interfaces[0]
        .methods
        .iter()
        .map(|m| (m.name.as_str(), m.cancellable))
        .collect();
    assert_eq!(
        flags,
        [
            ("work", true),
            ("steady", false),
            ("nap", false),
            ("note", false)
        ]
    );
    // The same interface written in the IDL: the same flags, ids and fingerprints.
    let idl = idl::check_str(
        "p.idl",
        "package p; interface Worker {
            work(millis: u64) -> u64;
            [uncancellable] steady(millis: u64) -> u64;
            [idempotent, uncancellable] nap(millis: u64) -> u64;
            [uncancellable, oneway] note(line: string);
        }",
    )
    .unwrap();
    let facts = |m: &idl::Model| -> Vec<(String, u32, u64, idl::Semantics, bool)> {
        m.packages[0].interfaces[0]
            .methods
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    m.id,
                    m.fingerprint,
                    m.semantics,
                    m.cancellable,
                )
            })
            .collect()
    };
    assert_eq!(facts(&marked), facts(&idl));
    // Without the attribute, only the flag changes.
    let plain = model(
        "pub trait Worker {
            async fn work(&self, millis: u64) -> u64;
            async fn steady(&self, millis: u64) -> u64;
            #[idempotent]
            async fn nap(&self, millis: u64) -> u64;
            #[oneway]
            async fn note(&self, line: String);
        }",
    );
    let interface = |m: &idl::Model| m.packages[0].interfaces[0].fingerprint;
    assert_eq!(interface(&plain), interface(&marked));
    let without_flag = |m: &idl::Model| -> Vec<(String, u32, u64)> {
        facts(m)
            .into_iter()
            .map(|(n, id, fp, _, _)| (n, id, fp))
            .collect()
    };
    assert_eq!(without_flag(&plain), without_flag(&marked));
    assert!(
        plain.packages[0].interfaces[0]
            .methods
            .iter()
            .all(|m| m.cancellable)
    );
}

#[test]
fn uncancellable_misspelt_repeated_or_with_arguments_is_refused() {
    let found = errors(
        "pub trait Worker {
            #[uncancelable]
            async fn a(&self);
            #[uncancellable]
            #[uncancellable]
            async fn b(&self);
            #[uncancellable(always)]
            async fn c(&self);
            #[idempotnt]
            async fn d(&self);
        }",
    );
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!(
        found[0],
        "unknown attribute `#[uncancelable]`\n\nhelp: did you mean `#[uncancellable]`?"
    );
    assert_eq!(
        found[1],
        "repeated attribute `#[uncancellable]`\n\nhelp: write `#[uncancellable]` once"
    );
    assert_eq!(
        found[2],
        "`#[uncancellable]` takes no arguments\n\nhelp: write `#[uncancellable]`"
    );
    assert_eq!(
        found[3],
        "unknown attribute `#[idempotnt]`\n\nhelp: did you mean `#[idempotent]`?"
    );
}

#[test]
fn other_attributes_are_left_alone() {
    let m = model(
        "pub trait Worker {
            #[allow(unused)]
            #[doc = \"Works.\"]
            async fn work(&self);
        }",
    );
    assert!(m.packages[0].interfaces[0].methods[0].cancellable);
}

#[test]
fn references_are_interfaces_used_as_types_like_in_the_idl() {
    // Both spellings, alone, nested and by path, to this trait and to another one.
    let marked = model(
        "pub trait Node {
            async fn next(&self) -> Option<NodeRef>;
            async fn children(&self) -> Vec<rpc_runtime::objects::Ref<NodeClient>>;
            async fn swap(&self, other: &mut Ref<NodeClient>);
            async fn attach(&self, sink: SinkRef);
        }",
    );
    let methods = &marked.packages[0].interfaces[0].methods;
    let interface = |name: &str| {
        idl::Type::Interface(idl::QualifiedName {
            package: "p".into(),
            name: name.into(),
        })
    };
    assert_eq!(
        methods[0].result,
        Some(idl::Type::Option(Box::new(interface("Node"))))
    );
    assert_eq!(
        methods[1].result,
        Some(idl::Type::List(Box::new(interface("Node"))))
    );
    assert_eq!(methods[2].params[0].ty, interface("Node"));
    assert_eq!(methods[3].params[0].ty, interface("Sink"));
    // The same interface written in the IDL: the same fingerprints.
    let idl = idl::check_str(
        "p.idl",
        "package p;
        interface Sink {}
        interface Node {
            next() -> option<Node>;
            children() -> list<Node>;
            swap(inout other: Node);
            attach(sink: Sink);
        }",
    )
    .unwrap();
    let fingerprints =
        |methods: &[idl::Method]| -> Vec<u64> { methods.iter().map(|m| m.fingerprint).collect() };
    assert_eq!(
        fingerprints(methods),
        fingerprints(&idl.packages[0].interfaces[1].methods)
    );
}

#[test]
fn a_ref_of_anything_but_a_client_is_refused() {
    let found = errors(
        "pub trait Node {
            async fn a(&self, x: Ref<u8>);
            async fn b(&self, x: Ref<NodeClient<u8>>);
            async fn c(&self, x: Ref<NodeClient, u8>);
        }",
    );
    assert_eq!(found.len(), 3, "{found:?}");
    for error in &found {
        assert!(
            error.starts_with("`Ref` takes the client of the interface it refers to"),
            "{found:?}"
        );
    }
}

#[test]
fn a_method_named_into_ref_clashes_with_the_trait_s_own() {
    let found = errors("pub trait Node { async fn into_ref(&self) -> NodeRef; }");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("`into_ref` would be defined twice in the generated Rust"),
        "{found:?}"
    );
}
