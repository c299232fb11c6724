//! Expressions in a workflow: parsed, turned into templates, and their
//! references checked (unknown inputs, secrets and steps; outputs of steps
//! that do not run before the reader; outputs a step type does not have).

use std::collections::{HashMap, HashSet};

use fixedbitset::FixedBitSet;
use idflow_core::StepMetadata;

use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::expr::{Classified, ExprEngine, STATUS_FUNCTIONS, classify, condition_source};
use crate::model::{Expression, TextTemplate, ValueTemplate};
use crate::source::{SourceFile, Span};
use crate::validate::structure::Draft;
use crate::yaml::{Node, NodeKind};

/// Functions every expression may call (minijinja's built-ins).
const GLOBAL_FUNCTIONS: [&str; 3] = ["range", "dict", "namespace"];

/// Where an expression is written: decides what it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// A step's `if`.
    If,
    /// A step's `with`.
    With,
    /// A step's `until` (may read `outputs.*`).
    Until,
    /// The workflow's `outputs` (may read any step).
    WorkflowOutput,
}

/// What the whole file read, for the unused warnings.
pub(crate) struct Used {
    pub(crate) inputs: HashSet<String>,
    pub(crate) secrets: HashSet<String>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

pub(crate) struct RefChecker<'a> {
    file: &'a SourceFile,
    engine: &'a ExprEngine,
    inputs: Vec<&'a str>,
    secrets: Vec<&'a str>,
    step_ids: Vec<&'a str>,
    ids: &'a HashMap<&'a str, usize>,
    metadata: &'a [Option<&'a StepMetadata>],
    current: Option<(usize, Option<&'a FixedBitSet>)>,
    /// What runs before each step (filled as steps are visited; used to
    /// tell "runs later" from "may not have run").
    ancestors_of: Vec<Option<&'a FixedBitSet>>,
    used: Used,
}

