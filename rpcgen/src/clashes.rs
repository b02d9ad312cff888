//! Rust names the generated code would define twice, found in the model before any code
//! is generated, so that the error names the two source items instead of pointing into
//! `OUT_DIR`.
//!
//! Every name is made by the functions of [`crate::emit::names`], the very ones the
//! emitter calls. The names live in scopes that mirror the generated module: the package
//! module (types, traits, clients, servers, reference types, facts modules, the private
//! module of the wire structs), the wire structs in that module, each client's
//! methods (the interface's and those every client has), each trait's methods (the
//! interface's and the provided `into_ref`), each facts module's method constants, each method's parameters (and the generated code's own variables), and
//! each struct's fields and enum's variants. Both front ends run [`check`]: the IDL's
//! through [`crate::load`], the `#[remote]` attribute's in [`crate::remote`].

use std::collections::{HashMap, HashSet};

use idl::source::Span;
use idl::{Draft, Interface, Model, Package, TypeDef, TypeDefKind, VariantShape};

use crate::emit::names::{
    CLIENT_METHODS, METHOD_LOCALS, TRAIT_METHODS, WIRE_MODULE, WIRE_REPLY, WIRE_REQUEST,
    client_struct, facts_module, method_const, ref_alias, resolved, server_struct, wire_struct,
};

/// Every generated name that two items of `model` would both define.
pub fn check(model: &Model) -> Vec<Draft> {
    let mut clashes = Clashes::default();
    for package in &model.packages {
        for interface in &package.interfaces {
            clashes.scope(method_constants(interface));
            clashes.scope(client_methods(interface));
            clashes.scope(trait_methods(interface));
        }
        clashes.scope(package_items(package));
        clashes.scope(wire_structs(package));
        for interface in &package.interfaces {
            for method in &interface.methods {
                let mut names: Vec<Entry> = method
                    .params
                    .iter()
                    .map(|p| {
                        let what = format!("parameter `{}` of method `{}`", p.name, method.name);
                        Entry::of(resolved(&p.name), p.span, what)
                    })
                    .collect();
                names.extend(METHOD_LOCALS.iter().map(|local| Entry {
                    name: local.to_string(),
                    origin: None,
                    what: "the generated code, for a variable of its own".to_string(),
                }));
                clashes.scope(names);
            }
        }
        for def in &package.types {
            members(def, &mut clashes);
        }
    }
    clashes.drafts
}

/// One name a scope of the generated code defines, and the source item it comes from.
struct Entry {
    /// The Rust name.
    name: String,
    /// Where the item is, or None for a name every generated module has.
    origin: Option<Span>,
    /// The item and the part of it that makes the name, for the message.
    what: String,
}

impl Entry {
    fn of(name: String, origin: Span, what: String) -> Entry {
        Entry {
            name,
            origin: Some(origin),
            what,
        }
    }
}

/// The clashes found so far, each pair of items reported once (methods `readBlock` and
/// `read_block` clash on a constant and on four wire structs: one error says it).
#[derive(Default)]
struct Clashes {
    drafts: Vec<Draft>,
    reported: HashSet<(Option<Span>, Option<Span>)>,
}

impl Clashes {
    /// Reports every name of one scope that an earlier entry of it already defines.
    fn scope(&mut self, entries: Vec<Entry>) {
        let mut first: HashMap<&str, &Entry> = HashMap::new();
        for entry in &entries {
            let Some(earlier) = first.get(entry.name.as_str()).copied() else {
                first.insert(&entry.name, entry);
                continue;
            };
            if earlier.origin == entry.origin {
                continue; // one item, one name, twice: nothing the user can rename
            }
            // Point at the item written last; the other is its secondary label.
            let (at, other) = match (earlier.origin, entry.origin) {
                (Some(a), Some(b)) if a > b => (earlier, entry),
                (_, Some(_)) => (entry, earlier),
                _ => (earlier, entry),
            };
            if !self.reported.insert((at.origin, other.origin)) {
                continue;
            }
            let Some(span) = at.origin else { continue };
            let name = &entry.name;
            let mut draft = Draft::new(
                span,
                format!(
                    "`{name}` would be defined twice in the generated Rust: by {} and by {}",
                    at.what, other.what
                ),
                format!("generates `{name}`"),
            );
            draft = match other.origin {
                Some(o) => draft
                    .also(o, format!("also generates `{name}`"))
                    .help("rename one of the two"),
                None => draft.help("rename it"),
            };
            self.drafts.push(draft);
        }
    }
}

