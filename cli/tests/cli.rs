//! `cargo rpcgen` as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rpcgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-rpcgen"))
        .arg("rpcgen")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../rpcgen"))
        .output()
        .expect("run cargo-rpcgen")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rpcgen-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn check_accepts_a_valid_file() {
    let out = rpcgen(&["check", "tests/fixtures/small.idl"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("ok: 1 file(s), 1 package(s), 2 type(s), 1 interface(s), 5 method(s)"),
        "{stdout}"
    );
}

#[test]
fn check_reports_errors_with_their_place_and_fails() {
    let dir = temp("check");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.idl");
    std::fs::write(&bad, "package bad;\ninterface I { [oneway] m() -> u8; }\n").unwrap();
    let bad = bad.to_string_lossy().into_owned();
    for format in ["plain", "fancy"] {
        let out = rpcgen(&["check", "--format", format, &bad]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{bad}:2:31")),
            "{format}: {stderr}"
        );
        assert!(
            stderr.contains("a `[oneway]` method cannot return a value"),
            "{format}: {stderr}"
        );
    }
    let out = rpcgen(&["check", "does/not/exist.idl"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn generate_writes_a_module_per_package_and_check_spots_stale_files() {
    let dir = temp("generate");
    let dir_s = dir.to_string_lossy().into_owned();
    let out = rpcgen(&["generate", "../examples/idl/bank.idl", "-o", &dir_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["bank.rs", "common.rs", "mod.rs"] {
        assert!(Path::new(&dir).join(file).exists(), "{file} missing");
    }
    let index = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
    assert!(
        index.contains("pub mod bank;") && index.contains("pub mod common;"),
        "{index}"
    );

    let fresh = rpcgen(&[
        "generate",
        "--check",
        "../examples/idl/bank.idl",
        "-o",
        &dir_s,
    ]);
    assert!(
        fresh.status.success(),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );

    std::fs::write(dir.join("bank.rs"), "// edited by hand\n").unwrap();
    let stale = rpcgen(&[
        "generate",
        "--check",
        "../examples/idl/bank.idl",
        "-o",
        &dir_s,
    ]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stale.stderr).contains("bank.rs"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_explains_each_command() {
    let out = rpcgen(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("check") && text.contains("generate"),
        "{text}"
    );
    let out = rpcgen(&["generate", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--check") && text.contains("--out-dir"),
        "{text}"
    );
}
