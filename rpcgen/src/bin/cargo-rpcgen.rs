//! `cargo rpcgen`: check IDL files and generate Rust code from them.
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
    /// Generate Rust code from IDL files: one `<package>.rs` per package and a `mod.rs`
    /// declaring them, so that `mod DIR;` includes all of it.
    ///
    /// Files are written only when their content changes. With `--check`, nothing is
    /// written: the command fails if any file in DIR is missing or differs from what
    /// would be generated (for projects that commit generated code).
    Generate {
        /// The IDL files; imports are found relative to each file.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The folder to write to.
        #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
        out_dir: PathBuf,
        /// Fail instead of writing when the files on disk are stale.
        #[arg(long)]
        check: bool,
        /// How to show IDL errors (see `check --help`).
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
        Command::Generate {
            files,
            out_dir,
            check,
            format,
        } => generate(&files, &out_dir, check, format),
    }
}

fn generate(
    files: &[PathBuf],
    out_dir: &std::path::Path,
    check_only: bool,
    format: Format,
) -> ExitCode {
    let model = match rpcgen::load(files) {
        Ok(model) => model,
        Err(e) => return report(e, format),
    };
    let generated = match rpcgen::generate(&model) {
        Ok(generated) => generated,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let index = rpcgen::module_index(&generated);
    let outputs = generated
        .iter()
        .map(|f| (out_dir.join(format!("{}.rs", f.package)), f.code.as_str()))
        .chain(std::iter::once((out_dir.join("mod.rs"), index.as_str())));
    if check_only {
        let stale: Vec<String> = outputs
            .filter(|(path, code)| std::fs::read_to_string(path).map_or(true, |old| old != *code))
            .map(|(path, _)| path.display().to_string())
            .collect();
        if stale.is_empty() {
            println!("ok: generated code in {} is up to date", out_dir.display());
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "error: generated code is stale or missing: {}",
            stale.join(", ")
        );
        eprintln!(
            "help: run `cargo rpcgen generate ... -o {}` and commit the result",
            out_dir.display()
        );
        return ExitCode::from(1);
    }
    if let Err(e) = std::fs::create_dir_all(out_dir) {
        eprintln!("error: cannot create {}: {e}", out_dir.display());
        return ExitCode::from(2);
    }
    let mut changed = 0;
    for (path, code) in outputs {
        match rpcgen::write_if_changed(&path, code) {
            Ok(wrote) => changed += usize::from(wrote),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!(
        "ok: {} package(s) generated in {} ({changed} file(s) changed)",
        generated.len(),
        out_dir.display()
    );
    ExitCode::SUCCESS
}

/// Prints why the IDL could not be loaded; the exit code says whether it was read.
fn report(e: idl::Error, format: Format) -> ExitCode {
    match e {
        idl::Error::Invalid(diagnostics) => {
            eprintln!("{}", render(&diagnostics, format));
            ExitCode::from(1)
        }
        e @ idl::Error::Read { .. } => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn check(files: &[PathBuf], format: Format) -> ExitCode {
    match rpcgen::load(files) {
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
        Err(e) => report(e, format),
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
