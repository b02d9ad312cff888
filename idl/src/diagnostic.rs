//! Errors in IDL files, and how they are shown.
//!
//! A [`Diagnostic`] points at the offending token and says what was expected there. All the
//! errors of one check travel together as [`Diagnostics`], so a user fixes a file in one
//! round instead of one error per run.
//!
//! Two renderings: [`Diagnostics`]'s `Display` is plain text in the style of rustc (used by
//! build scripts and snapshot tests, stable across terminals), and every [`Diagnostic`]
//! implements [`miette::Diagnostic`] for the `cargo rpcgen` command's graphical output.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::source::{SourceFile, SourceMap, Span};

/// The "did you mean" of a diagnostic, shared with the `#[remote]` front end.
pub use crate::check::scope::suggest;

/// A place in a file with a short message about it.
#[derive(Debug, Clone)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What about it, e.g. "expected `;`" or "first defined here".
    pub text: String,
}

/// One error in an IDL file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// What is wrong, in one line.
    pub message: String,
    /// The offending token and what was expected instead.
    pub primary: Label,
    /// How to fix it, when there is more to say than the label.
    pub help: Option<String>,
    file: Arc<SourceFile>,
    /// Other places that explain the error, e.g. the first of two duplicates.
    others: Vec<(Arc<SourceFile>, Label)>,
}

/// An error not yet tied to a front end's source: what the parser and the checks report.
///
/// The IDL front end turns drafts into [`Diagnostic`]s against its files; the `#[remote]`
/// front end turns the drafts of the model-level checks ([`crate::rules`]) into compile
/// errors at its tokens. So a draft's message must make sense alone: the labels add
/// places, not facts.
#[derive(Debug, Clone)]
pub struct Draft {
    /// What is wrong, in one line.
    pub message: String,
    /// The offending place and what is wrong there.
    pub primary: Label,
    /// Other places that explain the error.
    pub secondary: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Draft {
    /// An error `message` at `span`, labelled `label`.
    pub fn new(span: Span, message: impl Into<String>, label: impl Into<String>) -> Draft {
        Draft {
            message: message.into(),
            primary: Label {
                span,
                text: label.into(),
            },
            secondary: Vec::new(),
            help: None,
        }
    }

    /// Adds a secondary label.
    pub fn also(mut self, span: Span, text: impl Into<String>) -> Draft {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Draft {
        self.help = Some(help.into());
        self
    }
}

/// Every error found in one check, in file order.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    sources: SourceMap,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(sources: SourceMap, mut drafts: Vec<Draft>) -> Diagnostics {
        drafts.sort_by_key(|d| {
            (
                d.primary.span.file,
                d.primary.span.start,
                d.primary.span.end,
            )
        });
        drafts.dedup_by(|a, b| a.primary.span == b.primary.span && a.message == b.message);
        let items = drafts
            .into_iter()
            .map(|d| {
                let file = sources.get(d.primary.span.file).clone();
                let others = d
                    .secondary
                    .into_iter()
                    .map(|l| (sources.get(l.span.file).clone(), l))
                    .collect();
                Diagnostic {
                    message: d.message,
                    primary: d.primary,
                    help: d.help,
                    file,
                    others,
                }
            })
            .collect();
        Diagnostics { sources, items }
    }

    /// The errors, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// How many errors.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are none (never the case for a returned error).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every file that was read, so that a build script can watch them even on failure.
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d:#}")?;
        }
        let n = self.items.len();
        write!(
            f,
            "\nerror: {n} error{} found",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

impl Diagnostic {
    /// `path:line:col` of the offending token.
    pub fn location(&self) -> String {
        let (line, col) = self.file.line_col(self.primary.span.start as usize);
        format!("{}:{line}:{col}", self.file.path().display())
    }

    /// Other places that explain the error, e.g. the first of two duplicates.
    pub fn secondary(&self) -> impl Iterator<Item = &Label> {
        self.others.iter().map(|(_, l)| l)
    }

    /// The file the offending token is in.
    pub fn file(&self) -> &SourceFile {
        &self.file
    }
}

/// `{}` prints `path:line:col: message`; `{:#}` prints the full snippet with carets.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return write!(f, "{}: {}", self.location(), self.message);
        }
        let mut out = String::new();
        let (line, _) = self.file.line_col(self.primary.span.start as usize);
        let gutter = line.to_string().len().max(
            self.others
                .iter()
                .map(|(file, l)| file.line_col(l.span.start as usize).0.to_string().len())
                .max()
                .unwrap_or(0),
        );
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "error: {}", self.message);
        let _ = writeln!(out, "{pad}--> {}", self.location());
        snippet(&mut out, &pad, &self.file, &self.primary, '^');
        for (file, label) in &self.others {
            let (l, c) = file.line_col(label.span.start as usize);
            let _ = writeln!(out, "{pad}::: {}:{l}:{c}", file.path().display());
            snippet(&mut out, &pad, file, label, '-');
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        f.write_str(&out)
    }
}

/// Writes the line `label` starts on, and a line of `mark`s under the labelled part.
fn snippet(out: &mut String, pad: &str, file: &SourceFile, label: &Label, mark: char) {
    let start = label.span.start as usize;
    let (line, _) = file.line_col(start);
    let text = file.line_text(line);
    let line_start = file.line_start(line);
    let from = (start - line_start).min(text.len());
    let from = crate::source::floor_char_boundary(text, from);
    let to = (label.span.end as usize)
        .saturating_sub(line_start)
        .clamp(from, text.len());
    let to = crate::source::floor_char_boundary(text, to);
    // Keep tabs from the source in the indentation so the marks line up in any editor.
    let indent: String = text[..from]
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let width = text[from..to].chars().count().max(1);
    let marks: String = std::iter::repeat_n(mark, width).collect();
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{line:>w$} | {text}", w = pad.len());
    let _ = writeln!(out, "{pad} | {indent}{marks} {}", label.text);
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.file.named())
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let same_file = self
            .others
            .iter()
            .filter(|(file, _)| Arc::ptr_eq(file, &self.file))
            .map(|(_, l)| l);
        let labels = std::iter::once((&self.primary, true))
            .chain(same_file.map(|l| (l, false)))
            .map(|(l, primary)| {
                let span = miette::SourceSpan::from(l.span.range());
                if primary {
                    miette::LabeledSpan::new_primary_with_span(Some(l.text.clone()), span)
                } else {
                    miette::LabeledSpan::new_with_span(Some(l.text.clone()), span)
                }
            });
        Some(Box::new(labels))
    }

    fn help(&self) -> Option<Box<dyn fmt::Display + '_>> {
        // Labels in other files cannot be drawn on this file's snippet: name them instead.
        let mut lines: Vec<String> = self
            .others
            .iter()
            .filter(|(file, _)| !Arc::ptr_eq(file, &self.file))
            .map(|(file, l)| {
                let (line, col) = file.line_col(l.span.start as usize);
                format!("{} at {}:{line}:{col}", l.text, file.path().display())
            })
            .collect();
        lines.extend(self.help.clone());
        (!lines.is_empty()).then(|| Box::new(lines.join("\n")) as Box<dyn fmt::Display>)
    }
}
