//! rpcgen: Rust client and server stubs from interface definitions.
//!
//! Write an interface once, in an `.idl` file (the language is described in
//! `docs/IDL.md`), and rpcgen checks it and generates, per package, a Rust module with:
//!
//! - the types (serde-serializable structs and enums; exceptions implementing `Error`);
//! - per interface `Bank`: a trait `Bank` to implement on the server, a `BankClient` stub
//!   with the same methods (taking `in` arguments borrowed: `&str`, `&[u8]`, `&T`), a
//!   `BankServer` adapter that serves any `impl Bank`, `BankRef` (a reference to a `Bank`
//!   object, the Rust type of the interface used as a type), and a `bank_interface`
//!   module with the method ids and fingerprints.
//!
//! The generated code needs only `rpc-runtime` as a dependency.
//!
//! # From a build script
//!
//! ```no_run
//! // build.rs: `unwrap` prints every IDL error with its `path:line:col` and fails the
//! // build.
//! rpcgen::compile(&["idl/bank.idl"]).unwrap();
//! ```
//!
//! and in the crate, one module per IDL package:
//!
//! ```ignore
//! pub mod bank {
//!     rpc_runtime::include_idl!("bank");
//! }
//! ```
//!
//! To keep two generations apart (both would write `bank.rs`), give one a folder inside
//! `OUT_DIR` with [`Builder::out_subdir`] and include its files by path:
//! `rpc_runtime::include_idl!(path = "v2/bank.rs")`.
//!
//! rpcgen has no command line of its own, so a build script compiles neither clap nor a
//! terminal renderer: the `cargo rpcgen` command is the `cargo-rpcgen` package (`cli/`).
//!
//! # From the command line
//!
//! `cargo rpcgen generate bank.idl -o src/generated` writes `bank.rs` (one file per
//! package) and a `mod.rs`; `--check` verifies committed files are up to date.

mod build;
mod clashes;
pub mod emit;
pub mod remote;

use std::path::Path;

pub use build::{Builder, Error, compile, configure, write_if_changed};
pub use idl;

/// One generated Rust file: the code of one IDL package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// The IDL package, which is also the file's stem (`bank` -> `bank.rs`).
    pub package: String,
    /// The package's doc comment lines (written above `package`), for the module that
    /// declares the file: see [`module_index`].
    pub docs: Vec<String>,
    /// Formatted Rust source.
    pub code: String,
}

/// Reads and checks IDL files like [`idl::load`], and also checks that the Rust names
/// the code generated from them would have do not clash (methods `readBlock` and
/// `read_block`, a `struct StoreClient` beside `interface Store`, ...). Every error
/// points at the IDL, with `path:line:col`.
///
/// # Examples
///
/// ```no_run
/// let model = rpcgen::load(&["idl/bank.idl"]).unwrap();
/// let files = rpcgen::generate(&model).unwrap();
/// ```
pub fn load<P: AsRef<Path>>(roots: &[P]) -> Result<idl::Model, idl::Error> {
    idl::load_with(&idl::DiskFileSystem, roots, &[clashes::check])
}

/// Checks one IDL file given as text like [`idl::check_str`], with the generated-name
/// check of [`load`].
///
/// # Examples
///
/// ```
/// let err = rpcgen::check_str("s.idl", "package s; struct StoreClient {} interface Store {}")
///     .unwrap_err();
/// assert!(err.to_string().contains("`StoreClient` would be defined twice"));
/// ```
pub fn check_str(path: impl AsRef<Path>, text: &str) -> Result<idl::Model, idl::Diagnostics> {
    idl::check_str_with(path, text, &[clashes::check])
}

/// Generates the code of every package of a checked model.
///
/// # Examples
///
/// ```
/// let model = rpcgen::idl::check_str("calc.idl", "package calc; interface Calc { add(a: i64, b: i64) -> i64; }")
///     .expect("a valid interface");
/// let files = rpcgen::generate(&model).unwrap();
/// assert_eq!(files[0].package, "calc");
/// assert!(files[0].code.contains("pub struct CalcClient"));
/// ```
pub fn generate(model: &idl::Model) -> Result<Vec<GeneratedFile>, String> {
    // A model from `idl::load` has not been through this check; one from `load` passes.
    let clashes = clashes::check(model);
    if !clashes.is_empty() {
        let messages: Vec<String> = clashes.into_iter().map(|d| d.message).collect();
        return Err(messages.join("\n"));
    }
    model
        .packages
        .iter()
        .map(|package| {
            let sources: Vec<String> = package_sources(model, &package.name);
            let code = emit::render(emit::package_tokens(model, package), &sources.join(", "))?;
            Ok(GeneratedFile {
                package: package.name.clone(),
                docs: package.docs.clone(),
                code,
            })
        })
        .collect()
}

/// The `mod.rs` that declares one module per generated package, for
/// `cargo rpcgen generate -o DIR` and `mod DIR;`. A package's doc comment (the `///`
/// lines above `package`) documents its module.
pub fn module_index(files: &[GeneratedFile]) -> String {
    let mut out = String::from(
        "// @generated by rpcgen. Do not edit: edit the IDL and regenerate.\n\n\
         //! Code generated by rpcgen: one module per IDL package.\n\n",
    );
    for f in files {
        if f.docs.is_empty() {
            out.push_str(&format!("/// The `{}` IDL package.\n", f.package));
        }
        for line in &f.docs {
            let line = if line.is_empty() {
                "///".to_string()
            } else {
                format!("/// {line}")
            };
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&format!("pub mod {};\n", emit::names::ident(&f.package)));
    }
    out
}

/// The file names (without folders) of the files that define `package`, for the banner.
fn package_sources(model: &idl::Model, package: &str) -> Vec<String> {
    let Some(p) = model.package(package) else {
        return Vec::new();
    };
    let mut files: Vec<String> = p
        .types
        .iter()
        .map(|t| t.span.file)
        .chain(p.interfaces.iter().map(|i| i.span.file))
        .filter_map(|f| model.files.get(f.0 as usize))
        .filter_map(|f| {
            Path::new(f)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .collect();
    files.sort();
    files.dedup();
    files
}
