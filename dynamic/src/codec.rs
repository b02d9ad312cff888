//! The wire form of [`Value`]s: exactly the postcard bytes that generated code writes and
//! reads for the same IDL type.
//!
//! Both directions go through serde and postcard, as generated code does, rather than
//! through a second, hand-written encoder: the bytes agree because the same serializer
//! makes them. [`encode`] serializes a value with a `Serialize` implementation driven by
//! the type; [`decode`] deserializes with a `DeserializeSeed` driven by the type, under
//! [`rpc_runtime::wire::decode_seed`]'s limits (nesting depth, element budget, no
//! preallocation from a declared length), since the bytes may come from a hostile peer.
//!
//! What goes on the wire for each IDL type:
//!
//! | IDL type | bytes |
//! |---|---|
//! | `bool` | one byte, 0 or 1 |
//! | `u8` `i8` | one raw byte |
//! | `u16` `u32` `u64` | varint |
//! | `i16` `i32` `i64` | zigzag varint |
//! | `f32` `f64` | little-endian IEEE 754 |
//! | `string` `bytes` | varint length, then the UTF-8 or raw bytes |
//! | `list<T>` | varint count, then the elements |
//! | `option<T>` | 0, or 1 then the value |
//! | `map<K, V>` | varint count, then key and value of each entry |
//! | a struct | its fields in declaration order, nothing else |
//! | an enum or exception | varint variant index (declaration order), then what the variant carries, as a struct would be |
//! | an interface | an object reference: `address` string, `binding` and `object` varints, `interface` string |
//!
//! Map entries are written in the order of the [`Value::Map`]. Generated code writes a
//! `HashMap` in its own iteration order, which is arbitrary, so the bytes of a value
//! equal generated code's bytes up to the order of map entries only; both decode to the
//! same map.
//!
//! A record (the arguments or the results of a call) travels as a struct of the named
//! fields would: [`encode_record`] and [`decode_record`].

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

use idl::{Model, Primitive, QualifiedName, Type, TypeDef, TypeDefKind, Variant, VariantShape};
use rpc_runtime::wire::{DecodeError, MAX_DEPTH};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, SerializeTuple, Serializer};

use crate::value::{Fields, Value, ValueError};

/// Encodes `value` as a value of type `ty`: the bytes generated code writes for it (up
/// to the order of map entries, see the [module](self) docs).
///
/// The value is checked against the type as it is written, and the first place where it
/// does not fit is the error, with its path: a value of the wrong kind, an integer out
/// of its type's range, a missing, unknown or repeated struct field, an unknown variant
/// or one with the wrong shape, a map key given twice, or nesting deeper than
/// [`MAX_DEPTH`] levels (which the receiver would refuse).
///
/// Integer values may be [`Value::Unsigned`] or [`Value::Signed`] for any integer type,
/// as long as they fit it; a float type takes integers too. An `f64` given for an `f32`
/// is rounded to the nearest `f32`; one beyond the `f32` range is an error.
pub fn encode(model: &Model, ty: &Type, value: &Value) -> Result<Vec<u8>, ValueError> {
    let encoder = Encoder::new(model);
    let result = postcard::to_allocvec(&Typed {
        enc: &encoder,
        ty,
        value,
    });
    encoder.finish(result)
}

/// Decodes bytes of type `ty` into a [`Value`], as generated code would decode them into
/// its Rust type, refusing leftover bytes.
///
/// The bytes may be hostile: decoding runs under [`rpc_runtime::wire::decode_seed`]'s
/// limits, and never reserves room from a length the bytes declare. A map whose bytes
/// give one key twice is refused (a [`Value::Map`] has unique keys), where a generated
/// `HashMap` would keep the last value.
pub fn decode(model: &Model, ty: &Type, bytes: &[u8]) -> Result<Value, DecodeError> {
    let ctx = Ctx::new(model);
    let result = rpc_runtime::wire::decode_seed(bytes, "value", Seed { ctx: &ctx, ty });
    ctx.finish(result)
}

/// Encodes a record: the arguments or results of a call, which travel as a struct whose
/// fields are `fields` would.
///
/// `value` must be a [`Value::Struct`] with each of those names exactly once, in any
/// order; the fields are written in the order of `fields`.
pub fn encode_record(
    model: &Model,
    fields: &[(String, Type)],
    value: &Value,
) -> Result<Vec<u8>, ValueError> {
    let fields = FieldsOf::record(fields);
    let Value::Struct(given) = value else {
        return Err(ValueError::new(format!(
            "expected a record of {}, found {}",
            fields.describe(),
            value.kind()
        )));
    };
    let encoder = Encoder::new(model);
    let result = postcard::to_allocvec(&StructBody {
        enc: &encoder,
        fields: &fields,
        given,
    });
    encoder.finish(result)
}

/// Decodes a record (see [`encode_record`]) into a [`Value::Struct`] with its fields in
/// the order of `fields`.
pub fn decode_record(
    model: &Model,
    fields: &[(String, Type)],
    bytes: &[u8],
) -> Result<Value, DecodeError> {
    let ctx = Ctx::new(model);
    let fields = FieldsOf::record(fields);
    let result = rpc_runtime::wire::decode_seed(
        bytes,
        "record",
        StructSeed {
            ctx: &ctx,
            fields: &fields,
        },
    );
    ctx.finish(result).map(Value::Struct)
}

// ---------------------------------------------------------------------------------------
// What the codec and the JSON conversion share: the checks of a value against its type.
// ---------------------------------------------------------------------------------------

/// Whose fields a field list is, for error messages.
#[derive(Clone, Copy)]
pub(crate) enum Owner<'a> {
    /// A struct.
    Struct(&'a QualifiedName),
    /// A struct variant of an enum or exception.
    Variant(&'a QualifiedName, &'a str),
    /// The arguments or results of a call.
    Record,
}

/// The declared fields of a struct, a struct variant or a record, whichever form the
/// model gives them in, so that one piece of code handles all three.
#[derive(Clone, Copy)]
pub(crate) struct FieldsOf<'a> {
    owner: Owner<'a>,
    list: FieldList<'a>,
}

