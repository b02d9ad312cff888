//! A binary that includes generated packages and uses only part of them. In a binary
//! crate an unused public item is dead code, so this proves that generated code raises
//! no `dead_code` (or any other) warning there: `cargo clippy --all-targets -- -D
//! warnings` builds it. It also includes two files both named `calc.rs`, one from a
//! subfolder of `OUT_DIR`, through both forms of `include_idl!`.

#![deny(warnings)]

/// The calculator, generated into `OUT_DIR/calc.rs`.
mod calc {
    rpc_runtime::include_idl!("calc");
}

/// The same interface from a second generation into `OUT_DIR/gen2/calc.rs`.
mod calc_gen2 {
    rpc_runtime::include_idl!(path = "gen2/calc.rs");
}

fn main() {
    // One constant of each, and nothing else: the clients, servers, traits and wire
    // structs stay unused.
    println!(
        "{} {}",
        calc::calc_interface::NAME,
        calc_gen2::calc_interface::FINGERPRINT
    );
}
