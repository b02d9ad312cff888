//! Generates the test interfaces' stubs into `OUT_DIR`.

fn main() -> Result<(), rpcgen::Error> {
    rpcgen::compile(&[
        "idl/types.idl",
        "idl/keywords.idl",
        "idl/calc.idl",
        "idl/ledger.idl",
    ])?;
    Ok(())
}
