//! Recursive types: which are legal, and which references must be boxed.
//!
//! A type that holds itself by value has infinite size. `list` and `map` hold their
//! elements on the heap, so recursion through them is free. `option` holds its value
//! inline, so recursion through `option` is legal only because the generator puts that
//! reference behind a pointer: exactly the references marked [`Type::Named::boxed`] here.
//!
//! Both questions are answered with strongly connected components (SCCs) of the graph
//! "type A holds type B inline": a by-value cycle is an SCC of by-value edges, and an
//! `option` edge A → B needs a box when B can reach A again, that is when A and B are in
//! one SCC of all inline edges. Tarjan's algorithm runs iteratively: a hostile file with
//! a chain of a hundred thousand types must not overflow the stack.

use std::collections::HashMap;

use crate::diagnostic::Draft;
use crate::model::{Package, QualifiedName, Type, TypeDefKind, VariantShape};
use crate::source::Span;

/// One inline edge: the type at `to` is held by the field at `span` of the `from` type.
struct Edge {
    from: usize,
    to: usize,
    through_option: bool,
    span: Span,
    /// `Owner.field`, for messages.
    place: String,
}

/// Reports by-value cycles and marks references that close a cycle through `option`.
pub fn check(packages: &mut [Package], drafts: &mut Vec<Draft>) {
    let mut index = HashMap::new();
    let mut names = Vec::new();
    for p in packages.iter() {
        for t in &p.types {
            let q = QualifiedName {
                package: p.name.clone(),
                name: t.name.clone(),
            };
            index.insert(q.clone(), names.len());
            names.push(q);
        }
    }
    let mut edges = Vec::new();
    let mut owner = 0;
    for p in packages.iter_mut() {
        for t in &mut p.types {
            for_each_member(&mut t.kind, &t.name, |place, span, ty| {
                inline_edges(ty, false, &mut |to, through_option| {
                    if let Some(&to) = index.get(to) {
                        edges.push(Edge {
                            from: owner,
                            to,
                            through_option,
                            span,
                            place: place.to_string(),
                        });
                    }
                });
            });
            owner += 1;
        }
    }

    // By-value cycles: infinite size.
    let by_value: Vec<&Edge> = edges.iter().filter(|e| !e.through_option).collect();
    let value_scc = components(names.len(), &by_value);
    let mut out_edges: Vec<Vec<&Edge>> = vec![Vec::new(); names.len()];
    for e in &by_value {
        out_edges[e.from].push(e);
    }
    let mut reported = vec![false; names.len()];
    for e in &by_value {
        let c = value_scc[e.from];
        if c != value_scc[e.to] || reported[c] {
            continue;
        }
        reported[c] = true;
        let cycle = cycle_through(e, &out_edges, &value_scc);
        let path: Vec<&str> = cycle.iter().map(|e| e.place.as_str()).collect();
        let mut draft = Draft::new(
            e.span,
            format!("recursive type `{}` has infinite size", names[e.from].name),
            format!("`{}` holds `{}` directly", e.place, names[e.to].name),
        )
        .help(format!(
            "the cycle is {}; put one of these fields in `option<...>`, `list<...>` or `map<...>`",
            path.join(" -> ")
        ));
        for other in cycle.iter().skip(1) {
            draft = draft.also(other.span, "part of the cycle");
        }
        drafts.push(draft);
    }

    // References through `option` that close a cycle get a box.
    let all: Vec<&Edge> = edges.iter().collect();
    let scc = components(names.len(), &all);
    let mut owner = 0;
    for p in packages.iter_mut() {
        for t in &mut p.types {
            for_each_member(&mut t.kind, &t.name, |_, _, ty| {
                mark_boxes(ty, false, &mut |to| {
                    index.get(to).is_some_and(|&to| scc[to] == scc[owner])
                });
            });
            owner += 1;
        }
    }
}

/// Calls `f(place, span, type)` for every field and variant payload of a type.
fn for_each_member(kind: &mut TypeDefKind, owner: &str, mut f: impl FnMut(&str, Span, &mut Type)) {
    match kind {
        TypeDefKind::Struct(fields) => {
            for field in fields {
                f(
                    &format!("{owner}.{}", field.name),
                    field.span,
                    &mut field.ty,
                );
            }
        }
        TypeDefKind::Enum(variants) | TypeDefKind::Exception(variants) => {
            for v in variants {
                match &mut v.shape {
                    VariantShape::Unit => {}
                    VariantShape::Tuple(types) => {
                        for (i, ty) in types.iter_mut().enumerate() {
                            f(&format!("{owner}::{}.{i}", v.name), v.span, ty);
                        }
                    }
                    VariantShape::Struct(fields) => {
                        for field in fields {
                            let place = format!("{owner}::{}.{}", v.name, field.name);
                            f(&place, field.span, &mut field.ty);
                        }
                    }
                }
            }
        }
    }
}

/// Calls `f(name, through_option)` for every user type `ty` holds inline.
fn inline_edges(ty: &Type, through_option: bool, f: &mut impl FnMut(&QualifiedName, bool)) {
    match ty {
        Type::Named { name, .. } => f(name, through_option),
        Type::Option(inner) => inline_edges(inner, true, f),
        Type::Primitive(_) | Type::List(_) | Type::Map(..) | Type::Interface(_) => {}
    }
}

/// Sets `boxed` on every inline reference through `option` for which `closes_cycle`.
fn mark_boxes(
    ty: &mut Type,
    through_option: bool,
    closes_cycle: &mut impl FnMut(&QualifiedName) -> bool,
) {
    match ty {
        Type::Named { name, boxed } => *boxed = through_option && closes_cycle(name),
        Type::Option(inner) => mark_boxes(inner, true, closes_cycle),
        Type::Primitive(_) | Type::List(_) | Type::Map(..) | Type::Interface(_) => {}
    }
}

/// The strongly connected component of each node, from the edges given.
fn components(nodes: usize, edges: &[&Edge]) -> Vec<usize> {
    let mut adjacency = vec![Vec::new(); nodes];
    for e in edges {
        adjacency[e.from].push(e.to);
    }
    crate::graph::strongly_connected(&adjacency)
}

/// A cycle that starts with `first` and stays inside its component, as a list of edges.
fn cycle_through<'e>(first: &'e Edge, out_edges: &[Vec<&'e Edge>], scc: &[usize]) -> Vec<&'e Edge> {
    let c = scc[first.from];
    // Breadth-first from first.to back to first.from, inside the component.
    let mut came_by: HashMap<usize, &Edge> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([first.to]);
    let mut seen = std::collections::HashSet::from([first.to]);
    while let Some(node) = queue.pop_front() {
        if node == first.from {
            break;
        }
        for e in out_edges[node].iter().filter(|e| scc[e.to] == c) {
            if seen.insert(e.to) {
                came_by.insert(e.to, e);
                queue.push_back(e.to);
            }
        }
    }
    let mut back = Vec::new();
    let mut node = first.from;
    while node != first.to {
        match came_by.get(&node) {
            Some(e) => {
                back.push(*e);
                node = e.from;
            }
            None => break,
        }
    }
    back.reverse();
    std::iter::once(first).chain(back).collect()
}