impl<'a> RefChecker<'a> {
    pub(crate) fn new(
        file: &'a SourceFile,
        engine: &'a ExprEngine,
        draft: &'a Draft<'a>,
        ids: &'a HashMap<&'a str, usize>,
        metadata: &'a [Option<&'a StepMetadata>],
    ) -> Self {
        Self {
            file,
            engine,
            inputs: draft.inputs.iter().map(|i| i.name.value.as_str()).collect(),
            secrets: draft.secrets.iter().map(|s| s.value.as_str()).collect(),
            step_ids: draft.steps.iter().map(|s| s.id.value.as_str()).collect(),
            ids,
            metadata,
            current: None,
            ancestors_of: Vec::new(),
            used: Used {
                inputs: HashSet::new(),
                secrets: HashSet::new(),
                diagnostics: Vec::new(),
            },
        }
    }

    /// The step whose expressions come next, and what runs before it
    /// (`None` when the graph has a cycle: upstream checks are skipped).
    pub(crate) fn set_step(&mut self, index: usize, ancestors: Option<&'a FixedBitSet>) {
        self.current = Some((index, ancestors));
    }

    /// What runs before each step, for messages about steps that run later.
    pub(crate) fn set_all_ancestors(&mut self, all: Vec<Option<&'a FixedBitSet>>) {
        self.ancestors_of = all;
    }

    pub(crate) fn finish(self) -> Used {
        self.used
    }

    /// A condition: an expression with or without `${{ }}`, or a literal
    /// boolean.
    pub(crate) fn condition(&mut self, node: &Node, place: Place) -> Option<Expression> {
        let text = match &node.kind {
            NodeKind::Bool(b) => b.to_string(),
            NodeKind::String(s) => s.clone(),
            _ => return None,
        };
        if let Classified::Mixed(_) = classify(&text) {
            self.used.diagnostics.push(
                Diagnostic::new(Code::ExpressionSyntax, node.span, "a condition must be one expression, not text with several `${{ }}`")
                    .help("write the whole condition inside one `${{ }}`, or without delimiters: `a == 1 and b == 2`"),
            );
            return None;
        }
        let (source, range) = condition_source(&text);
        let span = self.locate(node, &text, range.clone());
        if source.trim().is_empty() {
            self.used.diagnostics.push(
                Diagnostic::new(Code::ExpressionSyntax, span, "the condition is empty")
                    .help("write a condition like `steps.check.outputs.status == 'success'`, or remove the key"),
            );
            return None;
        }
        self.check_expression(source, span, place)
            .then(|| Expression {
                source: source.trim().to_owned(),
                span,
            })
    }

    /// A value that may hold expressions anywhere inside.
    pub(crate) fn template(&mut self, node: &Node, place: Place) -> ValueTemplate {
        match &node.kind {
            NodeKind::String(text) => match classify(text) {
                Classified::Plain => ValueTemplate::Literal(node.to_json()),
                Classified::Single(source, range) => {
                    let span = self.locate(node, text, range);
                    self.check_expression(source, span, place);
                    ValueTemplate::Expression(Expression {
                        source: source.trim().to_owned(),
                        span,
                    })
                }
                Classified::Mixed(ranges) => {
                    for range in ranges {
                        let span = self.locate(node, text, range.clone());
                        self.check_expression(&text[range], span, place);
                    }
                    ValueTemplate::Text(TextTemplate {
                        source: text.clone(),
                        span: node.span,
                    })
                }
                Classified::Unclosed(at) => {
                    let span = self.locate(node, text, at..at + 3);
                    self.used.diagnostics.push(
                        Diagnostic::new(
                            Code::ExpressionSyntax,
                            span,
                            "`${{` is not closed by `}}`",
                        )
                        .label("opened here")
                        .help("close the expression with `}}`, like `${{ inputs.name }}`"),
                    );
                    ValueTemplate::Literal(node.to_json())
                }
            },
            NodeKind::Seq(items) => {
                let items: Vec<ValueTemplate> = items
                    .iter()
                    .map(|item| self.template(item, place))
                    .collect();
                if items.iter().all(|item| item.as_literal().is_some()) {
                    ValueTemplate::Literal(node.to_json())
                } else {
                    ValueTemplate::List(items)
                }
            }
            NodeKind::Map(entries) => {
                self.report_duplicate_keys(entries);
                let entries: Vec<(String, ValueTemplate)> = entries
                    .iter()
                    .map(|(key, value)| {
                        (
                            key.key_text().unwrap_or_default().into_owned(),
                            self.template(value, place),
                        )
                    })
                    .collect();
                if entries
                    .iter()
                    .all(|(_, value)| value.as_literal().is_some())
                {
                    ValueTemplate::Literal(node.to_json())
                } else {
                    ValueTemplate::Map(entries)
                }
            }
            _ => ValueTemplate::Literal(node.to_json()),
        }
    }

    fn report_duplicate_keys(&mut self, entries: &[(Node, Node)]) {
        let mut seen: HashMap<std::borrow::Cow<'_, str>, Span> =
            HashMap::with_capacity(entries.len());
        for (key, _) in entries {
            let text = key.key_text().unwrap_or_default();
            if let Some(first) = seen.get(&text) {
                self.used.diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("`{text}` appears twice in this map"),
                    )
                    .label("second time")
                    .related(*first, "first time")
                    .help("keep one of them: only one value can be used"),
                );
            } else {
                seen.insert(text, key.span);
            }
        }
    }

    /// The file span of `range` of a string node's value.
    fn locate(&self, node: &Node, text: &str, range: std::ops::Range<usize>) -> Span {
        let written = self
            .file
            .text
            .get(node.span.start..node.span.end)
            .unwrap_or("");
        let wanted = text.get(range.clone()).unwrap_or("");
        let trimmed = wanted.trim();
        let offset_in_wanted = wanted.find(trimmed).unwrap_or(0);
        if !trimmed.is_empty()
            && let Some(at) = written.find(trimmed)
        {
            let start = node.span.start + at;
            return Span::new(start, start + trimmed.len());
        }
        let _ = offset_in_wanted;
        node.span
    }

    /// Parses and checks one expression; false when it has an error.
    fn check_expression(&mut self, source: &str, span: Span, place: Place) -> bool {
        if let Err(message) = crate::expr::check_complexity(source) {
            self.mark_read_by_broken(source);
            self.used.diagnostics.push(
                Diagnostic::new(Code::ExpressionTooComplex, span, message)
                    .label("this expression")
                    .help("work out parts of it in earlier steps (`core.set`) and combine their outputs, or test membership with `in ['a', 'b']` instead of chains of `or`"),
            );
            return false;
        }
        let references = match self.engine.references(source) {
            Ok(references) => references,
            Err(error) => {
                self.mark_read_by_broken(source);
                self.used.diagnostics.push(
                    Diagnostic::new(Code::ExpressionSyntax, span, format!("the expression `{}` does not parse: {}", source.trim(), error.message))
                        .label("here")
                        .help("expressions read like `inputs.name`, `steps.enroll.outputs.status == 'success'`; see the Expressions section of docs/workflow-format.md"),
                );
                return false;
            }
        };
        let before = self.used.diagnostics.len();
        for reference in &references {
            self.check_reference(reference, source, span, place);
        }
        self.used.diagnostics.len() == before
    }

    /// What a broken expression seems to read is not reported as unused on
    /// top of its error.
    fn mark_read_by_broken(&mut self, source: &str) {
        for (prefix, used) in [
            ("inputs.", &mut self.used.inputs),
            ("secrets.", &mut self.used.secrets),
        ] {
            for (at, _) in source.match_indices(prefix) {
                let name: String = source[at + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                used.insert(name);
            }
        }
    }

    fn reference_span(source: &str, span: Span, reference: &str) -> Span {
        // Point at the reference inside the expression when it is written
        // as a dotted path (a whole path: `steps.check` is not the start of
        // `steps.check_doc`).
        let source = source.trim();
        if span.len() < source.len() {
            return span;
        }
        let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        source
            .match_indices(reference)
            .find(|(at, _)| {
                let before_ok = source[..*at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !is_ident(c) && c != '.');
                let after_ok = source[at + reference.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !is_ident(c));
                before_ok && after_ok
            })
            .map_or(span, |(at, _)| span.sub(at, at + reference.len()))
    }

    fn check_reference(&mut self, reference: &str, source: &str, span: Span, place: Place) {
        let parts: Vec<&str> = reference.split('.').collect();
        let head = parts[0];
        let whole_span = Self::reference_span(source, span, reference);
        let span = Self::reference_span(source, span, &parts[..parts.len().min(2)].join("."));
        let push = |this: &mut Self, code: Code, message: String, help: String| {
            this.used
                .diagnostics
                .push(Diagnostic::new(code, span, message).help(help));
        };
        match head {
            "inputs" => {
                let Some(name) = parts.get(1) else {
                    self.used
                        .inputs
                        .extend(self.inputs.iter().map(|s| (*s).to_owned()));
                    return;
                };
                if self.inputs.contains(name) {
                    self.used.inputs.insert((*name).to_owned());
                } else {
                    let help = suggest(
                        name,
                        &self.inputs,
                        "declare it under `inputs:` at the top of the file",
                    );
                    push(
                        self,
                        Code::UnknownReference,
                        format!("there is no input `{name}`"),
                        help,
                    );
                }
            }
            "secrets" => {
                let Some(name) = parts.get(1) else {
                    self.used
                        .secrets
                        .extend(self.secrets.iter().map(|s| (*s).to_owned()));
                    return;
                };
                if self.secrets.contains(name) {
                    self.used.secrets.insert((*name).to_owned());
                } else {
                    let help = suggest(
                        name,
                        &self.secrets,
                        "list it under `secrets:` at the top of the file",
                    );
                    push(
                        self,
                        Code::UnknownReference,
                        format!("there is no secret `{name}`"),
                        help,
                    );
                }
            }
            "steps" => self.check_step_reference(&parts, span, whole_span, place),
            name if STATUS_FUNCTIONS.contains(&name) => {
                if place != Place::If {
                    push(
                        self,
                        Code::UnknownReference,
                        format!("`{name}()` can only be used in a step's `if`"),
                        "status functions decide whether a step runs; elsewhere, read `steps.<id>.status`".to_owned(),
                    );
                }
            }
            name if GLOBAL_FUNCTIONS.contains(&name) => {}
            "attempt" if matches!(place, Place::With | Place::Until) => {}
            "run" => {
                if parts.get(1).is_some_and(|p| *p != "id") {
                    push(
                        self,
                        Code::UnknownReference,
                        format!("`run` has no `{}`", parts[1]),
                        "the run context has `run.id`".to_owned(),
                    );
                }
            }
            "outputs" if place == Place::Until => {
                if let (Some(name), Some((index, _))) = (parts.get(1), self.current)
                    && let Some(metadata) = self.metadata[index]
                    && !metadata.has_output(name)
                {
                    let names: Vec<&str> =
                        metadata.outputs.iter().map(|o| o.name.as_str()).collect();
                    let help = suggest(
                        name,
                        &names,
                        &format!("{} outputs: {}", metadata.name, names.join(", ")),
                    );
                    push(
                        self,
                        Code::UnknownOutput,
                        format!("step type {} has no output `{name}`", metadata.name),
                        help,
                    );
                }
            }
            _ => {
                let mut allowed = vec!["inputs", "secrets", "steps", "run"];
                if matches!(place, Place::With | Place::Until) {
                    allowed.push("attempt");
                }
                if place == Place::Until {
                    allowed.push("outputs");
                }
                let (message, help) = match head {
                    "outputs" => (
                        "`outputs` (a step's own outputs) can only be read in `until`".to_owned(),
                        "elsewhere, read a step's outputs as `steps.<id>.outputs.<name>`".to_owned(),
                    ),
                    "attempt" => (
                        "`attempt` (the number of the current attempt) is only known in a step's `with` and `until`".to_owned(),
                        "read it in `with` or `until`, or remove it".to_owned(),
                    ),
                    "null" | "nil" | "None" => (
                        format!("`{head}` is not a value in expressions"),
                        "write `none` for no value, e.g. `steps.a.outputs.x is none`".to_owned(),
                    ),
                    _ => (
                        format!("`{head}` is not something an expression can read"),
                        match did_you_mean(head, allowed.iter().copied()) {
                            Some(close) => format!("did you mean `{close}`?"),
                            None => format!(
                                "expressions here can read {}; text needs quotes: `'{head}'`",
                                allowed.join(", ")
                            ),
                        },
                    ),
                };
                push(self, Code::UnknownReference, message, help);
            }
        }
    }

    fn check_step_reference(&mut self, parts: &[&str], span: Span, whole_span: Span, place: Place) {
        let Some(name) = parts.get(1) else { return };
        let Some(&target) = self.ids.get(name) else {
            self.used.diagnostics.push(
                Diagnostic::new(
                    Code::UnknownReference,
                    span,
                    format!("there is no step `{name}`"),
                )
                .help(suggest(
                    name,
                    &self.step_ids,
                    "expressions read `steps.<id>.outputs.<name>` of steps in this file",
                )),
            );
            return;
        };
        if place != Place::WorkflowOutput
            && let Some((current, ancestors)) = self.current
        {
            if target == current {
                self.used.diagnostics.push(
                        Diagnostic::new(Code::NotUpstream, span, format!("step `{name}` reads its own outputs"))
                            .help(if place == Place::Until {
                                "in `until`, read this step's outputs as `outputs.<name>`".to_owned()
                            } else {
                                "a step's outputs exist only after it ran; use them in a later step, or in `until` as `outputs.<name>`".to_owned()
                            }),
                    );
                return;
            }
            if let Some(ancestors) = ancestors
                && !ancestors.contains(target)
            {
                let current_id = self.step_ids[current];
                let downstream = self
                    .ancestors_of
                    .get(target)
                    .is_some_and(|a| a.is_some_and(|a| a.contains(current)));
                let diagnostic = if downstream {
                    Diagnostic::new(
                                Code::NotUpstream,
                                span,
                                format!("step `{current_id}` reads step `{name}`, which runs after it"),
                            )
                            .help(format!("`{name}` needs `{current_id}`, so its outputs do not exist yet; read them in a step that needs `{name}`, or in the workflow's `outputs`"))
                } else {
                    Diagnostic::new(
                        Code::NotUpstream,
                        span,
                        format!(
                            "step `{current_id}` reads step `{name}`, which may not have run yet"
                        ),
                    )
                    .help(format!(
                        "add `{name}` to the `needs` of step `{current_id}` so that it runs first"
                    ))
                };
                self.used.diagnostics.push(diagnostic);
                return;
            }
        }
        match parts.get(2) {
            None | Some(&"status" | &"error_code") => {}
            Some(&"outputs") => {
                if let (Some(output), Some(metadata)) = (parts.get(3), self.metadata[target])
                    && !metadata.has_output(output)
                {
                    let names: Vec<&str> =
                        metadata.outputs.iter().map(|o| o.name.as_str()).collect();
                    let fallback = if names.is_empty() {
                        format!("{} has no outputs", metadata.name)
                    } else {
                        format!("{} outputs: {}", metadata.name, names.join(", "))
                    };
                    self.used.diagnostics.push(
                        Diagnostic::new(
                            Code::UnknownOutput,
                            whole_span,
                            format!("step `{name}` ({}) has no output `{output}`", metadata.name),
                        )
                        .help(suggest(output, &names, &fallback)),
                    );
                }
            }
            Some(other) => {
                self.used.diagnostics.push(
                    Diagnostic::new(
                        Code::UnknownReference,
                        span,
                        format!("`steps.{name}` has no `{other}`"),
                    )
                    .help(format!(
                        "a step has `steps.{name}.outputs.<name>`, `steps.{name}.status` and `steps.{name}.error_code`"
                    )),
                );
            }
        }
    }
}

fn suggest(name: &str, candidates: &[&str], otherwise: &str) -> String {
    match did_you_mean(name, candidates.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => otherwise.to_owned(),
    }
}
