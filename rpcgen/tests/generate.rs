//! The emitter's output for a small IDL, kept as a snapshot, and the build script API.

use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn generated_code_for_a_small_interface() {
    let model = idl::load(&["tests/fixtures/small.idl"]).expect("the fixture is valid");
    let files = rpcgen::generate(&model).unwrap();
    assert_eq!(files.len(), 1);
    insta::assert_snapshot!(files[0].code);
}

#[test]
fn generated_code_for_uncancellable_methods() {
    let model = idl::load(&["tests/fixtures/uncancellable.idl"]).expect("the fixture is valid");
    let files = rpcgen::generate(&model).unwrap();
    assert_eq!(files.len(), 1);
    let code = &files[0].code;
    assert_eq!(code.matches("cancellable: false,").count(), 3, "{code}");
    assert_eq!(code.matches("cancellable: true,").count(), 1, "{code}");
    insta::assert_snapshot!(code);
}

#[test]
fn generated_code_for_interfaces_used_as_types() {
    let model = idl::load(&["tests/fixtures/references/tree.idl"]).expect("the fixture is valid");
    let files = rpcgen::generate(&model).unwrap();
    let code = |package: &str| {
        let file = files.iter().find(|f| f.package == package);
        &file.unwrap_or_else(|| panic!("no {package}")).code
    };
    let (log, tree) = (code("log"), code("tree"));
    // Every interface has its reference type, whether or not the IDL uses it as a type.
    assert!(
        log.contains("pub type SinkRef = ::rpc_runtime::objects::Ref<SinkClient>;"),
        "{log}"
    );
    insta::assert_snapshot!(tree);
}

#[test]
fn the_builder_writes_files_only_when_they_change() {
    let out = std::env::temp_dir().join(format!("rpcgen-builder-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let builder = rpcgen::configure().out_dir(&out).quiet(true);
    let written = builder.compile(&[fixture("small.idl")]).unwrap();
    assert_eq!(written, [out.join("small.rs")]);
    let first = std::fs::metadata(&written[0]).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    builder.compile(&[fixture("small.idl")]).unwrap();
    let second = std::fs::metadata(&written[0]).unwrap().modified().unwrap();
    assert_eq!(first, second, "an unchanged file must not be rewritten");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn the_builder_reports_idl_errors_readably() {
    let dir = std::env::temp_dir().join(format!("rpcgen-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.idl");
    std::fs::write(&bad, "package bad;\nstruct S { x: u65 }\n").unwrap();
    let err = rpcgen::configure()
        .out_dir(&dir)
        .quiet(true)
        .compile(&[&bad])
        .unwrap_err();
    // Debug (what `.unwrap()` in a build script prints) is the readable rendering.
    let shown = format!("{err:?}");
    assert!(shown.contains("bad.idl:2:15"), "{shown}");
    assert!(shown.contains("unknown type `u65`"), "{shown}");
    assert!(shown.contains("^^^"), "{shown}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn method_names_that_clash_with_the_client_are_refused() {
    // `idl::check_str` does not know generated names; `generate` still refuses the model.
    let model = idl::check_str("c.idl", "package c; interface I { new() -> u8; }").unwrap();
    let err = rpcgen::generate(&model).unwrap_err();
    assert!(
        err.contains("`new` would be defined twice in the generated Rust: by method `new`"),
        "{err}"
    );
}

#[test]
fn package_docs_document_the_module_of_the_package() {
    let model = idl::check_str(
        "bank.idl",
        "/// Accounts and transfers.\n///\n/// Second paragraph.\npackage bank;\nstruct A { id: u64 }",
    )
    .unwrap();
    let files = rpcgen::generate(&model).unwrap();
    assert_eq!(
        files[0].docs,
        ["Accounts and transfers.", "", "Second paragraph."]
    );
    let index = rpcgen::module_index(&files);
    assert!(
        index.contains("/// Accounts and transfers.\n///\n/// Second paragraph.\npub mod bank;\n"),
        "{index}"
    );
    // Without docs, the module still gets one.
    let model = idl::check_str("c.idl", "package c; struct A { id: u64 }").unwrap();
    let index = rpcgen::module_index(&rpcgen::generate(&model).unwrap());
    assert!(
        index.contains("/// The `c` IDL package.\npub mod c;\n"),
        "{index}"
    );
}

#[test]
fn the_builder_writes_into_a_subfolder_of_the_output_folder() {
    let out = std::env::temp_dir().join(format!("rpcgen-subdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let written = rpcgen::configure()
        .out_dir(&out)
        .out_subdir("gen2")
        .quiet(true)
        .compile(&[fixture("small.idl")])
        .unwrap();
    assert_eq!(written, [out.join("gen2").join("small.rs")]);
    assert!(written[0].is_file());
    std::fs::remove_dir_all(&out).unwrap();
}
