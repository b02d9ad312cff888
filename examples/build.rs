//! Generates the bank's stubs from `idl/bank.idl` (and `idl/common.idl`, which it
//! imports) into `OUT_DIR`.

fn main() -> Result<(), rpcgen::Error> {
    rpcgen::compile(&["idl/bank.idl"])?;
    Ok(())
}
