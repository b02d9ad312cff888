//! A value of any IDL type, known only at run time.
//!
//! A [`Value`] has no type of its own: it is read and written against an [`idl::Type`]
//! of a checked model ([`crate::codec`] for the wire, [`crate::json`] for JSON), and
//! each of those checks that the value fits the type, saying where it does not.

use std::fmt;

/// A value of an IDL type.
///
/// Which variant stands for which type:
///
/// | IDL type | variant |
/// |---|---|
/// | `bool` | [`Value::Bool`] |
/// | `u8` `u16` `u32` `u64` | [`Value::Unsigned`] |
/// | `i8` `i16` `i32` `i64` | [`Value::Signed`] |
/// | `f32` `f64` | [`Value::Float`] |
/// | `string` | [`Value::String`] |
/// | `bytes` | [`Value::Bytes`] |
/// | `list<T>` | [`Value::List`] |
/// | `option<T>` | [`Value::Option`] |
/// | `map<K, V>` | [`Value::Map`] |
/// | a struct | [`Value::Struct`] |
/// | an enum or exception | [`Value::Variant`] |
/// | an interface (a remote object reference) | [`Value::Reference`] |
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A `bool`.
    Bool(bool),
    /// An unsigned integer; it must fit its type (`u8`: at most 255).
    Unsigned(u64),
    /// A signed integer; it must fit its type (`i8`: -128 to 127).
    Signed(i64),
    /// A float; an `f32` is held as the `f64` of the same value.
    Float(f64),
    /// A `string`.
    String(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// The elements of a `list`, in order.
    List(Vec<Value>),
    /// An `option`: its value, or nothing.
    Option(Option<Box<Value>>),
    /// The entries of a `map`, in the order they are encoded; keys are unique.
    Map(Vec<(Value, Value)>),
    /// The fields of a struct, each by name, in the struct's order.
    Struct(Vec<(String, Value)>),
    /// One variant of an enum or exception, by name, with what it carries.
    Variant {
        /// The variant's name.
        name: String,
        /// What it carries.
        fields: Fields,
    },
    /// A remote object reference (an interface used as a type).
    Reference(rpc_runtime::ObjectRef),
}

/// What a variant carries, as its IDL shape says.
#[derive(Debug, Clone, PartialEq)]
pub enum Fields {
    /// Nothing: a unit variant.
    Unit,
    /// Unnamed values, in order: a tuple variant.
    Tuple(Vec<Value>),
    /// Named values, in the variant's order: a struct variant.
    Struct(Vec<(String, Value)>),
}

impl Fields {
    /// What the variant carries, in words, for error messages: "nothing", "1 value",
    /// "3 values", "fields".
    pub fn carried(&self) -> String {
        match self {
            Fields::Unit => "nothing".to_owned(),
            Fields::Tuple(t) if t.len() == 1 => "1 value".to_owned(),
            Fields::Tuple(t) => format!("{} values", t.len()),
            Fields::Struct(_) => "fields".to_owned(),
        }
    }
}

impl Value {
    /// A short name of what kind of value this is, for error messages: "bool",
    /// "unsigned integer", "string", "struct", ...
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::Unsigned(_) => "unsigned integer",
            Value::Signed(_) => "signed integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Option(_) => "option",
            Value::Map(_) => "map",
            Value::Struct(_) => "struct",
            Value::Variant { .. } => "variant",
            Value::Reference(_) => "object reference",
        }
    }

    /// The field `name` of a struct value; None for other values or a missing field.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why a value does not fit its type, and where: a path from the value's root
/// (`amount`, `accounts[2].owner`, `tags["x"]`) and what was wrong there.
///
/// Displayed as ``"`amount`: expected i64, found string"``, or the message alone when
/// the root itself is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// Where, from the root; empty for the root.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

impl ValueError {
    /// An error at the root.
    pub fn new(message: impl Into<String>) -> ValueError {
        ValueError {
            path: String::new(),
            message: message.into(),
        }
    }

    /// The same error, one step further from the root: `step` is a field name
    /// (`owner`) or an index or key already written as `[2]` or `["x"]`.
    pub fn within(mut self, step: &str) -> ValueError {
        self.path = if self.path.is_empty() {
            step.to_owned()
        } else if self.path.starts_with('[') {
            format!("{step}{}", self.path)
        } else {
            format!("{step}.{}", self.path)
        };
        self
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ValueError {}

/// A value as IDL-like text, for messages: `NotFound { id: 9 }`, `[1, 2]`, `"text"`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<'a, T: fmt::Display + 'a>(
            f: &mut fmt::Formatter<'_>,
            items: impl Iterator<Item = T>,
        ) -> fmt::Result {
            for (i, item) in items.enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        }
        let named = |fields: &[(String, Value)]| {
            fields
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Unsigned(n) => write!(f, "{n}"),
            Value::Signed(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::List(items) => {
                f.write_str("[")?;
                list(f, items.iter())?;
                f.write_str("]")
            }
            Value::Option(None) => f.write_str("none"),
            Value::Option(Some(v)) => write!(f, "{v}"),
            Value::Map(entries) => {
                f.write_str("{")?;
                list(f, entries.iter().map(|(k, v)| format!("{k}: {v}")))?;
                f.write_str("}")
            }
            Value::Struct(fields) => write!(f, "{{ {} }}", named(fields)),
            Value::Variant { name, fields } => match fields {
                Fields::Unit => f.write_str(name),
                Fields::Tuple(values) => {
                    write!(f, "{name}(")?;
                    list(f, values.iter())?;
                    f.write_str(")")
                }
                Fields::Struct(fields) => write!(f, "{name} {{ {} }}", named(fields)),
            },
            Value::Reference(r) => write!(f, "{}#{:x} at {}", r.interface, r.object, r.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_from_the_root() {
        let e = ValueError::new("expected i64, found string")
            .within("owner")
            .within("[2]")
            .within("accounts");
        assert_eq!(
            e.to_string(),
            "`accounts[2].owner`: expected i64, found string"
        );
        assert_eq!(ValueError::new("bad").to_string(), "bad");
    }
}
