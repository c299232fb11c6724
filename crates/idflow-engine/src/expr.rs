//! Expressions: `${{ ... }}` in `with` and `outputs`, and the `if` and
//! `until` conditions.
//!
//! Expressions are minijinja expressions with `${{ }}` as delimiters, run
//! with a fuel limit (bounded time), no I/O and no template loading. This
//! module does both halves of their life:
//! - static: split a string into literal text and expressions
//!   ([`classify`]), parse an expression and list what it refers to
//!   ([`ExprEngine::references`]);
//! - run time: evaluate against a [`Scope`] ([`ExprEngine::eval`],
//!   [`ExprEngine::eval_condition`], [`ExprEngine::render`]).
//!
//! A value that is exactly one `${{ expr }}` keeps its type; text around
//! or between expressions makes the result text.

use std::collections::BTreeSet;
use std::ops::Range;

use minijinja::value::{Serde, Value as JinjaValue};
use minijinja::{Environment, State, UndefinedBehavior};

use crate::model::{Expression, TextTemplate, ValueTemplate};

mod budget;
pub use budget::{MAX_JSON_INDENT, MAX_OPERATORS, check_complexity};

/// Opening delimiter.
pub const OPEN: &str = "${{";
/// Closing delimiter.
pub const CLOSE: &str = "}}";

/// The most instructions one evaluation may run.
pub const FUEL: u64 = 50_000;

/// The functions a condition may call, with GitHub Actions' meaning.
pub const STATUS_FUNCTIONS: [&str; 4] = ["success", "failure", "always", "cancelled"];

/// The scope variable that holds what the status functions read.
const STATUS_VAR: &str = "__idflow_status";

/// How a string in a workflow file uses expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified<'a> {
    /// No `${{`: the string is a literal.
    Plain,
    /// The whole string (surrounding spaces aside) is one `${{ expr }}`:
    /// `expr` and its byte range in the string.
    Single(&'a str, Range<usize>),
    /// Text with one or more `${{ }}` parts: each part's byte range.
    Mixed(Vec<Range<usize>>),
    /// A `${{` without its `}}`, at this byte offset.
    Unclosed(usize),
}

/// Splits a string into text and `${{ }}` parts.
pub fn classify(text: &str) -> Classified<'_> {
    let mut parts = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find(OPEN) {
        let open = at + found;
        let inner_start = open + OPEN.len();
        let Some(close) = find_close(&text[inner_start..]) else {
            return Classified::Unclosed(open);
        };
        let inner_end = inner_start + close;
        parts.push(inner_start..inner_end);
        at = inner_end + CLOSE.len();
    }
    match parts.as_slice() {
        [] => Classified::Plain,
        [only]
            if text[..only.start - OPEN.len()].trim().is_empty()
                && text[only.end + CLOSE.len()..].trim().is_empty() =>
        {
            Classified::Single(&text[only.clone()], only.clone())
        }
        _ => Classified::Mixed(parts),
    }
}

/// The `}}` that closes an expression, skipping `}}` inside quotes.
fn find_close(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match quote {
            Some(_) if byte == b'\\' => i += 1,
            Some(q) if byte == q => quote = None,
            None if byte == b'\'' || byte == b'"' => quote = Some(byte),
            None if bytes[i..].starts_with(CLOSE.as_bytes()) => return Some(i),
            Some(_) | None => {}
        }
        i += 1;
    }
    None
}

/// A condition (`if`, `until`) may be written with or without `${{ }}`:
/// the expression and its byte range in the text.
pub fn condition_source(text: &str) -> (&str, Range<usize>) {
    match classify(text) {
        Classified::Single(inner, range) => (inner, range),
        _ => (text, 0..text.len()),
    }
}

/// An expression that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where in the expression, when known.
    pub range: Option<Range<usize>>,
}

/// An evaluation that failed (a type error, fuel exhausted, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expression `{expression}` failed: {message}")]
pub struct EvalError {
    /// The expression.
    pub expression: String,
    /// What went wrong.
    pub message: String,
}

