//! The checked model: what an interface means, with every name resolved.
//!
//! Both front ends produce a [`Model`] — the IDL through [`crate::load`], the `#[remote]`
//! attribute from a Rust trait — and rpcgen's one emitter turns it into code. So the model
//! speaks of the interface only: no Rust tokens, no sockets. A model that exists has
//! passed every check: names resolve, nothing is defined twice, `oneway` methods return
//! nothing, method ids are unique, and every recursive type has an indirection.
//!
//! Every name and written type keeps a [`Span`], so that the checks of the whole model
//! (see [`crate::rules`]), which both front ends run, can point at the source of either.

use std::fmt;
use std::path::PathBuf;

use crate::source::Span;

/// Everything a set of IDL files defines, grouped by package.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The packages, in the order their first file was read.
    pub packages: Vec<Package>,
    /// Every file that was read, imports included, indexed by [`Span::file`]. A build
    /// script watches these for changes.
    pub files: Vec<PathBuf>,
}

impl Model {
    /// The package called `name`.
    pub fn package(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// The type definition a [`QualifiedName`] names.
    pub fn type_def(&self, name: &QualifiedName) -> Option<&TypeDef> {
        self.package(&name.package)?
            .types
            .iter()
            .find(|t| t.name == name.name)
    }

    /// The interface a [`QualifiedName`] names.
    pub fn interface(&self, name: &QualifiedName) -> Option<&Interface> {
        self.package(&name.package)?
            .interfaces
            .iter()
            .find(|i| i.name == name.name)
    }
}

/// One package: the unit of generated code (one Rust module per package).
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// Its name, from `package name;`.
    pub name: String,
    /// Doc comments written above `package` lines.
    pub docs: Vec<String>,
    /// Structs, enums and exceptions, in definition order.
    pub types: Vec<TypeDef>,
    /// Interfaces, in definition order.
    pub interfaces: Vec<Interface>,
}

/// A name and the package it is defined in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualifiedName {
    /// The package.
    pub package: String,
    /// The name inside it.
    pub name: String,
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.package, self.name)
    }
}

/// A struct, enum or exception.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeDef {
    /// Its name.
    pub name: String,
    /// Its doc comment lines.
    pub docs: Vec<String>,
    /// Where its name is defined.
    pub span: Span,
    /// What it holds.
    pub kind: TypeDefKind,
}

/// The shape of a user type.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeDefKind {
    /// A record of named fields.
    Struct(Vec<Field>),
    /// A choice between variants.
    Enum(Vec<Variant>),
    /// Like an enum, and the only kind of type a method may `raise`.
    Exception(Vec<Variant>),
}

/// A named, typed member of a struct or struct variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its doc comment lines.
    pub docs: Vec<String>,
    /// Its type.
    pub ty: Type,
    /// Where its type is written.
    pub ty_span: TypeSpan,
    /// Where its name is defined.
    pub span: Span,
}

/// A variant of an enum or exception.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Its name.
    pub name: String,
    /// Its doc comment lines.
    pub docs: Vec<String>,
    /// What it carries.
    pub shape: VariantShape,
    /// Where each type of a tuple variant is written, in order; empty for other shapes.
    pub tuple_spans: Vec<TypeSpan>,
    /// Where its name is defined.
    pub span: Span,
}

/// What a variant carries.
#[derive(Debug, Clone, PartialEq)]
pub enum VariantShape {
    /// Nothing.
    Unit,
    /// Unnamed values.
    Tuple(Vec<Type>),
    /// Named fields.
    Struct(Vec<Field>),
}

/// A built-in scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// `bool`
    Bool,
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `string`: UTF-8 text.
    String,
    /// `bytes`: an opaque byte sequence.
    Bytes,
}

impl Primitive {
    /// Every primitive, with its IDL name.
    pub const ALL: [(&'static str, Primitive); 13] = [
        ("bool", Primitive::Bool),
        ("u8", Primitive::U8),
        ("u16", Primitive::U16),
        ("u32", Primitive::U32),
        ("u64", Primitive::U64),
        ("i8", Primitive::I8),
        ("i16", Primitive::I16),
        ("i32", Primitive::I32),
        ("i64", Primitive::I64),
        ("f32", Primitive::F32),
        ("f64", Primitive::F64),
        ("string", Primitive::String),
        ("bytes", Primitive::Bytes),
    ];

    /// The primitive called `name` in the IDL.
    pub fn from_name(name: &str) -> Option<Primitive> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
    }

    /// Its IDL name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Whether it may be a `map` key: integers, `bool`, `string` and `bytes`. Floats may
    /// not, because NaN is not equal to itself.
    pub fn is_map_key(self) -> bool {
        !matches!(self, Primitive::F32 | Primitive::F64)
    }
}

