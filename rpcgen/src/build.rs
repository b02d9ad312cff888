//! The build script API, in the style of prost-build and tonic-build.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why code could not be generated.
#[derive(thiserror::Error)]
pub enum Error {
    /// The IDL files could not be read or are invalid; the message shows every error with
    /// its `path:line:col`.
    #[error("{0}")]
    Idl(#[from] idl::Error),
    /// The model cannot be turned into Rust (a name that clashes with generated code).
    #[error("cannot generate code: {0}")]
    Generate(String),
    /// A generated file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// Which file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// No output folder was set and `OUT_DIR` is not set (not running in a build script).
    #[error(
        "no output folder: call `out_dir(...)`, or run from a build script where OUT_DIR is set"
    )]
    NoOutDir,
}

/// Shows the same text as `Display`, so that `.unwrap()` and `fn main() -> Result` in a
/// build script print readable diagnostics.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Generation settings; start with [`configure`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    out_subdir: Option<PathBuf>,
    quiet: bool,
}

/// Settings to adjust before [`Builder::compile`].
///
/// # Examples
///
/// ```no_run
/// // build.rs
/// rpcgen::configure()
///     .out_dir("src/generated")
///     .compile(&["idl/bank.idl"])
///     .unwrap();
/// ```
pub fn configure() -> Builder {
    Builder::default()
}

/// Generates code for `files` (and their imports) into `OUT_DIR`, from a build script.
/// Equivalent to `configure().compile(files)`.
pub fn compile<P: AsRef<Path>>(files: &[P]) -> Result<Vec<PathBuf>, Error> {
    configure().compile(files)
}

impl Builder {
    /// Writes the generated files to `dir` instead of `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Writes the generated files to the folder `dir` inside the output folder
    /// (`OUT_DIR`, or the one set with [`Builder::out_dir`]), created if missing. Two
    /// generators that would both write `bank.rs` keep apart this way; include such a
    /// file with `rpc_runtime::include_idl!(path = "dir/bank.rs")`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // build.rs
    /// rpcgen::configure()
    ///     .out_subdir("v2")
    ///     .compile(&["idl/v2/bank.idl"])
    ///     .unwrap();
    /// ```
    pub fn out_subdir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_subdir = Some(dir.into());
        self
    }

    /// Does not print `cargo:rerun-if-changed` lines (for use outside build scripts).
    pub fn quiet(mut self, quiet: bool) -> Builder {
        self.quiet = quiet;
        self
    }

    /// Checks `files` and everything they import, and writes one `<package>.rs` per
    /// package, each only when its content changed (so cargo does not rebuild for
    /// nothing). Tells cargo to rerun the build script when any file read changes, even
    /// when they are invalid. Returns the paths of the generated files.
    pub fn compile<P: AsRef<Path>>(&self, files: &[P]) -> Result<Vec<PathBuf>, Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::NoOutDir)?,
        };
        let out_dir = match &self.out_subdir {
            Some(sub) => out_dir.join(sub),
            None => out_dir,
        };
        let model = match crate::load(files) {
            Ok(model) => model,
            Err(e) => {
                match &e {
                    idl::Error::Invalid(d) => {
                        self.rerun_if_changed(d.sources().iter().map(|f| f.path()))
                    }
                    idl::Error::Read { .. } => {
                        self.rerun_if_changed(files.iter().map(AsRef::as_ref))
                    }
                }
                return Err(e.into());
            }
        };
        self.rerun_if_changed(model.files.iter().map(PathBuf::as_path));
        let generated = crate::generate(&model).map_err(Error::Generate)?;
        std::fs::create_dir_all(&out_dir).map_err(|source| Error::Write {
            path: out_dir.clone(),
            source,
        })?;
        let mut written = Vec::new();
        for file in generated {
            let path = out_dir.join(format!("{}.rs", file.package));
            write_if_changed(&path, &file.code)?;
            written.push(path);
        }
        Ok(written)
    }

    fn rerun_if_changed<'a>(&self, paths: impl Iterator<Item = &'a Path>) {
        if !self.quiet {
            for p in paths {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}

/// Writes `content` to `path` unless the file already holds exactly that; true if it
/// wrote.
pub fn write_if_changed(path: &Path, content: &str) -> Result<bool, Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(false);
    }
    std::fs::write(path, content).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(true)
}