/// What an expression may read at run time.
///
/// Build one per evaluation with the builder methods; anything not set is
/// absent (and reads as undefined).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    inputs: Option<JinjaValue>,
    secrets: Option<JinjaValue>,
    steps: Option<JinjaValue>,
    outputs: Option<JinjaValue>,
    attempt: Option<u32>,
    run_id: Option<String>,
    status: StatusView,
}

/// What the status functions see: the state of the steps before this one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusView {
    /// A step this one depends on (transitively) failed.
    pub upstream_failed: bool,
    /// A step this one depends on (transitively) was skipped.
    pub upstream_skipped: bool,
    /// The run was cancelled.
    pub cancelled: bool,
}

impl Scope {
    /// An empty scope.
    pub fn new() -> Self {
        Self::default()
    }

    /// `inputs.*`.
    #[must_use]
    pub fn inputs(mut self, inputs: &serde_json::Value) -> Self {
        self.inputs = Some(JinjaValue::from(Serde(inputs)));
        self
    }

    /// `secrets.*`.
    #[must_use]
    pub fn secrets(mut self, secrets: &serde_json::Value) -> Self {
        self.secrets = Some(JinjaValue::from(Serde(secrets)));
        self
    }

    /// `steps.<id>.{status,outputs}`.
    #[must_use]
    pub fn steps(mut self, steps: &serde_json::Value) -> Self {
        self.steps = Some(JinjaValue::from(Serde(steps)));
        self
    }

    /// `steps`, already converted (the executor keeps it between
    /// evaluations).
    #[must_use]
    pub fn steps_value(mut self, steps: JinjaValue) -> Self {
        self.steps = Some(steps);
        self
    }

    /// `outputs.*` (in `until`: the step's own outputs).
    #[must_use]
    pub fn outputs(mut self, outputs: &serde_json::Value) -> Self {
        self.outputs = Some(JinjaValue::from(Serde(outputs)));
        self
    }

    /// `attempt` (1-based).
    #[must_use]
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = Some(attempt);
        self
    }

    /// `run.id`.
    #[must_use]
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }

    /// What `success()`, `failure()` and `cancelled()` report.
    #[must_use]
    pub fn status(mut self, status: StatusView) -> Self {
        self.status = status;
        self
    }

    fn to_value(&self) -> JinjaValue {
        let mut map = std::collections::BTreeMap::new();
        let mut put = |name: &str, value: &Option<JinjaValue>| {
            if let Some(value) = value {
                map.insert(name.to_owned(), value.clone());
            }
        };
        put("inputs", &self.inputs);
        put("secrets", &self.secrets);
        put("steps", &self.steps);
        put("outputs", &self.outputs);
        if let Some(attempt) = self.attempt {
            map.insert("attempt".to_owned(), JinjaValue::from(attempt));
        }
        if let Some(run_id) = &self.run_id {
            let mut run = std::collections::BTreeMap::new();
            run.insert("id".to_owned(), JinjaValue::from(run_id.clone()));
            map.insert("run".to_owned(), JinjaValue::from(run));
        }
        let status = [
            ("upstream_failed", self.status.upstream_failed),
            ("upstream_skipped", self.status.upstream_skipped),
            ("cancelled", self.status.cancelled),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), JinjaValue::from(v)))
        .collect::<std::collections::BTreeMap<_, _>>();
        map.insert(STATUS_VAR.to_owned(), JinjaValue::from(status));
        JinjaValue::from(map)
    }
}

/// The expression environment: its configuration never changes, so one
/// per process serves every engine (and lets compiled expressions be kept).
static ENV: std::sync::LazyLock<Environment<'static>> = std::sync::LazyLock::new(build_env);

/// How many compiled expressions an engine keeps before starting afresh.
const CACHE_LIMIT: usize = 16_384;

type Compiled = std::sync::Arc<minijinja::Expression<'static, 'static>>;

