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
