//! Interfaces: method attributes (the call semantics they select, and `uncancellable`),
//! parameter modes and `raises`. What needs the whole method built (method id
//! collisions, `oneway` restrictions, map keys) is in [`crate::rules`], shared with the
//! `#[remote]` front end.

use std::collections::HashSet;

use crate::ast;
use crate::check::scope::{Scope, SymbolKind, is_builtin, suggest};
use crate::check::{duplicates, type_span};
use crate::diagnostic::Draft;
use crate::ids::method_id;
use crate::model::{Method, Param, Semantics};

/// Checks an interface's methods and returns the ones that are valid.
pub fn check(scope: &Scope<'_>, methods: &[ast::Method], drafts: &mut Vec<Draft>) -> Vec<Method> {
    duplicates(methods.iter().map(|m| &m.name), "method", drafts);
    let mut seen: HashSet<&str> = HashSet::new();
    methods
        .iter()
        // The second of two methods of one name is reported above; only its first stays.
        .filter(|m| seen.insert(m.name.name.as_str()))
        .filter_map(|m| check_method(scope, m, method_id(&m.name.name), drafts))
        .collect()
}

fn check_method(
    scope: &Scope<'_>,
    m: &ast::Method,
    id: u32,
    drafts: &mut Vec<Draft>,
) -> Option<Method> {
    let before = drafts.len();
    let (semantics, cancellable) = attributes(&m.attrs, drafts);
    duplicates(m.params.iter().map(|p| &p.name), "parameter", drafts);
    let params: Vec<Option<Param>> = m
        .params
        .iter()
        .map(|p| {
            let ty = scope.resolve_type(&p.ty, drafts)?;
            Some(Param {
                name: p.name.name.clone(),
                mode: p.mode.0,
                mode_span: p.mode.1.unwrap_or(p.name.span),
                ty,
                ty_span: type_span(&p.ty),
                span: p.name.span,
            })
        })
        .collect();
    let result = m.result.as_ref().map(|t| scope.resolve_type(t, drafts));
    let raises = m.raises.as_ref().map(|path| {
        let only = "only an `exception` may follow `raises`";
        if path.package.is_none() && is_builtin(&path.name.name) {
            drafts.push(
                Draft::new(
                    path.span,
                    format!("`{path}` is not an exception"),
                    "this is a built-in type",
                )
                .help(only),
            );
            return None;
        }
        let sym = scope.resolve(path, drafts)?;
        if sym.kind != SymbolKind::Exception {
            drafts.push(
                Draft::new(
                    path.span,
                    format!("`{path}` is not an exception"),
                    format!("this is {}", sym.kind.article()),
                )
                .also(sym.span, "defined here")
                .help(only),
            );
            return None;
        }
        Some(sym.name.clone())
    });

    if drafts.len() > before {
        return None;
    }
    Some(Method {
        name: m.name.name.clone(),
        docs: m.docs.clone(),
        span: m.name.span,
        id,
        fingerprint: 0, // filled in by ids::assign_fingerprints once all types are known
        semantics,
        cancellable,
        params: params.into_iter().collect::<Option<_>>()?,
        result: present(result)?,
        result_span: m.result.as_ref().map(type_span),
        raises: present(raises)?,
        raises_span: m.raises.as_ref().map(|r| r.span),
    })
}

/// `None` for an absent part, `Some(None)` for one that is present and failed.
fn present<T>(part: Option<Option<T>>) -> Option<Option<T>> {
    match part {
        None => Some(None),
        Some(inner) => inner.map(Some),
    }
}

/// What a method's attributes select: its semantics, and whether it is cancellable.
/// Reports unknown, repeated and conflicting attributes.
fn attributes(attrs: &[ast::Ident], drafts: &mut Vec<Draft>) -> (Semantics, bool) {
    let known = || {
        Semantics::ATTRIBUTES
            .iter()
            .map(|(n, _)| *n)
            .chain([Method::UNCANCELLABLE])
    };
    let mut chosen: Option<(&ast::Ident, Semantics)> = None;
    let mut cancellable = true;
    let mut seen: Vec<&ast::Ident> = Vec::new();
    for attr in attrs {
        if !known().any(|n| n == attr.name) {
            let mut names: Vec<String> = known().map(|n| format!("`{n}`")).collect();
            let last = names.pop().unwrap_or_default();
            let mut d = Draft::new(
                attr.span,
                format!("unknown attribute `{}`", attr.name),
                format!("expected {} or {last}", names.join(", ")),
            );
            if let Some(s) = suggest(&attr.name, known()) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            drafts.push(d);
            continue;
        }
        if let Some(first) = seen.iter().find(|a| a.name == attr.name) {
            drafts.push(
                Draft::new(
                    attr.span,
                    format!("repeated attribute `{}`", attr.name),
                    "written again here",
                )
                .also(first.span, "first written here"),
            );
            continue;
        }
        seen.push(attr);
        let Some(&(_, s)) = Semantics::ATTRIBUTES.iter().find(|(n, _)| *n == attr.name) else {
            // `uncancellable`, the only other known attribute, goes with any semantics.
            cancellable = false;
            continue;
        };
        match chosen {
            Some((first, _)) => drafts.push(
                Draft::new(
                    attr.span,
                    format!(
                        "conflicting attributes `{}` and `{}`",
                        first.name, attr.name
                    ),
                    "a method has exactly one call semantics",
                )
                .also(first.span, "already chosen here")
                .help(
                    "keep one of `idempotent`, `oneway`, `last_of_many`, or none for at-most-once",
                ),
            ),
            None => chosen = Some((attr, s)),
        }
    }
    (
        chosen.map_or(Semantics::AtMostOnce, |(_, s)| s),
        cancellable,
    )
}
