//! The checks of a whole [`Model`] that both front ends run: the IDL's (after names are
//! resolved) and the `#[remote]` attribute's (after the trait is read).
//!
//! A rule here needs nothing but the model: method ids that collide (`method_ids`),
//! what a `oneway` method may not have (`oneway`) and which types may be map keys
//! (`map_keys`). Each finding is a [`Draft`] whose spans come from the model, so each
//! front end shows it against its own source: the IDL front end as a diagnostic with
//! `path:line:col`, the `#[remote]` front end as a compile error at the token (its spans
//! are [`Span::opaque`](crate::source::Span::opaque) indices into its own table).

mod map_keys;
mod method_ids;
mod oneway;

use crate::diagnostic::Draft;
use crate::model::Model;

/// The words a message uses, which differ between the front ends: the IDL writes
/// `[oneway]` and `string`, a Rust trait `#[oneway]` and `String`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// An `.idl` file.
    Idl,
    /// A `#[remote]` Rust trait.
    Rust,
}

/// A check of a whole model that a crate adds to these, to be run and reported like them
/// in both front ends (rpcgen adds the check that generated Rust names do not clash).
pub type ModelCheck = fn(&Model) -> Vec<Draft>;

/// Every finding of the model-level rules, in no particular order (the IDL front end sorts
/// its diagnostics by position).
pub fn check(model: &Model, syntax: Syntax) -> Vec<Draft> {
    let mut drafts = Vec::new();
    for package in &model.packages {
        for def in &package.types {
            map_keys::check_type_def(def, syntax, &mut drafts);
        }
        for interface in &package.interfaces {
            method_ids::check(interface, &mut drafts);
            for method in &interface.methods {
                oneway::check(method, syntax, &mut drafts);
                map_keys::check_method(method, syntax, &mut drafts);
            }
        }
    }
    drafts
}
