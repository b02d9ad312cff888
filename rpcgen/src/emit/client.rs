//! The client stub: `BankClient`, one async method per IDL method, and `BankRef`, the
//! typed reference that dereferences to it.
//!
//! Copy/restore: an `inout` argument is borrowed for the request, and once the reply
//! has come the server's final value is written into the caller's variable; an `out`
//! argument is only written. A call that fails writes nothing.

use idl::{Interface, Method, Mode, Semantics};
use proc_macro2::TokenStream;
use quote::quote;

use super::interface::{Names, Side, WIDTH, client_params, exception, method_docs, result_field};
use super::names::{client_struct, ident, made, ref_alias};
use super::types::{is_copy, rust_type};
use super::{allow, docs, wrap};

/// The client struct and its methods.
pub fn client(interface: &Interface, names: &Names) -> TokenStream {
    let client = made(&client_struct(&interface.name));
    let facts = &names.facts;
    let link = names.doc_link();
    let doc =
        format!(" Calls a remote {link}. Cheap to clone: clones share the channel's connection.");
    let methods = interface.methods.iter().map(|m| method(m, names));
    let reference = reference(interface, names);
    let allow = allow();
    quote! {
        #[doc = #doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone)]
        #allow
        pub struct #client {
            client: ::rpc_runtime::Client,
        }

        #allow
        impl #client {
            /// A client of the server behind `channel`.
            pub fn new(channel: ::rpc_runtime::Channel) -> Self {
                Self { client: ::rpc_runtime::Client::new(channel, &#facts::SPEC) }
            }

            /// A client over an already configured runtime client (another object id or
            /// binding).
            pub fn from_client(client: ::rpc_runtime::Client) -> Self {
                Self { client }
            }

            /// The same client with another per-call timeout (retransmissions included).
            pub fn with_timeout(&self, timeout: ::core::time::Duration) -> Self {
                Self { client: self.client.clone().with_timeout(timeout) }
            }

            /// The same client with another retransmission policy than its channel's.
            pub fn with_retry(&self, retry: ::rpc_runtime::RetryPolicy) -> Self {
                Self { client: self.client.clone().with_retry(retry) }
            }

            /// The same client, sending `key` = `value` in the metadata of every call; the
            /// server's handler reads it from its call context.
            pub fn with_metadata(
                &self,
                key: impl ::core::convert::Into<::std::string::String>,
                value: impl ::core::convert::Into<::std::string::String>,
            ) -> Self {
                Self { client: self.client.clone().with_metadata(key, value) }
            }

            #(#methods)*
        }

        #allow
        impl ::rpc_runtime::objects::Interface for #client {
            fn spec() -> &'static ::rpc_runtime::InterfaceSpec {
                &#facts::SPEC
            }

            fn from_client(client: ::rpc_runtime::Client) -> Self {
                Self { client }
            }
        }

        #reference
    }
}

/// The reference type: what the interface is in Rust when the IDL uses it as a type.
fn reference(interface: &Interface, names: &Names) -> TokenStream {
    let client = made(&client_struct(&interface.name));
    let alias = made(&ref_alias(&interface.name));
    let service = names.service.to_string();
    let service = service.trim_start_matches("r#");
    let text = format!(
        "A reference to a `{service}` object (remote or local): derefs to [`{client}`], so \
         calls through it go to the object. Obtained from a call, or from a local \
         implementation with {}.",
        into_ref_link(names)
    );
    let doc = docs(&wrap(&text, WIDTH, ""), String::new);
    let allow = allow();
    quote! {
        #doc
        #allow
        pub type #alias = ::rpc_runtime::objects::Ref<#client>;
    }
}

/// How docs refer to the trait's `into_ref`: a link, or code for a raw identifier.
fn into_ref_link(names: &Names) -> String {
    let link = names.doc_link();
    match link.strip_prefix("[`").and_then(|l| l.strip_suffix("`]")) {
        Some(name) => format!("[`{name}::into_ref`]"),
        None => format!("`{}::into_ref`", link.trim_matches('`')),
    }
}

fn method(m: &Method, names: &Names) -> TokenStream {
    let here = &names.package;
    let facts = &names.facts;
    let spec = names.method_const(m);
    let name = ident(&m.name);
    let doc = method_docs(m, names, Side::Client);
    let params = client_params(m, here);
    let request = names.wire_path(m, "RequestRef");
    // `in` arguments are already borrowed, except `Copy` values; nothing is cloned.
    let sent = m.params.iter().filter(|p| p.mode != Mode::Out).map(|p| {
        let n = ident(&p.name);
        match p.mode {
            Mode::InOut => quote!(#n: &*#n),
            _ if is_copy(&p.ty) => quote!(#n: &#n),
            _ => quote!(#n),
        }
    });
    let build = quote!(let __request = #request { #(#sent),* };);
    if m.semantics == Semantics::Maybe {
        return quote! {
            #doc
            pub async fn #name(&self, #(#params),*) -> ::core::result::Result<(), ::rpc_runtime::CallError> {
                #build
                self.client.send(&#facts::methods::#spec, &__request).await
            }
        };
    }
    let reply = names.wire_path(m, "Reply");
    let (error, call) = match exception(m, here) {
        Some(e) => (quote!(::rpc_runtime::CallError<#e>), quote!(call_raising)),
        None => (quote!(::rpc_runtime::CallError), quote!(call)),
    };
    let result = m
        .result
        .as_ref()
        .map_or_else(|| quote!(()), |t| rust_type(t, here));
    let restore = m.params.iter().filter(|p| p.mode != Mode::In).map(|p| {
        let n = ident(&p.name);
        quote!(*#n = __reply.#n;)
    });
    let value = if m.result.is_some() {
        let field = result_field();
        quote!(__reply.#field)
    } else {
        quote!(())
    };
    quote! {
        #doc
        pub async fn #name(&self, #(#params),*)
            -> ::core::result::Result<#result, #error>
        {
            #build
            let __reply: #reply = self.client.#call(&#facts::methods::#spec, &__request).await?;
            #(#restore)*
            ::core::result::Result::Ok(#value)
        }
    }
}
