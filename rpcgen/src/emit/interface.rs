//! Per interface: the facts module (name, fingerprint, object id, method specs), the
//! server-side trait, and the private structs that carry each method's arguments and
//! results on the wire.
//!
//! Arguments travel as one struct per method holding the `in` and `inout` parameters in
//! declaration order; results as one struct holding the result (if any) and then the
//! `inout` and `out` parameters in declaration order. The client encodes borrowed
//! `...Ref` structs (no copies of the caller's values) and the server decodes owned ones,
//! and the other way round for results. postcard encodes a struct as its fields in
//! order, so the bytes are the same as a tuple's: see `docs/PROTOCOL.md`.

use idl::{Interface, Method, Mode, Semantics};
use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::names::{facts_module, ident, made, method_const, wire_struct};
use super::types::{rust_type, serde_with};
use super::{allow, docs, hex};

/// Names shared by the pieces generated for one interface.
pub struct Names {
    /// The trait: `Bank`.
    pub service: Ident,
    /// The facts module: `bank_interface`.
    pub facts: Ident,
    /// The package this interface is in.
    pub package: String,
}

impl Names {
    pub fn of(interface: &Interface, package: &str) -> Names {
        Names {
            service: ident(&interface.name),
            facts: made(&facts_module(&interface.name)),
            package: package.to_string(),
        }
    }

    /// How docs refer to the trait: an intra-doc link, or plain code for a raw identifier
    /// (rustdoc cannot link `r#trait`).
    pub fn doc_link(&self) -> String {
        let name = self.service.to_string();
        match name.strip_prefix("r#") {
            Some(bare) => format!("`{bare}`"),
            None => format!("[`{name}`]"),
        }
    }

    /// The constant of a method's spec: `BALANCE`.
    pub fn method_const(&self, method: &Method) -> Ident {
        made(&method_const(&method.name))
    }

    /// Wire structs of a method: `__BankBalance{Request,Reply}[Ref]`.
    pub fn wire(&self, method: &Method, what: &str) -> Ident {
        let service = self.service.to_string();
        made(&wire_struct(
            service.trim_start_matches("r#"),
            &method.name,
            what,
        ))
    }
}

/// The facts module.
pub fn facts(interface: &Interface, names: &Names) -> TokenStream {
    let facts = &names.facts;
    let full_name = format!("{}.{}", names.package, interface.name);
    let fingerprint = hex(interface.fingerprint, 16);
    let object = hex(idl::ids::fnv1a_64(full_name.as_bytes()), 16);
    let consts = interface.methods.iter().map(|m| {
        let name = names.method_const(m);
        let idl_name = &m.name;
        let id = hex(u64::from(m.id), 8);
        let fp = hex(m.fingerprint, 16);
        let semantics = match m.semantics {
            Semantics::Maybe => quote!(Maybe),
            Semantics::AtLeastOnce => quote!(AtLeastOnce),
            Semantics::AtMostOnce => quote!(AtMostOnce),
            Semantics::LastOfMany => quote!(LastOfMany),
        };
        let doc = format!(" `{}`: id, fingerprint and call semantics.", m.name);
        quote! {
            #[doc = #doc]
            pub const #name: ::rpc_runtime::MethodSpec = ::rpc_runtime::MethodSpec {
                name: #idl_name,
                id: #id,
                fingerprint: #fp,
                semantics: ::rpc_runtime::Semantics::#semantics,
            };
        }
    });
    let all = interface.methods.iter().map(|m| names.method_const(m));
    let link = names.doc_link();
    let doc = format!(" Wire facts of {link}: its name, fingerprint, object id and methods.");
    let name_doc = format!(" The interface's full name, `{full_name}`.");
    quote! {
        #[doc = #doc]
        pub mod #facts {
            #[doc = #name_doc]
            pub const NAME: &str = #full_name;
            /// Hash of the canonical signature of every method (see `docs/IDL.md`).
            pub const FINGERPRINT: u64 = #fingerprint;
            /// The object id a server gives this interface's service by default: a hash of
            /// [`NAME`].
            pub const OBJECT: u64 = #object;
            /// Everything the runtime needs to know about the interface.
            pub static SPEC: ::rpc_runtime::InterfaceSpec = ::rpc_runtime::InterfaceSpec {
                name: NAME,
                fingerprint: FINGERPRINT,
                object: OBJECT,
                methods: &[#(methods::#all),*],
            };
            /// One constant per method.
            pub mod methods {
                #(#consts)*
            }
        }
    }
}

