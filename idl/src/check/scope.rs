//! Names: what each package defines, what each file can see, and resolving a written
//! type to a [`Type`].
//!
//! A file sees the definitions of its own file and of the files it imports directly. A
//! bare name must be unique among those; `package.Name` picks one explicitly.

use std::collections::HashMap;

use crate::ast;
use crate::diagnostic::Draft;
use crate::model::{Primitive, QualifiedName, Type};
use crate::source::{FileId, Span};

/// What kind of thing a name defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    Struct,
    Enum,
    Exception,
    Interface,
}

impl SymbolKind {
    pub fn of(kind: &ast::ItemKind) -> SymbolKind {
        match kind {
            ast::ItemKind::Struct(_) => SymbolKind::Struct,
            ast::ItemKind::Enum(_) => SymbolKind::Enum,
            ast::ItemKind::Exception(_) => SymbolKind::Exception,
            ast::ItemKind::Interface(_) => SymbolKind::Interface,
        }
    }

    pub fn article(self) -> &'static str {
        match self {
            SymbolKind::Struct => "a struct",
            SymbolKind::Enum => "an enum",
            SymbolKind::Exception => "an exception",
            SymbolKind::Interface => "an interface",
        }
    }
}

/// One definition.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: QualifiedName,
    pub kind: SymbolKind,
    pub file: FileId,
    pub span: Span,
}

/// Generic built-in types and how many type arguments each takes.
const GENERICS: [(&str, usize); 3] = [("list", 1), ("option", 1), ("map", 2)];

/// The names a file can use.
pub struct Scope<'a> {
    /// Bare name to every visible definition with that name.
    bare: HashMap<&'a str, Vec<&'a Symbol>>,
    /// Every definition of the whole check, visible or not, to explain "not imported".
    all: &'a HashMap<QualifiedName, Symbol>,
    /// Files this scope can see.
    visible: Vec<FileId>,
    /// Where to find each file's path, for the "add an import" hint.
    paths: &'a dyn Fn(FileId) -> String,
    /// Some definitions may be missing (a failed import): unknown names are not errors
    /// of their own.
    incomplete: bool,
}

