//! Per interface: the facts module (name, fingerprint, object id, method specs), the
//! server-side trait (with `into_ref`, which makes an implementation a reference), and
//! the private structs that carry each method's arguments and
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

use super::names::{
    TRAIT_METHODS, WIRE_MODULE, facts_module, ident, made, method_const, ref_alias, server_struct,
    wire_struct,
};
use super::types::{is_copy, rust_type, rust_type_from};
use super::{allow, docs, hex, wrap};

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

    /// Wire structs of a method: `BankBalance{Request,Reply}[Ref]`, in the private
    /// `__wire` module.
    pub fn wire(&self, method: &Method, what: &str) -> Ident {
        let service = self.service.to_string();
        made(&wire_struct(
            service.trim_start_matches("r#"),
            &method.name,
            what,
        ))
    }

    /// The path of a wire struct from the package's module: `__wire::BankBalanceReply`.
    pub fn wire_path(&self, method: &Method, what: &str) -> TokenStream {
        let module = made(WIRE_MODULE);
        let name = self.wire(method, what);
        quote!(#module::#name)
    }
}

/// The width of generated doc lines (prettyplease indents them by four more).
pub(super) const WIDTH: usize = 86;

/// Which side a method's docs are for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The trait a server implements.
    Server,
    /// The generated client.
    Client,
}

/// The docs of a method: its IDL doc comment (or a sentence naming it), then what its
/// call semantics promise, then what happens to each `&mut` parameter.
pub fn method_docs(m: &Method, names: &Names, side: Side) -> TokenStream {
    let full = format!(
        "{}.{}",
        names.package,
        names.service.to_string().trim_start_matches("r#")
    );
    let mut lines: Vec<String> = if m.docs.is_empty() {
        vec![match side {
            Side::Server => format!("Runs the `{}` method of interface `{full}`.", m.name),
            Side::Client => format!("Calls the `{}` method of the remote `{full}`.", m.name),
        }]
    } else {
        m.docs.clone()
    };
    lines.push(String::new());
    lines.extend(wrap(semantics_doc(m.semantics, side), WIDTH, ""));
    if !m.cancellable {
        lines.push(String::new());
        lines.extend(wrap(uncancellable_doc(side), WIDTH, ""));
    }
    let modes: Vec<String> = m
        .params
        .iter()
        .filter_map(|p| {
            let text = match (p.mode, side) {
                (Mode::In, _) => return None,
                (Mode::InOut, Side::Client) => {
                    "its value is sent, and the server's final value is written back into \
                     it when the call succeeds"
                }
                (Mode::Out, Side::Client) => {
                    "nothing is sent; the server's final value is written into it when the \
                     call succeeds"
                }
                (Mode::InOut, Side::Server) => {
                    "holds the caller's value; the value it has when the method returns is \
                     sent back"
                }
                (Mode::Out, Side::Server) => {
                    "starts as the type's default value; the value it has when the method \
                     returns is sent back"
                }
            };
            let mode = if p.mode == Mode::Out { "out" } else { "inout" };
            Some(wrap(
                &format!("- `{}` (`{mode}`): {text}.", p.name),
                WIDTH,
                "  ",
            ))
        })
        .flatten()
        .collect();
    if !modes.is_empty() {
        lines.push(String::new());
        lines.push("# Parameters".to_string());
        lines.push(String::new());
        lines.extend(modes);
    }
    docs(&lines, String::new)
}

/// What `[uncancellable]` means, for the docs of a method marked so.
fn uncancellable_doc(side: Side) -> &'static str {
    match side {
        Side::Client => {
            "Uncancellable: once the server runs it, it runs to its end even when the \
             call is cancelled (dropped, or past its deadline)."
        }
        Side::Server => {
            "Uncancellable: runs to its end even when its call is cancelled (by the \
             client, by its deadline, or as an orphan)."
        }
    }
}

/// What a method's call semantics promise, in words, for its docs.
fn semantics_doc(semantics: Semantics, side: Side) -> &'static str {
    match (semantics, side) {
        (Semantics::Maybe, Side::Client) => {
            "Call semantics: *maybe* (`oneway`). The call returns once the request is on \
             its way; no reply comes, so it may or may not run, and nothing tells which."
        }
        (Semantics::Maybe, Side::Server) => {
            "Call semantics: *maybe* (`oneway`). The caller does not wait and gets no \
             reply; a duplicate of the request is dropped, so each call runs at most once."
        }
        (Semantics::AtLeastOnce, Side::Client) => {
            "Call semantics: *at-least-once* (`idempotent`). When no reply comes the \
             request is sent again, so a call that returns `Ok` ran once or more."
        }
        (Semantics::AtLeastOnce, Side::Server) => {
            "Call semantics: *at-least-once* (`idempotent`). Every copy of a request \
             that arrives runs, so one call may run several times: running it again must \
             change nothing."
        }
        (Semantics::AtMostOnce, Side::Client) => {
            "Call semantics: *at-most-once* (the default). Requests are retransmitted \
             with the same id and the server filters duplicates, so a call that returns \
             `Ok` ran exactly once, and a failed one says whether it may have run."
        }
        (Semantics::AtMostOnce, Side::Server) => {
            "Call semantics: *at-most-once* (the default). Duplicates of a request are \
             filtered and answered with the stored reply, so each call runs at most once."
        }
        (Semantics::LastOfMany, Side::Client) => {
            "Call semantics: *last-of-many* (`last_of_many`). When no reply comes the \
             request is sent again as a new call; only the reply to the last one is \
             returned, earlier ones are discarded."
        }
        (Semantics::LastOfMany, Side::Server) => {
            "Call semantics: *last-of-many* (`last_of_many`). Each retransmission is a \
             new call that runs; the caller keeps only the reply to the last one."
        }
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
        let cancellable = m.cancellable;
        let doc = format!(" `{}`: id, fingerprint and call semantics.", m.name);
        quote! {
            #[doc = #doc]
            pub const #name: ::rpc_runtime::MethodSpec = ::rpc_runtime::MethodSpec {
                name: #idl_name,
                id: #id,
                fingerprint: #fp,
                semantics: ::rpc_runtime::Semantics::#semantics,
                cancellable: #cancellable,
            };
        }
    });
    let all = interface.methods.iter().map(|m| names.method_const(m));
    let link = names.doc_link();
    let doc = format!(" Wire facts of {link}: its name, fingerprint, object id and methods.");
    let name_doc = format!(" The interface's full name, `{full_name}`.");
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
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
        let doc = method_docs(m, names, Side::Server);
        let name = ident(&m.name);
        let params = params(m, &names.package);
        let output = server_output(m, &names.package);
        quote! {
            #doc
            fn #name(&self, #(#params),*) -> impl ::core::future::Future<Output = #output> + ::core::marker::Send;
        }
    });
    let into_ref = into_ref(interface);
    let allow = allow();
    quote! {
        #doc
        #allow
        pub trait #service: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#methods)*

            #into_ref
        }
    }
}

