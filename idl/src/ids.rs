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
//! everything that decides the bytes on the wire and what a call means, and nothing else:
//!
//! - per method: its name, each parameter's mode and type in order (parameter *names*
//!   are left out: they never travel), the result type, the raised exception and the
//!   call semantics;
//! - every struct, enum and exception reachable from those types, sorted by qualified
//!   name, with its field and variant names and types in order. An interface used as a
//!   type (a remote reference) contributes only its name.
//!
//! Doc comments, comments, white space and method order are left out. A method's
//! fingerprint covers that method; the interface's covers all its methods, sorted by name.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::model::{
    Interface, Method, Mode, Model, QualifiedName, Type, TypeDef, TypeDefKind, Variant,
    VariantShape,
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
    let types: HashMap<QualifiedName, TypeDef> = model
        .packages
        .iter()
        .flat_map(|p| {
            p.types.iter().map(|t| {
                let name = QualifiedName {
                    package: p.name.clone(),
                    name: t.name.clone(),
                };
                (name, t.clone())
            })
        })
        .collect();
    let signatures = Signatures { types: &types };
    for package in &mut model.packages {
        for interface in &mut package.interfaces {
            for method in &mut interface.methods {
                method.fingerprint = fnv1a_64(signatures.method(method).as_bytes());
            }
            interface.fingerprint = fnv1a_64(signatures.interface(interface).as_bytes());
        }
    }
}

/// Writes canonical signatures, looking user types up by name.
pub struct Signatures<'a> {
    /// Every user type of the model.
    pub types: &'a HashMap<QualifiedName, TypeDef>,
}

impl Signatures<'_> {
    /// The canonical signature of one method, with the types it uses.
    pub fn method(&self, method: &Method) -> String {
        let mut reachable = BTreeMap::new();
        let mut out = self.method_line(method, &mut reachable);
        self.write_types(&mut out, reachable);
        out
    }

    /// The canonical signature of a whole interface.
    pub fn interface(&self, interface: &Interface) -> String {
        let mut reachable = BTreeMap::new();
        let mut methods: Vec<String> = interface
            .methods
            .iter()
            .map(|m| self.method_line(m, &mut reachable))
            .collect();
        methods.sort();
        let mut out = format!("interface {}{{", interface.name);
        out.extend(methods);
        out.push('}');
        self.write_types(&mut out, reachable);
        out
    }

    fn method_line<'t>(
        &'t self,
        m: &Method,
        reachable: &mut BTreeMap<&'t QualifiedName, &'t TypeDef>,
    ) -> String {
        let mut out = format!("{}(", m.name);
        for (i, p) in m.params.iter().enumerate() {
            let mode = match p.mode {
                Mode::In => "in",
                Mode::Out => "out",
                Mode::InOut => "inout",
            };
            let sep = if i > 0 { "," } else { "" };
            let _ = write!(out, "{sep}{mode} {}", p.ty);
            self.reach(&p.ty, reachable);
        }
        out.push(')');
        if let Some(t) = &m.result {
            let _ = write!(out, "->{t}");
            self.reach(t, reachable);
        }
        if let Some(e) = &m.raises {
            let _ = write!(out, " raises {e}");
            self.reach_name(e, reachable);
        }
        let _ = write!(
            out,
            " [{}];",
            m.semantics.attribute().unwrap_or("at_most_once")
        );
        out
    }

    /// Adds every user type `ty` mentions, transitively.
    fn reach<'t>(&'t self, ty: &Type, reachable: &mut BTreeMap<&'t QualifiedName, &'t TypeDef>) {
        match ty {
            Type::Primitive(_) | Type::Interface(_) => {}
            Type::List(t) | Type::Option(t) => self.reach(t, reachable),
            Type::Map(k, v) => {
                self.reach(k, reachable);
                self.reach(v, reachable);
            }
            Type::Named { name, .. } => self.reach_name(name, reachable),
        }
    }

    fn reach_name<'t>(
        &'t self,
        name: &QualifiedName,
        reachable: &mut BTreeMap<&'t QualifiedName, &'t TypeDef>,
    ) {
        let Some((key, def)) = self.types.get_key_value(name) else {
            return;
        };
        if reachable.insert(key, def).is_some() {
            return;
        }
        let each_variant = |reachable: &mut BTreeMap<_, _>, variants: &'t [Variant]| {
            for v in variants {
                match &v.shape {
                    VariantShape::Unit => {}
                    VariantShape::Tuple(ts) => ts.iter().for_each(|t| self.reach(t, reachable)),
                    VariantShape::Struct(fs) => {
                        fs.iter().for_each(|f| self.reach(&f.ty, reachable))
                    }
                }
            }
        };
        match &def.kind {
            TypeDefKind::Struct(fields) => fields.iter().for_each(|f| self.reach(&f.ty, reachable)),
            TypeDefKind::Enum(vs) | TypeDefKind::Exception(vs) => each_variant(reachable, vs),
        }
    }

    fn write_types(&self, out: &mut String, reachable: BTreeMap<&QualifiedName, &TypeDef>) {
        for (name, def) in reachable {
            let (keyword, body) = match &def.kind {
                TypeDefKind::Struct(fields) => ("struct", fields_text(fields)),
                TypeDefKind::Enum(vs) => ("enum", variants_text(vs)),
                TypeDefKind::Exception(vs) => ("exception", variants_text(vs)),
            };
            let _ = write!(out, "{keyword} {name}{{{body}}}");
        }
    }
}

fn fields_text(fields: &[crate::model::Field]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("{}:{}", f.name, f.ty))
        .collect();
    parts.join(",")
}

fn variants_text(variants: &[Variant]) -> String {
    let parts: Vec<String> = variants
        .iter()
        .map(|v| match &v.shape {
            VariantShape::Unit => v.name.clone(),
            VariantShape::Tuple(ts) => {
                let ts: Vec<String> = ts.iter().map(ToString::to_string).collect();
                format!("{}({})", v.name, ts.join(","))
            }
            VariantShape::Struct(fs) => format!("{}{{{}}}", v.name, fields_text(fs)),
        })
        .collect();
    parts.join(",")
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