/// Parses and evaluates expressions, keeping each compiled expression for
/// the next evaluation. One per process is enough; it is cheap to share
/// (`Sync`).
pub struct ExprEngine {
    env: &'static Environment<'static>,
    cache: std::sync::RwLock<std::collections::HashMap<String, Compiled>>,
    /// What each expression reads, as [`ExprEngine::references`] found it
    /// (validation asks for each expression more than once).
    references: std::sync::RwLock<std::collections::HashMap<String, BTreeSet<String>>>,
}

impl std::fmt::Debug for ExprEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.cache.read().map_or(0, |cache| cache.len());
        f.debug_struct("ExprEngine")
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

impl Default for ExprEngine {
    fn default() -> Self {
        Self::new()
    }
}

fn status_flag(state: &State<'_, '_>, flag: &str) -> bool {
    state
        .lookup(STATUS_VAR)
        .and_then(|status| status.get_attr(flag).ok())
        .is_some_and(|value| value.is_true())
}

impl ExprEngine {
    /// An engine with the `${{ }}` syntax, the fuel limit and the status
    /// functions.
    pub fn new() -> Self {
        Self {
            env: &ENV,
            cache: std::sync::RwLock::default(),
            references: std::sync::RwLock::default(),
        }
    }

    /// The compiled form of `source`, from the cache when it was seen.
    /// Too complex an expression is refused before minijinja parses it.
    fn compile(&self, source: &str) -> Result<Compiled, minijinja::Error> {
        check_complexity(source)
            .map_err(|message| minijinja::Error::new(minijinja::ErrorKind::SyntaxError, message))?;
        if let Some(found) = self
            .cache
            .read()
            .ok()
            .and_then(|cache| cache.get(source).cloned())
        {
            return Ok(found);
        }
        let compiled = std::sync::Arc::new(self.env.compile_expression_owned(source.to_owned())?);
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(source.to_owned(), std::sync::Arc::clone(&compiled));
        }
        Ok(compiled)
    }
}

fn build_env() -> Environment<'static> {
    {
        let mut env = Environment::new();
        // `debug()` would print the whole scope, secrets included.
        env.remove_global("debug");
        budget::add_guarded_filters(&mut env);
        // Only the variable delimiters matter; blocks and comments get
        // delimiters nobody types by accident.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .variable_delimiters(OPEN, CLOSE)
            .block_delimiters("${%%", "%%}")
            .comment_delimiters("${##", "##}")
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(64);
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        // GitHub Actions' meaning: success() holds when every step this one
        // depends on succeeded (a skipped one did not).
        env.add_function("success", |state: &State<'_, '_>| {
            !status_flag(state, "upstream_failed")
                && !status_flag(state, "upstream_skipped")
                && !status_flag(state, "cancelled")
        });
        env.add_function("failure", |state: &State<'_, '_>| {
            status_flag(state, "upstream_failed")
        });
        env.add_function("cancelled", |state: &State<'_, '_>| {
            status_flag(state, "cancelled")
        });
        env.add_function("always", || true);
        env
    }
}

impl ExprEngine {
    /// Parses an expression and returns what it refers to, as dotted paths
    /// (`inputs.photo`, `steps.enroll.outputs.status`, `attempt`).
    pub fn references(&self, source: &str) -> Result<BTreeSet<String>, SyntaxError> {
        // Most expressions are a plain dotted path (`steps.enroll.outputs.status`):
        // what they read is the path itself, with no need to compile.
        if let Some(path) = simple_path(source) {
            return Ok(BTreeSet::from([path.to_owned()]));
        }
        if let Some(found) = self
            .references
            .read()
            .ok()
            .and_then(|known| known.get(source).cloned())
        {
            return Ok(found);
        }
        let expression = self.compile(source).map_err(|error| syntax_error(&error))?;
        let found: BTreeSet<String> = expression.undeclared_variables(true).into_iter().collect();
        if let Ok(mut known) = self.references.write() {
            if known.len() >= CACHE_LIMIT {
                known.clear();
            }
            known.insert(source.to_owned(), found.clone());
        }
        Ok(found)
    }

    /// Evaluates an expression to a JSON value.
    pub fn eval(
        &self,
        expression: &Expression,
        scope: &Scope,
    ) -> Result<serde_json::Value, EvalError> {
        self.eval_json(&expression.source, &scope.to_value())
    }

