//! The server adapter: `BankServer<T>` serves any `T: Bank`, decoding each request's
//! arguments, calling the trait method, and encoding its results.

use idl::{Interface, Method, Mode, Semantics};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::allow;
use super::interface::{Names, result_field};
use super::names::{ident, made, server_struct};
use super::types::rust_type;

/// The server struct and its `Service` implementation.
pub fn server(interface: &Interface, names: &Names) -> TokenStream {
    let service = &names.service;
    let server = made(&server_struct(&interface.name));
    let facts = &names.facts;
    let link = names.doc_link();
    let doc =
        format!(" Serves an implementation of {link}: register it with an `rpc_runtime::Server`.");
    let arms: Vec<TokenStream> = interface.methods.iter().map(|m| arm(m, names)).collect();
    // An interface without methods has nothing to decode: no `match` with a lone arm,
    // and the payload is left unread on purpose.
    let dispatch = if arms.is_empty() {
        quote! {
            let _ = payload;
            ::rpc_runtime::__codegen::unknown_method(method)
        }
    } else {
        quote! {
            match method {
                #(#arms)*
                _ => ::rpc_runtime::__codegen::unknown_method(method),
            }
        }
    };
    let allow = allow();
    quote! {
        #[doc = #doc]
        #allow
        pub struct #server<T> {
            service: ::std::sync::Arc<T>,
        }

        #allow
        impl<T: #service> #server<T> {
            /// Serves `service`.
            pub fn new(service: T) -> Self {
                Self { service: ::std::sync::Arc::new(service) }
            }

            /// Serves a shared `service`.
            pub fn from_arc(service: ::std::sync::Arc<T>) -> Self {
                Self { service }
            }
        }

        impl<T> ::core::clone::Clone for #server<T> {
            fn clone(&self) -> Self {
                Self { service: self.service.clone() }
            }
        }

        #allow
        impl<T: #service> ::rpc_runtime::Service for #server<T> {
            fn spec(&self) -> &'static ::rpc_runtime::InterfaceSpec {
                &#facts::SPEC
            }

            fn call(
                &self,
                method: u32,
                payload: &[u8],
            ) -> ::core::result::Result<::rpc_runtime::__codegen::Handler, ::rpc_runtime::__codegen::DecodeError> {
                #dispatch
            }
        }
    }
}

/// `id => { decode; Ok(Box::pin(async move { run; encode })) }`
fn arm(m: &Method, names: &Names) -> TokenStream {
    let here = &names.package;
    let id = super::hex(u64::from(m.id), 8);
    let name = ident(&m.name);
    let request = names.wire_path(m, "Request");
    let outs = m.params.iter().filter(|p| p.mode == Mode::Out).map(|p| {
        let n = format_ident!("__out_{}", p.name);
        let ty = rust_type(&p.ty, here);
        quote!(let mut #n: #ty = ::core::default::Default::default();)
    });
    let args = m.params.iter().map(|p| {
        let n = ident(&p.name);
        match p.mode {
            Mode::In => quote!(__request.#n),
            Mode::InOut => quote!(&mut __request.#n),
            Mode::Out => {
                let out = format_ident!("__out_{}", p.name);
                quote!(&mut #out)
            }
        }
    });
    // Qualified, so that a method named like one of `Arc`'s (`clone`, `into`...) is the
    // trait's, not the pointer's.
    let service = &names.service;
    let call = quote!(<T as #service>::#name(&*__service, #(#args),*).await);
    let mutable = m
        .params
        .iter()
        .any(|p| p.mode == Mode::InOut)
        .then(|| quote!(mut));
    let run = if m.semantics == Semantics::Maybe {
        quote! {
            #call;
            ::rpc_runtime::Reply::None
        }
    } else {
        let reply = names.wire_path(m, "ReplyRef");
        let result = result_field();
        let head = m.result.as_ref().map(|_| quote!(#result: &__value,));
        let returned = m.params.iter().filter(|p| p.mode != Mode::In).map(|p| {
            let n = ident(&p.name);
            match p.mode {
                Mode::Out => {
                    let out = format_ident!("__out_{}", p.name);
                    quote!(#n: &#out,)
                }
                _ => quote!(#n: &__request.#n,),
            }
        });
        let encode = quote!(::rpc_runtime::Reply::ok(&#reply { #head #(#returned)* }));
        let bind = if m.result.is_some() {
            quote!(__value)
        } else {
            quote!(())
        };
        if m.raises.is_some() {
            quote! {
                match #call {
                    ::core::result::Result::Ok(#bind) => #encode,
                    ::core::result::Result::Err(__exception) => ::rpc_runtime::Reply::exception(&__exception),
                }
            }
        } else {
            quote! {
                let #bind = #call;
                #encode
            }
        }
    };
    quote! {
        #id => {
            let #mutable __request: #request = ::rpc_runtime::__codegen::decode_args(payload)?;
            let __service = self.service.clone();
            ::core::result::Result::Ok(::std::boxed::Box::pin(async move {
                #(#outs)*
                #run
            }))
        }
    }
}