#[derive(Clone, Copy)]
enum FieldList<'a> {
    Idl(&'a [idl::Field]),
    Record(&'a [(String, Type)]),
}

impl<'a> FieldsOf<'a> {
    /// The fields of a struct.
    pub(crate) fn of_struct(name: &'a QualifiedName, fields: &'a [idl::Field]) -> Self {
        FieldsOf {
            owner: Owner::Struct(name),
            list: FieldList::Idl(fields),
        }
    }

    /// The fields of a struct variant.
    pub(crate) fn of_variant(
        name: &'a QualifiedName,
        variant: &'a str,
        fields: &'a [idl::Field],
    ) -> Self {
        FieldsOf {
            owner: Owner::Variant(name, variant),
            list: FieldList::Idl(fields),
        }
    }

    /// The fields of a record.
    pub(crate) fn record(fields: &'a [(String, Type)]) -> Self {
        FieldsOf {
            owner: Owner::Record,
            list: FieldList::Record(fields),
        }
    }

    /// How many fields there are.
    pub(crate) fn len(&self) -> usize {
        match self.list {
            FieldList::Idl(f) => f.len(),
            FieldList::Record(f) => f.len(),
        }
    }

    /// The name and type of field `i`.
    pub(crate) fn get(&self, i: usize) -> Option<(&'a str, &'a Type)> {
        match self.list {
            FieldList::Idl(f) => f.get(i).map(|f| (f.name.as_str(), &f.ty)),
            FieldList::Record(f) => f.get(i).map(|(n, t)| (n.as_str(), t)),
        }
    }

    /// Every field's name and type, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'a str, &'a Type)> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Where field `name` is, if it is one.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.iter().position(|(n, _)| n == name)
    }

    /// "fields of bank.Account: id, owner" (or "fields: id, owner" for a record).
    pub(crate) fn describe(&self) -> String {
        let names: Vec<&str> = self.iter().map(|(n, _)| n).collect();
        let names = if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        };
        match self.owner {
            Owner::Struct(t) => format!("fields of {t}: {names}"),
            Owner::Variant(t, v) => format!("fields of {t}::{v}: {names}"),
            Owner::Record => format!("fields: {names}"),
        }
    }

    /// The error for a field that is not one of these.
    pub(crate) fn unknown(&self, name: &str) -> ValueError {
        ValueError::new(format!("unknown field `{name}` ({})", self.describe()))
    }

    /// The given fields of a struct value, one per declared field, in declared order.
    ///
    /// Each declared field must be given exactly once, in any order: an unknown or
    /// repeated name is an error, and so is a missing one (with the field as its path).
    pub(crate) fn match_given<'v>(
        &self,
        given: &'v [(String, Value)],
    ) -> Result<Vec<&'v Value>, ValueError> {
        let mut slots: Vec<Option<&'v Value>> = vec![None; self.len()];
        for (name, value) in given {
            let i = self.index_of(name).ok_or_else(|| self.unknown(name))?;
            match slots.get_mut(i) {
                Some(slot @ None) => *slot = Some(value),
                _ => return Err(ValueError::new(format!("field `{name}` given twice"))),
            }
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(i, slot)| {
                slot.ok_or_else(|| {
                    let name = self.get(i).map_or("?", |(n, _)| n);
                    ValueError::new("missing field").within(name)
                })
            })
            .collect()
    }
}

/// One more level of nesting below `depth`, counted as the receiver's decoder counts
/// them (every struct, list, map, `Some`, enum, and the content of a variant that is not
/// a single value), so that a value that encodes also decodes, and conversion of
/// untrusted JSON cannot recurse without bound.
pub(crate) fn enter(depth: usize) -> Result<usize, ValueError> {
    if depth >= MAX_DEPTH {
        Err(ValueError::new(format!(
            "nesting deeper than {MAX_DEPTH} levels"
        )))
    } else {
        Ok(depth + 1)
    }
}

/// "expected list<string>, found bool".
pub(crate) fn mismatch(ty: &Type, found: &str) -> ValueError {
    ValueError::new(format!("expected {ty}, found {found}"))
}

/// The range of an integer type; None for the others.
pub(crate) fn int_range(p: Primitive) -> Option<(i128, i128)> {
    Some(match p {
        Primitive::U8 => (0, u8::MAX.into()),
        Primitive::U16 => (0, u16::MAX.into()),
        Primitive::U32 => (0, u32::MAX.into()),
        Primitive::U64 => (0, u64::MAX.into()),
        Primitive::I8 => (i8::MIN.into(), i8::MAX.into()),
        Primitive::I16 => (i16::MIN.into(), i16::MAX.into()),
        Primitive::I32 => (i32::MIN.into(), i32::MAX.into()),
        Primitive::I64 => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    })
}

/// `v` if it fits the integer type `p`; else "expected u8 (0 to 255), found 300".
pub(crate) fn fit_int(p: Primitive, v: i128) -> Result<i128, ValueError> {
    match int_range(p) {
        Some((lo, hi)) if (lo..=hi).contains(&v) => Ok(v),
        Some((lo, hi)) => Err(ValueError::new(format!(
            "expected {} ({lo} to {hi}), found {v}",
            p.name()
        ))),
        None => Err(ValueError::new(format!(
            "expected {}, found an integer",
            p.name()
        ))),
    }
}

/// The integer a value holds, signed or not.
pub(crate) fn int_of(value: &Value) -> Option<i128> {
    match value {
        Value::Unsigned(v) => Some((*v).into()),
        Value::Signed(v) => Some((*v).into()),
        _ => None,
    }
}

/// `x` as the nearest `f32`; a finite `x` beyond the `f32` range is an error rather than
/// an infinity nobody wrote.
pub(crate) fn to_f32(x: f64) -> Result<f32, ValueError> {
    let f = x as f32;
    if x.is_finite() && f.is_infinite() {
        Err(ValueError::new(format!(
            "expected f32 (at most {:e} in magnitude), found {x:e}",
            f32::MAX
        )))
    } else {
        Ok(f)
    }
}

/// The definition of a named type; an error if the model lacks it (a type taken from
/// another model).
pub(crate) fn type_def<'m>(
    model: &'m Model,
    name: &QualifiedName,
) -> Result<&'m TypeDef, ValueError> {
    model
        .type_def(name)
        .ok_or_else(|| ValueError::new(format!("type {name} is not in the model")))
}

/// The variant called `name` of the enum or exception `owner`, with its index.
pub(crate) fn variant_named<'v>(
    owner: &QualifiedName,
    variants: &'v [Variant],
    name: &str,
) -> Result<(usize, &'v Variant), ValueError> {
    variants
        .iter()
        .enumerate()
        .find(|(_, v)| v.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
            let names = if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            };
            ValueError::new(format!(
                "unknown variant `{name}` of {owner} (variants: {names})"
            ))
        })
}

