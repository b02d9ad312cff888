//! `cargo rpcgen`: check IDL files, generate Rust code from them, describe their
//! interfaces, call services from a shell, and serve them over HTTP/JSON.
//!
//! Installed with `cargo install --path cli`, cargo runs it for `cargo rpcgen ...`,
//! passing `rpcgen` as the first argument; in the repository,
//! `cargo run -p cargo-rpcgen -- rpcgen check FILE...` does the same.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod dynamic;

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
    /// List the interfaces of IDL files: each method's signature, call semantics, wire
    /// id and fingerprint, and each interface's fingerprint and default object id.
    Describe {
        /// The IDL files; imports are found relative to each file.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Call a method of a running server, with no generated code: the arguments as a
    /// JSON object, the reply printed as JSON.
    ///
    /// `cargo rpcgen call bank.idl 127.0.0.1:7878 bank.Bank/deposit '{"id": 1, "amount":
    /// 100}'`. The call keeps the method's semantics (retransmission, at-most-once).
    /// Exit status: 0 when the method returned, 1 when it raised its exception (printed
    /// as JSON) or the call failed (why on stderr, and whether it ran), 2 when the
    /// command line, the IDL or the arguments are wrong. `docs/DYNAMIC.md` gives the
    /// JSON form of each IDL type.
    Call {
        /// The IDL file of the interface (and what it imports).
        file: PathBuf,
        #[command(flatten)]
        target: dynamic::TargetArgs,
        /// The method: `package.Interface/method`.
        method: String,
        /// The arguments, a JSON object of the `in` and `inout` parameters by name
        /// (default `{}`).
        arguments: Option<String>,
    },
    /// Serve the interfaces of IDL files over HTTP/JSON, forwarding each call to a
    /// server: `POST /package.Interface/method` with a JSON body, `GET /` lists the
    /// methods.
    #[cfg(feature = "gateway")]
    Gateway {
        /// The IDL files; every interface they define is served.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        target: dynamic::TargetArgs,
        /// Where to listen for HTTP.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: String,
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
        Command::Describe { files, json } => dynamic::describe(&files, json),
        Command::Call {
            file,
            target,
            method,
            arguments,
        } => dynamic::call(&file, &target, &method, arguments.as_deref()),
        #[cfg(feature = "gateway")]
        Command::Gateway {
            files,
            target,
            listen,
        } => dynamic::gateway(&files, &target, &listen),
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
