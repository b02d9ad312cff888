//! `cargo rpcgen`: check IDL files (and, later, generate code) from the command line.
//!
//! Installed with `cargo install --path rpcgen`, cargo runs it for `cargo rpcgen ...`,
//! passing `rpcgen` as the first argument; in the repository,
//! `cargo run -p rpcgen --bin cargo-rpcgen -- rpcgen check FILE...` does the same.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Cargo passes the subcommand's own name first: `cargo-rpcgen rpcgen check ...`.
#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum Cargo {
    /// rpcgen: check interface definitions and generate Rust stubs from them.
    Rpcgen(Cli),
}

#[derive(clap::Args)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check IDL files and everything they import.
    ///
    /// Exits with status 0 when every file is valid and prints a one-line summary;
    /// otherwise prints every error found, each with its path:line:col, to stderr, and
    /// exits with status 1 (2 when a file cannot be read at all).
    Check {
        /// The IDL files to check; imports are found relative to each file.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How to show errors: `fancy` (boxes and colours on a terminal) or `plain`
        /// (rustc-style text, stable for scripts and editors).
        #[arg(long, value_enum, default_value_t = Format::Fancy)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Fancy,
    Plain,
}

fn main() -> ExitCode {
    let Cargo::Rpcgen(cli) = Cargo::parse();
    match cli.command {
        Command::Check { files, format } => check(&files, format),
    }
}

fn check(files: &[PathBuf], format: Format) -> ExitCode {
    match idl::load(files) {
        Ok(model) => {
            let count = |f: fn(&idl::Package) -> usize| model.packages.iter().map(f).sum::<usize>();
            let methods = count(|p| p.interfaces.iter().map(|i| i.methods.len()).sum());
            println!(
                "ok: {} file(s), {} package(s), {} type(s), {} interface(s), {methods} method(s)",
                model.files.len(),
                model.packages.len(),
                count(|p| p.types.len()),
                count(|p| p.interfaces.len()),
            );
            ExitCode::SUCCESS
        }
        Err(idl::Error::Invalid(diagnostics)) => {
            eprintln!("{}", render(&diagnostics, format));
            ExitCode::from(1)
        }
        Err(e @ idl::Error::Read { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn render(diagnostics: &idl::Diagnostics, format: Format) -> String {
    if let Format::Plain = format {
        return diagnostics.to_string();
    }
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme);
    let mut out = String::new();
    for d in diagnostics.iter() {
        // Rendering into a String cannot fail but for a formatter error; fall back to plain.
        if handler.render_report(&mut out, d).is_err() {
            out.push_str(&format!("{d:#}"));
        }
        out.push('\n');
    }
    let n = diagnostics.len();
    out.push_str(&format!(
        "error: {n} error{} found",
        if n == 1 { "" } else { "s" }
    ));
    out
}