/// "variant `Segment` of shapes.Shape carries 4 values, found 3 values".
pub(crate) fn wrong_shape(owner: &QualifiedName, v: &Variant, found: &str) -> ValueError {
    let carries = match &v.shape {
        VariantShape::Unit => "nothing".to_owned(),
        VariantShape::Tuple(t) if t.len() == 1 => "1 value".to_owned(),
        VariantShape::Tuple(t) => format!("{} values", t.len()),
        VariantShape::Struct(f) => {
            let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
            format!("fields ({})", names.join(", "))
        }
    };
    ValueError::new(format!(
        "variant `{}` of {owner} carries {carries}, found {found}",
        v.name
    ))
}

/// Whether a variant carries nothing (a unit variant, or a tuple or struct variant of
/// no values), so that any empty form of its content fits it.
pub(crate) fn carries_nothing(shape: &VariantShape) -> bool {
    match shape {
        VariantShape::Unit => true,
        VariantShape::Tuple(t) => t.is_empty(),
        VariantShape::Struct(f) => f.is_empty(),
    }
}

/// A map key, compared as its key type orders keys: integers numerically (whatever
/// integer variant holds them), strings and bytes bytewise, false before true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum KeyRef<'a> {
    Bool(bool),
    Int(i128),
    String(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> KeyRef<'a> {
    /// The key a value is, if it can be one.
    pub(crate) fn of(value: &'a Value) -> Option<KeyRef<'a>> {
        Some(match value {
            Value::Bool(b) => KeyRef::Bool(*b),
            Value::Unsigned(_) | Value::Signed(_) => KeyRef::Int(int_of(value)?),
            Value::String(s) => KeyRef::String(s),
            Value::Bytes(b) => KeyRef::Bytes(b),
            _ => return None,
        })
    }
}

impl fmt::Display for KeyRef<'_> {
    /// As a path step shows it: `true`, `5`, `"x"`, bytes as hex `0x0aff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Bool(b) => write!(f, "{b}"),
            KeyRef::Int(i) => write!(f, "{i}"),
            KeyRef::String(s) => write!(f, "{s:?}"),
            KeyRef::Bytes(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
    }
}

/// The path step of map entry `i` whose key is `key`: `["x"]`, `[5]`, or `[entry 3]`
/// for a key that is not even a key.
pub(crate) fn key_step(i: usize, key: &Value) -> String {
    match KeyRef::of(key) {
        Some(k) => format!("[{k}]"),
        None => format!("[entry {i}]"),
    }
}

/// Checks that `key` fits the key type `ty` (a primitive: keys hold no nesting).
fn check_key(ty: &Type, key: &Value) -> Result<(), ValueError> {
    let Type::Primitive(p) = ty else {
        return Err(ValueError::new(format!("{ty} cannot be a map key")));
    };
    match (p, key) {
        (Primitive::Bool, Value::Bool(_))
        | (Primitive::String, Value::String(_))
        | (Primitive::Bytes, Value::Bytes(_)) => Ok(()),
        (p, v) if int_range(*p).is_some() => match int_of(v) {
            Some(i) => fit_int(*p, i).map(drop),
            None => Err(mismatch(ty, v.kind())),
        },
        (_, v) => Err(mismatch(ty, v.kind())),
    }
}

/// Checks the keys of a map value: each fits `key_ty`, and none is given twice.
pub(crate) fn check_keys(key_ty: &Type, entries: &[(Value, Value)]) -> Result<(), ValueError> {
    let mut seen = HashSet::with_capacity(entries.len());
    for (i, (key, _)) in entries.iter().enumerate() {
        check_key(key_ty, key).map_err(|e| e.within(&format!("[key {i}]")))?;
        if let Some(k) = KeyRef::of(key)
            && !seen.insert(k)
        {
            return Err(ValueError::new(format!("duplicate map key {k}")));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Encoding.
// ---------------------------------------------------------------------------------------

/// The state of one encoding: the model, the current nesting depth, and the first error.
///
/// postcard keeps no message of a serializer's custom error, so the [`ValueError`] waits
/// here, and each level it passes on its way out adds its step to the path.
struct Encoder<'a> {
    model: &'a Model,
    depth: Cell<usize>,
    error: RefCell<Option<ValueError>>,
}

impl<'a> Encoder<'a> {
    fn new(model: &'a Model) -> Self {
        Encoder {
            model,
            depth: Cell::new(0),
            error: RefCell::new(None),
        }
    }

    /// Keeps `error` and makes the serializer's error that carries it out.
    fn fail<E: ser::Error>(&self, error: ValueError) -> E {
        self.error.replace(Some(error));
        E::custom("the value does not fit its type")
    }

    /// Adds `step` to the path of the kept error, if `result` failed.
    fn at<T, E>(&self, result: Result<T, E>, step: impl FnOnce() -> String) -> Result<T, E> {
        if result.is_err() {
            let mut error = self.error.borrow_mut();
            if let Some(e) = error.take() {
                *error = Some(e.within(&step()));
            }
        }
        result
    }

    /// Opens a level of nesting, closed when the guard drops.
    fn enter<E: ser::Error>(&self) -> Result<Level<'_>, E> {
        match enter(self.depth.get()) {
            Ok(depth) => {
                self.depth.set(depth);
                Ok(Level(&self.depth))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// The bytes, or the kept error (or postcard's, which a value of an IDL type never
    /// causes).
    fn finish(self, result: Result<Vec<u8>, postcard::Error>) -> Result<Vec<u8>, ValueError> {
        result.map_err(|e| {
            self.error
                .into_inner()
                .unwrap_or_else(|| ValueError::new(format!("cannot encode the value: {e}")))
        })
    }
}

/// One open level of an encoding; dropping it closes the level.
struct Level<'a>(&'a Cell<usize>);

impl Drop for Level<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// A value with the type it is written as.
struct Typed<'a> {
    enc: &'a Encoder<'a>,
    ty: &'a Type,
    value: &'a Value,
}

impl<'a> Typed<'a> {
    fn of(&self, ty: &'a Type, value: &'a Value) -> Typed<'a> {
        Typed {
            enc: self.enc,
            ty,
            value,
        }
    }
}

impl Serialize for Typed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let enc = self.enc;
        match (self.ty, self.value) {
            (Type::Primitive(p), value) => primitive(enc, *p, self.ty, value, s),
            (Type::List(t), Value::List(items)) => {
                let _level = enc.enter::<S::Error>()?;
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for (i, item) in items.iter().enumerate() {
                    let r = seq.serialize_element(&self.of(t, item));
                    enc.at(r, || format!("[{i}]"))?;
                }
                seq.end()
            }
            (Type::Option(t), Value::Option(inner)) => match inner {
                None => s.serialize_none(),
                Some(inner) => {
                    let _level = enc.enter::<S::Error>()?;
                    s.serialize_some(&self.of(t, inner))
                }
            },
            (Type::Map(k, v), Value::Map(entries)) => {
                let _level = enc.enter::<S::Error>()?;
                check_keys(k, entries).map_err(|e| enc.fail::<S::Error>(e))?;
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    let r = map.serialize_entry(&self.of(k, key), &self.of(v, value));
                    enc.at(r, || key_step(i, key))?;
                }
                map.end()
            }
            (Type::Named { name, .. }, value) => {
                let def = type_def(enc.model, name).map_err(|e| enc.fail::<S::Error>(e))?;
                match (&def.kind, value) {
                    (TypeDefKind::Struct(fields), Value::Struct(given)) => StructBody {
                        enc,
                        fields: &FieldsOf::of_struct(name, fields),
                        given,
                    }
                    .serialize(s),
                    (
                        TypeDefKind::Enum(variants) | TypeDefKind::Exception(variants),
                        Value::Variant { name: v, fields },
                    ) => variant(enc, name, variants, v, fields, s),
                    (_, value) => Err(enc.fail(mismatch(self.ty, value.kind()))),
                }
            }
            (Type::Interface(_), Value::Reference(r)) => {
                let _level = enc.enter::<S::Error>()?;
                r.serialize(s)
            }
            (ty, value) => Err(enc.fail(mismatch(ty, value.kind()))),
        }
    }
}

