//! Reading a set of root files and everything they import.
//!
//! An import path is resolved against the folder of the file that names it. Files are
//! identified by their canonical path, so a file imported twice is read once, and an
//! import that leads back to a file still being read is an import cycle.

use std::collections::HashMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::ast;
use crate::diagnostic::Draft;
use crate::parse::parse_file;
use crate::source::{FileId, SourceFile, SourceMap};

/// The most files one check reads, imports included.
pub const MAX_FILES: usize = 4096;

/// Where IDL files come from: the disk, or memory (for tests and tools).
pub trait FileSystem {
    /// The file's text.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// A path that names the file uniquely; fails when there is no such file.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskFileSystem;

impl FileSystem for DiskFileSystem {
    fn read(&self, path: &Path) -> io::Result<String> {
        // Read at most one byte past the limit: enough for the parser's guard to report
        // the size, without holding a huge file in memory.
        let limit = crate::parse::MAX_FILE_BYTES as u64 + 1;
        let mut bytes = Vec::new();
        io::Read::read_to_end(
            &mut io::Read::take(std::fs::File::open(path)?, limit),
            &mut bytes,
        )?;
        if bytes.len() as u64 == limit {
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        String::from_utf8(bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
}

/// Files held in memory, by path. Paths are compared after removing `.` and `..`.
#[derive(Debug, Default, Clone)]
pub struct MemoryFileSystem {
    files: HashMap<PathBuf, String>,
}

impl MemoryFileSystem {
    /// An empty file system.
    pub fn new() -> MemoryFileSystem {
        MemoryFileSystem::default()
    }

    /// Adds or replaces a file.
    pub fn insert(&mut self, path: impl AsRef<Path>, text: impl Into<String>) -> &mut Self {
        self.files.insert(normalize(path.as_ref()), text.into());
        self
    }
}

impl FileSystem for MemoryFileSystem {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let path = normalize(path);
        if self.files.contains_key(&path) {
            Ok(path)
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
        }
    }
}

/// Removes `.` components and folds `a/..`, without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Why a root file could not be read at all (no span to point at).
#[derive(Debug)]
pub(crate) struct RootError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Every file read, parsed where possible, and the import graph.
pub(crate) struct Loaded {
    pub sources: SourceMap,
    /// The AST of each file that parsed, by file id.
    pub files: Vec<Option<ast::File>>,
    /// The files each file imports directly.
    pub imports: Vec<Vec<FileId>>,
    /// Files with an import that failed (not found, unreadable, or closing a cycle): names
    /// they cannot resolve may be defined in the missing file, and are not reported.
    pub broken_imports: Vec<bool>,
    pub drafts: Vec<Draft>,
}

pub(crate) fn load(fs: &dyn FileSystem, roots: &[PathBuf]) -> Result<Loaded, RootError> {
    let mut loader = Loader {
        fs,
        loaded: Loaded {
            sources: SourceMap::default(),
            files: Vec::new(),
            imports: Vec::new(),
            broken_imports: Vec::new(),
            drafts: Vec::new(),
        },
        by_canonical: HashMap::new(),
        stack: Vec::new(),
    };
    for root in roots {
        let canonical = fs.canonicalize(root).map_err(|source| RootError {
            path: root.clone(),
            source,
        })?;
        let text = match loader.by_canonical.contains_key(&canonical) {
            true => continue,
            false => fs.read(root).map_err(|source| RootError {
                path: root.clone(),
                source,
            })?,
        };
        loader.visit(root.clone(), canonical, text);
    }
    Ok(loader.loaded)
}

struct Loader<'a> {
    fs: &'a dyn FileSystem,
    loaded: Loaded,
    by_canonical: HashMap<PathBuf, FileId>,
    /// Files being read, outermost first, to name the files of an import cycle.
    stack: Vec<(PathBuf, FileId)>,
}

impl Loader<'_> {
    /// Reads one file and, depth first, what it imports.
    fn visit(&mut self, path: PathBuf, canonical: PathBuf, text: String) -> FileId {
        let id = self.loaded.sources.add(SourceFile::new(path.clone(), text));
        self.by_canonical.insert(canonical.clone(), id);
        self.loaded.imports.push(Vec::new());
        self.loaded.broken_imports.push(false);
        self.loaded.files.push(None);
        let parsed = match parse_file(id, self.loaded.sources.get(id)) {
            Ok(file) => file,
            Err(draft) => {
                self.loaded.drafts.push(draft);
                return id;
            }
        };
        self.stack.push((canonical, id));
        for import in &parsed.imports {
            match self.import(&path, import) {
                Some(target) if !self.loaded.imports[id.0 as usize].contains(&target) => {
                    self.loaded.imports[id.0 as usize].push(target)
                }
                Some(_) => {} // imported twice: once is enough
                None => self.loaded.broken_imports[id.0 as usize] = true,
            }
        }
        self.stack.pop();
        self.loaded.files[id.0 as usize] = Some(parsed);
        id
    }

    /// Resolves and reads one import of the file at `from`.
    fn import(&mut self, from: &Path, import: &ast::Import) -> Option<FileId> {
        let path = from.parent().unwrap_or(Path::new("")).join(&import.path);
        let Ok(canonical) = self.fs.canonicalize(&path) else {
            self.loaded.drafts.push(
                Draft::new(
                    import.span,
                    format!("import not found: `{}`", import.path),
                    format!("no file at {}", path.display()),
                )
                .help("import paths are relative to the folder of the importing file"),
            );
            return None;
        };
        if let Some(pos) = self.stack.iter().position(|(c, _)| *c == canonical) {
            // Each file by the path it was first read by, the first one again at the end
            // (`path` may name it differently, e.g. `sub/../a.idl`).
            let mut names: Vec<String> = self.stack[pos..]
                .iter()
                .map(|(_, id)| self.loaded.sources.get(*id).path().display().to_string())
                .collect();
            names.push(names[0].clone());
            self.loaded.drafts.push(
                Draft::new(
                    import.span,
                    format!("import cycle: {}", names.join(" -> ")),
                    "this import leads back to a file that is still being read",
                )
                .help("move the shared definitions into a file that both can import"),
            );
            return None;
        }
        if let Some(&id) = self.by_canonical.get(&canonical) {
            return Some(id);
        }
        if self.loaded.sources.iter().count() >= MAX_FILES {
            self.loaded.drafts.push(Draft::new(
                import.span,
                format!("too many files: more than {MAX_FILES} are imported"),
                "one import too many",
            ));
            return None;
        }
        match self.fs.read(&path) {
            Ok(text) => Some(self.visit(path, canonical, text)),
            Err(e) => {
                self.loaded.drafts.push(Draft::new(
                    import.span,
                    format!("cannot read import `{}`: {e}", import.path),
                    format!("reading {}", path.display()),
                ));
                None
            }
        }
    }
}
