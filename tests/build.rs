//! Generates the test interfaces' stubs into `OUT_DIR`, and the calculator a second time
//! into `OUT_DIR/gen2`, as a second generator would, for `src/bin/partial-use.rs`.
//!
//! The `idl` crate's valid corpus is generated too, for the dynamic-value property test
//! (`tests/dynamic_values.rs`): into `OUT_DIR/corpus`, so that its `types` package does not
//! overwrite ours, and the bank example into `OUT_DIR/corpus_bank`, since its `common`
//! package is another than the `common` of `imports/`.

include!("corpus_files.rs");

fn main() -> Result<(), rpcgen::Error> {
    // rpcgen names the IDL files it read; the list of corpus files is ours to name.
    println!("cargo:rerun-if-changed=corpus_files.rs");
    rpcgen::compile(&[
        "idl/types.idl",
        "idl/keywords.idl",
        "idl/calc.idl",
        "idl/ledger.idl",
        "idl/orphans.idl",
        "idl/objects.idl",
    ])?;
    rpcgen::configure()
        .out_subdir("gen2")
        .compile(&["idl/calc.idl"])?;
    rpcgen::configure().out_subdir("corpus").compile(&CORPUS)?;
    rpcgen::configure()
        .out_subdir("corpus_bank")
        .compile(&BANK)?;
    Ok(())
}
