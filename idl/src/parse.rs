//! Text to [`ast::File`]: a guard against hostile input, the pest grammar, and the mapping
//! of pest's parse tree and errors to our AST and diagnostics.

use pest::Parser as _;
use pest::iterators::Pair;

use crate::ast::{self, Ident, Mode};
use crate::diagnostic::Draft;
use crate::source::{FileId, SourceFile, Span};

/// The largest IDL file accepted, in bytes. Real interfaces are a few kilobytes; the limit
/// only keeps a hostile or mistaken input (a binary, a log file) from using unbounded
/// memory.
pub const MAX_FILE_BYTES: usize = 8 << 20;

/// The deepest nesting of brackets accepted (`list<list<...>>`, `{`, `(`, `[`). The parser
/// and checker recurse on nesting, so this bounds their stack.
pub const MAX_NESTING: usize = 48;

/// The most grammar rule calls one parse may make. The grammar is linear in the input;
/// this only makes sure no input can keep the parser busy for long.
const MAX_RULE_CALLS: usize = 200_000_000;

#[derive(pest_derive::Parser)]
#[grammar = "idl.pest"]
struct Grammar;

/// Parses one file. On failure returns the first syntax error (pest stops there).
pub(crate) fn parse_file(id: FileId, file: &SourceFile) -> Result<ast::File, Draft> {
    let text = file.text();
    guard(id, text)?;
    pest::set_call_limit(std::num::NonZeroUsize::new(MAX_RULE_CALLS));
    let mut pairs = match Grammar::parse(Rule::file, text) {
        Ok(pairs) => pairs,
        Err(_) => return Err(syntax_error(id, text, parse_with_detail(text))),
    };
    let root = pairs
        .next()
        .expect("the `file` rule always yields one pair");
    Ok(build_file(id, root))
}

/// Parses again, recording what was expected where, for the error message.
///
/// Recording costs about a quarter of the parse, so it is done only for files that failed.
/// pest's switch for it is process-wide and read when a parse starts: the lock makes the
/// switch and the parse one step, so every failing file gets its detail whatever other
/// threads parse meanwhile (their parses may record too, which only slows them a little).
fn parse_with_detail(text: &str) -> pest::error::Error<Rule> {
    static DETAIL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _only_one = DETAIL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    pest::set_error_detail(true);
    let result = Grammar::parse(Rule::file, text);
    pest::set_error_detail(false);
    match result {
        Err(e) => e,
        // The same text cannot parse now; report what pest would without detail.
        Ok(_) => pest::error::Error::new_from_pos(
            pest::error::ErrorVariant::CustomError {
                message: "the parser gave different answers for the same text".into(),
            },
            pest::Position::from_start(text),
        ),
    }
}

/// Refuses what the grammar cannot report well or should not spend effort on: oversized
/// files, unterminated block comments (pest would report a confusing error at the end of
/// the file) and absurd nesting.
fn guard(id: FileId, text: &str) -> Result<(), Draft> {
    if text.len() > MAX_FILE_BYTES {
        return Err(Draft::new(
            Span::new(id, 0, 0),
            // Not the size itself: the disk loader stops reading one byte past the limit.
            format!("file is too large: more than {MAX_FILE_BYTES} bytes"),
            "this file",
        )
        .help("split the interface into several files joined by `import`"));
    }
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = memchr(b'\n', bytes, i).unwrap_or(bytes.len());
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => match text[i + 2..].find("*/") {
                Some(end) => {
                    i += end + 4;
                    continue;
                }
                None => {
                    return Err(Draft::new(
                        Span::new(id, i, i + 2),
                        "unterminated block comment",
                        "this comment is never closed",
                    )
                    .help("close it with `*/` (block comments do not nest)"));
                }
            },
            b'"' => {
                // A string ends at its closing quote or at the end of the line; the
                // grammar reports the second case.
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'<' | b'{' | b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Draft::new(
                        Span::new(id, i, i + 1),
                        format!("nesting is too deep (more than {MAX_NESTING} levels)"),
                        "too deep here",
                    )
                    .help("name an inner part as a struct of its own"));
                }
            }
            // The `>` of `->` closes nothing.
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' | b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn memchr(needle: u8, haystack: &[u8], from: usize) -> Option<usize> {
    haystack[from..]
        .iter()
        .position(|&b| b == needle)
        .map(|p| p + from)
}