/// Where a written type stands, and each of its type arguments: `map<f64, u32>` has the
/// span of the whole type and one child per argument, so that a check of the model can
/// point at the very argument that is wrong. It mirrors the [`Type`], not the text: an
/// argument the model does not keep (the `u8` of Rust's `Vec<u8>`, which is `bytes`) has
/// no child.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeSpan {
    /// The whole type.
    pub span: Span,
    /// Its type arguments, in order.
    pub args: Vec<TypeSpan>,
}

impl TypeSpan {
    /// A type without arguments at `span`.
    pub fn leaf(span: Span) -> TypeSpan {
        TypeSpan {
            span,
            args: Vec::new(),
        }
    }
}

/// A resolved type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// A built-in scalar.
    Primitive(Primitive),
    /// `list<T>`: a sequence.
    List(Box<Type>),
    /// `option<T>`: a value or nothing.
    Option(Box<Type>),
    /// `map<K, V>`: keys to values, keys unique.
    Map(Box<Type>, Box<Type>),
    /// A struct, enum or exception.
    Named {
        /// Which one.
        name: QualifiedName,
        /// True when this reference closes a cycle through `option` (`struct Node { next:
        /// option<Node> }`), so the generated code must put it behind a pointer.
        boxed: bool,
    },
    /// A remote object reference to an interface.
    Interface(QualifiedName),
}

impl fmt::Display for Type {
    /// The type as it would be written in IDL, fully qualified.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Primitive(p) => f.write_str(p.name()),
            Type::List(t) => write!(f, "list<{t}>"),
            Type::Option(t) => write!(f, "option<{t}>"),
            Type::Map(k, v) => write!(f, "map<{k},{v}>"),
            Type::Named { name, .. } | Type::Interface(name) => write!(f, "{name}"),
        }
    }
}

/// An interface: a set of remotely callable methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its doc comment lines.
    pub docs: Vec<String>,
    /// Where its name is defined.
    pub span: Span,
    /// Its methods, in definition order.
    pub methods: Vec<Method>,
    /// Hash of the canonical signature of every method and every type they use; see
    /// [`crate::ids`].
    pub fingerprint: u64,
}

/// What a caller is promised when messages are lost, duplicated or delayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Semantics {
    /// `[oneway]`: one request, no reply, executed at most once per copy received.
    Maybe,
    /// `[idempotent]`: retried with the same id; the server executes every copy.
    AtLeastOnce,
    /// The default: retried with the same id; the server filters duplicates and resends
    /// the stored reply.
    AtMostOnce,
    /// `[last_of_many]`: retried with a new id; only the last attempt's reply is kept.
    LastOfMany,
}

impl Semantics {
    /// The attributes that select a semantics other than the default (at-most-once).
    pub const ATTRIBUTES: [(&'static str, Semantics); 3] = [
        ("idempotent", Semantics::AtLeastOnce),
        ("oneway", Semantics::Maybe),
        ("last_of_many", Semantics::LastOfMany),
    ];

    /// The IDL attribute that selects it, or None for the default.
    pub fn attribute(self) -> Option<&'static str> {
        Self::ATTRIBUTES
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(name, _)| *name)
    }
}

/// How a parameter travels; re-exported from the AST because it means the same in both.
pub use crate::ast::Mode;

/// A method of an interface.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    /// Its name.
    pub name: String,
    /// Its doc comment lines.
    pub docs: Vec<String>,
    /// Where its name is defined.
    pub span: Span,
    /// Its wire id: a hash of its name, stable when other methods are added, removed or
    /// reordered; see [`crate::ids::method_id`].
    pub id: u32,
    /// Hash of this method's canonical signature and the types it uses.
    pub fingerprint: u64,
    /// Its call semantics.
    pub semantics: Semantics,
    /// Whether the server may stop its handler in the middle when its call is cancelled
    /// (by the client, by the deadline, or as an orphan); false when the method is marked
    /// `[uncancellable]`. A server-side policy: not part of the method's id or
    /// fingerprint, so adding or removing the attribute keeps clients and servers
    /// compatible.
    pub cancellable: bool,
    /// Its parameters, in order.
    pub params: Vec<Param>,
    /// What it returns, if anything.
    pub result: Option<Type>,
    /// Where the result type is written, when there is one.
    pub result_span: Option<TypeSpan>,
    /// The exception it may raise, if any.
    pub raises: Option<QualifiedName>,
    /// Where the exception is named, when there is one.
    pub raises_span: Option<Span>,
}

impl Method {
    /// The attribute that makes a method uncancellable (`cancellable: false`). It
    /// combines with any semantics attribute, `oneway` included.
    pub const UNCANCELLABLE: &'static str = "uncancellable";
}

/// A parameter of a method.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// `in`, `out` or `inout`.
    pub mode: Mode,
    /// Where the mode is written (the `out` or `inout` keyword, or Rust's `&mut T`); its
    /// name when the mode is an implied `in`.
    pub mode_span: Span,
    /// Its type.
    pub ty: Type,
    /// Where its type is written.
    pub ty_span: TypeSpan,
    /// Where its name is defined.
    pub span: Span,
}
