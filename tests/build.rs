//! Generates the test interfaces' stubs into `OUT_DIR`, and the calculator a second time
//! into `OUT_DIR/gen2`, as a second generator would, for `src/bin/partial-use.rs`.
//!
//! The `idl` crate's valid corpus is generated too, for the dynamic-value property test
//! (`tests/dynamic_values.rs`): into `OUT_DIR/corpus`, so that its `types` package does not
//! overwrite ours, and the bank example into `OUT_DIR/corpus_bank`, since its `common`
//! package is another than the `common` of `imports/`.

/// The corpus files generated into `OUT_DIR/corpus`: every top-level file and the main
/// file of each folder but `bank/`. `tests/dynamic_values.rs` loads the same list.
const CORPUS: [&str; 8] = [
    "../idl/tests/corpus/valid/docs.idl",
    "../idl/tests/corpus/valid/keywords.idl",
    "../idl/tests/corpus/valid/methods.idl",
    "../idl/tests/corpus/valid/primitives_and_generics.idl",
    "../idl/tests/corpus/valid/recursion.idl",
    "../idl/tests/corpus/valid/variants.idl",
    "../idl/tests/corpus/valid/imports/main.idl",
    "../idl/tests/corpus/valid/split/first.idl",
];

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
    rpcgen::configure().out_subdir("corpus").compile(&CORPUS)?;
    rpcgen::configure()
        .out_subdir("corpus_bank")
        .compile(&["../idl/tests/corpus/valid/bank/bank.idl"])?;
    Ok(())
}
