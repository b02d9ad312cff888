//! Cross-crate tests of rpcgen live in `tests/`; this library is empty.
