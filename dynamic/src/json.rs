//! JSON to and from [`Value`]s, by the IDL type.
//!
//! JSON says less than the IDL (one kind of number, no bytes, string keys only), so the
//! conversion needs the type in both directions. The mapping:
//!
//! | IDL type | JSON | notes |
//! |---|---|---|
//! | `bool` | `true` / `false` | |
//! | `u8` ... `u64`, `i8` ... `i64` | a number, or a decimal string | written as a number when its magnitude is at most 2^53 − 1, else as a decimal string (`"18446744073709551615"`), so that JavaScript never rounds it; read from either, checked against the exact type's range; a fractional number is an error |
//! | `f32`, `f64` | a number; `"NaN"`, `"Infinity"`, `"-Infinity"` | integers are read too; an `f32` is written in its shortest form (`1.1`, not `1.100000023841858`) |
//! | `string` | a string | |
//! | `bytes` | a string | standard base64 with padding |
//! | `list<T>` | an array | |
//! | `option<T>` | `null`, or the value | `option<option<T>>`: `Some(None)` is also `null`, so it comes back as `None` |
//! | `map<K, V>` | an object | keys: strings as they are, integers in decimal, `"true"` / `"false"`, bytes in base64; read back in the key type's order (numbers numerically, strings and bytes bytewise, false before true); a key given twice (`"1"` and `"01"`) is an error |
//! | a struct | an object of its fields | a missing field is an error unless its type is an `option` (then it is `None`); an unknown field is an error |
//! | an enum or exception | `"Name"` for a unit variant (`{"Name": null}` is read too); `{"Name": value}` for a tuple variant of one value; `{"Name": [values]}` for one of several; `{"Name": {fields}}` for a struct variant | |
//! | an interface | `{"address": "host:port", "binding": n, "object": n, "interface": "pkg.Iface", "token": n}` | a reference (`docs/PROTOCOL.md` §9); `binding`, `object` and `token` follow the integer rule; `token` may be left out (0) |
//!
//! A record (the arguments or results of a call) is an object of its fields, like a
//! struct: [`to_json_record`] and [`from_json_record`].
//!
//! Errors speak of IDL types and say where: ``"`amount`: expected i64, found string"``.
//! Nesting deeper than [`rpc_runtime::wire::MAX_DEPTH`] levels, counted as the wire
//! counts them, is an error both ways: such a value could not be sent, and the
//! conversion does not recurse without bound on untrusted input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use idl::{Model, Primitive, QualifiedName, Type, TypeDefKind, Variant, VariantShape};
use serde_json::{Map, Number, Value as Json};

use crate::codec::{
    FieldsOf, KeyRef, carries_nothing, check_keys, enter, fields_empty, fit_int, int_of, int_range,
    key_step, mismatch, to_f32, type_def, variant_named, wrong_shape,
};
use crate::value::{Fields, Value, ValueError};

/// The largest integer magnitude written as a JSON number: 2^53 − 1, the largest that a
/// JavaScript number holds exactly.
const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;

/// The JSON form of `value`, a value of type `ty`.
///
/// The value is checked against the type as [`crate::codec::encode`] checks it, with the
/// same errors.
pub fn to_json(model: &Model, ty: &Type, value: &Value) -> Result<Json, ValueError> {
    to(model, ty, value, 0)
}

/// The value of type `ty` that `json` stands for.
pub fn from_json(model: &Model, ty: &Type, json: &Json) -> Result<Value, ValueError> {
    from(model, ty, json, 0)
}

/// The JSON object of a record (the arguments or results of a call): `value` must be a
/// [`Value::Struct`] with each of `fields` exactly once.
pub fn to_json_record(
    model: &Model,
    fields: &[(String, Type)],
    value: &Value,
) -> Result<Json, ValueError> {
    let fields = FieldsOf::record(fields);
    match value {
        Value::Struct(given) => struct_to(model, &fields, given, 0),
        other => Err(ValueError::new(format!(
            "expected a record of {}, found {}",
            fields.describe(),
            other.kind()
        ))),
    }
}

/// The record a JSON object stands for, as a [`Value::Struct`] with its fields in the
/// order of `fields`. A missing field is `None` if it is an `option`, else an error; an
/// unknown field is an error.
pub fn from_json_record(
    model: &Model,
    fields: &[(String, Type)],
    json: &Json,
) -> Result<Value, ValueError> {
    let fields = FieldsOf::record(fields);
    match json {
        Json::Object(object) => struct_from(model, &fields, object, 0).map(Value::Struct),
        other => Err(ValueError::new(format!(
            "expected an object of {}, found {}",
            fields.describe(),
            kind(other)
        ))),
    }
}

/// What kind of JSON value this is, for error messages.
fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------
// Value to JSON.
// ---------------------------------------------------------------------------------------

// Each kind of type converts in a function of its own: recursion passes through `to`
// and `from`, and unoptimized code gives a function room for the locals of all its
// arms, so small dispatchers are what let a value nested `MAX_DEPTH` deep convert on a
// small stack.

