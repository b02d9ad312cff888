//! Map keys must compare equal to themselves and hash: integers, `bool`, `string` and
//! `bytes`. A float is refused because NaN is not equal to itself, so a float key could
//! never be found again; user types are refused too.

use crate::diagnostic::Draft;
use crate::model::{Method, Type, TypeDef, TypeDefKind, TypeSpan, VariantShape};
use crate::rules::Syntax;

/// Reports every bad map key in the fields and variants of `def`.
pub fn check_type_def(def: &TypeDef, syntax: Syntax, drafts: &mut Vec<Draft>) {
    let variants = match &def.kind {
        TypeDefKind::Struct(fields) => {
            for f in fields {
                walk(&f.ty, &f.ty_span, syntax, drafts);
            }
            return;
        }
        TypeDefKind::Enum(variants) | TypeDefKind::Exception(variants) => variants,
    };
    for v in variants {
        match &v.shape {
            VariantShape::Unit => {}
            VariantShape::Tuple(types) => {
                for (i, ty) in types.iter().enumerate() {
                    let at = v.tuple_spans.get(i).cloned().unwrap_or_default();
                    walk(ty, &at, syntax, drafts);
                }
            }
            VariantShape::Struct(fields) => {
                for f in fields {
                    walk(&f.ty, &f.ty_span, syntax, drafts);
                }
            }
        }
    }
}

/// Reports every bad map key in the parameters and result of `m`.
pub fn check_method(m: &Method, syntax: Syntax, drafts: &mut Vec<Draft>) {
    for p in &m.params {
        walk(&p.ty, &p.ty_span, syntax, drafts);
    }
    if let (Some(ty), Some(at)) = (&m.result, &m.result_span) {
        walk(ty, at, syntax, drafts);
    }
}

/// Visits `ty` and its arguments, with where each is written.
fn walk(ty: &Type, at: &TypeSpan, syntax: Syntax, drafts: &mut Vec<Draft>) {
    let arg = |i: usize| at.args.get(i).cloned().unwrap_or_else(|| at.clone());
    match ty {
        Type::List(t) | Type::Option(t) => walk(t, &arg(0), syntax, drafts),
        Type::Map(key, value) => {
            let key_at = arg(0);
            if !matches!(**key, Type::Primitive(p) if p.is_map_key()) {
                drafts.push(bad_key(key, &key_at, syntax));
            }
            walk(key, &key_at, syntax, drafts);
            walk(value, &arg(1), syntax, drafts);
        }
        Type::Primitive(_) | Type::Named { .. } | Type::Interface(_) => {}
    }
}

fn bad_key(key: &Type, at: &TypeSpan, syntax: Syntax) -> Draft {
    match syntax {
        Syntax::Idl => Draft::new(
            at.span,
            format!("`{key}` cannot be a map key"),
            "not an integer, bool, string or bytes",
        )
        .help(
            "map keys must be integers, `bool`, `string` or `bytes`; use a `list` of a struct \
             for other pairs",
        ),
        Syntax::Rust => Draft::new(
            at.span,
            "this type cannot be a map key",
            "not an integer, bool, String or Vec<u8>",
        )
        .help("map keys must be integers, `bool`, `String` or `Vec<u8>`"),
    }
}
