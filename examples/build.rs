//! Generates the bank's stubs from `idl/bank.idl` (and `idl/common.idl`, which it
//! imports), the stock ticker's from `idl/ticker.idl` and the replicated store's from
//! `idl/replica.idl` into `OUT_DIR`.

fn main() -> Result<(), rpcgen::Error> {
    rpcgen::compile(&["idl/bank.idl", "idl/ticker.idl", "idl/replica.idl"])?;
    Ok(())
}