fn to(model: &Model, ty: &Type, value: &Value, depth: usize) -> Result<Json, ValueError> {
    match (ty, value) {
        (Type::Primitive(p), value) => primitive_to(*p, ty, value),
        (Type::List(t), Value::List(items)) => list_to(model, t, items, depth),
        (Type::Option(_), Value::Option(None)) => Ok(Json::Null),
        (Type::Option(t), Value::Option(Some(inner))) => to(model, t, inner, enter(depth)?),
        (Type::Map(k, v), Value::Map(entries)) => map_to(model, k, v, entries, depth),
        (Type::Named { name, .. }, value) => named_to(model, ty, name, value, depth),
        (Type::Interface(_), Value::Reference(r)) => reference_to(r, depth),
        (ty, value) => Err(mismatch(ty, value.kind())),
    }
}

fn list_to(model: &Model, ty: &Type, items: &[Value], depth: usize) -> Result<Json, ValueError> {
    let depth = enter(depth)?;
    // Plain loops rather than iterator adapters on the recursive paths: unoptimized,
    // each adapter is a few more frames per level.
    let mut array = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        array.push(to(model, ty, item, depth).map_err(|e| e.within(&format!("[{i}]")))?);
    }
    Ok(Json::Array(array))
}

fn map_to(
    model: &Model,
    key_ty: &Type,
    value_ty: &Type,
    entries: &[(Value, Value)],
    depth: usize,
) -> Result<Json, ValueError> {
    let depth = enter(depth)?;
    check_keys(key_ty, entries)?;
    let mut object = Map::new();
    for (i, (key, value)) in entries.iter().enumerate() {
        let value = to(model, value_ty, value, depth).map_err(|e| e.within(&key_step(i, key)))?;
        object.insert(key_text(key), value);
    }
    Ok(Json::Object(object))
}

fn named_to(
    model: &Model,
    ty: &Type,
    name: &QualifiedName,
    value: &Value,
    depth: usize,
) -> Result<Json, ValueError> {
    let def = type_def(model, name)?;
    match (&def.kind, value) {
        (TypeDefKind::Struct(fields), Value::Struct(given)) => {
            struct_to(model, &FieldsOf::of_struct(name, fields), given, depth)
        }
        (
            TypeDefKind::Enum(variants) | TypeDefKind::Exception(variants),
            Value::Variant { name: v, fields },
        ) => variant_to(model, name, variants, v, fields, depth),
        (_, value) => Err(mismatch(ty, value.kind())),
    }
}

fn reference_to(r: &rpc_runtime::ObjectRef, depth: usize) -> Result<Json, ValueError> {
    enter(depth)?;
    let mut object = Map::new();
    object.insert("address".into(), Json::String(r.address.clone()));
    object.insert("binding".into(), int_to(r.binding.into()));
    object.insert("object".into(), int_to(r.object.into()));
    object.insert("interface".into(), Json::String(r.interface.clone()));
    object.insert("token".into(), int_to(r.token.into()));
    Ok(Json::Object(object))
}

/// An integer: a number when JavaScript holds it exactly, else a decimal string.
fn int_to(v: i128) -> Json {
    if v.abs() <= MAX_SAFE_INTEGER {
        // Within ±2^53, so within i64.
        Json::Number(Number::from(v as i64))
    } else {
        Json::String(v.to_string())
    }
}

fn primitive_to(p: Primitive, ty: &Type, value: &Value) -> Result<Json, ValueError> {
    match (p, value) {
        (Primitive::Bool, Value::Bool(b)) => Ok(Json::Bool(*b)),
        (Primitive::String, Value::String(s)) => Ok(Json::String(s.clone())),
        (Primitive::Bytes, Value::Bytes(b)) => Ok(Json::String(STANDARD.encode(b))),
        (Primitive::F32 | Primitive::F64, v) => {
            let x = match v {
                Value::Float(x) => *x,
                v => int_of(v).ok_or_else(|| mismatch(ty, v.kind()))? as f64,
            };
            if p == Primitive::F32 {
                let f = to_f32(x)?;
                // The shortest decimal that reads back as this f32, rather than the
                // digits of the f64 that holds it.
                let shortest = f.to_string().parse::<f64>().unwrap_or(f64::from(f));
                Ok(float_to(shortest))
            } else {
                Ok(float_to(x))
            }
        }
        (p, v) if int_range(p).is_some() => {
            let i = int_of(v).ok_or_else(|| mismatch(ty, v.kind()))?;
            fit_int(p, i).map(int_to)
        }
        (_, v) => Err(mismatch(ty, v.kind())),
    }
}