/// The trait a server implements.
pub fn service_trait(interface: &Interface, names: &Names) -> TokenStream {
    let service = &names.service;
    let doc = docs(&interface.docs, || {
        format!(
            " The `{}` interface: implement it to serve it.",
            interface.name
        )
    });
    let methods = interface.methods.iter().map(|m| {
        let doc = docs(&m.docs, || format!(" The `{}` method.", m.name));
        let name = ident(&m.name);
        let params = params(m, &names.package);
        let output = server_output(m, &names.package);
        quote! {
            #doc
            fn #name(&self, #(#params),*) -> impl ::core::future::Future<Output = #output> + ::core::marker::Send;
        }
    });
    let allow = allow();
    quote! {
        #doc
        #allow
        pub trait #service: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#methods)*
        }
    }
}

/// `name: T` for `in`, `name: &mut T` for `out` and `inout`.
pub fn params<'m>(m: &'m Method, here: &'m str) -> impl Iterator<Item = TokenStream> + 'm {
    m.params.iter().map(move |p| {
        let name = ident(&p.name);
        let ty = rust_type(&p.ty, here);
        match p.mode {
            Mode::In => quote!(#name: #ty),
            Mode::Out | Mode::InOut => quote!(#name: &mut #ty),
        }
    })
}

/// The exception type of a method, if it raises one.
pub fn exception(m: &Method, here: &str) -> Option<TokenStream> {
    m.raises.as_ref().map(|e| {
        rust_type(
            &idl::Type::Named {
                name: e.clone(),
                boxed: false,
            },
            here,
        )
    })
}

/// What a server method resolves to: the result (or `()`), in a `Result` if it raises.
fn server_output(m: &Method, here: &str) -> TokenStream {
    let result = m
        .result
        .as_ref()
        .map_or_else(|| quote!(()), |t| rust_type(t, here));
    match exception(m, here) {
        Some(e) => quote!(::core::result::Result<#result, #e>),
        None => result,
    }
}

/// The field name that holds a method's result in its reply struct.
pub fn result_field() -> Ident {
    made("__result")
}

/// The four wire structs of one method.
pub fn wire_structs(m: &Method, names: &Names) -> TokenStream {
    let here = &names.package;
    let sent: Vec<_> = m.params.iter().filter(|p| p.mode != Mode::Out).collect();
    let returned: Vec<_> = m.params.iter().filter(|p| p.mode != Mode::In).collect();
    let result = result_field();
    let result_field_of = |borrowed: bool| {
        m.result.as_ref().map(|t| {
            let ty = rust_type(t, here);
            let with = serde_with(t);
            if borrowed {
                quote!(#with #result: &'a #ty,)
            } else {
                quote!(#with #result: #ty,)
            }
        })
    };
    let fields = |params: &[&idl::Param], borrowed: bool| -> Vec<TokenStream> {
        params
            .iter()
            .map(|p| {
                let name = ident(&p.name);
                let ty = rust_type(&p.ty, here);
                let with = serde_with(&p.ty);
                if borrowed {
                    quote!(#with #name: &'a #ty,)
                } else {
                    quote!(#with #name: #ty,)
                }
            })
            .collect()
    };
    let one = |name: Ident,
               derive: TokenStream,
               borrowed: bool,
               head: Option<TokenStream>,
               body: Vec<TokenStream>| {
        let lifetime = (borrowed && (head.is_some() || !body.is_empty())).then(|| quote!(<'a>));
        quote! {
            #[derive(#derive)]
            #[serde(crate = "::rpc_runtime::serde")]
            #[allow(non_camel_case_types, non_snake_case)]
            struct #name #lifetime { #head #(#body)* }
        }
    };
    let ser = quote!(::rpc_runtime::serde::Serialize);
    let de = quote!(::rpc_runtime::serde::Deserialize);
    let request_ref = one(
        names.wire(m, "RequestRef"),
        ser.clone(),
        true,
        None,
        fields(&sent, true),
    );
    let request = one(
        names.wire(m, "Request"),
        de.clone(),
        false,
        None,
        fields(&sent, false),
    );
    if m.semantics == Semantics::Maybe {
        return quote!(#request_ref #request);
    }
    let reply_ref = one(
        names.wire(m, "ReplyRef"),
        ser,
        true,
        result_field_of(true),
        fields(&returned, true),
    );
    let reply = one(
        names.wire(m, "Reply"),
        de,
        false,
        result_field_of(false),
        fields(&returned, false),
    );
    quote!(#request_ref #request #reply_ref #reply)
}
