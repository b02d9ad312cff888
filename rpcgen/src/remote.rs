//! The second front end: a Rust trait marked `#[remote]` to the same [`idl::Model`] an
//! IDL file gives, for the one emitter.
//!
//! The `rpc-macros` crate's attribute calls [`model_from_trait`] and then
//! [`crate::emit::package_tokens`]; keeping the translation here, in a plain library,
//! lets tests compare both front ends directly. Every refusal is a [`syn::Error`] spanned
//! at the offending token, with a hint; all of them are reported at once.
//!
//! What only the Rust form can get wrong (a missing `&self`, a type that cannot travel)
//! is checked here, while reading the trait. What any interface can get wrong (colliding
//! method ids, a `oneway` method with a result, a float map key, generated names that
//! clash) is checked on the model by the same code that checks an IDL file's
//! ([`idl::rules`] and the generated-name check of [`crate::load`]). The model's spans are
//! [`Span::opaque`] indices into a table of this trait's tokens, which turns their
//! findings back into errors at the right token.
//!
//! What a trait may say (`docs/REMOTE.md` is the user guide):
//!
//! - `async fn name(&self, ...)`: parameters by value are `in`, `&mut T` is `inout`,
//!   `#[out] x: &mut T` is `out`;
//! - results `T`, `()` or `Result<T, E>` with `E` the method's exception;
//! - `#[idempotent]`, `#[oneway]`, `#[last_of_many]` select the call semantics;
//!   `#[uncancellable]`, with any of them or alone, makes the server run the method to
//!   its end even when its call is cancelled;
//! - types: `bool`, `u8`..`u64`, `i8`..`i64`, `f32`, `f64`, `String`, `Vec<u8>` or
//!   `rpc_runtime::Bytes` (bytes),
//!   `Vec<T>`, `Option<T>`, `HashMap<K, V>`, user types named by a single identifier
//!   (in scope where the trait is, implementing serde's traits), and references to
//!   objects of an interface `Foo` (this trait or another `#[remote]` one), written
//!   `FooRef` or `Ref<FooClient>`.

use idl::source::Span;
use idl::{
    Draft, Interface, Method, Mode, Model, Package, Param, Primitive, QualifiedName, Semantics,
    Syntax, Type, TypeSpan,
};

/// The checked model of a `#[remote]` trait, as the interface `trait_name` of IDL package
/// `package`.
pub fn model_from_trait(item: &syn::ItemTrait, package: &str) -> Result<Model, syn::Error> {
    let mut errors = Errors::default();
    let mut places = Places::default();
    if !matches!(item.vis, syn::Visibility::Public(_)) {
        errors.add(
            &item.ident,
            "a `#[remote]` trait must be `pub`",
            "its generated client and server are public; write `pub trait`",
        );
    }
    if !item.generics.params.is_empty() {
        errors.add(
            &item.generics,
            "a `#[remote]` trait cannot be generic",
            "both sides must agree on every type; use concrete types",
        );
    }
    let mut methods: Vec<Method> = Vec::new();
    for trait_item in &item.items {
        match trait_item {
            syn::TraitItem::Fn(f) => {
                if let Some(m) = method(f, package, &mut errors, &mut places) {
                    methods.push(m);
                }
            }
            other => errors.add(
                &other,
                "a `#[remote]` trait may only contain methods",
                "move constants, types and macros out of the trait",
            ),
        }
    }
    let mut model = Model {
        packages: vec![Package {
            name: package.to_string(),
            docs: Vec::new(),
            types: Vec::new(),
            interfaces: vec![Interface {
                name: item.ident.to_string(),
                docs: docs(&item.attrs),
                span: places.at(&item.ident),
                methods,
                fingerprint: 0,
            }],
        }],
        files: Vec::new(),
    };
    // The methods read without error, checked as an IDL file's would be.
    let findings = idl::rules::check(&model, Syntax::Rust)
        .into_iter()
        .chain(crate::clashes::check(&model));
    for draft in findings {
        places.report(&draft, &mut errors);
    }
    errors.finish()?;
    idl::ids::assign_fingerprints(&mut model);
    Ok(model)
}