/// A primitive value, checked against its type (its kind, an integer's range, an
/// `f32`'s range).
fn primitive<S: Serializer>(
    enc: &Encoder<'_>,
    p: Primitive,
    ty: &Type,
    value: &Value,
    s: S,
) -> Result<S::Ok, S::Error> {
    let int = |v: &Value| -> Result<i128, S::Error> {
        let i = int_of(v).ok_or_else(|| enc.fail::<S::Error>(mismatch(ty, v.kind())))?;
        fit_int(p, i).map_err(|e| enc.fail(e))
    };
    let float = |v: &Value| -> Result<f64, S::Error> {
        match v {
            Value::Float(f) => Ok(*f),
            // Integers are exact in floats up to 2^53; beyond, the nearest float is meant.
            v => int_of(v)
                .map(|i| i as f64)
                .ok_or_else(|| enc.fail(mismatch(ty, v.kind()))),
        }
    };
    // The casts below cannot truncate: `int` has checked the range of `p`.
    match (p, value) {
        (Primitive::Bool, Value::Bool(b)) => s.serialize_bool(*b),
        (Primitive::U8, v) => s.serialize_u8(int(v)? as u8),
        (Primitive::U16, v) => s.serialize_u16(int(v)? as u16),
        (Primitive::U32, v) => s.serialize_u32(int(v)? as u32),
        (Primitive::U64, v) => s.serialize_u64(int(v)? as u64),
        (Primitive::I8, v) => s.serialize_i8(int(v)? as i8),
        (Primitive::I16, v) => s.serialize_i16(int(v)? as i16),
        (Primitive::I32, v) => s.serialize_i32(int(v)? as i32),
        (Primitive::I64, v) => s.serialize_i64(int(v)? as i64),
        (Primitive::F32, v) => s.serialize_f32(to_f32(float(v)?).map_err(|e| enc.fail(e))?),
        (Primitive::F64, v) => s.serialize_f64(float(v)?),
        (Primitive::String, Value::String(text)) => s.serialize_str(text),
        (Primitive::Bytes, Value::Bytes(bytes)) => s.serialize_bytes(bytes),
        (_, v) => Err(enc.fail(mismatch(ty, v.kind()))),
    }
}

/// One variant of an enum or exception: its index, then its content, which postcard
/// writes as a newtype variant's value (a single value as itself, several as a tuple,
/// fields as a struct), the same bytes as serde's tuple and struct variants.
fn variant<S: Serializer>(
    enc: &Encoder<'_>,
    owner: &QualifiedName,
    variants: &[Variant],
    name: &str,
    fields: &Fields,
    s: S,
) -> Result<S::Ok, S::Error> {
    let (index, v) = variant_named(owner, variants, name).map_err(|e| enc.fail::<S::Error>(e))?;
    let index = u32::try_from(index)
        .map_err(|_| enc.fail::<S::Error>(ValueError::new("too many variants")))?;
    let _level = enc.enter::<S::Error>()?;
    let result = match (&v.shape, fields) {
        (shape, Fields::Unit | Fields::Tuple(_) | Fields::Struct(_))
            if carries_nothing(shape) && fields_empty(fields) =>
        {
            match shape {
                VariantShape::Unit => s.serialize_unit_variant("", index, ""),
                _ => {
                    let _content = enc.enter::<S::Error>()?;
                    s.serialize_unit_variant("", index, "")
                }
            }
        }
        (VariantShape::Tuple(types), Fields::Tuple(values)) if types.len() == values.len() => {
            if let ([ty], [value]) = (types.as_slice(), values.as_slice()) {
                let one = Typed { enc, ty, value };
                enc.at(s.serialize_newtype_variant("", index, "", &one), || {
                    "[0]".to_owned()
                })
            } else {
                s.serialize_newtype_variant("", index, "", &TupleBody { enc, types, values })
            }
        }
        (VariantShape::Struct(declared), Fields::Struct(given)) => {
            let body = StructBody {
                enc,
                fields: &FieldsOf::of_variant(owner, &v.name, declared),
                given,
            };
            s.serialize_newtype_variant("", index, "", &body)
        }
        (_, found) => {
            let found = found.carried();
            // The variant itself is wrong, not something inside it: no path step.
            return Err(enc.fail(wrong_shape(owner, v, &found)));
        }
    };
    enc.at(result, || name.to_owned())
}

/// Whether a variant's content is empty, in any of its forms.
pub(crate) fn fields_empty(fields: &Fields) -> bool {
    match fields {
        Fields::Unit => true,
        Fields::Tuple(t) => t.is_empty(),
        Fields::Struct(f) => f.is_empty(),
    }
}

/// The values of a tuple variant of other than one value, written as a tuple.
struct TupleBody<'a> {
    enc: &'a Encoder<'a>,
    types: &'a [Type],
    values: &'a [Value],
}