/// The package module's types, traits, clients, servers, reference types, facts modules
/// and the module of the wire structs.
fn package_items(package: &Package) -> Vec<Entry> {
    let mut entries: Vec<Entry> = package
        .types
        .iter()
        .map(|t| {
            Entry::of(
                resolved(&t.name),
                t.span,
                format!("{} `{}`", kind(t), t.name),
            )
        })
        .collect();
    for i in &package.interfaces {
        let of = |part: &str| format!("interface `{}` ({part})", i.name);
        entries.push(Entry::of(resolved(&i.name), i.span, of("its trait")));
        entries.push(Entry::of(client_struct(&i.name), i.span, of("its client")));
        entries.push(Entry::of(server_struct(&i.name), i.span, of("its server")));
        entries.push(Entry::of(
            ref_alias(&i.name),
            i.span,
            of("its reference type"),
        ));
        entries.push(Entry::of(
            facts_module(&i.name),
            i.span,
            of("its facts module"),
        ));
    }
    if !package.interfaces.is_empty() {
        entries.push(Entry {
            name: WIRE_MODULE.to_string(),
            origin: None,
            what: "the generated code (its private module of wire structs)".to_string(),
        });
    }
    entries
}

/// The wire structs, in their module: one scope per package.
fn wire_structs(package: &Package) -> Vec<Entry> {
    let mut entries = Vec::new();
    for i in &package.interfaces {
        for m in &i.methods {
            let parts = WIRE_REQUEST
                .iter()
                .chain(if m.semantics == idl::Semantics::Maybe {
                    &[][..]
                } else {
                    &WIRE_REPLY[..]
                });
            for part in parts {
                entries.push(Entry::of(
                    wire_struct(&i.name, &m.name, part),
                    m.span,
                    format!("method `{}.{}` (its wire struct)", i.name, m.name),
                ));
            }
        }
    }
    entries
}

/// The constants of the facts module's `methods`, one per method.
fn method_constants(interface: &Interface) -> Vec<Entry> {
    interface
        .methods
        .iter()
        .map(|m| {
            Entry::of(
                method_const(&m.name),
                m.span,
                format!("method `{}` (its spec constant)", m.name),
            )
        })
        .collect()
}

/// The client's methods: the interface's, and those every generated client has.
fn client_methods(interface: &Interface) -> Vec<Entry> {
    let client = client_struct(&interface.name);
    with_methods(interface, &CLIENT_METHODS, |name| {
        format!("every generated client (its own `{client}::{name}`)")
    })
}

/// The trait's methods: the interface's, and those every generated trait provides.
fn trait_methods(interface: &Interface) -> Vec<Entry> {
    let owner = resolved(&interface.name);
    with_methods(interface, &TRAIT_METHODS, |name| {
        format!("every generated trait (its own `{owner}::{name}`)")
    })
}

/// The names `provided` (what `what` says of each), then the interface's methods.
fn with_methods(
    interface: &Interface,
    provided: &[&str],
    what: impl Fn(&str) -> String,
) -> Vec<Entry> {
    let mut entries: Vec<Entry> = provided
        .iter()
        .map(|name| Entry {
            name: name.to_string(),
            origin: None,
            what: what(name),
        })
        .collect();
    entries.extend(
        interface
            .methods
            .iter()
            .map(|m| Entry::of(resolved(&m.name), m.span, format!("method `{}`", m.name))),
    );
    entries
}

/// The fields of a struct (and of each struct variant) and the variants of an enum.
fn members(def: &TypeDef, clashes: &mut Clashes) {
    let fields = |fields: &[idl::Field], owner: &str| -> Vec<Entry> {
        fields
            .iter()
            .map(|f| {
                Entry::of(
                    resolved(&f.name),
                    f.span,
                    format!("field `{owner}.{}`", f.name),
                )
            })
            .collect()
    };
    match &def.kind {
        TypeDefKind::Struct(fs) => clashes.scope(fields(fs, &def.name)),
        TypeDefKind::Enum(variants) | TypeDefKind::Exception(variants) => {
            clashes.scope(
                variants
                    .iter()
                    .map(|v| {
                        Entry::of(
                            resolved(&v.name),
                            v.span,
                            format!("variant `{}::{}`", def.name, v.name),
                        )
                    })
                    .collect(),
            );
            for v in variants {
                if let VariantShape::Struct(fs) = &v.shape {
                    clashes.scope(fields(fs, &format!("{}::{}", def.name, v.name)));
                }
            }
        }
    }
}