    /// Evaluates a condition: true when the value is truthy.
    pub fn eval_condition(
        &self,
        expression: &Expression,
        scope: &Scope,
    ) -> Result<bool, EvalError> {
        Ok(self.eval_jinja(&expression.source, scope)?.is_true())
    }

    /// Whether a condition calls one of the status functions (then it
    /// decides by itself whether failed or skipped dependencies matter).
    /// The compiler lists the functions an expression looks up among what it
    /// reads, so a name inside text or a longer name does not count.
    pub fn uses_status_function(&self, expression: &Expression) -> bool {
        self.references(&expression.source).is_ok_and(|refs| {
            refs.iter()
                .any(|reference| STATUS_FUNCTIONS.contains(&reference.as_str()))
        })
    }

    /// Evaluates a value template.
    pub fn render(
        &self,
        template: &ValueTemplate,
        scope: &Scope,
    ) -> Result<serde_json::Value, EvalError> {
        let context = scope.to_value();
        self.render_with(template, &context)
    }

    fn render_with(
        &self,
        template: &ValueTemplate,
        context: &JinjaValue,
    ) -> Result<serde_json::Value, EvalError> {
        Ok(match template {
            ValueTemplate::Literal(value) => value.clone(),
            ValueTemplate::Expression(expression) => self.eval_json(&expression.source, context)?,
            ValueTemplate::Text(text) => {
                serde_json::Value::String(self.render_text(text, context)?)
            }
            ValueTemplate::List(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|item| self.render_with(item, context))
                    .collect::<Result<_, _>>()?,
            ),
            ValueTemplate::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| Ok((key.clone(), self.render_with(value, context)?)))
                    .collect::<Result<_, EvalError>>()?,
            ),
        })
    }

    fn render_text(&self, text: &TextTemplate, context: &JinjaValue) -> Result<String, EvalError> {
        self.env
            .render_str(&text.source, context)
            .map_err(|error| EvalError {
                expression: text.source.clone(),
                message: describe(&error),
            })
    }

    fn eval_jinja(&self, source: &str, scope: &Scope) -> Result<JinjaValue, EvalError> {
        self.eval_in(source, &scope.to_value())
    }

    /// Evaluates to JSON (undefined becomes null).
    fn eval_json(
        &self,
        source: &str,
        context: &JinjaValue,
    ) -> Result<serde_json::Value, EvalError> {
        let value = self.eval_in(source, context)?;
        to_json(&value).map_err(|message| EvalError {
            expression: source.to_owned(),
            message,
        })
    }

    fn eval_in(&self, source: &str, context: &JinjaValue) -> Result<JinjaValue, EvalError> {
        let fail = |error: minijinja::Error| EvalError {
            expression: source.to_owned(),
            message: describe(&error),
        };
        let expression = self.compile(source).map_err(fail)?;
        expression.eval(context).map_err(fail)
    }
}

/// Words that are not variables in expressions.
const KEYWORDS: [&str; 15] = [
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
    "loop", "self",
];

/// `source` trimmed, when it is a dotted path of identifiers whose first
/// part is not a keyword.
pub(crate) fn simple_path(source: &str) -> Option<&str> {
    let path = source.trim();
    let mut parts = path.split('.');
    let first = parts.next()?;
    let identifier = |part: &str| {
        part.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    (identifier(first) && !KEYWORDS.contains(&first) && parts.all(identifier)).then_some(path)
}

fn syntax_error(error: &minijinja::Error) -> SyntaxError {
    SyntaxError {
        message: describe(error),
        range: error.range(),
    }
}

fn describe(error: &minijinja::Error) -> String {
    if error.kind() == minijinja::ErrorKind::OutOfFuel {
        return "the expression ran too long (it is limited so that workflows cannot hang)"
            .to_owned();
    }
    error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned)
}

