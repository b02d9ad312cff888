//! Generates the test interfaces' stubs into `OUT_DIR`, and the calculator a second time
//! into `OUT_DIR/gen2`, as a second generator would, for `src/bin/partial-use.rs`.

fn main() -> Result<(), rpcgen::Error> {
    rpcgen::compile(&[
        "idl/types.idl",
        "idl/keywords.idl",
        "idl/calc.idl",
        "idl/ledger.idl",
        "idl/orphans.idl",
    ])?;
    rpcgen::configure()
        .out_subdir("gen2")
        .compile(&["idl/calc.idl"])?;
    Ok(())
}