impl Serialize for TupleBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let enc = self.enc;
        let _level = enc.enter::<S::Error>()?;
        let mut tuple = s.serialize_tuple(self.types.len())?;
        for (i, (ty, value)) in self.types.iter().zip(self.values).enumerate() {
            let r = tuple.serialize_element(&Typed { enc, ty, value });
            enc.at(r, || format!("[{i}]"))?;
        }
        tuple.end()
    }
}

/// The fields of a struct, a struct variant or a record, written in declared order
/// whatever order they are given in.
struct StructBody<'a> {
    enc: &'a Encoder<'a>,
    fields: &'a FieldsOf<'a>,
    given: &'a [(String, Value)],
}

impl Serialize for StructBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let enc = self.enc;
        let _level = enc.enter::<S::Error>()?;
        let values = self
            .fields
            .match_given(self.given)
            .map_err(|e| enc.fail::<S::Error>(e))?;
        let mut tuple = s.serialize_tuple(values.len())?;
        for (i, value) in values.into_iter().enumerate() {
            let Some((name, ty)) = self.fields.get(i) else {
                continue;
            };
            let r = tuple.serialize_element(&Typed { enc, ty, value });
            enc.at(r, || name.to_owned())?;
        }
        tuple.end()
    }
}

// ---------------------------------------------------------------------------------------
// Decoding.
// ---------------------------------------------------------------------------------------

/// The state of one decoding: the model, and the reason of the first failure found
/// here (postcard keeps no message of a custom error).
struct Ctx<'a> {
    model: &'a Model,
    reason: RefCell<Option<String>>,
}

impl<'a> Ctx<'a> {
    fn new(model: &'a Model) -> Self {
        Ctx {
            model,
            reason: RefCell::new(None),
        }
    }

    /// Keeps `reason` and makes the deserializer's error that carries it out.
    fn fail<E: de::Error>(&self, reason: String) -> E {
        let error = E::custom(&reason);
        self.reason.replace(Some(reason));
        error
    }

    /// The value, or the error with the kept reason in place of postcard's text.
    fn finish<T>(self, result: Result<T, DecodeError>) -> Result<T, DecodeError> {
        match (result, self.reason.into_inner()) {
            (Err(DecodeError::Malformed { what, .. }), Some(message)) => {
                Err(DecodeError::Malformed { what, message })
            }
            (result, _) => result,
        }
    }
}

/// Decodes a value of `ty`.
struct Seed<'a> {
    ctx: &'a Ctx<'a>,
    ty: &'a Type,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    // Each kind of type decodes in a function of its own: recursion passes through this
    // one, and unoptimized code gives a function room for the locals of all its arms, so
    // a small frame here is what lets a value nested `MAX_DEPTH` deep decode on a small
    // stack.
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let (ctx, ty) = (self.ctx, self.ty);
        match ty {
            Type::Primitive(p) => primitive_from(*p, d),
            Type::List(t) => d.deserialize_seq(ListVisitor { ctx, ty: t }),
            Type::Option(t) => d.deserialize_option(OptionVisitor { ctx, ty: t }),
            Type::Map(key, value) => d.deserialize_map(MapVisitor { ctx, key, value }),
            Type::Named { name, .. } => named_from(ctx, name, d),
            Type::Interface(_) => reference_from(d),
        }
    }
}

/// Decodes a struct, enum or exception.
fn named_from<'de, D: Deserializer<'de>>(
    ctx: &Ctx<'_>,
    name: &QualifiedName,
    d: D,
) -> Result<Value, D::Error> {
    let def = type_def(ctx.model, name).map_err(|e| ctx.fail::<D::Error>(e.message))?;
    match &def.kind {
        TypeDefKind::Struct(fields) => StructSeed {
            ctx,
            fields: &FieldsOf::of_struct(name, fields),
        }
        .deserialize(d)
        .map(Value::Struct),
        TypeDefKind::Enum(variants) | TypeDefKind::Exception(variants) => d.deserialize_enum(
            "",
            &[],
            EnumVisitor {
                ctx,
                name,
                variants,
            },
        ),
    }
}

/// Decodes an object reference, as `ObjectRef`'s own `Deserialize` does.
fn reference_from<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    serde::Deserialize::deserialize(d).map(Value::Reference)
}

/// Decodes a primitive with the `deserialize_*` method of its Rust type.
fn primitive_from<'de, D: Deserializer<'de>>(p: Primitive, d: D) -> Result<Value, D::Error> {
    let v = ScalarVisitor(p);
    match p {
        Primitive::Bool => d.deserialize_bool(v),
        Primitive::U8 => d.deserialize_u8(v),
        Primitive::U16 => d.deserialize_u16(v),
        Primitive::U32 => d.deserialize_u32(v),
        Primitive::U64 => d.deserialize_u64(v),
        Primitive::I8 => d.deserialize_i8(v),
        Primitive::I16 => d.deserialize_i16(v),
        Primitive::I32 => d.deserialize_i32(v),
        Primitive::I64 => d.deserialize_i64(v),
        Primitive::F32 => d.deserialize_f32(v),
        Primitive::F64 => d.deserialize_f64(v),
        Primitive::String => d.deserialize_string(v),
        Primitive::Bytes => d.deserialize_byte_buf(v),
    }
}

/// A primitive's value, whichever `visit_*` the format calls.
struct ScalarVisitor(Primitive);

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}", self.0.name())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Unsigned(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Signed(v))
    }

    fn visit_f32<E: de::Error>(self, v: f32) -> Result<Value, E> {
        Ok(Value::Float(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
}

/// A list's elements. The vector grows as elements arrive: a declared length is never
/// trusted.
struct ListVisitor<'a> {
    ctx: &'a Ctx<'a>,
    ty: &'a Type,
}

impl<'de> Visitor<'de> for ListVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list<{}>", self.ty)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed {
            ctx: self.ctx,
            ty: self.ty,
        })? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
}

/// An option: nothing, or a value.
struct OptionVisitor<'a> {
    ctx: &'a Ctx<'a>,
    ty: &'a Type,
}

impl<'de> Visitor<'de> for OptionVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an option<{}>", self.ty)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Option(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let value = Seed {
            ctx: self.ctx,
            ty: self.ty,
        }
        .deserialize(d)?;
        Ok(Value::Option(Some(Box::new(value))))
    }
}

/// A map's entries, in the order of the bytes; a key given twice is an error.
struct MapVisitor<'a> {
    ctx: &'a Ctx<'a>,
    key: &'a Type,
    value: &'a Type,
}