fn kind(def: &TypeDef) -> &'static str {
    match def.kind {
        TypeDefKind::Struct(_) => "struct",
        TypeDefKind::Enum(_) => "enum",
        TypeDefKind::Exception(_) => "exception",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names a generated module defines.
    #[derive(Default)]
    struct Generated {
        /// Its items.
        items: Vec<String>,
        /// The methods of the client's inherent impl.
        client: Vec<String>,
        /// The methods of the trait.
        service: Vec<String>,
        /// The items of its module of wire structs.
        wire: Vec<String>,
    }

    fn generated(model: &Model) -> Generated {
        let tokens = crate::emit::package_tokens(model, &model.packages[0]);
        let file: syn::File = syn::parse2(tokens).expect("generated code parses");
        let mut g = Generated::default();
        let (items, methods, wire) = (&mut g.items, &mut g.client, &mut g.wire);
        for item in &file.items {
            match item {
                syn::Item::Struct(s) => items.push(s.ident.to_string()),
                syn::Item::Enum(e) => items.push(e.ident.to_string()),
                syn::Item::Type(t) => items.push(t.ident.to_string()),
                syn::Item::Trait(t) => {
                    items.push(t.ident.to_string());
                    g.service.extend(t.items.iter().filter_map(|f| match f {
                        syn::TraitItem::Fn(f) => Some(f.sig.ident.to_string()),
                        _ => None,
                    }));
                }
                syn::Item::Mod(m) => {
                    items.push(m.ident.to_string());
                    if m.ident == WIRE_MODULE {
                        let content = m.content.iter().flat_map(|(_, items)| items);
                        wire.extend(content.map(|item| match item {
                            syn::Item::Struct(s) => s.ident.to_string(),
                            other => panic!("not a wire struct: {}", quote::quote!(#other)),
                        }));
                    }
                }
                syn::Item::Impl(i) if i.trait_.is_none() => {
                    let target = &i.self_ty;
                    let target = quote::quote!(#target).to_string();
                    if target.ends_with("Client") {
                        methods.extend(i.items.iter().filter_map(|f| match f {
                            syn::ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
                            _ => None,
                        }));
                    }
                }
                _ => {}
            }
        }
        g
    }

    /// The names this check knows are exactly the items, client and trait methods the
    /// emitter makes, so that a new kind of generated item cannot slip past it unnoticed.
    #[test]
    fn the_check_knows_every_name_the_emitter_makes() {
        let model = idl::check_str(
            "s.idl",
            "package s;
             struct Item { id: u64 }
             enum Kind { A, B(u8) }
             exception Failed { No }
             interface Store {
                 [idempotent] get(id: u64) -> Item raises Failed;
                 [oneway] log(line: string);
                 readBlock(inout n: u32, out data: bytes);
             }",
        )
        .unwrap();
        let Generated {
            items,
            client: methods,
            service,
            wire,
        } = generated(&model);
        let known_wire: Vec<String> = wire_structs(&model.packages[0])
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(wire, known_wire, "the wire structs");
        let known: Vec<String> = package_items(&model.packages[0])
            .into_iter()
            .map(|e| e.name)
            .collect();
        for item in &items {
            assert!(
                known.contains(item),
                "`{item}` is generated but not checked"
            );
        }
        for name in &known {
            assert!(
                items.contains(name),
                "`{name}` is checked but not generated"
            );
        }
        let client: Vec<String> = client_methods(&model.packages[0].interfaces[0])
            .into_iter()
            .map(|e| e.name)
            .collect();
        for method in &methods {
            assert!(
                client.contains(method),
                "`{method}` is generated but not checked"
            );
        }
        assert_eq!(methods.len(), client.len());
        let sorted = |mut names: Vec<String>| {
            names.sort();
            names
        };
        let known_service = trait_methods(&model.packages[0].interfaces[0])
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(
            sorted(service),
            sorted(known_service),
            "the trait's methods"
        );
    }
}