/// Turns pest's error into one diagnostic: what was found, where, and what was expected.
fn syntax_error(id: FileId, text: &str, e: pest::error::Error<Rule>) -> Draft {
    let mut pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((p, _)) => p,
    };
    // pest places the error where the last repetition stopped (e.g. the start of an
    // `import` missing its `;`); the furthest attempt is where the user went wrong.
    let attempts = e.parse_attempts();
    let furthest = attempts.as_ref().map_or(0, |a| a.max_position);
    let positives_apply = furthest <= pos;
    pos = pos.max(furthest).min(text.len());
    let positives = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        pest::error::ErrorVariant::CustomError { message } => {
            // pest's own limits ("call limit reached", "stack limit reached").
            return Draft::new(
                Span::new(id, pos, pos),
                format!("the parser gave up: {message}"),
                "here",
            )
            .help("simplify the file or split it with `import`");
        }
    };
    let mut expected: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !expected.contains(&s) {
            expected.push(s);
        }
    };
    if let Some(attempts) = &attempts {
        // pest does not export its token type; its Display is the literal text, or
        // `BUILTIN_RULE` / `a..z` for character classes, which `describe` covers.
        for token in attempts.expected_tokens().iter().map(ToString::to_string) {
            let is_class = token == "BUILTIN_RULE" || (token.len() == 4 && &token[1..3] == "..");
            // Comments, white space and the `_` that may start a name are always possible.
            let is_trivia = token
                .trim_matches(['\u{feff}', ' ', '\t', '\r', '\n'])
                .is_empty()
                || ["/*", "//", "///", "_"].contains(&token.as_str());
            if !is_class && !is_trivia {
                push(format!("`{token}`"));
            }
        }
    }
    for rule in positives.iter().filter(|_| positives_apply) {
        if let Some(name) = describe(*rule) {
            push(name.to_string());
        }
    }
    let label = match expected.len() {
        0 => "not expected here".to_string(),
        1 => format!("expected {}", expected[0]),
        _ => {
            let last = expected.pop().unwrap_or_default();
            format!("expected {} or {last}", expected.join(", "))
        }
    };
    if let Some(doc) = misplaced_doc(text, pos) {
        if let Some(missing) = separator_before_doc(id, text, &doc) {
            return missing;
        }
        return Draft::new(
            Span::new(id, doc.start, doc.end),
            "doc comment not followed by something it documents",
            "this `///` comment documents nothing",
        )
        .help(
            "a `///` doc comment must stand right above a definition, field, variant or \
             method; use `//` for a plain comment",
        );
    }
    if let Some(open) = open_string(text, pos) {
        if text[pos..].starts_with('\\') {
            return Draft::new(
                Span::new(id, pos, pos + 1),
                "backslash in a quoted path",
                "not allowed here",
            )
            .help("separate folders with `/`, on every system");
        }
        return Draft::new(
            Span::new(id, open, pos),
            "unterminated string",
            "this string is not closed on its line",
        )
        .help("close it with `\"`");
    }
    let (found, len) = found_at(text, pos);
    // A missing separator is best shown right after the token it should follow.
    let before = text[..pos].trim_end().len();
    if matches!(expected.as_slice(), [only] if only == "`;`" || only == "`,`") && before < pos {
        return Draft::new(
            Span::new(id, before, before),
            format!("missing {}", expected[0]),
            format!("expected {} here, found {found}", expected[0]),
        );
    }
    Draft::new(
        Span::new(id, pos, pos + len),
        format!("unexpected {found}"),
        label,
    )
}

/// The doc comment that caused a syntax error at `pos`: one standing at `pos` where no doc
/// is allowed (pest may stop at its `///` or just after, where a fourth `/` would have
/// made it a plain comment), or one right before an end of file or `}` that closes what
/// it would document.
fn misplaced_doc(text: &str, pos: usize) -> Option<std::ops::Range<usize>> {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[pos..].find('\n').map_or(text.len(), |n| pos + n);
    if let Some(doc) = doc_start(&text[line_start..line_end])
        && line_start + doc <= pos
    {
        return Some(line_start + doc..line_end);
    }
    let rest = &text[pos..];
    let nothing_to_document =
        rest.is_empty() || rest.starts_with('}') || rest.starts_with("import");
    if !nothing_to_document {
        return None;
    }
    let before = text[..pos].trim_end();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let doc = doc_start(&before[line_start..])?;
    Some(line_start + doc..before.len())
}

