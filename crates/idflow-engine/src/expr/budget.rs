//! Bounds on what one expression may cost, beyond minijinja's fuel (which
//! counts instructions and allocations while an expression runs).
//!
//! - [`check_complexity`]: minijinja's parser, compiler and constant folder
//!   recurse once per nesting level and fold constant parts again at every
//!   level, so 20,000 unary minuses overflow the stack and a chain of
//!   20,000 `~` takes quadratic time, before any fuel is counted. An
//!   expression may hold at most [`MAX_OPERATORS`] operators, brackets and
//!   dots; this is checked on the text, before minijinja parses it.
//! - [`add_guarded_filters`]: built-in filters whose output can dwarf their
//!   input get arguments checked first (`tojson(indent=999999999)` asked
//!   for gigabytes of spaces).
//!
//! Repeating a list (`[1] * 99999999`) is bounded by the fuel itself: see
//! the minijinja patch in `vendor/README.md`.

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};

/// The most operators, brackets and dots one expression may have (the
/// longest expression in the shipped workflows has 12). In a debug build
/// each level of brackets takes about 18 KiB of stack while parsing; 64
/// levels fit in the 2 MiB of a tokio worker with room to spare.
pub const MAX_OPERATORS: usize = 64;

/// The widest indentation `tojson` accepts.
pub const MAX_JSON_INDENT: usize = 32;

/// Words that are operators.
const OPERATOR_WORDS: [&str; 6] = ["and", "or", "not", "in", "is", "if"];

/// Refuses an expression with more than [`MAX_OPERATORS`] operators,
/// brackets and dots (outside quoted text): each can add a level to the
/// parsed tree, so this bounds its depth and size whatever the nesting.
pub fn check_complexity(source: &str) -> Result<(), String> {
    let count = count_operators(source);
    if count > MAX_OPERATORS {
        return Err(format!(
            "the expression is too complex to evaluate safely: it has {count} operators, brackets and dots, and at most {MAX_OPERATORS} are allowed"
        ));
    }
    Ok(())
}

/// Operators, brackets and dots outside quoted text (a word operator
/// counts once; `==` counts twice, which only makes the bound stricter).
fn count_operators(source: &str) -> usize {
    let bytes = source.as_bytes();
    let mut count = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match quote {
            Some(_) if byte == b'\\' => i += 1,
            Some(q) if byte == q => quote = None,
            Some(_) => {}
            None => match byte {
                b'\'' | b'"' => quote = Some(byte),
                b'+' | b'-' | b'*' | b'/' | b'%' | b'~' | b'|' | b'.' | b'(' | b'[' | b'{'
                | b'<' | b'>' | b'=' | b'!' => count += 1,
                _ if byte.is_ascii_alphabetic() || byte == b'_' => {
                    let end = bytes[i..]
                        .iter()
                        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                        .map_or(bytes.len(), |len| i + len);
                    if OPERATOR_WORDS.contains(&&source[i..end]) {
                        count += 1;
                    }
                    i = end;
                    continue;
                }
                _ => {}
            },
        }
        i += 1;
    }
    count
}

/// Replaces the built-in filters whose output can be far larger than their
/// input with versions that check their arguments first.
pub(crate) fn add_guarded_filters(env: &mut Environment<'static>) {
    env.add_filter(
        "tojson",
        |value: &Value, indent: Option<Value>, kwargs: Kwargs| -> Result<Value, Error> {
            let indent = match indent {
                Some(indent) => Some(indent),
                None => kwargs.get::<Option<Value>>("indent")?,
            };
            if let Some(width) = &indent
                && bool::try_from(width.clone()).is_err()
                && usize::try_from(width.clone()).is_ok_and(|width| width > MAX_JSON_INDENT)
            {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson indents by at most {MAX_JSON_INDENT} spaces"),
                ));
            }
            minijinja::filters::tojson(value, indent, kwargs)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_are_counted_outside_quotes_only() {
        assert_eq!(count_operators("steps.a.outputs.b == 'x.y.z'"), 5);
        assert_eq!(count_operators("not a and b or c in d"), 4);
        assert_eq!(count_operators("nothing_in_a_name"), 0);
        assert_eq!(count_operators(r"'it\'s -' ~ x"), 1);
        assert!(check_complexity(&"-".repeat(MAX_OPERATORS)).is_ok());
        let error = check_complexity(&format!("{}1", "-".repeat(20_000))).unwrap_err();
        assert!(error.contains("20000 operators"), "{error}");
    }

    /// Expressions at the limit, of every shape that nests, compile and run
    /// on a thread with the stack of a tokio worker (2 MiB) less what its
    /// callers may use; one more operator is refused before parsing.
    #[test]
    fn expressions_at_the_limit_fit_in_a_small_stack() {
        let n = MAX_OPERATORS;
        let shapes = [
            format!("{}1", "-".repeat(n)),
            format!("{}true", "not ".repeat(n)),
            format!("1{}", " + 1".repeat(n)),
            format!("'a'{}", " ~ 'a'".repeat(n)),
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            format!("{}1{}", "[".repeat(n), "]".repeat(n)),
            format!("{{}}{}", ".a".repeat(n - 1)),
            format!("-1{}", " | abs".repeat(n - 1)),
            format!("1{}", " if true else 1".repeat(n)),
        ];
        let worker = std::thread::Builder::new()
            .stack_size(1536 * 1024)
            .spawn(move || {
                let engine = crate::expr::ExprEngine::new();
                for shape in &shapes {
                    assert!(check_complexity(shape).is_ok(), "{shape}");
                    let _ = engine.references(shape);
                    let expression = crate::model::Expression {
                        source: shape.clone(),
                        span: crate::source::Span::default(),
                    };
                    // Evaluating may fail (out of fuel); it must not crash.
                    let _ = engine.eval(&expression, &crate::expr::Scope::new());
                    let deeper = format!("-{shape}");
                    assert!(engine.references(&deeper).is_err(), "{deeper}");
                }
            })
            .unwrap();
        worker.join().unwrap();
    }

    #[test]
    fn tojson_indents_by_a_bounded_width() {
        let mut env = Environment::new();
        add_guarded_filters(&mut env);
        let render = |source: &str| env.render_str(source, ());
        assert_eq!(render("{{ [1] | tojson }}").unwrap(), "[1]");
        assert_eq!(render("{{ [1] | tojson(indent=2) }}").unwrap(), "[\n  1\n]");
        assert_eq!(render("{{ [1] | tojson(true) }}").unwrap(), "[\n  1\n]");
        let error = render("{{ [1] | tojson(indent=999999999) }}").unwrap_err();
        assert!(error.to_string().contains("at most 32"), "{error}");
    }
}
