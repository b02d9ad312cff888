//! Method ids and interface fingerprints: the two numbers a request carries so that a
//! server knows which method is meant and that both sides agree on its signature.
//!
//! **Method id** = FNV-1a (32-bit) of the method's name as written in the IDL, in UTF-8.
//! It depends on nothing else, so adding, removing or reordering other methods never
//! changes it. Two names of one interface that hash alike are refused by the checker
//! (rename one); renaming a method changes its id, as it should: old callers must not
//! reach it.
//!
//! **Fingerprint** = FNV-1a (64-bit) of a canonical signature, a text that spells out
//! everything that decides the bytes on the wire and what a call means, and nothing else.
//! A method's canonical signature is
//!
//! ```text
//! name(mode type,mode type)->type raises exception [semantics];
//! ```
//!
//! with parameter *names* left out (they never travel), `->` and `raises` only when
//! present, and the semantics written `at_most_once`, `idempotent`, `oneway` or
//! `last_of_many`. Types are written as in the IDL without spaces (`map<string,list<u8>>`);
//! a user type as `package.Name#digest`, where the digest (16 hex digits) stands for the
//! type's whole definition, transitively; an interface used as a type as
//! `interface package.Name` (a reference: the other interface's methods do not travel).
//!
//! A type's **digest** covers its field and variant names and types in order. Types that
//! refer to each other (directly or not) are hashed as a group: the group's text is the
//! definitions of its members sorted by qualified name, `struct package.Name{field:type,…}`,
//! `enum package.Name{Unit,Tuple(type,…),Struct{field:type,…}}` (or `exception`), where a
//! member refers to another member by `package.Name` and to a type outside the group by
//! `package.Name#digest`; the group hash is FNV-1a 64 of that text, and a member's digest
//! is FNV-1a 64 of `<group hash as 16 hex digits> <package.Name>`. Groups are hashed after
//! the groups they refer to, so all of this is linear in the size of the model.
//!
//! An interface's fingerprint hashes `interface package.Name{...}` around its methods'
//! signatures sorted by name. Doc comments, comments, white space, method order and the
//! `uncancellable` attribute (the server's policy, see [`Method::cancellable`]) are left
//! out. A method's fingerprint covers that method; the interface's covers all of
//! its methods.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::model::{
    Method, Mode, Model, QualifiedName, Type, TypeDef, TypeDefKind, Variant, VariantShape,
};

/// FNV-1a, 32-bit.
pub fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// FNV-1a, 64-bit.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The wire id of a method called `name`.
pub fn method_id(name: &str) -> u32 {
    fnv1a_32(name.as_bytes())
}

/// Fills in the fingerprint of every method and interface of `model`.
pub fn assign_fingerprints(model: &mut Model) {
    let digests = type_digests(model);
    for package in &mut model.packages {
        for interface in &mut package.interfaces {
            let mut lines: Vec<String> = Vec::with_capacity(interface.methods.len());
            for method in &mut interface.methods {
                let line = method_signature(method, &digests);
                method.fingerprint = fnv1a_64(line.as_bytes());
                lines.push(line);
            }
            lines.sort();
            let text = format!(
                "interface {}.{}{{{}}}",
                package.name,
                interface.name,
                lines.concat()
            );
            interface.fingerprint = fnv1a_64(text.as_bytes());
        }
    }
}

/// The canonical signature of one method (see the module documentation).
fn method_signature(m: &Method, digests: &HashMap<QualifiedName, u64>) -> String {
    let mut out = format!("{}(", m.name);
    for (i, p) in m.params.iter().enumerate() {
        let mode = match p.mode {
            Mode::In => "in",
            Mode::Out => "out",
            Mode::InOut => "inout",
        };
        if i > 0 {
            out.push(',');
        }
        out.push_str(mode);
        out.push(' ');
        write_type(&mut out, &p.ty, &|q| digests.get(q).copied());
    }
    out.push(')');
    if let Some(t) = &m.result {
        out.push_str("->");
        write_type(&mut out, t, &|q| digests.get(q).copied());
    }
    if let Some(e) = &m.raises {
        let _ = write!(
            out,
            " raises {e}#{:016x}",
            digests.get(e).copied().unwrap_or(0)
        );
    }
    let _ = write!(
        out,
        " [{}];",
        m.semantics.attribute().unwrap_or("at_most_once")
    );
    out
}

/// Writes a type; `digest` gives the digest of a user type, or None for one written by
/// name alone (a member of the group being hashed).
fn write_type(out: &mut String, ty: &Type, digest: &dyn Fn(&QualifiedName) -> Option<u64>) {
    match ty {
        Type::Primitive(p) => out.push_str(p.name()),
        Type::List(t) | Type::Option(t) => {
            out.push_str(if matches!(ty, Type::List(_)) {
                "list<"
            } else {
                "option<"
            });
            write_type(out, t, digest);
            out.push('>');
        }
        Type::Map(k, v) => {
            out.push_str("map<");
            write_type(out, k, digest);
            out.push(',');
            write_type(out, v, digest);
            out.push('>');
        }
        Type::Named { name, .. } => match digest(name) {
            Some(d) => {
                let _ = write!(out, "{name}#{d:016x}");
            }
            None => {
                let _ = write!(out, "{name}");
            }
        },
        Type::Interface(name) => {
            let _ = write!(out, "interface {name}");
        }
    }
}