/// A float: a number, or the name of a value JSON has no number for.
fn float_to(x: f64) -> Json {
    match Number::from_f64(x) {
        Some(n) => Json::Number(n),
        None if x.is_nan() => Json::String("NaN".into()),
        None if x > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

/// A map key as the text of a JSON object key (the key has been checked).
fn key_text(key: &Value) -> String {
    match key {
        Value::Bool(b) => b.to_string(),
        Value::Unsigned(v) => v.to_string(),
        Value::Signed(v) => v.to_string(),
        Value::String(s) => s.clone(),
        Value::Bytes(b) => STANDARD.encode(b),
        other => other.kind().to_owned(),
    }
}

/// The object of a struct, a struct variant or a record.
fn struct_to(
    model: &Model,
    fields: &FieldsOf<'_>,
    given: &[(String, Value)],
    depth: usize,
) -> Result<Json, ValueError> {
    let depth = enter(depth)?;
    let values = fields.match_given(given)?;
    let mut object = Map::new();
    for (i, value) in values.into_iter().enumerate() {
        let Some((name, ty)) = fields.get(i) else {
            continue;
        };
        let json = to(model, ty, value, depth).map_err(|e| e.within(name))?;
        object.insert(name.to_owned(), json);
    }
    Ok(Json::Object(object))
}

fn variant_to(
    model: &Model,
    owner: &QualifiedName,
    variants: &[Variant],
    name: &str,
    fields: &Fields,
    depth: usize,
) -> Result<Json, ValueError> {
    let (_, v) = variant_named(owner, variants, name)?;
    let depth = enter(depth)?;
    let one = |content: Json| {
        let mut object = Map::new();
        object.insert(name.to_owned(), content);
        Json::Object(object)
    };
    let content = match (&v.shape, fields) {
        (VariantShape::Unit, f) if fields_empty(f) => return Ok(Json::String(name.to_owned())),
        (VariantShape::Tuple(types), f) if types.is_empty() && fields_empty(f) => {
            enter(depth)?;
            Json::Array(Vec::new())
        }
        (VariantShape::Struct(declared), f) if declared.is_empty() && fields_empty(f) => {
            enter(depth)?;
            Json::Object(Map::new())
        }
        (VariantShape::Tuple(types), Fields::Tuple(values)) if types.len() == values.len() => {
            if let ([ty], [value]) = (types.as_slice(), values.as_slice()) {
                to(model, ty, value, depth).map_err(|e| e.within("[0]"))
            } else {
                let depth = enter(depth)?;
                let mut array = Vec::with_capacity(types.len());
                for (i, (ty, value)) in types.iter().zip(values).enumerate() {
                    array.push(
                        to(model, ty, value, depth).map_err(|e| e.within(&format!("[{i}]")))?,
                    );
                }
                Ok(Json::Array(array))
            }
            .map_err(|e| e.within(name))?
        }
        (VariantShape::Struct(declared), Fields::Struct(given)) => {
            let fields = FieldsOf::of_variant(owner, &v.name, declared);
            struct_to(model, &fields, given, depth).map_err(|e| e.within(name))?
        }
        (_, found) => {
            let found = found.carried();
            return Err(wrong_shape(owner, v, &found));
        }
    };
    Ok(one(content))
}

// ---------------------------------------------------------------------------------------
// JSON to Value.
// ---------------------------------------------------------------------------------------

fn from(model: &Model, ty: &Type, json: &Json, depth: usize) -> Result<Value, ValueError> {
    match (ty, json) {
        (Type::Primitive(p), json) => primitive_from(*p, ty, json),
        (Type::List(t), Json::Array(items)) => list_from(model, t, items, depth),
        (Type::Option(_), Json::Null) => Ok(Value::Option(None)),
        (Type::Option(t), json) => some_from(model, t, json, depth),
        (Type::Map(k, v), Json::Object(object)) => map_from(model, k, v, object, enter(depth)?),
        (Type::Named { name, .. }, json) => named_from(model, ty, name, json, depth),
        (Type::Interface(_), Json::Object(object)) => {
            enter(depth)?;
            reference_from(object).map(Value::Reference)
        }
        (ty, json) => Err(mismatch(ty, kind(json))),
    }
}

fn list_from(model: &Model, ty: &Type, items: &[Json], depth: usize) -> Result<Value, ValueError> {
    let depth = enter(depth)?;
    let mut list = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        list.push(from(model, ty, item, depth).map_err(|e| e.within(&format!("[{i}]")))?);
    }
    Ok(Value::List(list))
}

fn some_from(model: &Model, ty: &Type, json: &Json, depth: usize) -> Result<Value, ValueError> {
    let inner = from(model, ty, json, enter(depth)?)?;
    Ok(Value::Option(Some(Box::new(inner))))
}

fn named_from(
    model: &Model,
    ty: &Type,
    name: &QualifiedName,
    json: &Json,
    depth: usize,
) -> Result<Value, ValueError> {
    let def = type_def(model, name)?;
    match (&def.kind, json) {
        (TypeDefKind::Struct(fields), Json::Object(object)) => {
            struct_from(model, &FieldsOf::of_struct(name, fields), object, depth).map(Value::Struct)
        }
        (TypeDefKind::Enum(variants) | TypeDefKind::Exception(variants), json) => {
            variant_from(model, ty, name, variants, json, depth)
        }
        (_, json) => Err(mismatch(ty, kind(json))),
    }
}

fn primitive_from(p: Primitive, ty: &Type, json: &Json) -> Result<Value, ValueError> {
    match (p, json) {
        (Primitive::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Primitive::String, Json::String(s)) => Ok(Value::String(s.clone())),
        (Primitive::Bytes, Json::String(s)) => STANDARD
            .decode(s)
            .map(Value::Bytes)
            .map_err(|e| ValueError::new(format!("expected bytes in base64, found {s:?}: {e}"))),
        (Primitive::F32 | Primitive::F64, json) => {
            let x = match json {
                Json::Number(n) => n.as_f64().ok_or_else(|| mismatch(ty, "number"))?,
                Json::String(s) if s == "NaN" => f64::NAN,
                Json::String(s) if s == "Infinity" => f64::INFINITY,
                Json::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
                Json::String(s) => return Err(mismatch(ty, &format!("string {s:?}"))),
                json => return Err(mismatch(ty, kind(json))),
            };
            if p == Primitive::F32 {
                Ok(Value::Float(to_f32(x)?.into()))
            } else {
                Ok(Value::Float(x))
            }
        }
        (p, json) if int_range(p).is_some() => {
            let i = match json {
                Json::Number(n) => {
                    if let Some(u) = n.as_u64() {
                        u.into()
                    } else if let Some(i) = n.as_i64() {
                        i.into()
                    } else {
                        return Err(not_an_integer(p, &n.to_string(), n.as_f64()));
                    }
                }
                Json::String(s) => decimal(p, ty, s)?,
                json => return Err(mismatch(ty, kind(json))),
            };
            int_value(p, i)
        }
        (_, json) => Err(mismatch(ty, kind(json))),
    }
}

/// A number that is not an integer (or one beyond every integer type, which serde_json
/// reads as a float) given for an integer type.
fn not_an_integer(p: Primitive, text: &str, x: Option<f64>) -> ValueError {
    match (int_range(p), x) {
        // An integral float beyond the type: its range is what is wrong.
        (Some((lo, hi)), Some(x)) if x.fract() == 0.0 && !(lo as f64..=hi as f64).contains(&x) => {
            ValueError::new(format!(
                "expected {} ({lo} to {hi}), found {text}",
                p.name()
            ))
        }
        _ => ValueError::new(format!("expected {} (an integer), found {text}", p.name())),
    }
}

/// An integer written as a decimal string (an optional sign, then digits).
fn decimal(p: Primitive, ty: &Type, s: &str) -> Result<i128, ValueError> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(mismatch(ty, &format!("string {s:?}")));
    }
    // Only digits: a failure is an overflow of even i128.
    s.parse::<i128>().map_err(|_| match int_range(p) {
        Some((lo, hi)) => {
            ValueError::new(format!("expected {} ({lo} to {hi}), found {s}", p.name()))
        }
        None => mismatch(ty, "an integer"),
    })
}

