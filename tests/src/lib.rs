//! Code generated from `idl/*.idl`, shared by the tests in `tests/`, and the services
//! they call. Generated code must compile with every warning denied.

#![deny(warnings, missing_docs)]

/// Every IDL type (`idl/types.idl`).
pub mod types {
    rpc_runtime::include_idl!("types");
}

/// Keyword identifiers and recursive types (`idl/keywords.idl`).
pub mod kw {
    rpc_runtime::include_idl!("kw");
}

/// The calculator generated from `idl/calc.idl`.
pub mod calc {
    rpc_runtime::include_idl!("calc");
}

/// The execution-counting service (`idl/ledger.idl`).
pub mod ledger_idl {
    rpc_runtime::include_idl!("ledger");
}

/// Long calls, one of them uncancellable, for the cancellation and orphan tests
/// (`idl/orphans.idl`).
pub mod orphans {
    rpc_runtime::include_idl!("orphans");
}

/// Counters, listeners and a hub, for the remote object tests (`idl/objects.idl`).
pub mod objects {
    rpc_runtime::include_idl!("objects");
}

/// The valid corpus of the `idl` crate (`idl/tests/corpus/valid`), generated into
/// `OUT_DIR/corpus` for the dynamic-value property test (`tests/dynamic_values.rs`).
/// Every package is a sibling module, as generated code names other packages
/// `super::package`.
pub mod corpus {
    /// `docs.idl`: doc comments everywhere.
    pub mod documented {
        rpc_runtime::include_idl!(path = "corpus/documented.rs");
    }

    /// `keywords.idl`: Rust keywords as names.
    pub mod keywords {
        rpc_runtime::include_idl!(path = "corpus/keywords.rs");
    }

    /// `methods.idl`: every attribute, mode and method form.
    pub mod calls {
        rpc_runtime::include_idl!(path = "corpus/calls.rs");
    }

    /// `primitives_and_generics.idl`: every built-in type, alone and nested.
    pub mod types {
        rpc_runtime::include_idl!(path = "corpus/types.rs");
    }

    /// `recursion.idl`: legal recursive types.
    pub mod recursion {
        rpc_runtime::include_idl!(path = "corpus/recursion.rs");
    }

    /// `variants.idl`: every kind of variant.
    pub mod shapes {
        rpc_runtime::include_idl!(path = "corpus/shapes.rs");
    }

    /// `imports/main.idl`.
    pub mod app {
        rpc_runtime::include_idl!(path = "corpus/app.rs");
    }

    /// `imports/common.idl`, imported by `imports/main.idl`.
    pub mod common {
        rpc_runtime::include_idl!(path = "corpus/common.rs");
    }

    /// `imports/more/geo.idl`, imported by `imports/main.idl`.
    pub mod geo {
        rpc_runtime::include_idl!(path = "corpus/geo.rs");
    }

    /// `split/first.idl` and `split/second.idl`: one package over two files.
    pub mod split {
        rpc_runtime::include_idl!(path = "corpus/split.rs");
    }
}

/// The bank example of the `idl` crate's valid corpus (`idl/tests/corpus/valid/bank`),
/// generated into `OUT_DIR/corpus_bank`: apart from [`corpus`], since its `common`
/// package is not the `common` of `imports/`.
pub mod corpus_bank {
    /// `bank/bank.idl`.
    pub mod bank {
        rpc_runtime::include_idl!(path = "corpus_bank/bank.rs");
    }

    /// `bank/common.idl`, imported by `bank/bank.idl`.
    pub mod common {
        rpc_runtime::include_idl!(path = "corpus_bank/common.rs");
    }
}

pub mod calc_trait;
pub mod echo;
pub mod hub;
pub mod ledger;
pub mod lossy;
pub mod netns;
pub mod raw;
pub mod tree;
pub mod worker;
