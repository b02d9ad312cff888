//! Generates the bank's stubs from `idl/bank.idl` (and `idl/common.idl`, which it
//! imports) and the stock ticker's from `idl/ticker.idl` into `OUT_DIR`.

fn main() -> Result<(), rpcgen::Error> {
    rpcgen::compile(&["idl/bank.idl", "idl/ticker.idl"])?;
    Ok(())
}
