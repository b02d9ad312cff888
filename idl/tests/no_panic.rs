//! Bad input gets a clear error and never a panic, a hang or unbounded memory.
//!
//! Property tests feed `idl::check_str` arbitrary text, token soup, generated definitions
//! and mutated corpus files; each must give a model or a non-empty list of diagnostics
//! whose spans lie inside their files. Plain tests cover the sizes a fuzzer will not
//! reach: 100k-deep nesting, a file over the size limit, a 50k-type cycle.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;

/// The property: no panic, and a well-formed answer. Returns the answer for further
/// checks.
fn check_well_formed(path: &str, text: &str) -> Result<idl::Model, idl::Diagnostics> {
    let result = idl::check_str(path, text);
    match &result {
        Ok(model) => {
            // Every user type a model mentions exists in it.
            for package in &model.packages {
                for interface in &package.interfaces {
                    for method in &interface.methods {
                        assert_eq!(method.id, idl::ids::method_id(&method.name));
                        let types = method.params.iter().map(|p| &p.ty).chain(&method.result);
                        for ty in types {
                            assert_names_exist(model, ty);
                        }
                    }
                }
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "an error without diagnostics");
            for d in diagnostics.iter() {
                let labels = std::iter::once(&d.primary).chain(d.secondary());
                for label in labels {
                    let file = diagnostics.sources().get(label.span.file);
                    let text = file.text();
                    let (start, end) = (label.span.start as usize, label.span.end as usize);
                    assert!(
                        start <= end && end <= text.len(),
                        "span {start}..{end} outside {} bytes: {}",
                        text.len(),
                        d.message
                    );
                    assert!(
                        text.is_char_boundary(start) && text.is_char_boundary(end),
                        "span {start}..{end} splits a character: {}",
                        d.message
                    );
                }
                assert!(!d.message.is_empty());
                // Every rendering works: plain, snippet, and miette's pieces.
                let _ = d.to_string();
                let _ = format!("{d:#}");
                let _ = miette::Diagnostic::labels(d).map(Iterator::count);
                let _ = miette::Diagnostic::help(d).map(|h| h.to_string());
            }
            let _ = diagnostics.to_string();
        }
    }
    result
}

fn assert_names_exist(model: &idl::Model, ty: &idl::Type) {
    match ty {
        idl::Type::Primitive(_) => {}
        idl::Type::List(t) | idl::Type::Option(t) => assert_names_exist(model, t),
        idl::Type::Map(k, v) => {
            assert_names_exist(model, k);
            assert_names_exist(model, v);
        }
        idl::Type::Named { name, .. } => assert!(model.type_def(name).is_some(), "{name}"),
        idl::Type::Interface(name) => assert!(model.interface(name).is_some(), "{name}"),
    }
}

/// Pieces of IDL, right and wrong, for token soup and for insertions.
const TOKENS: &[&str] = &[
    "package",
    "import",
    "struct",
    "enum",
    "exception",
    "interface",
    "raises",
    "in",
    "out",
    "inout",
    "{",
    "}",
    "(",
    ")",
    "<",
    ">",
    "[",
    "]",
    ",",
    ";",
    ":",
    "->",
    ".",
    "-",
    "list",
    "option",
    "map",
    "bool",
    "u8",
    "u64",
    "i32",
    "f32",
    "f64",
    "string",
    "bytes",
    "A",
    "B",
    "C",
    "p",
    "q",
    "p.A",
    "q.B",
    "x",
    "y",
    "type",
    "oneway",
    "idempotent",
    "last_of_many",
    "uncancellable",
    "/// doc\n",
    "// comment\n",
    "////\n",
    "/*",
    "*/",
    "/* c */",
    "\"t.idl\"",
    "\"u.idl\"",
    "\"\"",
    "\"",
    "\\",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\0",
    "é",
    "→",
    "\u{feff}",
    "0",
    "_",
];

