// The valid IDL corpus of the `idl` crate as the tests crate uses it, included by both
// `build.rs` (which generates its code) and `tests/dynamic_values.rs` (which loads its
// model), so that the two cannot drift apart. Paths are relative to this crate's root.

/// The corpus files generated into `OUT_DIR/corpus`: every top-level file and the main
/// file of each folder but `bank/`.
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

/// The bank example, generated apart into `OUT_DIR/corpus_bank` (its `common` is not the
/// `common` of `imports/`).
const BANK: [&str; 1] = ["../idl/tests/corpus/valid/bank/bank.idl"];
