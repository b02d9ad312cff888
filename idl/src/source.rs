//! Source files and positions in them.
//!
//! Every name in the AST and the model carries a [`Span`]: which file, which bytes. A
//! diagnostic turns a span back into `path:line:col` with [`SourceFile::line_col`], using
//! the path exactly as the user gave it (on the command line, or joined onto the
//! importing file's directory), so an error can be pasted back into an editor.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileId(pub u32);

impl FileId {
    /// Not a file: marks an [`Span::opaque`] span. No check reads four billion files.
    pub const OPAQUE: FileId = FileId(u32::MAX);
}

/// A byte range in one source file, or a place known only to the front end that made the
/// model.
///
/// The IDL front end's spans are byte ranges of its files. The `#[remote]` front end has
/// tokens instead of files: it numbers the tokens it may need to point at and stores each
/// number as an [`Span::opaque`] span, so that one model-level check can report against
/// either front end and each maps the span back to its own source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// The file the range is in.
    pub file: FileId,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span of `start..end` in `file`.
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The `index`-th place of a front end's own table (see the type's docs). It names no
    /// file: [`Span::opaque_index`] gives the index back.
    pub fn opaque(index: usize) -> Span {
        Span {
            file: FileId::OPAQUE,
            start: index as u32,
            end: index as u32,
        }
    }

    /// The index an [`Span::opaque`] span was made from, or None for a span in a file.
    pub fn opaque_index(&self) -> Option<usize> {
        (self.file == FileId::OPAQUE).then_some(self.start as usize)
    }

    /// The byte range, for slicing the file's text.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One file's text, the path it was named by, and where its lines start.
#[derive(Debug)]
pub struct SourceFile {
    path: PathBuf,
    text: Arc<str>,
    line_starts: Vec<u32>,
    named: miette::NamedSource<Arc<str>>,
}

impl SourceFile {
    /// A file named `path` (as the user wrote it) holding `text`.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> SourceFile {
        let path = path.into();
        let text: Arc<str> = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i as u32 + 1))
            .collect();
        let named = miette::NamedSource::new(path.display().to_string(), text.clone());
        SourceFile {
            path,
            text,
            line_starts,
            named,
        }
    }

    /// The path as the user gave it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The file as miette wants it: text with a name.
    pub(crate) fn named(&self) -> &miette::NamedSource<Arc<str>> {
        &self.named
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s as usize <= offset) - 1;
        let start = self.line_starts[line] as usize;
        let col = self.text[start..floor_char_boundary(&self.text, offset)]
            .chars()
            .count();
        (line + 1, col + 1)
    }

    /// The text of 1-based `line`, without its line ending.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1] as usize;
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&e| e as usize);
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// Byte offset where 1-based `line` starts.
    pub(crate) fn line_start(&self, line: usize) -> usize {
        self.line_starts[line - 1] as usize
    }
}

/// The largest char boundary at or before `i`.
pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Every file read while checking one set of roots, indexed by [`FileId`].
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<Arc<SourceFile>>,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(Arc::new(file));
        FileId(self.files.len() as u32 - 1)
    }

    /// The file with id `id`.
    pub fn get(&self, id: FileId) -> &Arc<SourceFile> {
        &self.files[id.0 as usize]
    }

    /// All files, in the order they were read.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<SourceFile>> {
        self.files.iter()
    }

    /// `path:line:col` of the start of `span`.
    pub fn location(&self, span: Span) -> String {
        let file = self.get(span.file);
        let (line, col) = file.line_col(span.start as usize);
        format!("{}:{line}:{col}", file.path().display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let f = SourceFile::new("a.idl", "ab\nçd\n\nx");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(5), (2, 2)); // after the two-byte 'ç'
        assert_eq!(f.line_col(7), (3, 1));
        assert_eq!(f.line_col(8), (4, 1));
        assert_eq!(f.line_col(99), (4, 2));
        assert_eq!(f.line_text(2), "çd");
        assert_eq!(f.line_text(3), "");
    }
}
