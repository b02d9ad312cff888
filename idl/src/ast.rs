//! What one IDL file says, before any name is resolved.
//!
//! The AST mirrors the grammar: every name keeps its [`Span`] so the checker can point at
//! it. Nothing here has been validated; see the `check` module for that.

use crate::source::{FileId, Span};

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The text of the name.
    pub name: String,
    /// Where it stands.
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone)]
pub struct File {
    /// Which file.
    pub id: FileId,
    /// Every `package` line (the checker wants exactly one).
    pub packages: Vec<PackageDecl>,
    /// Every `import` line, in order.
    pub imports: Vec<Import>,
    /// Type and interface definitions, in order.
    pub items: Vec<Item>,
}

/// `package name;`
#[derive(Debug, Clone)]
pub struct PackageDecl {
    /// The package's name.
    pub name: Ident,
    /// Doc comments above it.
    pub docs: Vec<String>,
}

/// `import "path";`
#[derive(Debug, Clone)]
pub struct Import {
    /// The path as written, relative to the importing file's folder.
    pub path: String,
    /// The span of the string literal.
    pub span: Span,
}

/// A top-level definition.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its name.
    pub name: Ident,
    /// Doc comments above it.
    pub docs: Vec<String>,
    /// What kind of definition, with its body.
    pub kind: ItemKind,
}

/// The body of a top-level definition.
#[derive(Debug, Clone)]
pub enum ItemKind {
    /// `struct Name { fields }`
    Struct(Vec<Field>),
    /// `enum Name { variants }`
    Enum(Vec<Variant>),
    /// `exception Name { variants }`
    Exception(Vec<Variant>),
    /// `interface Name { methods }`
    Interface(Vec<Method>),
}

impl ItemKind {
    /// The keyword that introduces this kind of item.
    pub fn keyword(&self) -> &'static str {
        match self {
            ItemKind::Struct(_) => "struct",
            ItemKind::Enum(_) => "enum",
            ItemKind::Exception(_) => "exception",
            ItemKind::Interface(_) => "interface",
        }
    }
}

/// `name: Type` in a struct or a struct variant.
#[derive(Debug, Clone)]
pub struct Field {
    /// Its name.
    pub name: Ident,
    /// Doc comments above it.
    pub docs: Vec<String>,
    /// Its type.
    pub ty: TypeRef,
}

/// A variant of an enum or exception.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Its name.
    pub name: Ident,
    /// Doc comments above it.
    pub docs: Vec<String>,
    /// Unit, tuple or struct.
    pub shape: VariantShape,
}

/// What a variant carries.
#[derive(Debug, Clone)]
pub enum VariantShape {
    /// `Name`
    Unit,
    /// `Name(T, U)`
    Tuple(Vec<TypeRef>),
    /// `Name { a: T }`
    Struct(Vec<Field>),
}

/// A method of an interface.
#[derive(Debug, Clone)]
pub struct Method {
    /// Its name.
    pub name: Ident,
    /// Doc comments above it.
    pub docs: Vec<String>,
    /// Every name inside `[...]` before it, in order.
    pub attrs: Vec<Ident>,
    /// Its parameters, in order.
    pub params: Vec<Param>,
    /// `-> Type`, if any.
    pub result: Option<TypeRef>,
    /// `raises Name`, if any.
    pub raises: Option<Path>,
    /// From the name to the `;`.
    pub span: Span,
}

/// How a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Caller to server only (the default).
    In,
    /// Server to caller only.
    Out,
    /// Caller to server and back (copy/restore).
    InOut,
}

/// `[mode] name: Type`
#[derive(Debug, Clone)]
pub struct Param {
    /// Its mode, and where the mode keyword stands if it was written.
    pub mode: (Mode, Option<Span>),
    /// Its name.
    pub name: Ident,
    /// Its type.
    pub ty: TypeRef,
}

/// `Name` or `package.Name`.
#[derive(Debug, Clone)]
pub struct Path {
    /// The package, when qualified.
    pub package: Option<Ident>,
    /// The name.
    pub name: Ident,
    /// The whole path.
    pub span: Span,
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.package {
            Some(p) => write!(f, "{}.{}", p.name, self.name.name),
            None => f.write_str(&self.name.name),
        }
    }
}

/// A type as written: a path with optional type arguments, e.g. `map<string, list<u8>>`.
#[derive(Debug, Clone)]
pub struct TypeRef {
    /// The type's name.
    pub path: Path,
    /// The arguments inside `<...>`.
    pub args: Vec<TypeRef>,
    /// The whole type, arguments included.
    pub span: Span,
}