impl<'de> Visitor<'de> for MapVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a map<{},{}>", self.key, self.value)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let ctx = self.ctx;
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry_seed(
            Seed { ctx, ty: self.key },
            Seed {
                ctx,
                ty: self.value,
            },
        )? {
            entries.push(entry);
        }
        let mut keys: Vec<KeyRef<'_>> = entries.iter().filter_map(|(k, _)| KeyRef::of(k)).collect();
        keys.sort_unstable();
        if let Some(twice) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(ctx.fail(format!("duplicate map key {}", twice[0])));
        }
        Ok(Value::Map(entries))
    }
}

/// The fields of a struct, a struct variant or a record: a tuple of their values.
struct StructSeed<'a> {
    ctx: &'a Ctx<'a>,
    fields: &'a FieldsOf<'a>,
}

impl<'de> DeserializeSeed<'de> for StructSeed<'_> {
    type Value = Vec<(String, Value)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_tuple(self.fields.len(), self)
    }
}

impl<'de> Visitor<'de> for StructSeed<'_> {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.fields.describe())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // The length comes from the model, not from the bytes.
        let mut values = Vec::with_capacity(self.fields.len());
        for i in 0..self.fields.len() {
            let Some((name, ty)) = self.fields.get(i) else {
                continue;
            };
            let value = seq
                .next_element_seed(Seed { ctx: self.ctx, ty })?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            values.push((name.to_owned(), value));
        }
        Ok(values)
    }
}

/// The values of a tuple variant of other than one value.
struct TupleVisitor<'a> {
    ctx: &'a Ctx<'a>,
    types: &'a [Type],
}

impl<'de> Visitor<'de> for TupleVisitor<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} values", self.types.len())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut values = Vec::with_capacity(self.types.len());
        for (i, ty) in self.types.iter().enumerate() {
            let value = seq
                .next_element_seed(Seed { ctx: self.ctx, ty })?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            values.push(value);
        }
        Ok(values)
    }
}

/// An enum or exception: the variant index, then what that variant carries.
struct EnumVisitor<'a> {
    ctx: &'a Ctx<'a>,
    name: &'a QualifiedName,
    variants: &'a [Variant],
}

impl<'de> Visitor<'de> for EnumVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a variant of {}", self.name)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let ctx = self.ctx;
        let (index, access) = data.variant_seed(IndexSeed)?;
        let Some(v) = usize::try_from(index)
            .ok()
            .and_then(|i| self.variants.get(i))
        else {
            return Err(ctx.fail(format!(
                "unknown variant index {index} of {} ({} variants)",
                self.name,
                self.variants.len()
            )));
        };
        let fields = match &v.shape {
            VariantShape::Unit => {
                access.unit_variant()?;
                Fields::Unit
            }
            // serde writes a variant of one value as a newtype variant: no tuple level.
            VariantShape::Tuple(types) if types.len() == 1 => {
                let value = access.newtype_variant_seed(Seed { ctx, ty: &types[0] })?;
                Fields::Tuple(vec![value])
            }
            VariantShape::Tuple(types) => {
                Fields::Tuple(access.tuple_variant(types.len(), TupleVisitor { ctx, types })?)
            }
            // postcard writes a struct variant as a tuple variant of its fields.
            VariantShape::Struct(declared) => {
                let fields = FieldsOf::of_variant(self.name, &v.name, declared);
                let seed = StructSeed {
                    ctx,
                    fields: &fields,
                };
                Fields::Struct(access.tuple_variant(declared.len(), seed)?)
            }
        };
        Ok(Value::Variant {
            name: v.name.clone(),
            fields,
        })
    }
}

/// A variant index: a `u32`, as serde's derived enums read it.
struct IndexSeed;

impl<'de> DeserializeSeed<'de> for IndexSeed {
    type Value = u32;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_u32(self)
    }
}

impl<'de> Visitor<'de> for IndexSeed {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a variant index")
    }

    fn visit_u32<E: de::Error>(self, v: u32) -> Result<u32, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::custom("variant index out of range"))
    }
}

/// A model for the unit tests of this module and of [`crate::json`].
#[cfg(test)]
pub(crate) mod test_model {
    use super::*;

    /// Every shape of type the tests need, in one package.
    pub(crate) const IDL: &str = r#"
        package bank;
        struct Account { id: u64, owner: string, balance: i64, tags: list<string>, note: option<string> }
        enum Kind { Checking, Savings }
        exception BankError { NotFound { id: u64 }, Insufficient { needed: i64, available: i64 } }
        struct Node { value: u64, next: option<Node> }
        struct Tree { label: string, children: list<Tree> }
        struct Empty {}
        enum Shape { Point, Circle(f64), Segment(f64, f64, f64, f64), Nothing {} }
        struct Bag {
            small: u8, f: f32, blob: bytes, by_id: map<i32, string>, flags: map<bool, u8>,
            blobs: map<bytes, u8>, big: u64, neg: i64, shape: option<Shape>,
            maybe: option<option<u8>>,
        }
        interface Bank { open(owner: string) -> Account; }
        struct Holder { bank: Bank }
    "#;

    /// The checked model of [`IDL`].
    pub(crate) fn model() -> Model {
        idl::check_str("bank.idl", IDL).expect("the test IDL is valid")
    }

    /// The type `bank.<name>`.
    pub(crate) fn named(name: &str) -> Type {
        Type::Named {
            name: QualifiedName {
                package: "bank".into(),
                name: name.into(),
            },
            boxed: false,
        }
    }

    /// A struct value from `(name, value)` pairs.
    pub(crate) fn st(fields: &[(&str, Value)]) -> Value {
        Value::Struct(
            fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
        )
    }

    /// A string value.
    pub(crate) fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    /// An account with the given owner.
    pub(crate) fn account(owner: &str) -> Value {
        st(&[
            ("id", Value::Unsigned(1)),
            ("owner", s(owner)),
            ("balance", Value::Signed(-2)),
            ("tags", Value::List(vec![s("x")])),
            ("note", Value::Option(None)),
        ])
    }

    /// A variant value.
    pub(crate) fn var(name: &str, fields: Fields) -> Value {
        Value::Variant {
            name: name.into(),
            fields,
        }
    }

    /// A chain of `n` `Node`s, built without recursion.
    pub(crate) fn chain(n: u64) -> Value {
        let mut next = Value::Option(None);
        for value in (0..n).rev() {
            next = st(&[("value", Value::Unsigned(value)), ("next", next)]);
            if value > 0 {
                next = Value::Option(Some(Box::new(next)));
            }
        }
        next
    }

