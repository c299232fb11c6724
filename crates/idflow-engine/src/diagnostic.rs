//! Located diagnostics: what is wrong in a workflow file, where, and how to
//! fix it.
//!
//! Every problem the loader and the validator find becomes a [`Diagnostic`]
//! with a stable [`Code`], a span pointing at the offending node, a message
//! and a help line. They are collected, never thrown: one pass reports every
//! problem. [`Report`] renders them with miette (source line, caret, help);
//! [`JsonDiagnostic`] is the machine-readable form of `idflow validate
//! --format json`.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::source::{SourceFile, Span};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The workflow cannot run.
    Error,
    /// The workflow runs, but probably not as meant.
    Warning,
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $severity:ident, $title:literal;)*) => {
        /// The stable code of each kind of problem. Each has a section in
        /// `docs/workflow-format.md` (`IDF01xx`, test files:
        /// `docs/workflow-tests.md`) that says how to fix it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(
                #[doc = $title]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as written in output (`IDF0003`).
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),* }
            }

            /// A short title.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title),* }
            }

            /// The severity diagnostics with this code have.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity),* }
            }
        }
    };
}

codes! {
    YamlSyntax = "IDF0001", Error, "The file is not valid YAML.";
    InputLimit = "IDF0002", Error, "The file is too large, too deep or too repetitive to load safely.";
    UnknownKey = "IDF0003", Error, "A key that this place in the format does not have.";
    MissingKey = "IDF0004", Error, "A required key is missing.";
    WrongType = "IDF0005", Error, "A value of the wrong type (a list where a map is expected, text where a number is expected, ...).";
    InvalidValue = "IDF0006", Error, "A value of the right type that is not allowed (a bad name, an unknown choice).";
    DuplicateKey = "IDF0007", Error, "The same key (or step id) appears twice in one map.";
    UnknownStepType = "IDF0008", Error, "`uses` names a step type that is not registered.";
    UnknownNeed = "IDF0009", Error, "`needs` names a step that does not exist.";
    Cycle = "IDF0010", Error, "Steps need each other in a cycle, so none of them can start.";
    ExpressionSyntax = "IDF0011", Error, "An expression that does not parse.";
    UnknownReference = "IDF0012", Error, "An expression refers to an input, secret, step or context that does not exist.";
    NotUpstream = "IDF0013", Error, "An expression reads the outputs of a step that does not run before this one.";
    UnknownOutput = "IDF0014", Error, "An expression reads an output that the step type does not produce.";
    UnknownWithKey = "IDF0015", Error, "`with` has a key that the step type does not accept.";
    MissingWithKey = "IDF0016", Error, "`with` lacks a key that the step type requires.";
    WithType = "IDF0017", Error, "A `with` value does not fit the step type's input schema.";
    BadDuration = "IDF0018", Error, "A duration that cannot be read (write `500ms`, `2s`, `5m`, `1h`).";
    OutOfRange = "IDF0019", Error, "A number outside its allowed range.";
    SecretFlow = "IDF0020", Error, "A value computed from a secret or a sensitive output goes where it would be shown.";
    ExpressionTooComplex = "IDF0021", Error, "An expression too complex (too many operators, too deeply nested) to evaluate safely.";
    TestUnknownName = "IDF0101", Error, "A test names a step, step type or output that the workflow does not have.";
    TestUndeclaredOutput = "IDF0102", Error, "A mocked answer has an output that the step type does not declare.";
    TestInput = "IDF0103", Error, "A test case's inputs or secrets do not fit what the workflow declares.";
    TestWorkflow = "IDF0104", Error, "The workflow a test file names cannot be read or is invalid.";
    TestMissingMock = "IDF0105", Error, "A step that would call a service has no mock in a test case.";
    DeadStep = "IDF1001", Warning, "A step that can never run.";
    UnusedInput = "IDF1002", Warning, "An input that nothing reads.";
    UnusedSecret = "IDF1003", Warning, "A secret that nothing reads.";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a workflow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What kind of problem.
    pub code: Code,
    /// Error or warning (from the code).
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// The offending node.
    pub span: Span,
    /// A short label shown under the caret.
    pub label: Option<String>,
    /// Other places worth pointing at (the first definition of a
    /// duplicate, the other steps of a cycle).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    /// A diagnostic with the severity of its code.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: code.severity(),
            message: message.into(),
            help: None,
            span,
            label: None,
            related: Vec::new(),
        }
    }

    /// Adds the help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds the caret label.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Points at another place too.
    #[must_use]
    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// Whether this diagnostic stops the workflow from running.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Diagnostics of one file, collected in one pass.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Records several diagnostics.
    pub fn extend(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(diagnostics);
    }

    /// Whether any error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// The diagnostics, sorted by position then code.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            (a.span.start, a.code, &a.message).cmp(&(b.span.start, b.code, &b.message))
        });
        self.items.dedup();
        self.items
    }
}

