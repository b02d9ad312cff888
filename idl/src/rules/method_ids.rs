//! Method ids are a hash of the method's name, so two names of one interface may, rarely,
//! get one id; the server could then not tell their requests apart.

use std::collections::HashMap;

use crate::diagnostic::Draft;
use crate::model::{Interface, Method};

/// Reports every method whose id an earlier method of `interface` already has.
pub fn check(interface: &Interface, drafts: &mut Vec<Draft>) {
    let mut by_id: HashMap<u32, &Method> = HashMap::new();
    for m in &interface.methods {
        match by_id.get(&m.id) {
            // Two methods of one name are the front end's "duplicate method" to report.
            Some(first) if first.name != m.name => drafts.push(
                Draft::new(
                    m.span,
                    format!(
                        "methods `{}` and `{}` have the same id {:#010x}",
                        first.name, m.name, m.id
                    ),
                    "its id collides",
                )
                .also(first.span, "with this method's")
                .help("method ids are a hash of the name; rename one of the two"),
            ),
            Some(_) => {}
            None => {
                by_id.insert(m.id, m);
            }
        }
    }
}
