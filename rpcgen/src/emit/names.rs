//! Rust names for IDL names.
//!
//! IDL identifiers may be Rust keywords (`type`, `match`, `gen`): they become raw
//! identifiers (`r#type`). The few keywords that cannot be raw (`self`, `Self`, `super`,
//! `crate`, `_`) get a trailing underscore instead; the wire never carries names, so
//! this changes nothing for other languages.

use proc_macro2::{Ident, Span};

/// Keywords of Rust 2024, strict and reserved, that may be written as raw identifiers.
const RAW_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// The Rust identifier for an IDL name, as written.
pub fn ident(name: &str) -> Ident {
    if NOT_RAW.contains(&name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else if RAW_KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// An identifier made by the generator (never a keyword).
pub fn made(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

/// `BankAccount` -> `bank_account`, `HTTPServer` -> `http_server`, `getX` -> `get_x`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(|n| n.is_ascii_lowercase()));
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `balance` -> `BALANCE`, `readBlock` -> `READ_BLOCK`.
pub fn upper_snake_case(name: &str) -> String {
    snake_case(name).to_ascii_uppercase()
}

/// `read_block` -> `ReadBlock`, `readBlock` -> `ReadBlock`.
pub fn pascal_case(name: &str) -> String {
    snake_case(name)
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The name Rust resolves [`ident`]`(name)` to: `r#type` and `type` are one name.
pub fn resolved(name: &str) -> String {
    ident(name).to_string().trim_start_matches("r#").to_string()
}

// The names the emitter makes from IDL names. The emitter and the check that generated
// names do not clash (`crate::clashes`) both call these, so the check sees exactly the
// names the code will have.

/// The client stub of interface `Bank`: `BankClient`.
pub fn client_struct(interface: &str) -> String {
    format!("{}Client", resolved(interface))
}

/// The server adapter of interface `Bank`: `BankServer`.
pub fn server_struct(interface: &str) -> String {
    format!("{}Server", resolved(interface))
}

/// The typed reference to an object of interface `Bank`: `BankRef`, the Rust type of
/// the interface used as a type.
pub fn ref_alias(interface: &str) -> String {
    format!("{}Ref", resolved(interface))
}

/// The facts module of interface `Bank`: `bank_interface`.
pub fn facts_module(interface: &str) -> String {
    format!("{}_interface", snake_case(interface))
}

/// The spec constant of a method, in the facts module's `methods`: `BALANCE`.
pub fn method_const(method: &str) -> String {
    upper_snake_case(method)
}

/// The private module of a package's wire structs (see `mod.rs`).
pub const WIRE_MODULE: &str = "__wire";

/// A wire struct of a method, in the [`WIRE_MODULE`]: `BankBalanceRequest` for `what` =
/// `Request`.
pub fn wire_struct(interface: &str, method: &str, what: &str) -> String {
    format!("{}{}{what}", resolved(interface), pascal_case(method))
}

/// The wire structs of every method (see `interface.rs`), and of a two-way method only.
pub const WIRE_REQUEST: [&str; 2] = ["RequestRef", "Request"];
/// The wire structs of a method that gets a reply.
pub const WIRE_REPLY: [&str; 2] = ["ReplyRef", "Reply"];

/// The methods every generated client has besides the interface's (see `client.rs`).
pub const CLIENT_METHODS: [&str; 5] = [
    "new",
    "from_client",
    "with_timeout",
    "with_retry",
    "with_metadata",
];

/// The provided methods of every generated service trait besides the interface's (see
/// `interface.rs`).
pub const TRAIT_METHODS: [&str; 1] = ["into_ref"];

/// Names the generated methods use beside the parameters: the local variables of the
/// client and server bodies and the reply's result field (see `client.rs`, `server.rs`).
pub const METHOD_LOCALS: [&str; 3] = ["__request", "__reply", "__result"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(snake_case("BankAccount"), "bank_account");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("getX"), "get_x");
        assert_eq!(snake_case("read_block"), "read_block");
        assert_eq!(upper_snake_case("readBlock"), "READ_BLOCK");
        assert_eq!(pascal_case("read_block"), "ReadBlock");
        assert_eq!(pascal_case("readBlock"), "ReadBlock");
        assert_eq!(resolved("type"), "type");
        assert_eq!(client_struct("type"), "typeClient");
        assert_eq!(ref_alias("type"), "typeRef");
        assert_eq!(facts_module("HTTPStore"), "http_store_interface");
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("self").to_string(), "self_");
        assert_eq!(ident("Account").to_string(), "Account");
    }
}
