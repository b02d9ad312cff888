//! `#[remote]`: an rpcgen interface declared as a Rust trait.
//!
//! Use it through `rpc_runtime::remote`. The attribute turns the trait into the same
//! checked model an IDL file gives (`rpcgen::remote`) and hands it to rpcgen's one
//! emitter, so `#[remote] pub trait Calc` produces exactly what `interface Calc` in an
//! IDL file would: the `Calc` trait to implement, `CalcClient`, `CalcServer`, `CalcRef`
//! and the `calc_interface` facts module. `docs/REMOTE.md` is the guide.

use proc_macro::TokenStream;

/// Declares a remote interface as a trait; see `docs/REMOTE.md`.
///
/// The IDL package defaults to the trait's name in snake case (`Calc` -> `calc`); name
/// another with `#[remote(package = "name")]`, e.g. to talk to servers generated from an
/// IDL file of that package.
#[proc_macro_attribute]
pub fn remote(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::ItemTrait);
    let mut package = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("package") {
            let name: syn::LitStr = meta.value()?.parse()?;
            package = Some(name.value());
            Ok(())
        } else {
            Err(meta.error("unknown argument; `#[remote]` takes `package = \"name\"`"))
        }
    });
    syn::parse_macro_input!(args with parser);
    let package =
        package.unwrap_or_else(|| rpcgen::emit::names::snake_case(&item.ident.to_string()));
    match rpcgen::remote::model_from_trait(&item, &package) {
        Ok(model) => rpcgen::emit::package_tokens(&model, &model.packages[0]).into(),
        Err(errors) => errors.to_compile_error().into(),
    }
}
