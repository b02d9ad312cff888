//! The call-path benchmark of rpcgen against tarpc and raw tokio sockets; the benchmark
//! itself is `benches/calls.rs`, run with `cargo bench --manifest-path bench/Cargo.toml`
//! (see README.md).
//!
//! This package is outside the repository's workspace, so that the workspace's builds and
//! CI never compile tarpc.

#![deny(missing_docs)]

/// The stubs generated from `idl/echo.idl`.
pub mod echo {
    rpc_runtime::include_idl!("echo");
}

pub mod alloc;
pub mod measure;
pub mod raw;
pub mod report;
pub mod rpcgen_echo;
pub mod tarpc_echo;