/// One method, or None (with errors) when it cannot be called remotely.
fn method(
    f: &syn::TraitItemFn,
    package: &str,
    errors: &mut Errors,
    places: &mut Places,
) -> Option<Method> {
    let before = errors.count();
    let sig = &f.sig;
    if sig.asyncness.is_none() {
        errors.add(
            &sig.fn_token,
            "a `#[remote]` method must be `async`",
            "a remote call waits for the network: write `async fn`",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.add(
            &sig.generics,
            "a `#[remote]` method cannot be generic",
            "both sides must agree on every type; use concrete types",
        );
    }
    if f.default.is_some() {
        errors.add(
            &sig.ident,
            "a `#[remote]` method cannot have a default body",
            "the server implements every method; remove the body",
        );
    }
    let (semantics, cancellable) = attributes(&f.attrs, errors);
    let mut params = Vec::new();
    let mut receiver = false;
    for input in &sig.inputs {
        match input {
            syn::FnArg::Receiver(r) => {
                receiver = true;
                let by_shared_ref = matches!(r.kind, syn::ReceiverKind::Reference(_, _, None));
                if !by_shared_ref {
                    errors.add(
                        &r,
                        "a `#[remote]` method takes `&self`",
                        "the server shares one object among concurrent calls: write `&self`",
                    );
                }
            }
            syn::FnArg::Typed(pt) => {
                if let Some(p) = param(pt, package, errors, places) {
                    params.push(p);
                }
            }
        }
    }
    if !receiver {
        errors.add(
            &sig.ident,
            "a `#[remote]` method takes `&self`",
            "add `&self` as the first parameter",
        );
    }
    let (result, raises) = output(&sig.output, package, errors, places);
    if errors.count() > before {
        return None;
    }
    let name = sig.ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name).to_string();
    let (result, result_span) = result.flatten().unzip();
    let (raises, raises_span) = raises.flatten().unzip();
    Some(Method {
        id: idl::ids::method_id(&name),
        name,
        docs: docs(&f.attrs),
        span: places.at(&sig.ident),
        fingerprint: 0,
        semantics,
        cancellable,
        params,
        result,
        result_span,
        raises,
        raises_span,
    })
}

/// What the method's attributes select: its semantics, and whether it is cancellable
/// (`#[uncancellable]` makes it not). An attribute that is not one of these but is
/// spelled close to one is refused: left alone, the generated trait would drop it
/// silently.
fn attributes(attrs: &[syn::Attribute], errors: &mut Errors) -> (Semantics, bool) {
    let known = || {
        Semantics::ATTRIBUTES
            .iter()
            .map(|(n, _)| *n)
            .chain([Method::UNCANCELLABLE])
    };
    let mut chosen: Option<(&syn::Attribute, Semantics)> = None;
    let mut uncancellable: Option<&syn::Attribute> = None;
    for attr in attrs {
        let Some(name) = known().find(|n| attr.path().is_ident(n)) else {
            let typo = attr
                .path()
                .get_ident()
                .map(ToString::to_string)
                .and_then(|written| idl::diagnostic::suggest(&written, known()));
            if let Some(meant) = typo {
                errors.add(
                    &attr,
                    format!("unknown attribute `#[{}]`", path_text(attr.path())),
                    format!("did you mean `#[{meant}]`?"),
                );
            }
            continue;
        };
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.add(
                &attr,
                format!("`#[{name}]` takes no arguments"),
                format!("write `#[{name}]`"),
            );
        }
        let Some(&(_, s)) = Semantics::ATTRIBUTES.iter().find(|(n, _)| *n == name) else {
            // `#[uncancellable]`, which goes with any semantics.
            match uncancellable {
                Some(_) => errors.add(
                    &attr,
                    format!("repeated attribute `#[{name}]`"),
                    format!("write `#[{name}]` once"),
                ),
                None => uncancellable = Some(attr),
            }
            continue;
        };
        match chosen {
            Some((first, _)) => errors.add(&attr,
                "a method has exactly one call semantics",
                format!(
                    "`{}` is already chosen; keep one of `#[idempotent]`, `#[oneway]`, `#[last_of_many]`, or none for at-most-once",
                    path_text(first.path())
                ),
            ),
            None => chosen = Some((attr, s)),
        }
    }
    (
        chosen.map_or(Semantics::AtMostOnce, |(_, s)| s),
        uncancellable.is_none(),
    )
}