/// The value of integer `i` of type `p`, if it fits.
fn int_value(p: Primitive, i: i128) -> Result<Value, ValueError> {
    let i = fit_int(p, i)?;
    // In range, so the conversions succeed.
    Ok(match p {
        Primitive::U8 | Primitive::U16 | Primitive::U32 | Primitive::U64 => {
            Value::Unsigned(u64::try_from(i).unwrap_or_default())
        }
        _ => Value::Signed(i64::try_from(i).unwrap_or_default()),
    })
}

/// A map from a JSON object, its entries in the key type's order.
fn map_from(
    model: &Model,
    key_ty: &Type,
    value_ty: &Type,
    object: &Map<String, Json>,
    depth: usize,
) -> Result<Value, ValueError> {
    let mut entries = Vec::with_capacity(object.len());
    for (text, json) in object {
        let step = format!("[{text:?}]");
        let key = key_from(key_ty, text).map_err(|e| e.within(&step))?;
        let value = from(model, value_ty, json, depth).map_err(|e| e.within(&step))?;
        entries.push((key, value, text));
    }
    // Equal keys end up side by side, in the order of their texts, so that the error
    // is the same whatever order the object keeps its keys in.
    entries.sort_by(|a, b| {
        KeyRef::of(&a.0)
            .cmp(&KeyRef::of(&b.0))
            .then_with(|| a.2.cmp(b.2))
    });
    if let Some(w) = entries
        .windows(2)
        .find(|w| KeyRef::of(&w[0].0) == KeyRef::of(&w[1].0))
    {
        return Err(ValueError::new(format!(
            "duplicate map key: {:?} and {:?} are the same {key_ty}",
            w[0].2, w[1].2
        )));
    }
    Ok(Value::Map(
        entries.into_iter().map(|(k, v, _)| (k, v)).collect(),
    ))
}