/// "did you mean `x`?" for a misspelt name, when one candidate is close.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wrong_lower = wrong.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            (
                strsim::jaro_winkler(&wrong_lower, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// A diagnostic together with its file, ready to render.
#[derive(Debug, Clone)]
pub struct Report {
    /// The file the diagnostic is about.
    pub file: Arc<SourceFile>,
    /// The diagnostic.
    pub diagnostic: Diagnostic,
}

impl Report {
    /// Renders the report for a terminal (or, with `color: false`, for
    /// snapshots and logs).
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_links(false);
        let mut out = String::new();
        if handler.render_report(&mut out, self).is_err() {
            out = self.to_string();
        }
        out
    }

    /// The machine-readable form.
    pub fn to_json(&self) -> JsonDiagnostic {
        let (line, column) = self.file.line_col(self.diagnostic.span.start);
        let (end_line, end_column) = self.file.line_col(self.diagnostic.span.end);
        JsonDiagnostic {
            file: self.file.name.clone(),
            line,
            column,
            end_line,
            end_column,
            severity: self.diagnostic.severity,
            code: self.diagnostic.code.as_str(),
            message: self.diagnostic.message.clone(),
            help: self.diagnostic.help.clone(),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, column) = self.file.line_col(self.diagnostic.span.start);
        write!(
            f,
            "{}:{line}:{column}: {} {}: {}",
            self.file.name,
            match self.diagnostic.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            self.diagnostic.code,
            self.diagnostic.message
        )
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    // The code is part of the message line (`file:line:col: error
    // IDF0003: ...`), so miette does not print it again.

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&*self.file)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary = miette::LabeledSpan::new_primary_with_span(
            self.diagnostic.label.clone(),
            self.file.shown_span(self.diagnostic.span),
        );
        let related = self.diagnostic.related.iter().map(|(span, label)| {
            miette::LabeledSpan::new_with_span(Some(label.clone()), self.file.shown_span(*span))
        });
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// Lines wider than this many bytes are shown clipped around the span:
/// miette's renderer cannot draw columns past 65,535, and no terminal
/// shows such a line usefully anyway.
const MAX_SHOWN_LINE: usize = 400;
/// Bytes shown on either side of a span on a clipped line.
const CLIP_CONTEXT: usize = 60;
/// The longest span underlined on a clipped line.
const MAX_SHOWN_SPAN: usize = 120;

impl SourceFile {
    fn is_wide(&self, line: usize) -> bool {
        self.line_range(line).len() > MAX_SHOWN_LINE
    }

    /// The part of `span` a snippet underlines: all of it, except on a wide
    /// line, where at most [`MAX_SHOWN_SPAN`] bytes of its first line.
    fn shown_span(&self, span: Span) -> Span {
        let line = self.line_index(span.start);
        if !self.is_wide(line) {
            return span;
        }
        let end = span
            .end
            .min(span.start + MAX_SHOWN_SPAN)
            .min(self.line_range(line).end);
        Span::new(span.start, ceil_char_boundary(&self.text, end))
    }
}

/// The snippets miette draws read only the lines around a span (found with
/// the line index, so each costs the size of those lines, not of the
/// file), and a wide line only around the span.
impl miette::SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let text = self.text.as_bytes();
        let start = span.offset().min(text.len());
        let end = (start + span.len()).min(text.len());
        let first = self.line_index(start);
        let last = self.line_index(end);
        let from = first.saturating_sub(context_lines_before);
        let to = last + context_lines_after + 1;
        if (from..=to.min(self.line_starts().len() - 1)).any(|line| self.is_wide(line)) {
            return Ok(Box::new(self.clipped(
                first,
                start,
                end,
                context_lines_before,
            )));
        }
        // miette's own reader on just these lines (it scans from the start
        // of what it is given), moved back to file offsets and lines.
        let window_start = self.line_starts()[from];
        let window_end = self
            .line_starts()
            .get(to + 1)
            .copied()
            .unwrap_or(text.len());
        let window = &text[window_start..window_end];
        let inner = miette::SourceSpan::from((start - window_start, end - start));
        let contents = window.read_span(&inner, context_lines_before, context_lines_after)?;
        let data_start = window_start + contents.span().offset();
        let data = &text[data_start..data_start + contents.span().len()];
        Ok(Box::new(miette::MietteSpanContents::new(
            data,
            (data_start, data.len()).into(),
            from + contents.line(),
            contents.column(),
            from + contents.line_count(),
        )))
    }
}