/// One typed parameter: by value `in`, `&mut T` `inout`, `#[out] &mut T` `out`.
fn param(
    pt: &syn::PatType,
    package: &str,
    errors: &mut Errors,
    places: &mut Places,
) -> Option<Param> {
    let (name, span) = match &*pt.pat {
        syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
            let n = p.ident.to_string();
            let name = n.strip_prefix("r#").unwrap_or(&n).to_string();
            (name, places.at(&p.ident))
        }
        other => {
            errors.add(
                &other,
                "a `#[remote]` parameter needs a plain name",
                "write `name: Type`",
            );
            return None;
        }
    };
    let out = pt.attrs.iter().any(|a| a.path().is_ident("out"));
    let (mode, ty) = match &*pt.ty {
        syn::Type::Reference(r) if r.mutability.is_some() => {
            (if out { Mode::Out } else { Mode::InOut }, &*r.elem)
        }
        syn::Type::Reference(r) => {
            errors.add(&r,
                "a `#[remote]` parameter cannot be a shared reference",
                format!(
                    "the value is copied to the server anyway: take it by value (`{name}: {}`), or `&mut` to get the server's changes back",
                    owned(&r.elem)
                ),
            );
            return None;
        }
        other if out => {
            errors.add(
                &other,
                "an `#[out]` parameter must be `&mut T`",
                "the server writes it and the caller's variable receives it: write `&mut T`",
            );
            return None;
        }
        other => (Mode::In, other),
    };
    let mode_span = match mode {
        Mode::In => span,
        Mode::Out | Mode::InOut => places.at(&pt.ty),
    };
    let (ty, ty_span) = idl_type(ty, package, errors, places)?;
    Some(Param {
        name,
        mode,
        mode_span,
        ty,
        ty_span,
        span,
    })
}

/// The result and exception of `-> T`, `-> ()` or `-> Result<T, E>`, with where each is
/// written; `Some(None)` for an error already reported.
type Output = (
    Option<Option<(Type, TypeSpan)>>,
    Option<Option<(QualifiedName, Span)>>,
);

/// The [`Output`] of a method.
fn output(
    output: &syn::ReturnType,
    package: &str,
    errors: &mut Errors,
    places: &mut Places,
) -> Output {
    let syn::ReturnType::Type(_, ty) = output else {
        return (None, None);
    };
    if let Some((ok, err)) = result_args(ty) {
        let result = (!is_unit(ok)).then(|| idl_type(ok, package, errors, places));
        let raises = match user_type_name(err) {
            Some(name) => Some((
                QualifiedName {
                    package: package.to_string(),
                    name,
                },
                places.at(err),
            )),
            None => {
                errors.add(&err,
                    "the error of a `#[remote]` method must be its exception type",
                    "name an enum of your own that derives serde's Serialize and Deserialize, Debug and Clone (see docs/REMOTE.md)",
                );
                None
            }
        };
        return (result, Some(raises));
    }
    if is_unit(ty) {
        return (None, None);
    }
    (Some(idl_type(ty, package, errors, places)), None)
}

/// `Result<T, E>`'s two arguments.
fn result_args(ty: &syn::Type) -> Option<(&syn::Type, &syn::Type)> {
    let (name, args) = last_segment(ty)?;
    if name != "Result" {
        return None;
    }
    match args.as_slice() {
        [ok, err] => Some((ok, err)),
        _ => None,
    }
}

fn is_unit(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Tuple(t) if t.elems.is_empty())
}

