//! The rpcgen interface definition language.
//!
//! An `.idl` file declares the types and interfaces of a remote service:
//!
//! ```text
//! package bank;
//!
//! /// A customer's account.
//! struct Account { id: u64, owner: string, balance: i64 }
//! exception BankError { NotFound { id: u64 } }
//!
//! interface Bank {
//!     [idempotent] balance(id: u64) -> i64 raises BankError;
//!     transfer(from: u64, to: u64, inout amount: i64) raises BankError;
//! }
//! ```
//!
//! This crate reads such files and checks them, producing either a [`Model`] — every name
//! resolved, every method with its call semantics, id and fingerprint — or [`Diagnostics`]
//! that point at each mistake with `path:line:col`. The stages are one module each:
//! [`parse`](crate::ast) (pest grammar to [`ast`]), `check` (names, attributes,
//! recursion), [`rules`] (the checks of the whole model, which the `#[remote]` front end
//! runs too) and [`ids`] (method ids, fingerprints). `docs/IDL.md` in the repository is
//! the language reference.
//!
//! # Examples
//!
//! ```
//! let model = idl::check_str("bank.idl", r#"
//!     package bank;
//!     interface Bank { [idempotent] balance(id: u64) -> i64; }
//! "#).unwrap();
//! let method = &model.packages[0].interfaces[0].methods[0];
//! assert_eq!(method.semantics, idl::Semantics::AtLeastOnce);
//! assert_eq!(method.id, idl::ids::method_id("balance"));
//!
//! let err = idl::check_str("bank.idl", "package bank; struct A { x: u65 }").unwrap_err();
//! assert!(err.to_string().contains("bank.idl:1:29"));
//! ```

pub mod ast;
mod check;
pub mod diagnostic;
mod graph;
pub mod ids;
mod loader;
pub mod model;
mod parse;
pub mod rules;
pub mod source;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Diagnostics, Draft, Label};
pub use loader::{DiskFileSystem, FileSystem, MAX_FILES, MemoryFileSystem};
pub use model::{
    Field, Interface, Method, Mode, Model, Package, Param, Primitive, QualifiedName, Semantics,
    Type, TypeDef, TypeDefKind, TypeSpan, Variant, VariantShape,
};
pub use parse::{MAX_FILE_BYTES, MAX_NESTING};
pub use rules::{ModelCheck, Syntax};

/// Why a set of IDL files could not be turned into a [`Model`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file named by the caller could not be read (imports that cannot be read are
    /// [`Error::Invalid`], pointing at the `import` line).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file, as the caller named it.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The files were read, and are wrong.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Reads `roots` and everything they import from disk, and checks them.
///
/// Relative paths are resolved against the current directory and shown in errors as
/// given.
pub fn load<P: AsRef<Path>>(roots: &[P]) -> Result<Model, Error> {
    load_from(&DiskFileSystem, roots)
}

/// Like [`load`], reading files from `fs`.
pub fn load_from<P: AsRef<Path>>(fs: &dyn FileSystem, roots: &[P]) -> Result<Model, Error> {
    load_with(fs, roots, &[])
}

/// Like [`load_from`], and also runs `checks` on the model, reporting what they find with
/// the IDL's own errors (rpcgen adds the check of the Rust names it generates).
pub fn load_with<P: AsRef<Path>>(
    fs: &dyn FileSystem,
    roots: &[P],
    checks: &[ModelCheck],
) -> Result<Model, Error> {
    let roots: Vec<PathBuf> = roots.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let loaded = loader::load(fs, &roots).map_err(|e| Error::Read {
        path: e.path,
        source: e.source,
    })?;
    check::check(loaded, checks).map_err(Error::Invalid)
}

/// Checks one file given as text. Its imports are looked up on disk relative to `path`.
pub fn check_str(path: impl AsRef<Path>, text: &str) -> Result<Model, Diagnostics> {
    check_str_with(path, text, &[])
}

/// Like [`check_str`], and also runs `checks` on the model (see [`load_with`]).
pub fn check_str_with(
    path: impl AsRef<Path>,
    text: &str,
    checks: &[ModelCheck],
) -> Result<Model, Diagnostics> {
    let mut fs = MemoryFileSystem::new();
    fs.insert(path.as_ref(), text);
    match load_with(&Overlay { top: &fs }, &[path.as_ref()], checks) {
        Ok(model) => Ok(model),
        Err(Error::Invalid(d)) => Err(d),
        Err(Error::Read { .. }) => unreachable!("the root file is in memory"),
    }
}

/// Memory first, then the disk.
struct Overlay<'a> {
    top: &'a MemoryFileSystem,
}

impl FileSystem for Overlay<'_> {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.top.read(path).or_else(|_| DiskFileSystem.read(path))
    }

    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        self.top
            .canonicalize(path)
            .or_else(|_| DiskFileSystem.canonicalize(path))
    }
}
