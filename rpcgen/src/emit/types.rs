//! User types: structs, enums and exceptions, and the Rust type of every IDL type.

use idl::{Field, Primitive, Type, TypeDef, TypeDefKind, Variant, VariantShape};
use proc_macro2::TokenStream;
use quote::quote;

use super::names::ident;
use super::{docs, fallback_docs};

/// The Rust type of an IDL type, as seen from the module of package `here`.
pub fn rust_type(ty: &Type, here: &str) -> TokenStream {
    match ty {
        Type::Primitive(p) => primitive(*p),
        Type::List(t) => {
            let t = rust_type(t, here);
            quote!(::std::vec::Vec<#t>)
        }
        Type::Option(t) => {
            let t = rust_type(t, here);
            quote!(::core::option::Option<#t>)
        }
        Type::Map(k, v) => {
            let (k, v) = (rust_type(k, here), rust_type(v, here));
            quote!(::std::collections::HashMap<#k, #v>)
        }
        Type::Named { name, boxed } => {
            let path = named(name, here);
            if *boxed {
                quote!(::std::boxed::Box<#path>)
            } else {
                path
            }
        }
        Type::Interface(_) => quote!(::rpc_runtime::ObjectRef),
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
        Primitive::Bytes => quote!(::std::vec::Vec<u8>),
    }
}

/// A user type by name: bare in its own package, `super::pkg::Name` from another (every
/// package is a sibling module).
fn named(name: &idl::QualifiedName, here: &str) -> TokenStream {
    let ty = ident(&name.name);
    if name.package == here {
        quote!(#ty)
    } else {
        let package = ident(&name.package);
        quote!(super::#package::#ty)
    }
}

/// `#[serde(with = ...)]` for `bytes` and `option<bytes>`, which serde would otherwise
/// encode byte by byte. The bytes on the wire are the same either way; only speed differs.
pub fn serde_with(ty: &Type) -> TokenStream {
    let is_bytes = |t: &Type| matches!(t, Type::Primitive(Primitive::Bytes));
    match ty {
        t if is_bytes(t) => quote!(#[serde(with = "::rpc_runtime::serde_bytes")]),
        Type::Option(t) if is_bytes(t) => quote!(#[serde(with = "::rpc_runtime::serde_bytes")]),
        _ => TokenStream::new(),
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
                format!("The `{}` struct of package `{here}`.", def.name)
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
                format!("The `{}` {what} of package `{here}`.", def.name)
            });
            // A unit first variant is the derived default; another needs an impl.
            let unit_first = variants
                .first()
                .is_some_and(|v| matches!(v.shape, VariantShape::Unit));
            let body = variants.iter().enumerate().map(|(i, v)| {
                let attr = (i == 0 && unit_first).then(|| quote!(#[default]));
                let v = variant(v, &def.name, here);
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

/// `name: Type,` for each field, with docs and `pub` where the item needs it.
fn named_fields(fields: &[Field], owner: &str, here: &str, public: bool) -> TokenStream {
    let vis = if public { quote!(pub) } else { quote!() };
    let fields = fields.iter().map(|f| {
        let doc = docs(&f.docs, || fallback_docs(&format!("`{owner}.{}`", f.name)));
        let name = ident(&f.name);
        let ty = rust_type(&f.ty, here);
        let with = serde_with(&f.ty);
        quote!(#doc #with #vis #name: #ty)
    });
    quote!(#(#fields),*)
}

fn variant(v: &Variant, owner: &str, here: &str) -> TokenStream {
    let doc = docs(&v.docs, || fallback_docs(&format!("`{owner}::{}`", v.name)));
    let name = ident(&v.name);
    match &v.shape {
        VariantShape::Unit => quote!(#doc #name),
        VariantShape::Tuple(types) => {
            let types = types.iter().map(|t| {
                let with = serde_with(t);
                let ty = rust_type(t, here);
                quote!(#with #ty)
            });
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

/// `Display` (the variant, its values, and its doc's first line) and `Error`.
fn exception_impls(name: &proc_macro2::Ident, idl_name: &str, variants: &[Variant]) -> TokenStream {
    let arms = variants.iter().map(|v| {
        let variant = ident(&v.name);
        let pattern = match &v.shape {
            VariantShape::Unit => quote!(Self::#variant),
            VariantShape::Tuple(_) => quote!(Self::#variant(..)),
            VariantShape::Struct(_) => quote!(Self::#variant { .. }),
        };
        let summary = v
            .docs
            .first()
            .map(|d| format!(": {}", d.trim()))
            .unwrap_or_default();
        quote!(#pattern => #summary)
    });
    let prefix = format!("{idl_name}::");
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
    quote! {
        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let summary = match self { #(#arms,)* };
                f.write_str(#prefix)?;
                ::core::fmt::Debug::fmt(self, f)?;
                f.write_str(summary)
            }
        }

        impl ::std::error::Error for #name {}
    }
}
