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
//! | an interface | `{"address": "host:port", "binding": n, "object": n, "interface": "pkg.Iface"}` | `binding` and `object` follow the integer rule |
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
    FieldsOf, KeyRef, carries_nothing, check_keys, enter, fields_empty, fit_int, int_of,
    int_range, key_step, mismatch, to_f32, type_def, variant_named, wrong_shape,
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

fn to(model: &Model, ty: &Type, value: &Value, depth: usize) -> Result<Json, ValueError> {
    match (ty, value) {
        (Type::Primitive(p), value) => primitive_to(*p, ty, value),
        (Type::List(t), Value::List(items)) => {
            let depth = enter(depth)?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to(model, t, item, depth).map_err(|e| e.within(&format!("[{i}]"))))
                .collect::<Result<_, _>>()
                .map(Json::Array)
        }
        (Type::Option(_), Value::Option(None)) => Ok(Json::Null),
        (Type::Option(t), Value::Option(Some(inner))) => to(model, t, inner, enter(depth)?),
        (Type::Map(k, v), Value::Map(entries)) => {
            let depth = enter(depth)?;
            check_keys(k, entries)?;
            let mut object = Map::new();
            for (i, (key, value)) in entries.iter().enumerate() {
                let text = key_text(key);
                let value = to(model, v, value, depth).map_err(|e| e.within(&key_step(i, key)))?;
                object.insert(text, value);
            }
            Ok(Json::Object(object))
        }
        (Type::Named { name, .. }, value) => {
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
        (Type::Interface(_), Value::Reference(r)) => {
            enter(depth)?;
            let mut object = Map::new();
            object.insert("address".into(), Json::String(r.address.clone()));
            object.insert("binding".into(), int_to(r.binding.into()));
            object.insert("object".into(), int_to(r.object.into()));
            object.insert("interface".into(), Json::String(r.interface.clone()));
            Ok(Json::Object(object))
        }
        (ty, value) => Err(mismatch(ty, value.kind())),
    }
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
    for ((name, ty), value) in fields.iter().zip(values) {
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
                types
                    .iter()
                    .zip(values)
                    .enumerate()
                    .map(|(i, (ty, value))| {
                        to(model, ty, value, depth).map_err(|e| e.within(&format!("[{i}]")))
                    })
                    .collect::<Result<_, _>>()
                    .map(Json::Array)
            }
            .map_err(|e| e.within(name))?
        }
        (VariantShape::Struct(declared), Fields::Struct(given)) => {
            let fields = FieldsOf::of_variant(owner, &v.name, declared);
            struct_to(model, &fields, given, depth).map_err(|e| e.within(name))?
        }
        (_, found) => {
            let found = match found {
                Fields::Unit => "nothing".to_owned(),
                Fields::Tuple(t) if t.len() == 1 => "1 value".to_owned(),
                Fields::Tuple(t) => format!("{} values", t.len()),
                Fields::Struct(_) => "fields".to_owned(),
            };
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
        (Type::List(t), Json::Array(items)) => {
            let depth = enter(depth)?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| from(model, t, item, depth).map_err(|e| e.within(&format!("[{i}]"))))
                .collect::<Result<_, _>>()
                .map(Value::List)
        }
        (Type::Option(_), Json::Null) => Ok(Value::Option(None)),
        (Type::Option(t), json) => {
            let inner = from(model, t, json, enter(depth)?)?;
            Ok(Value::Option(Some(Box::new(inner))))
        }
        (Type::Map(k, v), Json::Object(object)) => map_from(model, k, v, object, enter(depth)?),
        (Type::Named { name, .. }, json) => {
            let def = type_def(model, name)?;
            match (&def.kind, json) {
                (TypeDefKind::Struct(fields), Json::Object(object)) => {
                    struct_from(model, &FieldsOf::of_struct(name, fields), object, depth)
                        .map(Value::Struct)
                }
                (TypeDefKind::Enum(variants) | TypeDefKind::Exception(variants), json) => {
                    variant_from(model, ty, name, variants, json, depth)
                }
                (_, json) => Err(mismatch(ty, kind(json))),
            }
        }
        (Type::Interface(_), Json::Object(object)) => {
            enter(depth)?;
            reference_from(object).map(Value::Reference)
        }
        (ty, json) => Err(mismatch(ty, kind(json))),
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
        (Some((lo, hi)), Some(x)) if x.fract() == 0.0 => ValueError::new(format!(
            "expected {} ({lo} to {hi}), found {text}",
            p.name()
        )),
        _ => ValueError::new(format!(
            "expected {} (an integer), found {text}",
            p.name()
        )),
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
        Some((lo, hi)) => ValueError::new(format!("expected {} ({lo} to {hi}), found {s}", p.name())),
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
    entries.sort_by(|a, b| KeyRef::of(&a.0).cmp(&KeyRef::of(&b.0)));
    if let Some(w) = entries.windows(2).find(|w| KeyRef::of(&w[0].0) == KeyRef::of(&w[1].0)) {
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
            ValueError::new(format!("expected a bytes key in base64, found {text:?}: {e}"))
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
    fields
        .iter()
        .map(|(name, ty)| {
            let value = match (object.get(name), ty) {
                (Some(json), ty) => from(model, ty, json, depth).map_err(|e| e.within(name))?,
                (None, Type::Option(_)) => Value::Option(None),
                (None, _) => return Err(ValueError::new("missing field").within(name)),
            };
            Ok((name.to_owned(), value))
        })
        .collect()
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
                let value = from(model, ty, json, depth).map_err(|e| e.within("[0]").within(name))?;
                Fields::Tuple(vec![value])
            }
            (types, Json::Array(items)) if items.len() == types.len() => {
                let depth = enter(depth)?;
                let values = types
                    .iter()
                    .zip(items)
                    .enumerate()
                    .map(|(i, (ty, item))| {
                        from(model, ty, item, depth)
                            .map_err(|e| e.within(&format!("[{i}]")).within(name))
                    })
                    .collect::<Result<_, _>>()?;
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

/// The fields of an object reference, in [`rpc_runtime::ObjectRef`]'s order.
const REFERENCE_FIELDS: [&str; 4] = ["address", "binding", "object", "interface"];

fn reference_from(object: &Map<String, Json>) -> Result<rpc_runtime::ObjectRef, ValueError> {
    if let Some(unknown) = object.keys().find(|k| !REFERENCE_FIELDS.contains(&k.as_str())) {
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
    })
}
