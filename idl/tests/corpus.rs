//! The corpus: every file under `corpus/valid/` checks clean, and every file directly in
//! `corpus/invalid/` fails with the diagnostics recorded in `snapshots/` (files in
//! `corpus/invalid/parts/` are only imported by those).
//!
//! Paths are given to `idl::load` relative to the crate (cargo runs tests there), so the
//! snapshots read `tests/corpus/invalid/x.idl:1:2` on every machine.

use std::path::{Path, PathBuf};

use idl::{Mode, Model, Primitive, QualifiedName, Semantics, Type, TypeDefKind, VariantShape};

const CORPUS: &str = "tests/corpus";

/// Every `.idl` file under `dir`, in a stable order.
fn idl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            idl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "idl") {
            out.push(path);
        }
    }
}

/// The crate-relative form of a path `insta::glob!` gives (which is absolute).
fn relative(path: &Path) -> &Path {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .expect("glob paths are inside the crate")
}

fn load(path: &str) -> Model {
    let path = Path::new(CORPUS).join("valid").join(path);
    idl::load(&[&path]).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check(text: &str) -> Model {
    idl::check_str("t.idl", text).unwrap_or_else(|e| panic!("{e}"))
}

fn named(package: &str, name: &str, boxed: bool) -> Type {
    Type::Named {
        name: qualified(package, name),
        boxed,
    }
}

fn qualified(package: &str, name: &str) -> QualifiedName {
    QualifiedName {
        package: package.into(),
        name: name.into(),
    }
}

/// The type of field `field` of struct `package.ty`.
fn field_type<'m>(model: &'m Model, package: &str, ty: &str, field: &str) -> &'m Type {
    let def = model
        .type_def(&qualified(package, ty))
        .unwrap_or_else(|| panic!("no type {package}.{ty}"));
    let TypeDefKind::Struct(fields) = &def.kind else {
        panic!("{ty} is not a struct")
    };
    &fields
        .iter()
        .find(|f| f.name == field)
        .unwrap_or_else(|| panic!("no field {ty}.{field}"))
        .ty
}

fn method<'m>(model: &'m Model, interface: &str, name: &str) -> &'m idl::Method {
    model
        .packages
        .iter()
        .flat_map(|p| &p.interfaces)
        .find(|i| i.name == interface)
        .unwrap_or_else(|| panic!("no interface {interface}"))
        .methods
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no method {interface}.{name}"))
}