    /// Runs `f` on a thread with a 2 MiB stack, a tokio worker's. Decoding at the depth
    /// limit takes about 1.1 MiB of it unoptimized (about 500 KiB optimized); without the
    /// limit, 30,000 levels overflow it and abort.
    pub(crate) fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(f)
            .expect("a thread")
            .join()
            .expect("no panic, no stack overflow")
    }
}

#[cfg(test)]
mod tests {
    use super::test_model::*;
    use super::*;

    fn u(v: u64) -> Value {
        Value::Unsigned(v)
    }

    fn i(v: i64) -> Value {
        Value::Signed(v)
    }

    fn prim(p: Primitive) -> Type {
        Type::Primitive(p)
    }

    fn malformed(result: Result<Value, DecodeError>) -> String {
        match result {
            Err(DecodeError::Malformed { message, .. }) => message,
            other => panic!("expected a malformed payload, got {other:?}"),
        }
    }

    #[test]
    fn bytes_are_postcards_bytes() {
        let model = model();
        let bytes = encode(&model, &named("Account"), &account("ab")).unwrap();
        assert_eq!(bytes, [1, 2, b'a', b'b', 3, 1, 1, b'x', 0]);
        assert_eq!(
            bytes,
            postcard::to_allocvec(&(1u64, "ab", -2i64, vec!["x"], None::<String>)).unwrap()
        );

        let insufficient = var(
            "Insufficient",
            Fields::Struct(vec![("needed".into(), i(10)), ("available".into(), i(3))]),
        );
        assert_eq!(
            encode(&model, &named("BankError"), &insufficient).unwrap(),
            [1, 20, 6]
        );
        assert_eq!(
            encode(&model, &named("Kind"), &var("Savings", Fields::Unit)).unwrap(),
            [1]
        );
        let circle = var("Circle", Fields::Tuple(vec![Value::Float(0.5)]));
        let mut expected = vec![1];
        expected.extend_from_slice(&0.5f64.to_le_bytes());
        assert_eq!(encode(&model, &named("Shape"), &circle).unwrap(), expected);
        assert_eq!(
            encode(
                &model,
                &named("Shape"),
                &var("Nothing", Fields::Struct(vec![]))
            )
            .unwrap(),
            [3]
        );

        assert_eq!(
            encode(&model, &prim(Primitive::U16), &u(300)).unwrap(),
            [0xac, 0x02]
        );
        assert_eq!(
            encode(&model, &prim(Primitive::I8), &i(-1)).unwrap(),
            [0xff]
        );
        assert_eq!(encode(&model, &prim(Primitive::I32), &i(-1)).unwrap(), [1]);
        assert_eq!(
            encode(&model, &prim(Primitive::F32), &Value::Float(1.5)).unwrap(),
            1.5f32.to_le_bytes()
        );
        assert_eq!(
            encode(&model, &prim(Primitive::Bytes), &Value::Bytes(vec![7, 8])).unwrap(),
            [2, 7, 8]
        );
        let map = Type::Map(
            Box::new(prim(Primitive::String)),
            Box::new(prim(Primitive::U32)),
        );
        assert_eq!(
            encode(&model, &map, &Value::Map(vec![(s("a"), u(1))])).unwrap(),
            [1, 1, b'a', 1]
        );
        let reference = rpc_runtime::ObjectRef {
            address: "h:1".into(),
            binding: 300,
            object: 2,
            interface: "bank.Bank".into(),
            token: 0,
        };
        let holder = st(&[("bank", Value::Reference(reference.clone()))]);
        assert_eq!(
            encode(&model, &named("Holder"), &holder).unwrap(),
            postcard::to_allocvec(&reference).unwrap()
        );
    }

    #[test]
    fn values_decode_back() {
        let model = model();
        let bag = st(&[
            ("small", u(255)),
            ("f", Value::Float(f64::from(0.1f32))),
            ("blob", Value::Bytes(vec![0, 1, 2])),
            (
                "by_id",
                Value::Map(vec![(i(-5), s("minus five")), (i(7), s("seven"))]),
            ),
            ("flags", Value::Map(vec![(Value::Bool(true), u(1))])),
            ("blobs", Value::Map(vec![(Value::Bytes(vec![]), u(0))])),
            ("big", u(u64::MAX)),
            ("neg", i(i64::MIN)),
            (
                "shape",
                Value::Option(Some(Box::new(var(
                    "Segment",
                    Fields::Tuple(vec![Value::Float(1.0); 4]),
                )))),
            ),
            ("maybe", Value::Option(Some(Box::new(Value::Option(None))))),
        ]);
        for (ty, value) in [
            (named("Bag"), bag),
            (named("Account"), account("somebody")),
            (named("Node"), chain(5)),
            (named("Shape"), var("Point", Fields::Unit)),
            (named("Shape"), var("Nothing", Fields::Struct(vec![]))),
            (named("Empty"), st(&[])),
        ] {
            let bytes = encode(&model, &ty, &value).unwrap();
            assert_eq!(decode(&model, &ty, &bytes).unwrap(), value, "{ty}");
        }
    }

    #[test]
    fn records_take_any_order_and_write_the_declared_one() {
        let model = model();
        let fields = vec![
            ("from".to_owned(), prim(Primitive::U64)),
            ("to".to_owned(), prim(Primitive::U64)),
            ("amount".to_owned(), prim(Primitive::I64)),
        ];
        let given = st(&[("amount", i(-1)), ("to", u(2)), ("from", u(1))]);
        let bytes = encode_record(&model, &fields, &given).unwrap();
        assert_eq!(bytes, [1, 2, 1]);
        assert_eq!(
            decode_record(&model, &fields, &bytes).unwrap(),
            st(&[("from", u(1)), ("to", u(2)), ("amount", i(-1))])
        );
        assert_eq!(encode_record(&model, &[], &st(&[])).unwrap(), [] as [u8; 0]);
        assert_eq!(decode_record(&model, &[], &[]).unwrap(), st(&[]));
    }

