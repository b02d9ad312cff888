//! A `oneway` call gets no reply, so nothing can come back from it: no result, no `out` or
//! `inout` parameter, no exception.

use crate::diagnostic::Draft;
use crate::model::{Method, Mode, Semantics};
use crate::rules::Syntax;

/// Reports what `m` may not have if it is `oneway`.
pub fn check(m: &Method, syntax: Syntax, drafts: &mut Vec<Draft>) {
    if m.semantics != Semantics::Maybe {
        return;
    }
    let words = Words::of(syntax);
    if let Some(result) = &m.result_span {
        drafts.push(Draft::new(result.span, words.result, words.why).help(words.result_help));
    }
    for p in &m.params {
        let word = match p.mode {
            Mode::In => continue,
            Mode::Out => "out",
            Mode::InOut => "inout",
        };
        let (message, help) = match syntax {
            Syntax::Idl => (
                format!("a `[oneway]` method cannot have `{word}` parameters"),
                "make the parameter `in`, or remove the `oneway` attribute",
            ),
            Syntax::Rust => (
                format!("{}, so it cannot have `&mut` parameters", words.why),
                "pass the value by value, or remove `#[oneway]`",
            ),
        };
        drafts.push(Draft::new(p.mode_span, message, words.why).help(help));
    }
    if let Some(raises) = m.raises_span {
        drafts.push(Draft::new(raises, words.raises, words.why).help(words.raises_help));
    }
}

/// The messages of one front end.
struct Words {
    why: &'static str,
    result: &'static str,
    result_help: &'static str,
    raises: &'static str,
    raises_help: &'static str,
}

impl Words {
    fn of(syntax: Syntax) -> Words {
        match syntax {
            Syntax::Idl => Words {
                why: "a `[oneway]` call gets no reply",
                result: "a `[oneway]` method cannot return a value",
                result_help: "remove the result, or the `oneway` attribute to wait for a reply",
                raises: "a `[oneway]` method cannot raise an exception",
                raises_help: "remove `raises`, or the `oneway` attribute",
            },
            Syntax::Rust => Words {
                why: "a `#[oneway]` call gets no reply",
                result: "a `#[oneway]` call gets no reply, so it cannot return a value",
                result_help: "remove the result, or `#[oneway]`",
                raises: "a `#[oneway]` call gets no reply, so it cannot raise an exception",
                raises_help: "return no `Result`, or remove `#[oneway]`",
            },
        }
    }
}