impl<'a> Scope<'a> {
    pub fn new(
        all: &'a HashMap<QualifiedName, Symbol>,
        by_file: &'a HashMap<FileId, Vec<&'a Symbol>>,
        visible: Vec<FileId>,
        paths: &'a dyn Fn(FileId) -> String,
        incomplete: bool,
    ) -> Scope<'a> {
        let mut bare: HashMap<&str, Vec<&Symbol>> = HashMap::new();
        for file in &visible {
            for sym in by_file.get(file).into_iter().flatten() {
                bare.entry(sym.name.name.as_str()).or_default().push(sym);
            }
        }
        Scope {
            bare,
            all,
            visible,
            paths,
            incomplete,
        }
    }

    /// Resolves a name used where a user type is expected.
    pub fn resolve(&self, path: &ast::Path, drafts: &mut Vec<Draft>) -> Option<&'a Symbol> {
        match &path.package {
            Some(pkg) => {
                let qname = QualifiedName {
                    package: pkg.name.clone(),
                    name: path.name.name.clone(),
                };
                match self.all.get(&qname) {
                    Some(sym) if self.visible.contains(&sym.file) => Some(sym),
                    Some(sym) => {
                        drafts.push(
                            Draft::new(
                                path.span,
                                format!("`{qname}` is not imported"),
                                "defined in a file this file does not import",
                            )
                            .help(format!(
                                "add `import \"...\";` naming {}",
                                (self.paths)(sym.file)
                            )),
                        );
                        None
                    }
                    None => {
                        self.unknown(path, drafts);
                        None
                    }
                }
            }
            None => match self.bare.get(path.name.name.as_str()).map(Vec::as_slice) {
                Some([one]) => Some(one),
                Some(many @ [first, ..]) => {
                    let packages: Vec<String> =
                        many.iter().map(|s| format!("`{}`", s.name)).collect();
                    drafts.push(
                        Draft::new(
                            path.span,
                            format!("`{}` is ambiguous", path.name.name),
                            format!("could be {}", packages.join(" or ")),
                        )
                        .help(format!("qualify it, e.g. `{}`", first.name)),
                    );
                    None
                }
                _ => {
                    self.unknown(path, drafts);
                    None
                }
            },
        }
    }

    fn unknown(&self, path: &ast::Path, drafts: &mut Vec<Draft>) {
        if !self.incomplete {
            drafts.push(self.unknown_draft(path));
        }
    }

    fn unknown_draft(&self, path: &ast::Path) -> Draft {
        let written = path.to_string();
        let draft = Draft::new(
            path.span,
            format!("unknown type `{written}`"),
            "not a built-in type, nor defined in this file or a file it imports",
        );
        let suggestion = match &path.package {
            // Built-in types are never qualified; a qualified name is compared whole with
            // every visible `package.Name`, so a typo in either part is caught.
            Some(_) => {
                let qualified: Vec<String> = self
                    .bare
                    .values()
                    .flatten()
                    .map(|s| s.name.to_string())
                    .collect();
                suggest(&written, qualified.iter().map(String::as_str)).map(str::to_string)
            }
            None => {
                let candidates = self
                    .bare
                    .keys()
                    .copied()
                    .chain(Primitive::ALL.iter().map(|(n, _)| *n))
                    .chain(GENERICS.iter().map(|(n, _)| *n));
                suggest(&path.name.name, candidates).map(str::to_string)
            }
        };
        match suggestion {
            Some(s) => draft.help(format!("did you mean `{s}`?")),
            None => draft,
        }
    }

    /// Resolves a written type, reporting what is wrong with it.
    pub fn resolve_type(&self, t: &ast::TypeRef, drafts: &mut Vec<Draft>) -> Option<Type> {
        let name = t.path.name.name.as_str();
        if t.path.package.is_none() {
            if let Some(p) = Primitive::from_name(name) {
                self.no_arguments(t, name, drafts)?;
                return Some(Type::Primitive(p));
            }
            if let Some(&(_, arity)) = GENERICS.iter().find(|(n, _)| *n == name) {
                if t.args.len() != arity {
                    let form = if arity == 1 {
                        format!("{name}<T>")
                    } else {
                        "map<K, V>".into()
                    };
                    drafts.push(Draft::new(
                        t.span,
                        format!(
                            "`{name}` takes {arity} type argument{}, found {}",
                            if arity == 1 { "" } else { "s" },
                            t.args.len()
                        ),
                        format!("expected `{form}`"),
                    ));
                    return None;
                }
                // Resolve every argument before giving up, to report all errors at once.
                // Which types may be map keys is a rule of the model (`crate::rules`).
                let args: Vec<Option<Type>> = t
                    .args
                    .iter()
                    .map(|a| self.resolve_type(a, drafts))
                    .collect();
                let mut args = args.into_iter().collect::<Option<Vec<Type>>>()?.into_iter();
                let first = Box::new(args.next()?);
                return match name {
                    "list" => Some(Type::List(first)),
                    "option" => Some(Type::Option(first)),
                    _ => Some(Type::Map(first, Box::new(args.next()?))),
                };
            }
        }
        let sym = self.resolve(&t.path, drafts)?;
        self.no_arguments(t, name, drafts)?;
        Some(match sym.kind {
            SymbolKind::Interface => Type::Interface(sym.name.clone()),
            _ => Type::Named {
                name: sym.name.clone(),
                boxed: false,
            },
        })
    }

    fn no_arguments(&self, t: &ast::TypeRef, name: &str, drafts: &mut Vec<Draft>) -> Option<()> {
        if t.args.is_empty() {
            return Some(());
        }
        let start = t.args[0].span.start as usize;
        let end = t.args.last().map_or(start, |a| a.span.end as usize);
        drafts.push(Draft::new(
            Span::new(t.span.file, start, end),
            format!("`{name}` takes no type arguments"),
            "remove these",
        ));
        None
    }
}

/// The candidate closest to `name`, if one is close enough to be a likely typo.
///
/// Distance is optimal string alignment: a swap of two neighbouring letters (`Entyr` for
/// `Entry`), the commonest typo, counts as one edit, not two.
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .filter(|c| *c != name)
        .map(|c| (strsim::osa_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Whether `name` is a built-in type name, which a definition may not reuse.
pub fn is_builtin(name: &str) -> bool {
    Primitive::from_name(name).is_some() || GENERICS.iter().any(|(n, _)| *n == name)
}