#[test]
fn valid_files_check_clean() {
    let mut files = Vec::new();
    idl_files(&Path::new(CORPUS).join("valid"), &mut files);
    assert!(files.len() >= 10, "the valid corpus is missing: {files:?}");
    let failed: Vec<String> = files
        .iter()
        .filter_map(|f| idl::load(&[f]).err().map(|e| e.to_string()))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn invalid_files_report_every_error() {
    insta::glob!("corpus/invalid/*.idl", |path| {
        let path = relative(path);
        let err = match idl::load(&[path]) {
            Ok(_) => panic!("{} checked clean", path.display()),
            Err(idl::Error::Read { path, source }) => panic!("{}: {source}", path.display()),
            Err(idl::Error::Invalid(d)) => d,
        };
        assert!(!err.is_empty());
        for d in err.iter() {
            let len = d.file().text().len() as u32;
            assert!(d.primary.span.start <= d.primary.span.end && d.primary.span.end <= len);
        }
        insta::assert_snapshot!(err.to_string());
    });
}

#[test]
fn design_example_has_the_documented_semantics_and_modes() {
    let model = load("bank/bank.idl");
    let semantics = [
        ("balance", Semantics::AtLeastOnce),
        ("deposit", Semantics::AtMostOnce),
        ("audit", Semantics::Maybe),
        ("transfer", Semantics::AtMostOnce),
        ("read_block", Semantics::AtMostOnce),
        ("tick", Semantics::LastOfMany),
        ("open", Semantics::AtMostOnce),
    ];
    for (name, expected) in semantics {
        assert_eq!(method(&model, "Bank", name).semantics, expected, "{name}");
    }
    let modes = |name| -> Vec<(String, Mode)> {
        method(&model, "Bank", name)
            .params
            .iter()
            .map(|p| (p.name.clone(), p.mode))
            .collect()
    };
    let own = |v: &[(&str, Mode)]| -> Vec<(String, Mode)> {
        v.iter().map(|&(n, m)| (n.to_string(), m)).collect()
    };
    assert_eq!(
        modes("transfer"),
        own(&[
            ("from", Mode::In),
            ("to", Mode::In),
            ("amount", Mode::InOut)
        ])
    );
    assert_eq!(
        modes("read_block"),
        own(&[("id", Mode::In), ("data", Mode::Out)])
    );
    let balance = method(&model, "Bank", "balance");
    assert_eq!(balance.result, Some(Type::Primitive(Primitive::I64)));
    assert_eq!(balance.raises, Some(qualified("bank", "BankError")));
    assert_eq!(balance.id, idl::ids::method_id("balance"));
    let open = method(&model, "Bank", "open");
    assert_eq!(open.result, Some(named("bank", "Account", false)));
    let account = model.type_def(&qualified("bank", "Account")).unwrap();
    assert_eq!(
        account.docs,
        ["Doc comments are carried into the generated Rust."]
    );
    assert_eq!(
        field_type(&model, "bank", "Account", "note"),
        &Type::Option(Box::new(Type::Primitive(Primitive::String)))
    );
    assert_eq!(
        model.files.len(),
        2,
        "bank.idl and the common.idl it imports"
    );
}

#[test]
fn every_kind_of_variant_is_kept() {
    let model = load("variants.idl");
    let shape = model.type_def(&qualified("shapes", "Shape")).unwrap();
    let TypeDefKind::Enum(variants) = &shape.kind else {
        panic!("Shape is not an enum")
    };
    let kinds: Vec<(&str, &str)> = variants
        .iter()
        .map(|v| {
            let kind = match &v.shape {
                VariantShape::Unit => "unit",
                VariantShape::Tuple(_) => "tuple",
                VariantShape::Struct(_) => "struct",
            };
            (v.name.as_str(), kind)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("Point", "unit"),
            ("Circle", "tuple"),
            ("Segment", "tuple"),
            ("Polygon", "tuple"),
            ("Rect", "struct"),
            ("Labelled", "struct"),
            ("Nothing", "struct"),
        ]
    );
    let error = model.type_def(&qualified("shapes", "DrawError")).unwrap();
    assert!(matches!(&error.kind, TypeDefKind::Exception(v) if v.len() == 4));
}

#[test]
fn an_interface_may_have_no_methods() {
    let model = load("methods.idl");
    let empty = model.interface(&qualified("calls", "Empty")).unwrap();
    assert!(empty.methods.is_empty());
    assert_eq!(empty.docs, ["An interface may have no methods (yet)."]);
}

/// Each parameter's name and mode, in order.
fn modes(method: &idl::Method) -> Vec<(&str, Mode)> {
    method
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.mode))
        .collect()
}

#[test]
fn keywords_are_ordinary_names() {
    let model = load("keywords.idl");
    let gen_method = method(&model, "dyn", "gen");
    let params = modes(gen_method);
    assert_eq!(
        params,
        [("in", Mode::In), ("out", Mode::Out), ("inout", Mode::InOut)]
    );
    let in_method = method(&model, "dyn", "in");
    let params = modes(in_method);
    assert_eq!(
        params,
        [("in", Mode::Out), ("out", Mode::InOut), ("inout", Mode::In)]
    );
    let fn_method = method(&model, "dyn", "fn");
    assert_eq!(
        fn_method.params[0].ty,
        named("keywords", "type", false),
        "`type` names the struct"
    );
    assert_eq!(fn_method.raises, Some(qualified("keywords", "yield")));
    assert_eq!(
        field_type(&model, "keywords", "type", "match"),
        &Type::Primitive(Primitive::U8)
    );
    assert_eq!(
        method(&model, "dyn", "self").result,
        Some(named("keywords", "Self", false))
    );
    assert_eq!(
        field_type(&model, "keywords", "Self", "crate"),
        &Type::Option(Box::new(named("keywords", "Self", true)))
    );
}