/// A map key from the text of a JSON object key.
fn key_from(ty: &Type, text: &str) -> Result<Value, ValueError> {
    match ty {
        Type::Primitive(Primitive::String) => Ok(Value::String(text.to_owned())),
        Type::Primitive(Primitive::Bool) => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(ValueError::new(format!(
                "expected a bool key, \"true\" or \"false\", found {text:?}"
            ))),
        },
        Type::Primitive(Primitive::Bytes) => STANDARD.decode(text).map(Value::Bytes).map_err(|e| {
            ValueError::new(format!(
                "expected a bytes key in base64, found {text:?}: {e}"
            ))
        }),
        Type::Primitive(p) if int_range(*p).is_some() => int_value(*p, decimal(*p, ty, text)?),
        ty => Err(ValueError::new(format!("{ty} cannot be a map key"))),
    }
}

/// The fields of a struct, a struct variant or a record from a JSON object.
fn struct_from(
    model: &Model,
    fields: &FieldsOf<'_>,
    object: &Map<String, Json>,
    depth: usize,
) -> Result<Vec<(String, Value)>, ValueError> {
    let depth = enter(depth)?;
    if let Some(unknown) = object.keys().find(|k| fields.index_of(k).is_none()) {
        return Err(fields.unknown(unknown));
    }
    let mut values = Vec::with_capacity(fields.len());
    for i in 0..fields.len() {
        let Some((name, ty)) = fields.get(i) else {
            continue;
        };
        let value = match (object.get(name), ty) {
            (Some(json), ty) => from(model, ty, json, depth).map_err(|e| e.within(name))?,
            (None, Type::Option(_)) => Value::Option(None),
            (None, _) => return Err(ValueError::new("missing field").within(name)),
        };
        values.push((name.to_owned(), value));
    }
    Ok(values)
}

fn variant_from(
    model: &Model,
    ty: &Type,
    owner: &QualifiedName,
    variants: &[Variant],
    json: &Json,
    depth: usize,
) -> Result<Value, ValueError> {
    let (name, content) = match json {
        Json::String(name) => (name, None),
        Json::Object(object) if object.len() == 1 => match object.iter().next() {
            Some((name, content)) => (name, Some(content)),
            None => return Err(mismatch(ty, "an empty object")),
        },
        Json::Object(object) => {
            return Err(ValueError::new(format!(
                "expected {ty} as \"Variant\" or {{\"Variant\": ...}}, found an object of {} keys",
                object.len()
            )));
        }
        json => return Err(mismatch(ty, kind(json))),
    };
    let (_, v) = variant_named(owner, variants, name)?;
    let depth = enter(depth)?;
    let found = |json: &Json| wrong_shape(owner, v, kind(json));
    let fields = match (&v.shape, content) {
        // Nothing to carry: the name alone, or with null.
        (shape, None | Some(Json::Null)) if carries_nothing(shape) => match shape {
            VariantShape::Unit => Fields::Unit,
            VariantShape::Tuple(_) => Fields::Tuple(Vec::new()),
            VariantShape::Struct(_) => Fields::Struct(Vec::new()),
        },
        (_, None) => return Err(wrong_shape(owner, v, "nothing")),
        (VariantShape::Unit, Some(json)) => return Err(found(json)),
        (VariantShape::Tuple(types), Some(json)) => match (types.as_slice(), json) {
            ([ty], json) => {
                let value =
                    from(model, ty, json, depth).map_err(|e| e.within("[0]").within(name))?;
                Fields::Tuple(vec![value])
            }
            (types, Json::Array(items)) if items.len() == types.len() => {
                let depth = enter(depth)?;
                let mut values = Vec::with_capacity(types.len());
                for (i, (ty, item)) in types.iter().zip(items).enumerate() {
                    values.push(
                        from(model, ty, item, depth)
                            .map_err(|e| e.within(&format!("[{i}]")).within(name))?,
                    );
                }
                Fields::Tuple(values)
            }
            (_, Json::Array(items)) => {
                return Err(wrong_shape(owner, v, &format!("{} values", items.len())));
            }
            (_, json) => return Err(found(json)),
        },
        (VariantShape::Struct(declared), Some(Json::Object(object))) => {
            let fields = FieldsOf::of_variant(owner, &v.name, declared);
            Fields::Struct(struct_from(model, &fields, object, depth).map_err(|e| e.within(name))?)
        }
        (VariantShape::Struct(_), Some(json)) => return Err(found(json)),
    };
    Ok(Value::Variant {
        name: v.name.clone(),
        fields,
    })
}

/// The fields of an object reference, in [`rpc_runtime::ObjectRef`]'s order (`token` may
/// be left out: 0, a reference passed on).
const REFERENCE_FIELDS: [&str; 5] = ["address", "binding", "object", "interface", "token"];

