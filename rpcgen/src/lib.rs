//! rpcgen: Rust client and server stubs from interface definitions.
//!
//! Write the interface once, in an `.idl` file (see `docs/IDL.md`), and rpcgen checks it
//! and generates the code both sides need. This crate is the generator; the
//! [`idl`] crate parses and checks the language, and is re-exported here.
//!
//! # Examples
//!
//! ```
//! let model = rpcgen::idl::check_str("calc.idl", "package calc; interface Calc { add(a: i64, b: i64) -> i64; }")
//!     .expect("a valid interface");
//! assert_eq!(model.packages[0].interfaces[0].name, "Calc");
//! ```

pub use idl;