/// The IDL type of a Rust type and where it and its arguments are written, or None after
/// reporting why it has none.
fn idl_type(
    ty: &syn::Type,
    package: &str,
    errors: &mut Errors,
    places: &mut Places,
) -> Option<(Type, TypeSpan)> {
    let at = places.at(ty);
    let leaf = |t: Type| Some((t, TypeSpan::leaf(at)));
    if let syn::Type::Reference(r) = ty {
        errors.add(
            &r,
            "a reference cannot travel in a remote call",
            format!("use the owned type: `{}`", owned(&r.elem)),
        );
        return None;
    }
    let Some((name, args)) = last_segment(ty) else {
        return unsupported(ty, errors);
    };
    if let Some(interface) = referenced_interface(&name, &args) {
        // In this trait's package, as a type of your own is: the attribute sees only this
        // trait, so another `#[remote]` trait's package is unknown (docs/REMOTE.md).
        return leaf(Type::Interface(QualifiedName {
            package: package.to_string(),
            name: interface,
        }));
    }
    let primitive = Primitive::ALL
        .iter()
        .find(|(n, _)| *n == name && !matches!(*n, "string" | "bytes"))
        .map(|&(_, p)| p);
    let mut arg = |i: usize, errors: &mut Errors| idl_type(args[i], package, errors, places);
    let node = |args: Vec<TypeSpan>| TypeSpan { span: at, args };
    match (name.as_str(), args.len()) {
        (_, 0) if primitive.is_some() => leaf(Type::Primitive(primitive?)),
        ("String", 0) => leaf(Type::Primitive(Primitive::String)),
        ("Vec", 1) if last_segment(args[0]).is_some_and(|(n, a)| n == "u8" && a.is_empty()) => {
            leaf(Type::Primitive(Primitive::Bytes))
        }
        // What the generated trait and client use for `bytes`; `Vec<u8>` means the same.
        ("Bytes", 0) => leaf(Type::Primitive(Primitive::Bytes)),
        ("Vec", 1) => {
            let (t, s) = arg(0, errors)?;
            Some((Type::List(Box::new(t)), node(vec![s])))
        }
        ("Option", 1) => {
            let (t, s) = arg(0, errors)?;
            Some((Type::Option(Box::new(t)), node(vec![s])))
        }
        // Which keys are allowed is a rule of the model (`idl::rules`), shared with the IDL.
        ("HashMap", 2) => {
            let key = arg(0, errors);
            let value = arg(1, errors);
            let ((k, ks), (v, vs)) = (key?, value?);
            Some((Type::Map(Box::new(k), Box::new(v)), node(vec![ks, vs])))
        }
        ("BTreeMap", 2) => {
            errors.add(&ty,
                "`BTreeMap` is not supported",
                "an IDL map is a `HashMap` on both sides (the bytes on the wire are the same): use `HashMap`",
            );
            None
        }
        ("usize" | "isize", 0) => {
            errors.add(
                &ty,
                format!("`{name}` has no fixed size on the wire"),
                format!("use `{}64`", &name[..1]),
            );
            None
        }
        (_, 0) if user_type_name(ty).is_some() => leaf(Type::Named {
            name: QualifiedName {
                package: package.to_string(),
                name,
            },
            boxed: false,
        }),
        ("Ref", _) => {
            errors.add(
                &ty,
                "`Ref` takes the client of the interface it refers to",
                "write `Ref<FooClient>`, or `FooRef`, for a reference to a `Foo` object",
            );
            None
        }
        _ => unsupported(ty, errors),
    }
}

/// The interface a reference type refers to: `Foo` for `FooRef` and for
/// `Ref<FooClient>` (what the generated `FooRef` stands for), None for other types.
fn referenced_interface(name: &str, args: &[&syn::Type]) -> Option<String> {
    let interface = match args {
        [] => name.strip_suffix("Ref")?.to_string(),
        [client] if name == "Ref" => {
            let (client, client_args) = last_segment(client)?;
            if !client_args.is_empty() {
                return None;
            }
            client.strip_suffix("Client")?.to_string()
        }
        _ => return None,
    };
    let interface = interface.strip_prefix("r#").unwrap_or(&interface);
    (!interface.is_empty()).then(|| interface.to_string())
}

fn unsupported<T>(ty: &syn::Type, errors: &mut Errors) -> Option<T> {
    errors.add(
        &ty,
        format!("`{}` cannot travel in a remote call", type_text(ty)),
        "use bool, u8..u64, i8..i64, f32, f64, String, Vec<u8> or Bytes, Vec<T>, Option<T>, HashMap<K, V>, \
         a type of your own named by one identifier and implementing serde's traits, \
         or `FooRef` (or `Ref<FooClient>`) for a reference to an object of interface `Foo`",
    );
    None
}