#[test]
fn docs_are_kept_wherever_they_are_allowed() {
    let model = load("docs.idl");
    let package = model.package("documented").unwrap();
    assert_eq!(
        package.docs,
        ["The package's doc comment.", "Several lines of it."]
    );
    let point = model.type_def(&qualified("documented", "Point")).unwrap();
    assert_eq!(point.docs, ["A struct."]);
    let TypeDefKind::Struct(fields) = &point.kind else {
        panic!("Point is not a struct")
    };
    assert_eq!(fields[1].docs, ["Another field,", "over two lines."]);
    let event = model.type_def(&qualified("documented", "Event")).unwrap();
    let TypeDefKind::Enum(variants) = &event.kind else {
        panic!("Event is not an enum")
    };
    assert_eq!(variants[2].docs, ["A struct variant."]);
    let VariantShape::Struct(fields) = &variants[2].shape else {
        panic!("Resized is not a struct variant")
    };
    assert_eq!(fields[0].docs, ["A field of a struct variant."]);
    let interface = &package.interfaces[0];
    assert_eq!(interface.docs, ["An interface."]);
    assert_eq!(
        method(&model, "Documented", "around").docs,
        ["Docs around", "the attributes."]
    );
    assert_eq!(
        method(&model, "Documented", "around").semantics,
        Semantics::LastOfMany
    );
    assert_eq!(
        method(&model, "Documented", "after_attrs").docs,
        ["Docs after the attributes."]
    );
}

#[test]
fn recursion_through_option_is_boxed_and_through_list_or_map_is_not() {
    let model = load("recursion.idl");
    let option = |t: Type| Type::Option(Box::new(t));
    let r = "recursion";
    assert_eq!(
        field_type(&model, r, "Node", "next"),
        &option(named(r, "Node", true))
    );
    assert_eq!(
        field_type(&model, r, "Tree", "children"),
        &Type::List(Box::new(named(r, "Tree", false)))
    );
    assert_eq!(
        field_type(&model, r, "Dir", "entries"),
        &Type::Map(
            Box::new(Type::Primitive(Primitive::String)),
            Box::new(named(r, "Dir", false))
        )
    );
    // Through `list` inside `option`: the list already breaks the cycle.
    assert_eq!(
        field_type(&model, r, "Dir", "parent"),
        &option(Type::List(Box::new(named(r, "Dir", false))))
    );
    // Mutual recursion: only the `option` edge of the cycle is boxed.
    assert_eq!(
        field_type(&model, r, "Outer", "inner"),
        &named(r, "Inner", false)
    );
    assert_eq!(
        field_type(&model, r, "Inner", "back"),
        &option(named(r, "Outer", true))
    );
    assert_eq!(
        field_type(&model, r, "Inner", "deep"),
        &option(option(named(r, "Outer", true)))
    );
    // An `option` outside any cycle stays inline.
    assert_eq!(
        field_type(&model, r, "Inner", "leaf"),
        &option(named(r, "Leaf", false))
    );
    let expr = model.type_def(&qualified(r, "Expr")).unwrap();
    let TypeDefKind::Enum(variants) = &expr.kind else {
        panic!("Expr is not an enum")
    };
    assert_eq!(
        variants[1].shape,
        VariantShape::Tuple(vec![option(named(r, "Expr", true))])
    );
    let VariantShape::Tuple(call) = &variants[3].shape else {
        panic!("Call is not a tuple variant")
    };
    assert_eq!(call[1], Type::List(Box::new(named(r, "Expr", false))));
    let VariantShape::Struct(fields) = &variants[4].shape else {
        panic!("Let is not a struct variant")
    };
    assert!(matches!(&fields[0].ty, Type::Map(_, v) if **v == named(r, "Expr", false)));
    assert_eq!(fields[1].ty, option(named(r, "Expr", true)));
}