/// A `;` or `,` missing before a doc comment that documents the next method, field or
/// variant: `foo(a: u32) -> u32` then `/// doc` then `bar();`. The grammar stops at the
/// `///`, which cannot follow `u32`, but the doc is fine: the separator before it is not.
/// pest's expectations there are about the comment, so the separator is tried instead:
/// it is missing if the file parses past the doc once it is put back.
fn separator_before_doc(id: FileId, text: &str, doc: &std::ops::Range<usize>) -> Option<Draft> {
    let end = text[..doc.start].trim_end().len();
    if end == 0 {
        return None;
    }
    let separator = [";", ","].into_iter().find(|sep| {
        let patched = format!("{}{sep}{}", &text[..end], &text[end..]);
        match Grammar::parse(Rule::file, &patched) {
            Ok(_) => true,
            Err(e) => {
                let at = match e.location {
                    pest::error::InputLocation::Pos(p) => p,
                    pest::error::InputLocation::Span((p, _)) => p,
                };
                at > doc.end + sep.len()
            }
        }
    })?;
    let start = text[..end].rfind(['{', '}', ';', ',']).map_or(0, |i| i + 1);
    let (message, help) = if separator == ";" {
        let message = match method_name(&text[start..end]) {
            Some(name) => format!("missing `;` after `{name}(...)`"),
            None => "missing `;`".to_string(),
        };
        (message, "every method ends with `;`")
    } else {
        (
            "missing `,`".to_string(),
            "fields and variants are separated by `,`",
        )
    };
    Some(
        Draft::new(
            Span::new(id, end, end),
            message,
            format!("expected `{separator}` here"),
        )
        .also(
            Span::new(id, doc.start, doc.end),
            "this doc comment belongs to what follows",
        )
        .help(help),
    )
}

/// The name of the method `text` declares: the name right before its first `(`.
fn method_name(text: &str) -> Option<&str> {
    let before = text[..text.find('(')?].trim_end();
    let name_start = before
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let name = &before[name_start..];
    (!name.is_empty()).then_some(name)
}

/// Where the string literal that is still open at `pos` starts, if one is. Strings do
/// not span lines, so an odd number of quotes before `pos` on its line means one is open,
/// and only `import` takes a string.
fn open_string(text: &str, pos: usize) -> Option<usize> {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..pos];
    if line.matches('"').count().is_multiple_of(2) {
        return None;
    }
    let open = line_start + line.rfind('"')?;
    text[..open].trim_end().ends_with("import").then_some(open)
}

/// Where the `///` doc comment on `line` starts, if it has one.
fn doc_start(line: &str) -> Option<usize> {
    line.find("//")
        .filter(|&i| line[i..].starts_with("///") && !line[i..].starts_with("////"))
}

/// A readable name for what a rule matches, or None for rules whose first tokens pest
/// already lists.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => "a name",
        Rule::type_name => "a type",
        Rule::exception_name => "an exception name",
        Rule::string_lit => "a quoted file path",
        Rule::doc => "a `///` doc comment",
        Rule::field | Rule::fields => "a field `name: type`",
        Rule::variant | Rule::variants => "a variant",
        Rule::method => "a method",
        Rule::param | Rule::params => "a parameter `name: type`",
        Rule::attr => "an attribute name",
        Rule::EOI => "end of file",
        Rule::result => "`->`",
        Rule::raises => "`raises`",
        Rule::type_args => "`<`",
        Rule::mode => "`in`, `out` or `inout`",
        Rule::package_decl => "`package`",
        Rule::import_decl => "`import`",
        Rule::struct_def => "`struct`",
        Rule::enum_def => "`enum`",
        Rule::exception_def => "`exception`",
        Rule::interface_def => "`interface`",
        _ => return None,
    })
}

/// How to name the text at `pos` in a message, and how many bytes to underline.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = &text[pos..];
    let Some(first) = rest.chars().next() else {
        return ("end of file".to_string(), 0);
    };
    if first.is_ascii_alphanumeric() || first == '_' {
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        return (format!("`{}`", &rest[..len]), len);
    }
    if rest.starts_with("///") {
        return ("`///`".to_string(), 3);
    }
    if first.is_whitespace() || first.is_control() {
        return (format!("character {first:?}"), first.len_utf8());
    }
    (format!("`{first}`"), first.len_utf8())
}