fn reference_from(object: &Map<String, Json>) -> Result<rpc_runtime::ObjectRef, ValueError> {
    if let Some(unknown) = object
        .keys()
        .find(|k| !REFERENCE_FIELDS.contains(&k.as_str()))
    {
        return Err(ValueError::new(format!(
            "unknown field `{unknown}` (fields of an object reference: {})",
            REFERENCE_FIELDS.join(", ")
        )));
    }
    let field = |name: &str| {
        object
            .get(name)
            .ok_or_else(|| ValueError::new("missing field").within(name))
    };
    let string = |name: &str| -> Result<String, ValueError> {
        match field(name)? {
            Json::String(s) => Ok(s.clone()),
            json => Err(mismatch(&Type::Primitive(Primitive::String), kind(json)).within(name)),
        }
    };
    let id = |name: &str| -> Result<u64, ValueError> {
        let u64_ty = Type::Primitive(Primitive::U64);
        match primitive_from(Primitive::U64, &u64_ty, field(name)?).map_err(|e| e.within(name))? {
            Value::Unsigned(v) => Ok(v),
            other => Err(mismatch(&u64_ty, other.kind()).within(name)),
        }
    };
    Ok(rpc_runtime::ObjectRef {
        address: string("address")?,
        binding: id("binding")?,
        object: id("object")?,
        interface: string("interface")?,
        token: match object.get("token") {
            Some(_) => id("token")?,
            None => 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::codec::test_model::*;

    fn prim(p: Primitive) -> Type {
        Type::Primitive(p)
    }

    fn round_trip(model: &Model, ty: &Type, value: &Value, expected: Json) {
        let json = to_json(model, ty, value).unwrap();
        assert_eq!(json, expected, "{ty}");
        assert_eq!(&from_json(model, ty, &json).unwrap(), value, "{ty}");
    }

    fn err(model: &Model, ty: &Type, json: Json) -> String {
        from_json(model, ty, &json).unwrap_err().to_string()
    }

    #[test]
    fn values_map_to_json_and_back() {
        let model = model();
        round_trip(
            &model,
            &named("Account"),
            &account("ann"),
            json!({"id": 1, "owner": "ann", "balance": -2, "tags": ["x"], "note": null}),
        );
        let bag = st(&[
            ("small", Value::Unsigned(255)),
            ("f", Value::Float(f64::from(1.1f32))),
            ("blob", Value::Bytes(vec![0, 1, 2, 255])),
            (
                "by_id",
                Value::Map(vec![
                    (Value::Signed(-1), s("a")),
                    (Value::Signed(9), s("b")),
                    (Value::Signed(10), s("c")),
                ]),
            ),
            (
                "flags",
                Value::Map(vec![
                    (Value::Bool(false), Value::Unsigned(0)),
                    (Value::Bool(true), Value::Unsigned(1)),
                ]),
            ),
            (
                "blobs",
                Value::Map(vec![(Value::Bytes(vec![1]), Value::Unsigned(2))]),
            ),
            ("big", Value::Unsigned(u64::MAX)),
            ("neg", Value::Signed(-(1 << 53))),
            (
                "shape",
                Value::Option(Some(Box::new(var(
                    "Segment",
                    Fields::Tuple(vec![
                        Value::Float(f64::NAN),
                        Value::Float(f64::INFINITY),
                        Value::Float(f64::NEG_INFINITY),
                        Value::Float(0.5),
                    ]),
                )))),
            ),
            (
                "maybe",
                Value::Option(Some(Box::new(Value::Option(Some(Box::new(
                    Value::Unsigned(3),
                )))))),
            ),
        ]);
        let json = to_json(&model, &named("Bag"), &bag).unwrap();
        assert_eq!(
            json,
            json!({
                "small": 255,
                "f": 1.1,
                "blob": "AAEC/w==",
                "by_id": {"-1": "a", "9": "b", "10": "c"},
                "flags": {"false": 0, "true": 1},
                "blobs": {"AQ==": 2},
                "big": "18446744073709551615",
                "neg": "-9007199254740992",
                "shape": {"Segment": ["NaN", "Infinity", "-Infinity", 0.5]},
                "maybe": 3,
            })
        );
        // NaN is not equal to itself: compare the JSON of the value read back.
        let back = from_json(&model, &named("Bag"), &json).unwrap();
        assert_eq!(to_json(&model, &named("Bag"), &back).unwrap(), json);
        // Map entries come back in the key type's order, whatever the object's order.
        assert_eq!(
            back.field("by_id"),
            bag.field("by_id"),
            "numerically ordered keys"
        );

        round_trip(
            &model,
            &prim(Primitive::U64),
            &Value::Unsigned((1 << 53) - 1),
            json!(9007199254740991u64),
        );
        round_trip(
            &model,
            &prim(Primitive::U64),
            &Value::Unsigned(1 << 53),
            json!("9007199254740992"),
        );
        round_trip(
            &model,
            &prim(Primitive::I64),
            &Value::Signed(i64::MIN),
            json!("-9223372036854775808"),
        );
        round_trip(
            &model,
            &named("Kind"),
            &var("Savings", Fields::Unit),
            json!("Savings"),
        );
        round_trip(
            &model,
            &named("Shape"),
            &var("Circle", Fields::Tuple(vec![Value::Float(2.0)])),
            json!({"Circle": 2.0}),
        );
        round_trip(
            &model,
            &named("Shape"),
            &var("Nothing", Fields::Struct(vec![])),
            json!({"Nothing": {}}),
        );
        round_trip(
            &model,
            &named("BankError"),
            &var(
                "NotFound",
                Fields::Struct(vec![("id".into(), Value::Unsigned(4))]),
            ),
            json!({"NotFound": {"id": 4}}),
        );
        let reference = rpc_runtime::ObjectRef {
            address: "h:1".into(),
            binding: u64::MAX,
            object: 2,
            interface: "bank.Bank".into(),
            token: 7,
        };
        round_trip(
            &model,
            &named("Holder"),
            &st(&[("bank", Value::Reference(reference))]),
            json!({"bank": {"address": "h:1", "binding": "18446744073709551615", "object": 2, "interface": "bank.Bank", "token": 7}}),
        );
        // Some(None) has no JSON of its own.
        let maybe = Type::Option(Box::new(Type::Option(Box::new(prim(Primitive::U8)))));
        let some_none = Value::Option(Some(Box::new(Value::Option(None))));
        assert_eq!(to_json(&model, &maybe, &some_none).unwrap(), Json::Null);
        assert_eq!(
            from_json(&model, &maybe, &Json::Null).unwrap(),
            Value::Option(None)
        );
    }

    #[test]
    fn json_input_is_read_generously() {
        let model = model();
        let u8_ty = prim(Primitive::U8);
        assert_eq!(
            from_json(&model, &u8_ty, &json!("200")).unwrap(),
            Value::Unsigned(200)
        );
        assert_eq!(
            from_json(&model, &prim(Primitive::I8), &json!("-128")).unwrap(),
            Value::Signed(-128)
        );
        assert_eq!(
            from_json(&model, &prim(Primitive::F64), &json!(3)).unwrap(),
            Value::Float(3.0)
        );
        assert_eq!(
            from_json(&model, &prim(Primitive::F32), &json!(0.1)).unwrap(),
            Value::Float(f64::from(0.1f32))
        );
        assert_eq!(
            from_json(&model, &named("Kind"), &json!({"Checking": null})).unwrap(),
            var("Checking", Fields::Unit)
        );
        assert_eq!(
            from_json(&model, &named("Shape"), &json!("Nothing")).unwrap(),
            var("Nothing", Fields::Struct(vec![]))
        );
        // A missing option field is None.
        let record = vec![
            ("id".to_owned(), prim(Primitive::U64)),
            (
                "note".to_owned(),
                Type::Option(Box::new(prim(Primitive::String))),
            ),
        ];
        assert_eq!(
            from_json_record(&model, &record, &json!({"id": 1})).unwrap(),
            st(&[("id", Value::Unsigned(1)), ("note", Value::Option(None))])
        );
        assert_eq!(
            to_json_record(
                &model,
                &record,
                &st(&[("note", Value::Option(None)), ("id", Value::Unsigned(1))])
            )
            .unwrap(),
            json!({"id": 1, "note": null})
        );
    }

    #[test]
    fn errors_speak_of_idl_types_and_say_where() {
        let model = model();
        let record = vec![("amount".to_owned(), prim(Primitive::I64))];
        assert_eq!(
            from_json_record(&model, &record, &json!({"amount": true}))
                .unwrap_err()
                .to_string(),
            "`amount`: expected i64, found bool"
        );
        assert_eq!(
            from_json_record(&model, &record, &json!({"amount": "ten"}))
                .unwrap_err()
                .to_string(),
            "`amount`: expected i64, found string \"ten\""
        );
        assert_eq!(
            to_json_record(&model, &record, &st(&[("amount", s("ten"))]))
                .unwrap_err()
                .to_string(),
            "`amount`: expected i64, found string"
        );
        assert_eq!(
            from_json_record(&model, &record, &json!([]))
                .unwrap_err()
                .to_string(),
            "expected an object of fields: amount, found array"
        );
        assert_eq!(
            from_json_record(&model, &record, &json!({}))
                .unwrap_err()
                .to_string(),
            "`amount`: missing field"
        );
        assert_eq!(
            err(
                &model,
                &named("Account"),
                json!({"id": 1, "balance": 0, "tags": []})
            ),
            "`owner`: missing field"
        );
        assert_eq!(
            err(
                &model,
                &named("Account"),
                json!({"id": 1, "owner": "o", "balance": 0, "tags": [], "colour": "red"})
            ),
            "unknown field `colour` (fields of bank.Account: id, owner, balance, tags, note)"
        );
        assert_eq!(
            err(&model, &named("BankError"), json!("Foo")),
            "unknown variant `Foo` of bank.BankError (variants: NotFound, Insufficient)"
        );
        assert_eq!(
            err(
                &model,
                &named("BankError"),
                json!({"Insufficient": {"needed": 1, "available": 1.5}})
            ),
            "`Insufficient.available`: expected i64 (an integer), found 1.5"
        );
        assert_eq!(
            err(&model, &named("BankError"), json!("NotFound")),
            "variant `NotFound` of bank.BankError carries fields (id), found nothing"
        );
        assert_eq!(
            err(&model, &named("Shape"), json!({"Segment": [1, 2]})),
            "variant `Segment` of bank.Shape carries 4 values, found 2 values"
        );
        assert_eq!(
            err(&model, &named("Shape"), json!({"Point": null, "Circle": 1})),
            "expected bank.Shape as \"Variant\" or {\"Variant\": ...}, found an object of 2 keys"
        );
        assert_eq!(
            err(&model, &prim(Primitive::U8), json!(300)),
            "expected u8 (0 to 255), found 300"
        );
        assert_eq!(
            err(&model, &prim(Primitive::U8), json!(-1)),
            "expected u8 (0 to 255), found -1"
        );
        assert_eq!(
            err(&model, &prim(Primitive::U8), json!(1.0)),
            "expected u8 (an integer), found 1.0"
        );
        assert_eq!(
            err(&model, &prim(Primitive::U64), json!("18446744073709551616")),
            "expected u64 (0 to 18446744073709551615), found 18446744073709551616"
        );
        assert_eq!(
            err(
                &model,
                &prim(Primitive::I64),
                json!("99999999999999999999999999999999999999999")
            ),
            "expected i64 (-9223372036854775808 to 9223372036854775807), found 99999999999999999999999999999999999999999"
        );
        assert_eq!(
            err(&model, &prim(Primitive::U64), json!(1e20)),
            "expected u64 (0 to 18446744073709551615), found 1e+20"
        );
        assert_eq!(
            err(&model, &prim(Primitive::F64), json!("nan")),
            "expected f64, found string \"nan\""
        );
        assert!(
            err(&model, &prim(Primitive::Bytes), json!("not base64!"))
                .starts_with("expected bytes in base64")
        );
        let by_id = Type::Map(
            Box::new(prim(Primitive::I32)),
            Box::new(prim(Primitive::String)),
        );
        assert_eq!(
            err(&model, &by_id, json!({"1": "a", "01": "b"})),
            "duplicate map key: \"01\" and \"1\" are the same i32"
        );
        assert_eq!(
            err(&model, &by_id, json!({"x": "a"})),
            "`[\"x\"]`: expected i32, found string \"x\""
        );
        assert_eq!(
            err(&model, &by_id, json!({"1": 2})),
            "`[\"1\"]`: expected string, found number"
        );
        let flags = Type::Map(
            Box::new(prim(Primitive::Bool)),
            Box::new(prim(Primitive::U8)),
        );
        assert_eq!(
            err(&model, &flags, json!({"yes": 1})),
            "`[\"yes\"]`: expected a bool key, \"true\" or \"false\", found \"yes\""
        );
        assert_eq!(
            err(
                &model,
                &named("Holder"),
                json!({"bank": {"address": "a", "binding": 1, "object": 2}})
            ),
            "`bank.interface`: missing field"
        );
        assert_eq!(
            err(
                &model,
                &named("Holder"),
                json!({"bank": {"address": "a", "binding": -1, "object": 2, "interface": "i"}})
            ),
            "`bank.binding`: expected u64 (0 to 18446744073709551615), found -1"
        );
        assert_eq!(
            to_json(&model, &prim(Primitive::U8), &Value::Unsigned(256))
                .unwrap_err()
                .to_string(),
            "expected u8 (0 to 255), found 256"
        );
    }

    #[test]
    fn nesting_is_bounded_both_ways() {
        on_small_stack(nesting_at_the_limit);
    }

    fn nesting_at_the_limit() {
        let model = model();
        // 600 nested trees, built without recursion: each is an object and a list.
        let mut json = json!({"label": "", "children": []});
        for _ in 0..600 {
            json = json!({"label": "", "children": [json]});
        }
        let e = from_json(&model, &named("Tree"), &json).unwrap_err();
        assert_eq!(e.message, "nesting deeper than 512 levels");
        assert!(e.path.starts_with("children[0].children[0]"), "{}", e.path);
        let e = to_json(&model, &named("Node"), &chain(257)).unwrap_err();
        assert_eq!(e.message, "nesting deeper than 512 levels");
        // 256 nodes are 511 levels: within the limit, and the same as the wire's.
        let deepest = chain(256);
        let json = to_json(&model, &named("Node"), &deepest).unwrap();
        assert_eq!(from_json(&model, &named("Node"), &json).unwrap(), deepest);
    }
}