fn to_json(value: &JinjaValue) -> Result<serde_json::Value, String> {
    if value.is_undefined() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::to_value(value).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::source::Span;

    fn expr(source: &str) -> Expression {
        Expression {
            source: source.to_owned(),
            span: Span::default(),
        }
    }

    #[test]
    fn classifies_plain_single_mixed_and_unclosed() {
        assert_eq!(classify("hello"), Classified::Plain);
        assert_eq!(
            classify("${{ inputs.a }}"),
            Classified::Single(" inputs.a ", 3..13)
        );
        assert_eq!(classify("  ${{ 1 }} "), Classified::Single(" 1 ", 5..8));
        assert_eq!(
            classify("a ${{ x }} b ${{ y }}"),
            Classified::Mixed(vec![5..8, 16..19])
        );
        assert_eq!(
            classify("${{ x }}${{ y }}"),
            Classified::Mixed(vec![3..6, 11..14])
        );
        assert_eq!(classify("a ${{ x "), Classified::Unclosed(2));
        // Non-ASCII text (typographic quotes pasted from elsewhere) is fine.
        assert_eq!(
            classify("${{ inputs.a == ‘CO’ }}"),
            Classified::Single(" inputs.a == ‘CO’ ", 3..25)
        );
        assert_eq!(
            classify("ñ ${{ inputs.ñ }} ñ ${{ 1 }}"),
            Classified::Mixed(vec![6..17, 26..29])
        );
        // `}}` inside quotes does not close.
        assert_eq!(classify("${{ '}}' }}"), Classified::Single(" '}}' ", 3..9));
    }

    proptest::proptest! {
        #[test]
        fn classify_never_panics_and_ranges_are_char_boundaries(text in "\\PC{0,40}(\\$\\{\\{\\PC{0,20}(\\}\\})?)?\\PC{0,20}") {
            match classify(&text) {
                Classified::Single(inner, range) => {
                    proptest::prop_assert_eq!(&text[range], inner);
                }
                Classified::Mixed(ranges) => {
                    for range in ranges {
                        proptest::prop_assert!(text.get(range).is_some());
                    }
                }
                Classified::Plain | Classified::Unclosed(_) => {}
            }
        }
    }

    #[test]
    fn conditions_work_with_and_without_delimiters() {
        assert_eq!(condition_source("a == 1").0, "a == 1");
        assert_eq!(condition_source("${{ a == 1 }}").0, " a == 1 ");
    }

    #[test]
    fn lists_references_as_dotted_paths() {
        let engine = ExprEngine::new();
        let refs = engine
            .references("steps.enroll.outputs.status != 'pending' and inputs.n > attempt")
            .unwrap();
        assert!(refs.contains("steps.enroll.outputs.status"), "{refs:?}");
        assert!(refs.contains("inputs.n"), "{refs:?}");
        assert!(refs.contains("attempt"), "{refs:?}");
    }

    #[test]
    fn plain_paths_are_read_without_compiling_and_agree_with_the_compiler() {
        let engine = ExprEngine::new();
        for source in [
            " steps.a.outputs.b ",
            "inputs.who",
            "attempt",
            "run.id",
            "x_1.y_2",
        ] {
            let fast = engine.references(source).unwrap();
            let compiled: BTreeSet<String> = engine
                .compile(source)
                .unwrap()
                .undeclared_variables(true)
                .into_iter()
                .collect();
            assert_eq!(fast, compiled, "{source}");
        }
        for not_a_path in ["true", "none", "a.1b", "a..b", "a.b()", "a b", "1a", ""] {
            assert!(simple_path(not_a_path).is_none(), "{not_a_path}");
        }
    }

    #[test]
    fn slices_read_what_they_slice() {
        let engine = ExprEngine::new();
        for (source, read) in [
            ("secrets.K[1:]", "secrets.K"),
            ("secrets.K[:4]", "secrets.K"),
            ("(secrets.K)[::-1]", "secrets.K"),
            ("steps.a.outputs.x[1:n.m]", "steps.a.outputs.x"),
            ("steps.a.outputs.x[1:n.m]", "n.m"),
            ("[{'a': 1}][0]['a'] ~ inputs.s[a[1:]:]", "inputs.s"),
            ("[{'a': 1}][0]['a'] ~ inputs.s[a[1:]:]", "a"),
            ("'[1:]' ~ x[':']", "x"),
        ] {
            let refs = engine.references(source).unwrap();
            assert!(refs.contains(read), "{source}: {refs:?}");
        }
        assert!(engine.references("x[1:2:3:4]").is_err());
    }

    #[test]
    fn syntax_errors_have_a_range() {
        let engine = ExprEngine::new();
        let error = engine.references("inputs.a ==").unwrap_err();
        assert!(!error.message.is_empty());
        assert!(engine.references("(1 + ").is_err());
    }

    #[test]
    fn single_expressions_keep_their_type_and_text_is_text() {
        let engine = ExprEngine::new();
        let scope = Scope::new()
            .inputs(&json!({"n": 3, "ok": true, "list": [1, 2], "obj": {"a": "b"}, "name": "ana"}))
            .run_id("run-1")
            .attempt(2);
        let cases = [
            ("inputs.n", json!(3)),
            ("inputs.n + 1", json!(4)),
            ("inputs.ok", json!(true)),
            ("inputs.list", json!([1, 2])),
            ("inputs.obj", json!({"a": "b"})),
            ("attempt", json!(2)),
            ("run.id", json!("run-1")),
            ("inputs.missing", json!(null)),
            ("'a' in inputs.name", json!(true)),
            ("inputs.n >= 3 and not inputs.ok", json!(false)),
        ];
        for (source, expected) in cases {
            assert_eq!(
                engine.eval(&expr(source), &scope).unwrap(),
                expected,
                "{source}"
            );
        }
        let text = ValueTemplate::Text(TextTemplate {
            source: "hi ${{ inputs.name }} #${{ inputs.n }}".to_owned(),
            span: Span::default(),
        });
        assert_eq!(engine.render(&text, &scope).unwrap(), json!("hi ana #3"));
    }

    #[test]
    fn status_functions_read_the_status_view() {
        let engine = ExprEngine::new();
        let ok = Scope::new();
        let failed = Scope::new().status(StatusView {
            upstream_failed: true,
            ..StatusView::default()
        });
        let cancelled = Scope::new().status(StatusView {
            cancelled: true,
            ..StatusView::default()
        });
        let check =
            |source: &str, scope: &Scope| engine.eval_condition(&expr(source), scope).unwrap();
        assert!(check("success()", &ok) && !check("failure()", &ok) && check("always()", &ok));
        assert!(!check("success()", &failed) && check("failure()", &failed));
        assert!(check("cancelled()", &cancelled) && !check("success()", &cancelled));
        assert!(engine.uses_status_function(&expr("always()")));
        assert!(engine.uses_status_function(&expr("failure() and inputs.x")));
        assert!(!engine.uses_status_function(&expr("inputs.success")));
        assert!(!engine.uses_status_function(&expr("'always()' in inputs.note")));
    }

    #[test]
    fn runaway_expressions_run_out_of_fuel() {
        let engine = ExprEngine::new();
        let error = engine
            .eval(
                &expr("range(100000) | map('string') | join(',') | length"),
                &Scope::new(),
            )
            .unwrap_err();
        assert!(error.message.contains("too long"), "{error}");
    }

    #[test]
    fn steps_context_reads_status_and_outputs() {
        let engine = ExprEngine::new();
        let scope = Scope::new()
            .steps(&json!({"get": {"status": "succeeded", "outputs": {"status": "pending"}}}));
        assert!(
            engine
                .eval_condition(
                    &expr(
                        "steps.get.status == 'succeeded' and steps.get.outputs.status == 'pending'"
                    ),
                    &scope
                )
                .unwrap()
        );
        // A skipped step has no outputs: reading one is undefined, not an error.
        let scope = Scope::new().steps(&json!({"get": {"status": "skipped", "outputs": {}}}));
        assert!(
            !engine
                .eval_condition(&expr("steps.get.outputs.status == 'success'"), &scope)
                .unwrap()
        );
    }
}
