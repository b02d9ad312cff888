//! Generates the binder's own stubs from `idl/binder.idl`.

fn main() -> Result<(), rpcgen::Error> {
    rpcgen::compile(&["idl/binder.idl"])?;
    Ok(())
}