/// A user type: a single identifier, no generics, not a built-in name.
fn user_type_name(ty: &syn::Type) -> Option<String> {
    let syn::Type::Path(p) = ty else { return None };
    if p.qself.is_some() || p.path.segments.len() != 1 {
        return None;
    }
    let seg = &p.path.segments[0];
    if !seg.arguments.is_none() {
        return None;
    }
    let name = seg.ident.to_string();
    let builtin = [
        "String", "Vec", "Option", "HashMap", "BTreeMap", "Result", "Box", "usize", "isize", "char",
    ];
    (!builtin.contains(&name.as_str()) && Primitive::from_name(&name).is_none()).then_some(name)
}

/// The last path segment's name and its type arguments (`std::vec::Vec<u8>` gives `Vec`
/// and `[u8]`); None for non-path types and other generic arguments.
fn last_segment(ty: &syn::Type) -> Option<(String, Vec<&syn::Type>)> {
    let syn::Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let seg = p.path.segments.last()?;
    let args = match &seg.arguments {
        syn::PathArguments::None => Vec::new(),
        syn::PathArguments::AngleBracketed(a) => {
            let mut types = Vec::new();
            for arg in &a.args {
                match arg {
                    syn::GenericArgument::Type(t) => types.push(t),
                    _ => return None,
                }
            }
            types
        }
        syn::PathArguments::Parenthesized(_) => return None,
    };
    Some((seg.ident.to_string(), args))
}

/// Doc comment lines, without the one leading space `///` leaves.
fn docs(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_string()
        })
        .collect()
}

/// The owned form of a borrowed type: `str` -> `String`, `[T]` -> `Vec<T>`.
fn owned(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) if p.path.is_ident("str") => "String".into(),
        syn::Type::Slice(s) => format!("Vec<{}>", type_text(&s.elem)),
        other => type_text(other),
    }
}

fn type_text(ty: &syn::Type) -> String {
    quote::quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
}

fn path_text(path: &syn::Path) -> String {
    quote::quote!(#path).to_string().replace(' ', "")
}

/// The tokens the model's spans stand for: [`Span::opaque`]`(i)` is the `i`-th.
#[derive(Default)]
struct Places {
    tokens: Vec<proc_macro2::TokenStream>,
}

impl Places {
    /// A span of the model that stands for `tokens`.
    fn at(&mut self, tokens: &dyn quote::ToTokens) -> Span {
        self.tokens.push(tokens.to_token_stream());
        Span::opaque(self.tokens.len() - 1)
    }

    /// Reports a finding of a model-level check at the tokens its primary span stands for.
    /// Its labels are left out: they annotate an IDL snippet, and the message says it all.
    fn report(&self, draft: &Draft, errors: &mut Errors) {
        let tokens = draft
            .primary
            .span
            .opaque_index()
            .and_then(|i| self.tokens.get(i))
            .cloned()
            .unwrap_or_default();
        match &draft.help {
            Some(help) => errors.add(&tokens, &draft.message, help),
            None => errors.add_plain(&tokens, &draft.message),
        }
    }
}

/// Errors gathered over the whole trait.
#[derive(Default)]
struct Errors {
    all: Option<syn::Error>,
    count: usize,
}

impl Errors {
    /// An error over `tokens` (all of them underlined, first to last).
    fn add(
        &mut self,
        tokens: &dyn quote::ToTokens,
        message: impl std::fmt::Display,
        help: impl std::fmt::Display,
    ) {
        self.add_plain(tokens, format!("{message}\n\nhelp: {help}"));
    }

    /// An error over `tokens` without a hint.
    fn add_plain(&mut self, tokens: &dyn quote::ToTokens, message: impl std::fmt::Display) {
        let error = syn::Error::new_spanned(tokens, message);
        self.count += 1;
        match &mut self.all {
            Some(all) => all.combine(error),
            None => self.all = Some(error),
        }
    }

    fn count(&self) -> usize {
        self.count
    }

    fn finish(self) -> Result<(), syn::Error> {
        self.all.map_or(Ok(()), Err)
    }
}