/// Text made of `TOKENS`, separated by nothing, a space or a newline.
fn token_soup() -> impl Strategy<Value = String> {
    let piece = (
        proptest::sample::select(TOKENS),
        proptest::sample::select(&["", " ", "\n"][..]),
    );
    proptest::collection::vec(piece, 0..120).prop_map(|pieces| {
        pieces
            .into_iter()
            .flat_map(|(token, sep)| [token, sep])
            .collect()
    })
}

/// A type written from a small pool of names, nested a little.
fn type_text() -> impl Strategy<Value = String> {
    let leaf = proptest::sample::select(
        &[
            "u8", "u64", "f64", "string", "bytes", "bool", "A", "B", "C", "E", "I", "p.A", "q.A",
            "Nope", "list", "u8<u8>",
        ][..],
    )
    .prop_map(str::to_string);
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| format!("list<{t}>")),
            inner.clone().prop_map(|t| format!("option<{t}>")),
            (inner.clone(), inner).prop_map(|(k, v)| format!("map<{k}, {v}>")),
        ]
    })
}

/// Definitions in the right shape whose names, types and attributes are random: these
/// get past the parser to the checks.
fn definitions() -> impl Strategy<Value = String> {
    let name = proptest::sample::select(&["A", "B", "C", "E", "I", "string", "x"][..]);
    let fields = || {
        let field = (
            proptest::sample::select(&["a", "b", "a", "in", "type"][..]),
            type_text(),
        )
            .prop_map(|(n, t)| format!("{n}: {t}"));
        proptest::collection::vec(field, 0..4).prop_map(|f| f.join(", "))
    };
    let variant = (
        proptest::sample::select(&["V", "W", "V"][..]),
        0..3u8,
        proptest::collection::vec(type_text(), 1..3),
        fields(),
    )
        .prop_map(|(n, shape, types, fields)| match shape {
            0 => n.to_string(),
            1 => format!("{n}({})", types.join(", ")),
            _ => format!("{n} {{ {fields} }}"),
        });
    let variants = proptest::collection::vec(variant, 0..4).prop_map(|v| v.join(", "));
    let param = (
        proptest::sample::select(&["", "in ", "out ", "inout "][..]),
        proptest::sample::select(&["a", "b", "a"][..]),
        type_text(),
    )
        .prop_map(|(mode, n, t)| format!("{mode}{n}: {t}"));
    let method = (
        proptest::sample::select(
            &[
                "",
                "[oneway] ",
                "[idempotent] ",
                "[last_of_many] ",
                "[oneway, idempotent] ",
                "[oneway, oneway] ",
                "[cached] ",
                "[uncancellable] ",
                "[oneway, uncancellable] ",
                "[uncancellable, uncancellable] ",
            ][..],
        ),
        proptest::sample::select(&["get", "put", "get", "yaczf", "glbpp"][..]),
        proptest::collection::vec(param, 0..3),
        proptest::option::of(type_text()),
        proptest::option::of(proptest::sample::select(&["E", "A", "I", "u8", "Z"][..])),
    )
        .prop_map(|(attr, n, params, result, raises)| {
            let result = result.map(|t| format!(" -> {t}")).unwrap_or_default();
            let raises = raises.map(|e| format!(" raises {e}")).unwrap_or_default();
            format!("{attr}{n}({}){result}{raises};", params.join(", "))
        });
    let methods = proptest::collection::vec(method, 0..4).prop_map(|m| m.join("\n  "));
    let item = (name, 0..4u8, fields(), variants, methods).prop_map(
        |(name, kind, fields, variants, methods)| match kind {
            0 => format!("/// doc\nstruct {name} {{ {fields} }}"),
            1 => format!("enum {name} {{ {variants} }}"),
            2 => format!("exception {name} {{ {variants} }}"),
            _ => format!("interface {name} {{\n  {methods}\n}}"),
        },
    );
    (
        proptest::sample::select(&["package p;", "package p; package q;", ""][..]),
        proptest::collection::vec(item, 0..6),
    )
        .prop_map(|(package, items)| format!("{package}\n{}\n", items.join("\n")))
}

