//! What `cargo rpcgen describe` prints: every interface of a model with its wire facts,
//! and every method with its signature, semantics, id and fingerprint.

use std::fmt::Write;

use crate::interface::{DynamicInterface, semantics_text};

/// The description of `interfaces`, as text for a terminal.
///
/// ```text
/// bank.Bank  fingerprint 0x6b1c0f3a1e2d4c5b  object 0x0b3ab8b4e4f1d6a1
///   balance(id: u64) -> i64 raises bank.BankError
///       at-least-once [idempotent]  id 0x1f2e3d4c  fingerprint 0x...
/// ```
pub fn describe(interfaces: &[DynamicInterface]) -> String {
    let mut out = String::new();
    for (i, interface) in interfaces.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let spec = interface.spec();
        let _ = writeln!(
            out,
            "{}  fingerprint {:#018x}  object {:#018x}",
            spec.name, spec.fingerprint, spec.object
        );
        for method in interface.methods() {
            let m = &method.method;
            let _ = writeln!(out, "  {}", method.signature());
            let mut facts = format!(
                "{}  id {:#010x}  fingerprint {:#018x}",
                semantics_text(m.semantics),
                m.id,
                m.fingerprint
            );
            if !m.cancellable {
                facts.push_str("  [uncancellable]");
            }
            let _ = writeln!(out, "      {facts}");
        }
    }
    out
}

/// The description of `interfaces` as JSON, for `GET /` of the gateway and scripts:
/// an array of interfaces, each with its methods.
pub fn describe_json(interfaces: &[DynamicInterface]) -> serde_json::Value {
    let interfaces: Vec<serde_json::Value> = interfaces
        .iter()
        .map(|interface| {
            let spec = interface.spec();
            let methods: Vec<serde_json::Value> = interface
                .methods()
                .iter()
                .map(|method| {
                    let m = &method.method;
                    serde_json::json!({
                        "name": m.name,
                        "signature": method.signature(),
                        "semantics": semantics_text(m.semantics),
                        "cancellable": m.cancellable,
                        "id": format!("{:#010x}", m.id),
                        "fingerprint": format!("{:#018x}", m.fingerprint),
                        "path": format!("/{}/{}", spec.name, m.name),
                    })
                })
                .collect();
            serde_json::json!({
                "name": spec.name,
                "fingerprint": format!("{:#018x}", spec.fingerprint),
                "object": format!("{:#018x}", spec.object),
                "methods": methods,
            })
        })
        .collect();
    serde_json::Value::Array(interfaces)
}
