//! User types: structs, enums and exceptions, and the Rust type of every IDL type.

use idl::{Field, Primitive, Type, TypeDef, TypeDefKind, Variant, VariantShape};
use proc_macro2::TokenStream;
use quote::quote;

use super::docs;
use super::names::{ident, made, ref_alias};

/// The Rust type of an IDL type, as seen from the module of package `here`.
pub fn rust_type(ty: &Type, here: &str) -> TokenStream {
    rust_type_from(ty, here, 0)
}

/// The Rust type of an IDL type, as seen from a module `depth` levels below the module of
/// package `here` (the private `__wire` module is one level down).
pub fn rust_type_from(ty: &Type, here: &str, depth: usize) -> TokenStream {
    match ty {
        Type::Primitive(p) => primitive(*p),
        Type::List(t) => {
            let t = rust_type_from(t, here, depth);
            quote!(::std::vec::Vec<#t>)
        }
        Type::Option(t) => {
            let t = rust_type_from(t, here, depth);
            quote!(::core::option::Option<#t>)
        }
        Type::Map(k, v) => {
            let (k, v) = (
                rust_type_from(k, here, depth),
                rust_type_from(v, here, depth),
            );
            quote!(::std::collections::HashMap<#k, #v>)
        }
        Type::Named { name, boxed } => {
            let path = named(name, here, depth);
            if *boxed {
                quote!(::std::boxed::Box<#path>)
            } else {
                path
            }
        }
        Type::Interface(name) => {
            in_package(&name.package, made(&ref_alias(&name.name)), here, depth)
        }
    }
}

fn primitive(p: Primitive) -> TokenStream {
    match p {
        Primitive::Bool => quote!(bool),
        Primitive::U8 => quote!(u8),
        Primitive::U16 => quote!(u16),
        Primitive::U32 => quote!(u32),
        Primitive::U64 => quote!(u64),
        Primitive::I8 => quote!(i8),
        Primitive::I16 => quote!(i16),
        Primitive::I32 => quote!(i32),
        Primitive::I64 => quote!(i64),
        Primitive::F32 => quote!(f32),
        Primitive::F64 => quote!(f64),
        Primitive::String => quote!(::std::string::String),
        // Shares the received message instead of copying it, and encodes as serde's
        // bytes (not byte by byte), so the wire is that of `serde_bytes`.
        Primitive::Bytes => quote!(::rpc_runtime::Bytes),
    }
}

/// Whether values of `ty` are `Copy` primitives, which a client takes by value.
pub fn is_copy(ty: &Type) -> bool {
    matches!(ty, Type::Primitive(p) if !matches!(p, Primitive::String | Primitive::Bytes))
}

/// A user type by name: see [`in_package`].
fn named(name: &idl::QualifiedName, here: &str, depth: usize) -> TokenStream {
    in_package(&name.package, ident(&name.name), here, depth)
}

/// An item of the module of `package`: bare in its own package, `super::pkg::Item` from
/// another (every package is a sibling module); `depth` more `super::` from a module
/// below.
fn in_package(package: &str, item: proc_macro2::Ident, here: &str, depth: usize) -> TokenStream {
    let up = (0..depth).map(|_| quote!(super::));
    if package == here {
        quote!(#(#up)* #item)
    } else {
        let package = ident(package);
        quote!(#(#up)* super::#package::#item)
    }
}

/// How docs refer to a generated item: an intra-doc link, or plain code for a name with
/// a raw identifier (rustdoc cannot link `r#type`).
pub fn doc_link(path: &str) -> String {
    if path
        .split("::")
        .any(|part| ident(part).to_string().starts_with("r#"))
    {
        format!("`{path}`")
    } else {
        format!("[`{path}`]")
    }
}

/// The derives every user type gets.
fn derives() -> TokenStream {
    quote! {
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::cmp::PartialEq,
            ::rpc_runtime::serde::Serialize,
            ::rpc_runtime::serde::Deserialize
        )]
        #[serde(crate = "::rpc_runtime::serde")]
    }
}

/// A struct, enum or exception.
pub fn type_def(def: &TypeDef, here: &str) -> TokenStream {
    let name = ident(&def.name);
    let derives = derives();
    let allow = super::allow();
    match &def.kind {
        TypeDefKind::Struct(fields) => {
            let doc = docs(&def.docs, || {
                format!("The `{}` struct of IDL package `{here}`.", def.name)
            });
            let fields = named_fields(fields, &def.name, here, true);
            quote! {
                #doc
                #allow
                #derives
                #[derive(::core::default::Default)]
                pub struct #name { #fields }
            }
        }
        TypeDefKind::Enum(variants) | TypeDefKind::Exception(variants) => {
            let is_exception = matches!(def.kind, TypeDefKind::Exception(_));
            let what = if is_exception { "exception" } else { "enum" };
            let doc = docs(&def.docs, || {
                format!("The `{}` {what} of IDL package `{here}`.", def.name)
            });
            // A unit first variant is the derived default; another needs an impl.
            let unit_first = variants
                .first()
                .is_some_and(|v| matches!(v.shape, VariantShape::Unit));
            let body = variants.iter().enumerate().map(|(i, v)| {
                let attr = (i == 0 && unit_first).then(|| quote!(#[default]));
                let v = variant(v, &def.name, what, here);
                quote!(#attr #v)
            });
            let (derive_default, default) = if unit_first {
                (
                    quote!(#[derive(::core::default::Default)]),
                    TokenStream::new(),
                )
            } else {
                (TokenStream::new(), default_impl(&name, variants.first()))
            };
            let error = is_exception.then(|| exception_impls(&name, &def.name, variants));
            quote! {
                #doc
                #allow
                #derives
                #derive_default
                pub enum #name { #(#body),* }
                #default
                #error
            }
        }
    }
}

/// `name: Type,` for each field, with docs and `pub` where the item needs it. `owner`
/// is the Rust path of the struct or variant (`Account`, `BankError::Insufficient`).
fn named_fields(fields: &[Field], owner: &str, here: &str, public: bool) -> TokenStream {
    let vis = if public { quote!(pub) } else { quote!() };
    let fields = fields.iter().map(|f| {
        let doc = docs(&f.docs, || {
            format!(
                "The `{}` field of {}, IDL type `{}`.",
                f.name,
                doc_link(owner),
                f.ty
            )
        });
        let name = ident(&f.name);
        let ty = rust_type(&f.ty, here);
        quote!(#doc #vis #name: #ty)
    });
    quote!(#(#fields),*)
}

/// One variant; `what` is `enum` or `exception`.
fn variant(v: &Variant, owner: &str, what: &str, here: &str) -> TokenStream {
    let doc = docs(&v.docs, || {
        let carries = match &v.shape {
            VariantShape::Unit => String::new(),
            VariantShape::Tuple(types) => {
                let types: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
                format!(", carrying {}", types.join(", "))
            }
            VariantShape::Struct(fields) => {
                let fields: Vec<String> = fields.iter().map(|f| format!("`{}`", f.name)).collect();
                if fields.is_empty() {
                    String::new()
                } else {
                    format!(", with {}", fields.join(", "))
                }
            }
        };
        format!(
            "The `{}` variant of the {} {what}{carries}.",
            v.name,
            doc_link(owner)
        )
    });
    let name = ident(&v.name);
    match &v.shape {
        VariantShape::Unit => quote!(#doc #name),
        VariantShape::Tuple(types) => {
            let types = types.iter().map(|t| rust_type(t, here));
            quote!(#doc #name(#(#types),*))
        }
        VariantShape::Struct(fields) => {
            let fields = named_fields(fields, &format!("{owner}::{}", v.name), here, false);
            quote!(#doc #name { #fields })
        }
    }
}

/// Enums default to their first variant with default values, so that an `out`
/// parameter of an enum type has a value before the server sets it. An enum without
/// variants has no value at all, and no `Default`.
fn default_impl(name: &proc_macro2::Ident, first: Option<&Variant>) -> TokenStream {
    let Some(first) = first else {
        return TokenStream::new();
    };
    let variant = ident(&first.name);
    let value = match &first.shape {
        VariantShape::Unit => return TokenStream::new(), // derived instead
        VariantShape::Tuple(types) => {
            let defaults = types
                .iter()
                .map(|_| quote!(::core::default::Default::default()));
            quote!(Self::#variant(#(#defaults),*))
        }
        VariantShape::Struct(fields) => {
            let fields = fields.iter().map(|f| {
                let n = ident(&f.name);
                quote!(#n: ::core::default::Default::default())
            });
            quote!(Self::#variant { #(#fields),* })
        }
    };
    quote! {
        impl ::core::default::Default for #name {
            fn default() -> Self {
                #value
            }
        }
    }
}

/// `Display` and `Error`. `Display` reads `BankError::Insufficient: needed 10, available
/// 3`: the exception and variant as named in the IDL, each value after its field name
/// (tuple values in order), in their `Debug` form since any IDL type may be a value, then
/// the first line of the variant's doc comment, if it has one, after a dash.
fn exception_impls(name: &proc_macro2::Ident, idl_name: &str, variants: &[Variant]) -> TokenStream {
    if variants.is_empty() {
        return quote! {
            impl ::core::fmt::Display for #name {
                fn fmt(&self, _: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    match *self {}
                }
            }

            impl ::std::error::Error for #name {}
        };
    }
    let arms = variants.iter().map(|v| {
        let variant = ident(&v.name);
        let summary = v
            .docs
            .first()
            .map(|d| format!(" \u{2014} {}", d.trim()))
            .unwrap_or_default();
        // One format string per variant: `Name::Variant: a {:?}, b {:?} - doc`.
        let (pattern, labels, values) = match &v.shape {
            VariantShape::Unit => (quote!(Self::#variant), Vec::new(), Vec::new()),
            VariantShape::Tuple(types) => {
                let values: Vec<_> = (0..types.len())
                    .map(|i| quote::format_ident!("__v{}", i))
                    .collect();
                let labels = values.iter().map(|_| "{:?}".to_string()).collect();
                (quote!(Self::#variant(#(#values),*)), labels, values)
            }
            VariantShape::Struct(fields) => {
                let names: Vec<_> = fields.iter().map(|f| ident(&f.name)).collect();
                let values: Vec<_> = (0..fields.len())
                    .map(|i| quote::format_ident!("__v{}", i))
                    .collect();
                let labels = fields
                    .iter()
                    .map(|f| format!("{} {{:?}}", f.name))
                    .collect();
                (
                    quote!(Self::#variant { #(#names: #values),* }),
                    labels,
                    values,
                )
            }
        };
        let mut text = format!("{idl_name}::{}", v.name);
        if !labels.is_empty() {
            text.push_str(": ");
            text.push_str(&labels.join(", "));
        }
        text.push_str(&summary.replace('{', "{{").replace('}', "}}"));
        quote!(#pattern => ::core::write!(f, #text #(, #values)*))
    });
    quote! {
        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self { #(#arms,)* }
            }
        }

        impl ::std::error::Error for #name {}
    }
}