/// The trait's provided `into_ref`: how a local implementation becomes a value of the
/// interface's reference type, to pass wherever the IDL uses the interface as a type.
fn into_ref(interface: &Interface) -> TokenStream {
    let [method] = TRAIT_METHODS;
    let method = made(method);
    let alias = made(&ref_alias(&interface.name));
    let server = made(&server_struct(&interface.name));
    let text = format!(
        "Exports this implementation as a [`{alias}`], to pass where the interface is a \
         parameter, field or result: the peer that receives it calls this object, served \
         from this process by a [`{server}`]."
    );
    let doc = docs(&wrap(&text, WIDTH, ""), String::new);
    quote! {
        #doc
        fn #method(self) -> #alias
        where
            Self: ::core::marker::Sized,
        {
            ::rpc_runtime::objects::Ref::local(#server::new(self))
        }
    }
}

/// A server method's parameters: `name: T` for `in`, `name: &mut T` for `out` and
/// `inout`.
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

/// A client method's parameters: `in` borrowed (`&str`, `&[u8]`, `&T`) except `Copy`
/// primitives, which are passed by value; `&mut T` for `out` and `inout`.
pub fn client_params<'m>(m: &'m Method, here: &'m str) -> impl Iterator<Item = TokenStream> + 'm {
    m.params.iter().map(move |p| {
        let name = ident(&p.name);
        let ty = rust_type(&p.ty, here);
        match p.mode {
            Mode::In => {
                let ty = borrowed_in(&p.ty, here, 0, None);
                quote!(#name: #ty)
            }
            Mode::Out | Mode::InOut => quote!(#name: &mut #ty),
        }
    })
}

/// The type a client takes an `in` parameter as: `T` for `Copy` primitives, `&str`,
/// `&[u8]`, else `&T`; with lifetime `'a` in a wire struct (where a `Copy` value is
/// borrowed too, so that every request struct has the lifetime it declares).
fn borrowed_in(
    ty: &idl::Type,
    here: &str,
    depth: usize,
    lifetime: Option<TokenStream>,
) -> TokenStream {
    use idl::{Primitive, Type};
    match ty {
        Type::Primitive(Primitive::String) => quote!(&#lifetime str),
        Type::Primitive(Primitive::Bytes) => quote!(&#lifetime [u8]),
        t if is_copy(t) && lifetime.is_none() => rust_type_from(t, here, depth),
        t => {
            let t = rust_type_from(t, here, depth);
            quote!(&#lifetime #t)
        }
    }
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

/// The four wire structs of one method, for the `__wire` module (one level below the
/// package's module, hence `depth` 1 in the types).
pub fn wire_structs(m: &Method, names: &Names) -> TokenStream {
    let here = &names.package;
    let sent: Vec<_> = m.params.iter().filter(|p| p.mode != Mode::Out).collect();
    let returned: Vec<_> = m.params.iter().filter(|p| p.mode != Mode::In).collect();
    let result = result_field();
    let lifetime = quote!('a);
    let result_field_of = |borrowed: bool| {
        m.result.as_ref().map(|t| {
            let ty = rust_type_from(t, here, 1);
            if borrowed {
                quote!(pub(super) #result: &'a #ty,)
            } else {
                quote!(pub(super) #result: #ty,)
            }
        })
    };
    let fields = |params: &[&idl::Param], borrowed: bool| -> Vec<TokenStream> {
        params
            .iter()
            .map(|p| {
                let name = ident(&p.name);
                if !borrowed {
                    let ty = rust_type_from(&p.ty, here, 1);
                    return quote!(pub(super) #name: #ty,);
                }
                if p.mode == Mode::In {
                    // As the client takes it; a `&[u8]` is written as serde bytes, as
                    // `Bytes` is, not as a sequence of `u8`: the wire is the same.
                    let ty = borrowed_in(&p.ty, here, 1, Some(lifetime.clone()));
                    let with = matches!(p.ty, idl::Type::Primitive(idl::Primitive::Bytes))
                        .then(|| quote!(#[serde(serialize_with = "::rpc_runtime::__codegen::serialize_bytes")]));
                    quote!(#with pub(super) #name: #ty,)
                } else {
                    let ty = rust_type_from(&p.ty, here, 1);
                    quote!(pub(super) #name: &'a #ty,)
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
            pub(super) struct #name #lifetime { #head #(#body)* }
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
