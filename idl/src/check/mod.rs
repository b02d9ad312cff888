//! From parsed files to the checked [`Model`], reporting every error in one pass.
//!
//! The stages, in order: packages (one per file), definitions (no duplicates, no built-in
//! names), types and methods (names resolve, attributes make sense, see [`methods`]),
//! recursion (see [`recursion`]), the rules of the whole model that the `#[remote]` front
//! end shares (see [`crate::rules`]) and any the caller adds, and finally fingerprints
//! (see [`crate::ids`]). A stage that finds an error leaves the offending item out of the
//! model and goes on, so one mistake is reported once and does not cascade.

mod methods;
mod recursion;
pub(crate) mod scope;

use std::collections::HashMap;

use crate::ast;
use crate::diagnostic::{Diagnostics, Draft};
use crate::loader::Loaded;
use crate::model::{self, Model, QualifiedName};
use crate::rules::{self, ModelCheck, Syntax};
use crate::source::{FileId, Span};
use scope::{Scope, Symbol, SymbolKind};

/// Checks loaded files and builds the model, or returns every error found; `checks` are
/// run on the model after the IDL's own.
pub(crate) fn check(loaded: Loaded, checks: &[ModelCheck]) -> Result<Model, Diagnostics> {
    let Loaded {
        sources,
        files,
        imports,
        broken_imports,
        mut drafts,
    } = loaded;

    // Packages: exactly one per file.
    let mut package_of: HashMap<FileId, String> = HashMap::new();
    let mut packages: Vec<model::Package> = Vec::new();
    for file in files.iter().flatten() {
        match file.packages.as_slice() {
            [] => drafts.push(
                Draft::new(
                    Span::new(file.id, 0, 0),
                    "missing package declaration",
                    "expected `package name;` in this file",
                )
                .help("every IDL file starts with `package name;`, which names its Rust module"),
            ),
            [first, rest @ ..] => {
                for again in rest {
                    drafts.push(
                        Draft::new(
                            again.name.span,
                            "second package declaration",
                            "a file has one package",
                        )
                        .also(first.name.span, "the package is already declared here"),
                    );
                }
                let name = first.name.name.clone();
                let docs = file.packages.iter().flat_map(|p| p.docs.iter().cloned());
                match packages.iter_mut().find(|p| p.name == name) {
                    Some(p) => p.docs.extend(docs),
                    None => packages.push(model::Package {
                        name: name.clone(),
                        docs: docs.collect(),
                        types: Vec::new(),
                        interfaces: Vec::new(),
                    }),
                }
                package_of.insert(file.id, name);
            }
        }
    }

    // Definitions: one per name in a package; no built-in names.
    let mut all: HashMap<QualifiedName, Symbol> = HashMap::new();
    for file in files.iter().flatten() {
        let Some(package) = package_of.get(&file.id) else {
            continue;
        };
        for item in &file.items {
            if scope::is_builtin(&item.name.name) {
                drafts.push(
                    Draft::new(
                        item.name.span,
                        format!("`{}` is a built-in type name", item.name.name),
                        "cannot be defined again",
                    )
                    .help("choose another name"),
                );
                continue;
            }
            let name = QualifiedName {
                package: package.clone(),
                name: item.name.name.clone(),
            };
            if let Some(first) = all.get(&name) {
                drafts.push(
                    Draft::new(
                        item.name.span,
                        format!(
                            "`{}` is defined twice in package `{package}`",
                            item.name.name
                        ),
                        "defined again here",
                    )
                    .also(first.span, "first defined here"),
                );
                continue;
            }
            let sym = Symbol {
                name: name.clone(),
                kind: SymbolKind::of(&item.kind),
                file: file.id,
                span: item.name.span,
            };
            all.insert(name, sym);
        }
    }
    let mut by_file: HashMap<FileId, Vec<&Symbol>> = HashMap::new();
    for sym in all.values() {
        by_file.entry(sym.file).or_default().push(sym);
    }
    let path_of = |id: FileId| format!("`{}`", sources.get(id).path().display());

    // Types and interfaces.
    for file in files.iter().flatten() {
        let Some(package) = package_of.get(&file.id) else {
            continue;
        };
        let mut visible = vec![file.id];
        visible.extend(&imports[file.id.0 as usize]);
        // An import that failed, or a file that did not parse, already has its error;
        // names that may have been defined there are not reported again.
        let incomplete = broken_imports[file.id.0 as usize]
            || visible.iter().any(|f| files[f.0 as usize].is_none());
        let scope = Scope::new(&all, &by_file, visible, &path_of, incomplete);
        let target = packages
            .iter_mut()
            .find(|p| &p.name == package)
            .expect("every package with a file was created above");
        for item in &file.items {
            let defined = all.get(&QualifiedName {
                package: package.clone(),
                name: item.name.name.clone(),
            });
            // Skip the second of two duplicates (reported above), but check its body.
            let is_first = defined.is_some_and(|s| s.span == item.name.span);
            let built = build_item(&scope, item, &mut drafts);
            match built {
                Some(Built::Type(t)) if is_first => target.types.push(t),
                Some(Built::Interface(i)) if is_first => target.interfaces.push(i),
                _ => {}
            }
        }
    }

    recursion::check(&mut packages, &mut drafts);
    let mut model = Model {
        packages,
        files: sources.iter().map(|f| f.path().to_path_buf()).collect(),
    };
    // On what the stages above let through, so that every error is still reported once.
    drafts.extend(rules::check(&model, Syntax::Idl));
    for check in checks {
        drafts.extend(check(&model));
    }
    if !drafts.is_empty() {
        return Err(Diagnostics::new(sources, drafts));
    }
    crate::ids::assign_fingerprints(&mut model);
    Ok(model)
}