    #[test]
    fn values_that_do_not_fit_say_where() {
        let model = model();
        let record = vec![("amount".to_owned(), prim(Primitive::I64))];
        let err = |ty: &Type, v: &Value| encode(&model, ty, v).unwrap_err().to_string();
        assert_eq!(
            encode_record(&model, &record, &st(&[("amount", s("ten"))]))
                .unwrap_err()
                .to_string(),
            "`amount`: expected i64, found string"
        );
        assert_eq!(
            encode_record(&model, &record, &u(1))
                .unwrap_err()
                .to_string(),
            "expected a record of fields: amount, found unsigned integer"
        );
        let mut no_owner = account("x");
        if let Value::Struct(fields) = &mut no_owner {
            fields.retain(|(n, _)| n != "owner");
        }
        assert_eq!(err(&named("Account"), &no_owner), "`owner`: missing field");
        let mut colour = account("x");
        if let Value::Struct(fields) = &mut colour {
            fields.push(("colour".into(), s("red")));
        }
        assert_eq!(
            err(&named("Account"), &colour),
            "unknown field `colour` (fields of bank.Account: id, owner, balance, tags, note)"
        );
        let mut twice = account("x");
        if let Value::Struct(fields) = &mut twice {
            fields.push(("id".into(), u(2)));
        }
        assert_eq!(err(&named("Account"), &twice), "field `id` given twice");
        assert_eq!(
            err(&named("BankError"), &var("Foo", Fields::Unit)),
            "unknown variant `Foo` of bank.BankError (variants: NotFound, Insufficient)"
        );
        assert_eq!(
            err(
                &named("BankError"),
                &var("NotFound", Fields::Tuple(vec![u(1)]))
            ),
            "variant `NotFound` of bank.BankError carries fields (id), found 1 value"
        );
        assert_eq!(
            err(
                &named("Shape"),
                &var("Segment", Fields::Tuple(vec![Value::Float(1.0)]))
            ),
            "variant `Segment` of bank.Shape carries 4 values, found 1 value"
        );
        assert_eq!(
            err(
                &named("BankError"),
                &var(
                    "Insufficient",
                    Fields::Struct(vec![("needed".into(), i(1)), ("available".into(), s("no"))])
                )
            ),
            "`Insufficient.available`: expected i64, found string"
        );
        assert_eq!(
            err(&prim(Primitive::U8), &u(300)),
            "expected u8 (0 to 255), found 300"
        );
        assert_eq!(
            err(&prim(Primitive::U64), &i(-1)),
            "expected u64 (0 to 18446744073709551615), found -1"
        );
        assert_eq!(
            err(&prim(Primitive::I16), &u(40_000)),
            "expected i16 (-32768 to 32767), found 40000"
        );
        assert_eq!(
            err(&prim(Primitive::F32), &Value::Float(1e300)),
            "expected f32 (at most 3.4028235e38 in magnitude), found 1e300"
        );
        let mut bad_tag = account("x");
        if let Value::Struct(fields) = &mut bad_tag {
            fields[3].1 = Value::List(vec![s("ok"), u(3)]);
        }
        assert_eq!(
            err(&named("Account"), &bad_tag),
            "`tags[1]`: expected string, found unsigned integer"
        );
        let by_id = Type::Map(
            Box::new(prim(Primitive::I32)),
            Box::new(prim(Primitive::String)),
        );
        assert_eq!(
            err(&by_id, &Value::Map(vec![(i(1), s("a")), (u(1), s("b"))])),
            "duplicate map key 1"
        );
        assert_eq!(
            err(&by_id, &Value::Map(vec![(i(1), u(1))])),
            "`[1]`: expected string, found unsigned integer"
        );
        assert_eq!(
            err(&by_id, &Value::Map(vec![(s("1"), s("a"))])),
            "`[key 0]`: expected i32, found string"
        );
        assert_eq!(
            err(&named("Missing"), &st(&[])),
            "type bank.Missing is not in the model"
        );
        // Integers of either sign fit any integer type they are in range of.
        assert_eq!(encode(&model, &prim(Primitive::U8), &i(5)).unwrap(), [5]);
    }

    #[test]
    fn nesting_is_bounded_as_the_receiver_bounds_it() {
        on_small_stack(|| {
            let model = model();
            // Each node is a struct and (but the first) a `Some`: 256 nodes are 511
            // levels, one more is over the limit.
            let deepest = chain(256);
            let bytes = encode(&model, &named("Node"), &deepest).unwrap();
            assert_eq!(decode(&model, &named("Node"), &bytes).unwrap(), deepest);
            let err = encode(&model, &named("Node"), &chain(257)).unwrap_err();
            assert_eq!(err.message, "nesting deeper than 512 levels");
            assert!(err.path.starts_with("next.next."), "{}", err.path);
        });
    }

    #[test]
    fn hostile_bytes_are_errors() {
        let model = model();
        let bytes = encode(&model, &named("Account"), &account("ab")).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                decode(&model, &named("Account"), &bytes[..cut]).is_err(),
                "{cut}"
            );
        }
        assert_eq!(
            decode(&model, &named("Kind"), &[1, 0]),
            Err(DecodeError::Trailing {
                what: "value",
                extra: 1
            })
        );
        assert_eq!(
            malformed(decode(&model, &named("Kind"), &[7])),
            "unknown variant index 7 of bank.Kind (2 variants)"
        );
        // 2^60 empty structs: they occupy no bytes, so only the element budget stops them.
        let list = Type::List(Box::new(named("Empty")));
        let huge = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
        assert!(
            malformed(decode(&model, &list, &huge)).contains("sequence elements"),
            "{:?}",
            decode(&model, &list, &huge)
        );
        let map = Type::Map(Box::new(prim(Primitive::U8)), Box::new(named("Empty")));
        assert_eq!(
            malformed(decode(&model, &map, &[2, 1, 1])),
            "duplicate map key 1"
        );
        assert!(
            decode(
                &model,
                &map,
                &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, 1]
            )
            .is_err()
        );
        assert!(decode(&model, &prim(Primitive::String), &[2, 0xff, 0xfe]).is_err());
        assert!(decode(&model, &prim(Primitive::Bool), &[2]).is_err());
        // A 30,000-node chain: value 0 and `Some`, over and over.
        let message = on_small_stack(|| {
            let model = super::test_model::model();
            let mut deep = [0u8, 1].repeat(30_000);
            deep.push(0);
            deep.push(0);
            malformed(decode(&model, &named("Node"), &deep))
        });
        assert_eq!(message, "nesting deeper than 512 levels");
        let message = on_small_stack(|| {
            let model = super::test_model::model();
            // Trees of one child each: a label "" and a list of one, over and over.
            let deep = [0u8, 1].repeat(30_000);
            malformed(decode(&model, &named("Tree"), &deep))
        });
        assert_eq!(message, "nesting deeper than 512 levels");
    }
}