/// The digest of every user type, group by group (see the module documentation).
fn type_digests(model: &Model) -> HashMap<QualifiedName, u64> {
    let mut defs: Vec<(QualifiedName, &TypeDef)> = Vec::new();
    for p in &model.packages {
        for t in &p.types {
            let q = QualifiedName {
                package: p.name.clone(),
                name: t.name.clone(),
            };
            defs.push((q, t));
        }
    }
    let index: HashMap<&QualifiedName, usize> =
        defs.iter().enumerate().map(|(i, (q, _))| (q, i)).collect();
    let mut adjacency = vec![Vec::new(); defs.len()];
    for (i, (_, def)) in defs.iter().enumerate() {
        for_each_member_type(def, &mut |ty| {
            referenced(ty, &mut |q| {
                if let Some(&j) = index.get(q) {
                    adjacency[i].push(j);
                }
            })
        });
    }
    let component = crate::graph::strongly_connected(&adjacency);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); component.iter().max().map_or(0, |m| m + 1)];
    for (node, &c) in component.iter().enumerate() {
        groups[c].push(node);
    }
    let mut digests: HashMap<QualifiedName, u64> = HashMap::with_capacity(defs.len());
    // Components are numbered sinks first: every group a group refers to is done before.
    for (group_id, mut members) in groups.into_iter().enumerate() {
        members.sort_by(|&a, &b| defs[a].0.cmp(&defs[b].0));
        let digest_of = |q: &QualifiedName| match index.get(q) {
            Some(&j) if component[j] == group_id => None,
            _ => Some(digests.get(q).copied().unwrap_or(0)),
        };
        let mut text = String::new();
        for &m in &members {
            write_definition(&mut text, &defs[m].0, defs[m].1, &digest_of);
        }
        let group = fnv1a_64(text.as_bytes());
        for &m in &members {
            let q = &defs[m].0;
            digests.insert(q.clone(), fnv1a_64(format!("{group:016x} {q}").as_bytes()));
        }
    }
    digests
}

/// `struct package.Name{field:type,…}` and the like.
fn write_definition(
    out: &mut String,
    q: &QualifiedName,
    def: &TypeDef,
    digest: &dyn Fn(&QualifiedName) -> Option<u64>,
) {
    let fields = |out: &mut String, fields: &[crate::model::Field]| {
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&f.name);
            out.push(':');
            write_type(out, &f.ty, digest);
        }
    };
    let variants = |out: &mut String, variants: &[Variant]| {
        for (i, v) in variants.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&v.name);
            match &v.shape {
                VariantShape::Unit => {}
                VariantShape::Tuple(types) => {
                    out.push('(');
                    for (j, t) in types.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_type(out, t, digest);
                    }
                    out.push(')');
                }
                VariantShape::Struct(fs) => {
                    out.push('{');
                    fields(out, fs);
                    out.push('}');
                }
            }
        }
    };
    match &def.kind {
        TypeDefKind::Struct(fs) => {
            let _ = write!(out, "struct {q}{{");
            fields(out, fs);
        }
        TypeDefKind::Enum(vs) => {
            let _ = write!(out, "enum {q}{{");
            variants(out, vs);
        }
        TypeDefKind::Exception(vs) => {
            let _ = write!(out, "exception {q}{{");
            variants(out, vs);
        }
    }
    out.push('}');
}

/// Calls `f` with the type of every field and variant payload of a definition.
fn for_each_member_type(def: &TypeDef, f: &mut dyn FnMut(&Type)) {
    let variants = |vs: &[Variant], f: &mut dyn FnMut(&Type)| {
        for v in vs {
            match &v.shape {
                VariantShape::Unit => {}
                VariantShape::Tuple(ts) => ts.iter().for_each(&mut *f),
                VariantShape::Struct(fs) => fs.iter().for_each(|x| f(&x.ty)),
            }
        }
    };
    match &def.kind {
        TypeDefKind::Struct(fs) => fs.iter().for_each(|x| f(&x.ty)),
        TypeDefKind::Enum(vs) | TypeDefKind::Exception(vs) => variants(vs, f),
    }
}

/// Calls `f` with every user type (not interface) a type mentions.
fn referenced(ty: &Type, f: &mut dyn FnMut(&QualifiedName)) {
    match ty {
        Type::Primitive(_) | Type::Interface(_) => {}
        Type::List(t) | Type::Option(t) => referenced(t, f),
        Type::Map(k, v) => {
            referenced(k, f);
            referenced(v, f);
        }
        Type::Named { name, .. } => f(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