#[test]
fn imported_names_resolve_bare_and_qualified() {
    let model = load("imports/main.idl");
    let files: Vec<String> = model
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    assert_eq!(
        files,
        [
            "tests/corpus/valid/imports/main.idl",
            "tests/corpus/valid/imports/common.idl",
            "tests/corpus/valid/imports/more/geo.idl",
        ]
    );
    let point = named("common", "Point", false);
    assert_eq!(field_type(&model, "app", "Route", "start"), &point);
    assert_eq!(field_type(&model, "app", "Route", "end"), &point);
    assert_eq!(field_type(&model, "geo", "Segment", "from"), &point);
    assert_eq!(field_type(&model, "geo", "Segment", "to"), &point);
    assert_eq!(
        field_type(&model, "app", "Route", "legs"),
        &Type::List(Box::new(named("geo", "Segment", false)))
    );
    let plan = method(&model, "Planner", "plan");
    assert_eq!(plan.raises, Some(qualified("geo", "GeoError")));
    assert_eq!(plan.params[0].ty, point);
    let check = method(&model, "Planner", "check");
    assert_eq!(check.raises, Some(qualified("common", "Failure")));
    let attach = method(&model, "Planner", "attach");
    assert_eq!(
        attach.params[0].ty,
        Type::Interface(qualified("common", "Logger"))
    );
    assert_eq!(
        method(&model, "Planner", "watch").params[0].ty,
        Type::Interface(qualified("common", "Logger"))
    );
}

#[test]
fn one_package_may_span_two_files() {
    let model = load("split/first.idl");
    assert_eq!(model.packages.len(), 1);
    let names: Vec<&str> = model.packages[0]
        .types
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["Order", "Line"]);
    assert_eq!(
        method(&model, "Shop", "order").result,
        Some(named("split", "Line", false))
    );
}

/// An interface with three methods, in the given order, with `{ty}` as the type of the
/// first parameter of `put`.
fn api(order: [usize; 3], ty: &str, docs: &str, param: &str) -> String {
    let methods = [
        format!("    {docs}\n    [idempotent] get(id: u64) -> Record raises Failed;\n"),
        format!("    put(inout {param}: {ty}, note: option<string>);\n"),
        "    [oneway] ping();\n".to_string(),
    ];
    let mut text = String::from(
        "package p;\n\
         struct Record { id: u64, tags: list<string> }\n\
         exception Failed { Missing(u64) }\n\
         interface Api {\n",
    );
    for i in order {
        text.push_str(&methods[i]);
    }
    text.push_str("}\n");
    text
}

/// `(name, id, fingerprint)` of every method, sorted by name, and the interface's
/// fingerprint.
fn ids(model: &Model) -> (Vec<(String, u32, u64)>, u64) {
    let interface = &model.packages[0].interfaces[0];
    let mut methods: Vec<(String, u32, u64)> = interface
        .methods
        .iter()
        .map(|m| (m.name.clone(), m.id, m.fingerprint))
        .collect();
    methods.sort();
    (methods, interface.fingerprint)
}

#[test]
fn method_ids_are_stable_when_methods_are_reordered() {
    let base = check(&api([0, 1, 2], "Record", "", "value"));
    let reordered = check(&api([2, 0, 1], "Record", "", "value"));
    let (a, _) = ids(&base);
    let (b, _) = ids(&reordered);
    let id_of = |v: &[(String, u32, u64)]| -> Vec<(String, u32)> {
        v.iter().map(|(n, id, _)| (n.clone(), *id)).collect()
    };
    assert_eq!(id_of(&a), id_of(&b));
    for (name, id, _) in &a {
        assert_eq!(*id, idl::ids::method_id(name));
    }
    // Ids are a function of the name alone: the same in another interface.
    let other = check("package q; interface Other { get(); }");
    assert_eq!(other.packages[0].interfaces[0].methods[0].id, a[0].1);
}

#[test]
fn fingerprints_ignore_order_docs_and_parameter_names() {
    let base = ids(&check(&api([0, 1, 2], "Record", "", "value")));
    let same = [
        api([1, 2, 0], "Record", "", "value"),
        api([0, 1, 2], "Record", "/// Gets a record.", "value"),
        api([0, 1, 2], "Record", "", "renamed"),
        api(
            [2, 1, 0],
            "Record",
            "/// Docs.\n    /// More docs.",
            "other",
        ),
    ];
    for text in same {
        assert_eq!(ids(&check(&text)), base, "{text}");
    }
}