impl SourceFile {
    /// A wide line, shown from a little before `start` to a little after
    /// `end` (or, without context, from `start` itself, as miette expects).
    fn clipped(
        &self,
        line: usize,
        start: usize,
        end: usize,
        context_lines_before: usize,
    ) -> miette::MietteSpanContents<'_> {
        let range = self.line_range(line);
        let start = start.clamp(range.start, range.end);
        let from = if context_lines_before == 0 {
            start
        } else {
            crate::source::floor_char_boundary(
                &self.text,
                start.saturating_sub(CLIP_CONTEXT).max(range.start),
            )
        };
        let to = ceil_char_boundary(
            &self.text,
            end.clamp(start, start + MAX_SHOWN_SPAN) + CLIP_CONTEXT,
        )
        .min(range.end)
        .max(from);
        miette::MietteSpanContents::new(
            &self.text.as_bytes()[from..to],
            (from, to - from).into(),
            line,
            from - range.start,
            line + 1,
        )
    }
}

/// The first character boundary at or after `offset` (clamped to the text).
fn ceil_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset += 1;
    }
    offset
}

/// One diagnostic as `idflow validate --format json` prints it. Lines and
/// columns are 1-based; columns count characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonDiagnostic {
    /// The file's path as given.
    pub file: String,
    /// Line of the first character.
    pub line: usize,
    /// Column of the first character.
    pub column: usize,
    /// Line of the end.
    pub end_line: usize,
    /// Column one past the last character.
    pub end_column: usize,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The stable code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(code.as_str().starts_with("IDF") && code.as_str().len() == 7);
            let warning = code.as_str().starts_with("IDF1");
            assert_eq!(code.severity() == Severity::Warning, warning, "{code}");
        }
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("neds", ["needs", "uses", "with"]),
            Some("needs")
        );
        assert_eq!(did_you_mean("Uses", ["needs", "uses"]), Some("uses"));
        assert_eq!(did_you_mean("zzz", ["needs", "uses"]), None);
    }

    #[test]
    fn json_form_has_one_based_positions() {
        let file = SourceFile::new("w.yaml", "name: x\nsteps: 3\n");
        let report = Report {
            file,
            diagnostic: Diagnostic::new(Code::WrongType, Span::new(15, 16), "steps must be a map")
                .help("write steps as a map"),
        };
        let json = report.to_json();
        assert_eq!(
            (json.line, json.column, json.end_line, json.end_column),
            (2, 8, 2, 9)
        );
        assert_eq!(json.code, "IDF0005");
        assert_eq!(
            report.to_string(),
            "w.yaml:2:8: error IDF0005: steps must be a map"
        );
        let rendered = report.render(false);
        assert!(rendered.contains("steps: 3"), "{rendered}");
        assert!(rendered.contains("write steps as a map"), "{rendered}");
    }
}