/// Builds the AST from a successful parse.
fn build_file(id: FileId, root: Pair<'_, Rule>) -> ast::File {
    let mut file = ast::File {
        id,
        packages: Vec::new(),
        imports: Vec::new(),
        items: Vec::new(),
    };
    let b = Builder { id };
    for pair in root.into_inner() {
        match pair.as_rule() {
            Rule::documented => {
                let (docs, mut rest) = b.docs(pair);
                let def = rest.next().expect("grammar: a definition follows its docs");
                if def.as_rule() == Rule::package_decl {
                    let name = b.ident(def.into_inner().nth(1).expect("grammar: package name"));
                    file.packages.push(ast::PackageDecl { name, docs });
                } else {
                    file.items.push(b.item(def, docs));
                }
            }
            Rule::import_decl => {
                let lit = pair.into_inner().nth(1).expect("grammar: import path");
                let span = b.span(&lit);
                let path = lit.into_inner().as_str().to_string();
                file.imports.push(ast::Import { path, span });
            }
            _ => {} // EOI
        }
    }
    file
}

/// Converts pairs to AST nodes of one file.
struct Builder {
    id: FileId,
}

impl Builder {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.id, s.start(), s.end())
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    /// Splits leading doc comments off a pair's children.
    fn docs<'a>(
        &self,
        pair: Pair<'a, Rule>,
    ) -> (
        Vec<String>,
        std::iter::Peekable<pest::iterators::Pairs<'a, Rule>>,
    ) {
        let mut inner = pair.into_inner().peekable();
        let mut docs = Vec::new();
        while let Some(p) = inner.next_if(|p| p.as_rule() == Rule::doc) {
            docs.push(doc_text(p.as_str()));
        }
        (docs, inner)
    }

    fn item(&self, pair: Pair<'_, Rule>, docs: Vec<String>) -> ast::Item {
        let rule = pair.as_rule();
        let mut rest = pair.into_inner();
        let _keyword = rest.next();
        let name = self.ident(rest.next().expect("grammar: item name"));
        // `fields` and `variants` always yield a pair; an interface's methods may be none.
        let mut body = || rest.next().expect("grammar: item body");
        let kind = match rule {
            Rule::struct_def => ast::ItemKind::Struct(self.fields(body())),
            Rule::enum_def => ast::ItemKind::Enum(self.variants(body())),
            Rule::exception_def => ast::ItemKind::Exception(self.variants(body())),
            _ => ast::ItemKind::Interface(rest.map(|m| self.method(m)).collect()),
        };
        ast::Item { name, docs, kind }
    }

    fn fields(&self, pair: Pair<'_, Rule>) -> Vec<ast::Field> {
        pair.into_inner()
            .map(|field| {
                let (docs, mut rest) = self.docs(field);
                let name = self.ident(rest.next().expect("grammar: field name"));
                let ty = self.type_ref(rest.next().expect("grammar: field type"));
                ast::Field { name, docs, ty }
            })
            .collect()
    }

    fn variants(&self, pair: Pair<'_, Rule>) -> Vec<ast::Variant> {
        pair.into_inner()
            .map(|variant| {
                let (docs, mut rest) = self.docs(variant);
                let name = self.ident(rest.next().expect("grammar: variant name"));
                let shape = match rest.next() {
                    None => ast::VariantShape::Unit,
                    Some(body) if body.as_rule() == Rule::tuple_body => ast::VariantShape::Tuple(
                        body.into_inner().map(|t| self.type_ref(t)).collect(),
                    ),
                    Some(body) => ast::VariantShape::Struct(
                        self.fields(body.into_inner().next().expect("grammar: fields")),
                    ),
                };
                ast::Variant { name, docs, shape }
            })
            .collect()
    }

    fn method(&self, pair: Pair<'_, Rule>) -> ast::Method {
        let span = self.span(&pair);
        let mut docs = Vec::new();
        let mut attrs = Vec::new();
        let mut name = None;
        let mut params = Vec::new();
        let mut result = None;
        let mut raises = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::doc => docs.push(doc_text(p.as_str())),
                Rule::attr_list => attrs.extend(
                    p.into_inner()
                        .map(|a| self.ident(a.into_inner().next().expect("grammar: attr"))),
                ),
                Rule::ident => name = Some(self.ident(p)),
                Rule::params => params = p.into_inner().map(|p| self.param(p)).collect(),
                Rule::result => {
                    result = Some(self.type_ref(p.into_inner().next().expect("grammar: type")))
                }
                Rule::raises => {
                    raises = Some(self.path(p.into_inner().nth(1).expect("grammar: path")))
                }
                _ => {}
            }
        }
        let name = name.expect("grammar: method name");
        // The method's span runs from its name, not its docs, to the `;`.
        let span = Span::new(self.id, name.span.start as usize, span.end as usize);
        ast::Method {
            name,
            docs,
            attrs,
            params,
            result,
            raises,
            span,
        }
    }

    fn param(&self, pair: Pair<'_, Rule>) -> ast::Param {
        let mut inner = pair.into_inner().peekable();
        let mode = match inner.next_if(|p| p.as_rule() == Rule::mode) {
            Some(m) => {
                let span = self.span(&m);
                let mode = match m.as_str() {
                    "inout" => Mode::InOut,
                    "out" => Mode::Out,
                    _ => Mode::In,
                };
                (mode, Some(span))
            }
            None => (Mode::In, None),
        };
        let name = self.ident(inner.next().expect("grammar: param name"));
        let ty = self.type_ref(inner.next().expect("grammar: param type"));
        ast::Param { mode, name, ty }
    }

    /// `name` or `package.name` (an atomic rule, so split here).
    fn path(&self, pair: Pair<'_, Rule>) -> ast::Path {
        let span = self.span(&pair);
        let text = pair.as_str();
        let start = span.start as usize;
        let ident = |from: usize, name: &str| Ident {
            name: name.to_string(),
            span: Span::new(self.id, start + from, start + from + name.len()),
        };
        match text.split_once('.') {
            Some((package, name)) => ast::Path {
                package: Some(ident(0, package)),
                name: ident(package.len() + 1, name),
                span,
            },
            None => ast::Path {
                package: None,
                name: ident(0, text),
                span,
            },
        }
    }

    fn type_ref(&self, pair: Pair<'_, Rule>) -> ast::TypeRef {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let path = self.path(inner.next().expect("grammar: type path"));
        let args = inner
            .next()
            .map(|args| args.into_inner().map(|t| self.type_ref(t)).collect())
            .unwrap_or_default();
        ast::TypeRef { path, args, span }
    }
}