#[test]
fn fingerprints_change_with_a_parameter_type() {
    let (base, base_interface) = ids(&check(&api([0, 1, 2], "Record", "", "value")));
    for ty in ["u64", "list<Record>", "option<Record>", "string"] {
        let (changed, changed_interface) = ids(&check(&api([0, 1, 2], ty, "", "value")));
        assert_ne!(changed_interface, base_interface, "{ty}");
        for ((name, id, before), (_, id_after, after)) in base.iter().zip(&changed) {
            assert_eq!(id, id_after, "ids depend on names only");
            if name == "put" {
                assert_ne!(before, after, "put's fingerprint with {ty}");
            } else {
                assert_eq!(before, after, "{name}'s fingerprint with {ty}");
            }
        }
    }
    // A change inside a type a method uses changes that method's fingerprint too.
    let text = api([0, 1, 2], "Record", "", "value");
    let changed = text.replace("tags: list<string>", "tags: list<bytes>");
    let (changed, _) = ids(&check(&changed));
    assert!(base.iter().zip(&changed).all(|(a, b)| match a.0.as_str() {
        "ping" => a.2 == b.2,
        _ => a.2 != b.2,
    }));
}

#[test]
fn uncancellable_clears_the_flag_with_any_semantics() {
    let model = check(
        "package p;\n\
         interface Api {\n\
             plain();\n\
             [uncancellable] steady();\n\
             [idempotent, uncancellable] read();\n\
             [uncancellable] [last_of_many] latest() -> u64;\n\
             /// Runs to its end.\n\
             [oneway]\n\
             [uncancellable,] log(line: string);\n\
         }\n",
    );
    let flags: Vec<(&str, Semantics, bool)> = model.packages[0].interfaces[0]
        .methods
        .iter()
        .map(|m| (m.name.as_str(), m.semantics, m.cancellable))
        .collect();
    assert_eq!(
        flags,
        [
            ("plain", Semantics::AtMostOnce, true),
            ("steady", Semantics::AtMostOnce, false),
            ("read", Semantics::AtLeastOnce, false),
            ("latest", Semantics::LastOfMany, false),
            ("log", Semantics::Maybe, false),
        ]
    );
    assert_eq!(method(&model, "Api", "log").docs, ["Runs to its end."]);
}

#[test]
fn uncancellable_changes_no_id_or_fingerprint() {
    let base = api([0, 1, 2], "Record", "", "value");
    let marked = base
        .replace("[idempotent] get", "[idempotent, uncancellable] get")
        .replace("    put(", "    [uncancellable] put(")
        .replace("[oneway] ping", "[uncancellable] [oneway] ping");
    assert_ne!(base, marked);
    let marked_model = check(&marked);
    assert!(
        marked_model.packages[0].interfaces[0]
            .methods
            .iter()
            .all(|m| !m.cancellable)
    );
    assert_eq!(ids(&marked_model), ids(&check(&base)));
}

#[test]
fn uncancellable_twice_is_an_error_at_the_second() {
    let text = "package p;\ninterface Api { [uncancellable] [idempotent, uncancellable] a(); }\n";
    let err = idl::check_str("t.idl", text).unwrap_err();
    let found: Vec<_> = err.iter().collect();
    assert_eq!(found.len(), 1, "{err}");
    let d = found[0];
    assert_eq!(d.message, "repeated attribute `uncancellable`");
    let second = text.rfind("uncancellable").unwrap();
    assert_eq!(
        d.primary.span.range(),
        second..second + "uncancellable".len()
    );
}

#[test]
fn a_misspelt_uncancellable_is_an_unknown_attribute_with_a_suggestion() {
    let err = idl::check_str(
        "t.idl",
        "package p;\ninterface Api { [uncancelable] a(); }\n",
    )
    .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("unknown attribute `uncancelable`"),
        "{shown}"
    );
    assert!(shown.contains("did you mean `uncancellable`?"), "{shown}");
    assert!(shown.contains("t.idl:2:18"), "{shown}");
}