enum Built {
    Type(model::TypeDef),
    Interface(model::Interface),
}

fn build_item(scope: &Scope<'_>, item: &ast::Item, drafts: &mut Vec<Draft>) -> Option<Built> {
    let before = drafts.len();
    let type_def = |kind| {
        Built::Type(model::TypeDef {
            name: item.name.name.clone(),
            docs: item.docs.clone(),
            span: item.name.span,
            kind,
        })
    };
    let built = match &item.kind {
        ast::ItemKind::Struct(fields) => type_def(model::TypeDefKind::Struct(build_fields(
            scope, fields, drafts,
        ))),
        ast::ItemKind::Enum(vs) => {
            type_def(model::TypeDefKind::Enum(build_variants(scope, vs, drafts)))
        }
        ast::ItemKind::Exception(vs) => type_def(model::TypeDefKind::Exception(build_variants(
            scope, vs, drafts,
        ))),
        ast::ItemKind::Interface(methods) => Built::Interface(model::Interface {
            name: item.name.name.clone(),
            docs: item.docs.clone(),
            span: item.name.span,
            methods: methods::check(scope, methods, drafts),
            fingerprint: 0, // filled in by ids::assign_fingerprints
        }),
    };
    (drafts.len() == before).then_some(built)
}

fn build_fields(
    scope: &Scope<'_>,
    fields: &[ast::Field],
    drafts: &mut Vec<Draft>,
) -> Vec<model::Field> {
    duplicates(fields.iter().map(|f| &f.name), "field", drafts);
    fields
        .iter()
        .filter_map(|f| {
            Some(model::Field {
                name: f.name.name.clone(),
                docs: f.docs.clone(),
                ty: scope.resolve_type(&f.ty, drafts)?,
                ty_span: type_span(&f.ty),
                span: f.name.span,
            })
        })
        .collect()
}

fn build_variants(
    scope: &Scope<'_>,
    variants: &[ast::Variant],
    drafts: &mut Vec<Draft>,
) -> Vec<model::Variant> {
    duplicates(variants.iter().map(|v| &v.name), "variant", drafts);
    variants
        .iter()
        .filter_map(|v| {
            let shape = match &v.shape {
                ast::VariantShape::Unit => model::VariantShape::Unit,
                ast::VariantShape::Tuple(types) => {
                    let types: Vec<Option<model::Type>> = types
                        .iter()
                        .map(|t| scope.resolve_type(t, drafts))
                        .collect();
                    model::VariantShape::Tuple(types.into_iter().collect::<Option<_>>()?)
                }
                ast::VariantShape::Struct(fields) => {
                    model::VariantShape::Struct(build_fields(scope, fields, drafts))
                }
            };
            let tuple_spans = match &v.shape {
                ast::VariantShape::Tuple(types) => types.iter().map(type_span).collect(),
                _ => Vec::new(),
            };
            Some(model::Variant {
                name: v.name.name.clone(),
                docs: v.docs.clone(),
                shape,
                tuple_spans,
                span: v.name.span,
            })
        })
        .collect()
}

/// Where a written type and its arguments stand.
fn type_span(t: &ast::TypeRef) -> model::TypeSpan {
    model::TypeSpan {
        span: t.span,
        args: t.args.iter().map(type_span).collect(),
    }
}

/// Reports every name that repeats an earlier one, pointing at the repeat.
fn duplicates<'a>(
    names: impl Iterator<Item = &'a ast::Ident>,
    what: &str,
    drafts: &mut Vec<Draft>,
) {
    let mut seen: HashMap<&str, &ast::Ident> = HashMap::new();
    for name in names {
        match seen.get(name.name.as_str()) {
            Some(first) => drafts.push(
                Draft::new(
                    name.span,
                    format!("duplicate {what} `{}`", name.name),
                    "defined again here",
                )
                .also(first.span, "first defined here"),
            ),
            None => {
                seen.insert(&name.name, name);
            }
        }
    }
}