/// The text of a `///` comment: without the slashes and one leading space.
fn doc_text(raw: &str) -> String {
    let text = raw.trim_start_matches("///");
    let text = text.strip_prefix(' ').unwrap_or(text);
    text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ast::File, Draft> {
        parse_file(FileId(0), &SourceFile::new("t.idl", text))
    }

    #[test]
    fn parameters_may_be_named_like_modes() {
        let f =
            parse("package p; interface I { m(in: u8, out out: u8, inout inout: u8); }").unwrap();
        let ast::ItemKind::Interface(methods) = &f.items[0].kind else {
            panic!("not an interface")
        };
        let modes: Vec<_> = methods[0]
            .params
            .iter()
            .map(|p| (p.mode.0, p.name.name.as_str()))
            .collect();
        assert_eq!(
            modes,
            [(Mode::In, "in"), (Mode::Out, "out"), (Mode::InOut, "inout")]
        );
    }

    #[test]
    fn doc_comments_are_kept_and_plain_comments_dropped() {
        let f = parse("package p;\n/// The thing.\n////not a doc\n// nor this\nstruct S { /// field\n a: u8 }")
            .unwrap();
        assert_eq!(f.items[0].docs, ["The thing."]);
        let ast::ItemKind::Struct(fields) = &f.items[0].kind else {
            panic!("not a struct")
        };
        assert_eq!(fields[0].docs, ["field"]);
    }

    #[test]
    fn a_missing_semicolon_before_a_doc_names_the_method() {
        let e = parse("package p;\ninterface I {\n  /* é */ [idempotent] get(a: u32) -> u32\n  /// Doc.\n  put(); }")
            .unwrap_err();
        assert_eq!(e.message, "missing `;` after `get(...)`");
        // A wide space (three bytes in UTF-8) right before the name.
        let e = parse("package p;\ninterface I {\u{3000}get(a: u32)\n  /// Doc.\n  put(); }")
            .unwrap_err();
        assert_eq!(e.message, "missing `;` after `get(...)`");
    }

    #[test]
    fn unterminated_block_comment_points_at_its_start() {
        let e = parse("package p;\n/* open\nstruct S {}").unwrap_err();
        assert_eq!(e.primary.span.start, 11);
        assert_eq!(e.message, "unterminated block comment");
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing() {
        let text = format!(
            "package p; struct S {{ a: {}u8{} }}",
            "list<".repeat(100_000),
            ">".repeat(100_000)
        );
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("nesting is too deep"), "{}", e.message);
    }
}
