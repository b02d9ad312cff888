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

pub mod calc_trait;
pub mod echo;
pub mod ledger;
pub mod lossy;
pub mod raw;
pub mod worker;