/// Every file of the valid corpus, with its path relative to the crate.
fn corpus() -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("the corpus is there") {
            let path = entry.expect("readable corpus").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "idl") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(Path::new("tests/corpus/valid"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read(&p).expect("readable corpus file");
            (p.display().to_string(), text)
        })
        .collect()
}

/// One change to a file's bytes; positions are taken modulo the length.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, &'static str),
    Duplicate { from: usize, len: usize, to: usize },
    Swap(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let pos = any::<usize>();
    prop_oneof![
        (pos, 1..40usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (pos, proptest::sample::select(TOKENS)).prop_map(|(at, t)| Mutation::Insert(at, t)),
        (pos, 1..60usize, pos).prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
        (pos, pos, 1..30usize).prop_map(|(a, b, len)| Mutation::Swap(a, b, len)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |p: usize, bytes: &Vec<u8>| p % (bytes.len() + 1);
    match *m {
        Mutation::Delete(from, len) => {
            let from = at(from, bytes);
            let to = (from + len).min(bytes.len());
            bytes.drain(from..to);
        }
        Mutation::Insert(pos, token) => {
            let pos = at(pos, bytes);
            bytes.splice(pos..pos, token.bytes());
        }
        Mutation::Duplicate { from, len, to } => {
            let from = at(from, bytes);
            let slice = bytes[from..(from + len).min(bytes.len())].to_vec();
            let to = at(to, bytes);
            bytes.splice(to..to, slice);
        }
        Mutation::Swap(a, b, len) => {
            // Two non-overlapping ranges of `len` bytes (shorter near the end).
            let (a, b) = (at(a, bytes), at(b, bytes));
            let (first, second) = (a.min(b), a.max(b));
            let len = len.min(second - first).min(bytes.len() - second);
            let x = bytes[first..first + len].to_vec();
            let y = bytes[second..second + len].to_vec();
            bytes.splice(second..second + len, x);
            bytes.splice(first..first + len, y);
        }
    }
}

proptest! {
    // Case counts keep the whole file to a few seconds in a debug build.
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}|.{0,200}") {
        check_well_formed("t.idl", &text).ok();
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_well_formed("t.idl", &String::from_utf8_lossy(&bytes)).ok();
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        check_well_formed("t.idl", &text).ok();
    }

    #[test]
    fn soup_after_a_package_line_never_panics(text in token_soup()) {
        check_well_formed("t.idl", &format!("package p;\n{text}")).ok();
    }

    #[test]
    fn generated_definitions_never_panic(text in definitions()) {
        check_well_formed("t.idl", &text).ok();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn mutated_corpus_files_never_panic(
        file in any::<proptest::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        thread_local! {
            static CORPUS: Vec<(String, Vec<u8>)> = corpus();
        }
        let (path, mut bytes) = CORPUS.with(|c| c[file.index(c.len())].clone());
        for m in &mutations {
            apply(&mut bytes, m);
        }
        // The file's own path, so that its imports still resolve on disk.
        check_well_formed(&path, &String::from_utf8_lossy(&bytes)).ok();
    }
}

#[test]
fn the_valid_corpus_checks_clean_through_check_str() {
    for (path, bytes) in corpus() {
        let text = String::from_utf8(bytes).expect("the corpus is UTF-8");
        if let Err(e) = check_well_formed(&path, &text) {
            panic!("{e}");
        }
    }
}

/// Runs `f`, failing if it takes longer than `limit` (generous: a debug build on a busy
/// machine).
fn within<T>(limit: Duration, what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < limit, "{what} took {took:?}");
    out
}

fn only_error(result: Result<idl::Model, idl::Diagnostics>) -> String {
    let diagnostics = result.expect_err("must be refused");
    assert_eq!(diagnostics.len(), 1, "{diagnostics}");
    diagnostics
        .iter()
        .next()
        .map(|d| d.message.clone())
        .unwrap_or_default()
}

#[test]
fn nesting_100k_deep_is_refused_without_recursing() {
    let deep = 100_000;
    let cases = [
        format!(
            "package p; struct S {{ a: {}u8{} }}",
            "list<".repeat(deep),
            ">".repeat(deep)
        ),
        format!("package p; struct S {{ a: {}", "option<".repeat(deep)),
        format!("package p; {}", "{".repeat(deep)),
        format!("package p; interface I {{ {} }}", "[(".repeat(deep)),
    ];
    for text in cases {
        let message = within(Duration::from_secs(5), "deep nesting", || {
            only_error(check_well_formed("t.idl", &text))
        });
        assert!(message.contains("nesting is too deep"), "{message}");
    }
    // Closing brackets without openers never go below zero depth.
    let closers = format!("package p; {}", ">)]}".repeat(deep));
    check_well_formed("t.idl", &closers).expect_err("not IDL");
}

#[test]
fn the_deepest_nesting_allowed_checks() {
    // The struct's `{` is one level, each `list<` another.
    let depth = idl::MAX_NESTING - 1;
    let text = format!(
        "package p; struct S {{ a: {}u8{} }}",
        "list<".repeat(depth),
        ">".repeat(depth)
    );
    let model = check_well_formed("t.idl", &text).unwrap_or_else(|e| panic!("{e}"));
    let idl::TypeDefKind::Struct(fields) = &model.packages[0].types[0].kind else {
        panic!("not a struct");
    };
    let mut ty = &fields[0].ty;
    let mut levels = 0;
    while let idl::Type::List(inner) = ty {
        ty = inner;
        levels += 1;
    }
    assert_eq!(levels, depth);
}

#[test]
fn a_9_mib_file_is_refused_quickly() {
    let line = "struct S { a: u8 }\n";
    let text = format!("package p;\n{}", line.repeat((9 << 20) / line.len()));
    assert!(text.len() > idl::MAX_FILE_BYTES);
    let message = within(Duration::from_secs(5), "a 9 MiB string", || {
        only_error(check_well_formed("t.idl", &text))
    });
    assert_eq!(message, "file is too large: more than 8388608 bytes");

    // From disk, the loader reads no more than the limit and one byte.
    let dir = std::env::temp_dir().join(format!("idl-no-panic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("big.idl");
    std::fs::write(&path, &text).expect("write the big file");
    let result = within(Duration::from_secs(5), "a 9 MiB file", || {
        idl::load(&[&path])
    });
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Err(idl::Error::Invalid(d)) => {
            let message = &d.iter().next().expect("one error").message;
            assert_eq!(message, "file is too large: more than 8388608 bytes");
        }
        other => panic!("expected a size error, got {other:?}"),
    }
}

#[test]
fn a_cycle_of_50k_structs_is_found_fast() {
    let n = 50_000;
    let mut text = String::from("package p;\n");
    for i in 0..n {
        text.push_str(&format!("struct S{i} {{ next: S{} }}\n", (i + 1) % n));
    }
    let diagnostics = within(Duration::from_secs(30), "a 50k-type cycle", || {
        idl::check_str("t.idl", &text).expect_err("an infinite type")
    });
    assert_eq!(diagnostics.len(), 1, "one cycle, one error");
    let d = diagnostics.iter().next().expect("one error");
    assert!(d.message.contains("infinite size"), "{}", d.message);

    // The same chain through `option` is legal, and every link is boxed (5k links, to
    // keep a debug build quick).
    let n = 5_000;
    let mut text = String::from("package p;\n");
    for i in 0..n {
        text.push_str(&format!(
            "struct S{i} {{ next: option<S{}> }}\n",
            (i + 1) % n
        ));
    }
    let model = within(Duration::from_secs(10), "a 5k-type option cycle", || {
        idl::check_str("t.idl", &text).unwrap_or_else(|e| panic!("{e}"))
    });
    let boxed = model.packages[0]
        .types
        .iter()
        .filter(|t| {
            matches!(&t.kind, idl::TypeDefKind::Struct(f)
                if matches!(&f[0].ty, idl::Type::Option(inner)
                    if matches!(**inner, idl::Type::Named { boxed: true, .. })))
        })
        .count();
    assert_eq!(boxed, n);
}
