//! Secrecy: which values in a workflow are secret, and where they may go.
//!
//! A value is secret when it is computed from a secret (`secrets.*`) or from
//! a step output that its step type marks sensitive (an upload link, a web
//! token), whatever the computation: a filter, a slice, `~`, a format, a
//! container, a loop over its characters. The analysis goes by what an
//! expression reads, so no transformation can launder a secret: a value
//! with an expression that reads a secret anywhere is secret as a whole.
//! Reads that cannot be resolved count as secret when they might be:
//! `secrets` or `steps.<id>.outputs` read whole, `steps[...]` with a
//! computed name, and a `${%% %%}` block that names `secrets` or `steps`.
//!
//! A secret value may go only into a credential input (an input its step
//! type declares it sends but never shows), or into a run output that
//! passes it through unchanged (then reported as `[redacted]` unless the
//! run reveals it). Anywhere else (another input, a condition, whose
//! outcome shows which steps ran, a run output computed from it) is
//! [`Code::SecretFlow`].

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use idflow_core::StepMetadata;

use crate::diagnostic::{Code, Diagnostic};
use crate::expr::{Classified, ExprEngine, classify, simple_path};
use crate::model::{Expression, TextTemplate, ValueTemplate};
use crate::source::{SourceFile, Span};

/// Why a value is secret: the first secret thing it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `secrets.<name>`.
    Secret(String),
    /// `secrets` read whole (`secrets | tojson`, `secrets[name]`).
    SecretsMap,
    /// `steps.<step>.outputs.<output>`, marked sensitive by its step type.
    SensitiveOutput { step: String, output: String },
    /// `steps.<step>` or `steps.<step>.outputs` read whole, where some
    /// output is sensitive.
    AllOutputs { step: String },
    /// `steps[...]` with a computed name, when some step has sensitive
    /// outputs.
    AnyStep,
    /// `outputs.<output>` in `until`, sensitive.
    OwnOutput(String),
    /// `outputs` read whole in `until`, where some output is sensitive.
    OwnOutputs,
    /// A `${%% %%}` block that names `secrets`, or `steps` when some step
    /// has sensitive outputs.
    Block(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Secret(name) => write!(f, "the secret `{name}`"),
            Source::SecretsMap => f.write_str("the whole `secrets` map"),
            Source::SensitiveOutput { step, output } => {
                write!(f, "the sensitive output `{output}` of step `{step}`")
            }
            Source::AllOutputs { step } => write!(
                f,
                "every output of step `{step}`, its sensitive ones included"
            ),
            Source::AnyStep => f.write_str(
                "`steps[...]` with a computed name, which may be a step with sensitive outputs",
            ),
            Source::OwnOutput(output) => write!(f, "this step's sensitive output `{output}`"),
            Source::OwnOutputs => {
                f.write_str("every output of this step, its sensitive ones included")
            }
            Source::Block(name) => write!(f, "`{name}`, named in a `${{%% %%}}` block"),
        }
    }
}

/// A secret value in a template: why it is secret and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) source: Source,
    pub(crate) span: Span,
}

/// Finds secret values and checks where they go.
pub(crate) struct Secrecy<'a> {
    file: &'a SourceFile,
    engine: &'a ExprEngine,
    ids: &'a HashMap<&'a str, usize>,
    metadata: &'a [Option<&'a StepMetadata>],
    any_sensitive_step: bool,
}

impl<'a> Secrecy<'a> {
    pub(crate) fn new(
        file: &'a SourceFile,
        engine: &'a ExprEngine,
        ids: &'a HashMap<&'a str, usize>,
        metadata: &'a [Option<&'a StepMetadata>],
    ) -> Self {
        Self {
            file,
            engine,
            ids,
            metadata,
            any_sensitive_step: metadata
                .iter()
                .flatten()
                .any(|metadata| metadata.has_sensitive_outputs()),
        }
    }

    /// Why a value that reads `reference` is secret, if it is. `own` is
    /// the step type whose outputs `outputs.*` reads (in `until`).
    fn reference(&self, reference: &str, own: Option<&StepMetadata>) -> Option<Source> {
        let parts: Vec<&str> = reference.split('.').collect();
        match parts.as_slice() {
            ["secrets"] => Some(Source::SecretsMap),
            ["secrets", name, ..] => Some(Source::Secret((*name).to_owned())),
            ["steps"] => self.any_sensitive_step.then_some(Source::AnyStep),
            ["steps", step, rest @ ..] => {
                let metadata = self.ids.get(step).and_then(|&index| self.metadata[index])?;
                match rest {
                    [] | ["outputs"] => {
                        metadata
                            .has_sensitive_outputs()
                            .then(|| Source::AllOutputs {
                                step: (*step).to_owned(),
                            })
                    }
                    ["outputs", output, ..] => {
                        metadata
                            .is_sensitive_output(output)
                            .then(|| Source::SensitiveOutput {
                                step: (*step).to_owned(),
                                output: (*output).to_owned(),
                            })
                    }
                    _ => None,
                }
            }
            ["outputs"] => own
                .is_some_and(StepMetadata::has_sensitive_outputs)
                .then_some(Source::OwnOutputs),
            ["outputs", output, ..] => own
                .is_some_and(|own| own.is_sensitive_output(output))
                .then(|| Source::OwnOutput((*output).to_owned())),
            _ => None,
        }
    }

    fn first_secret(
        &self,
        references: &BTreeSet<String>,
        own: Option<&StepMetadata>,
    ) -> Option<Source> {
        references
            .iter()
            .find_map(|reference| self.reference(reference, own))
    }

    /// Why the expression `source` is secret. One that does not parse is
    /// reported elsewhere and never runs.
    fn expression_source(&self, source: &str, own: Option<&StepMetadata>) -> Option<Source> {
        let references = self.engine.references(source).ok()?;
        self.first_secret(&references, own)
    }

    /// The first secret value in an expression.
    pub(crate) fn expression(
        &self,
        expression: &Expression,
        own: Option<&StepMetadata>,
    ) -> Option<Found> {
        self.expression_source(&expression.source, own)
            .map(|source| Found {
                source,
                span: expression.span,
            })
    }

    /// The first secret value in a template.
    pub(crate) fn template(
        &self,
        template: &ValueTemplate,
        own: Option<&StepMetadata>,
    ) -> Option<Found> {
        match template {
            ValueTemplate::Literal(_) => None,
            ValueTemplate::Expression(expression) => self.expression(expression, own),
            ValueTemplate::Text(text) => self.text(text, own),
            ValueTemplate::List(items) => items.iter().find_map(|item| self.template(item, own)),
            ValueTemplate::Map(entries) => entries
                .iter()
                .find_map(|(_, value)| self.template(value, own)),
        }
    }

    fn text(&self, text: &TextTemplate, own: Option<&StepMetadata>) -> Option<Found> {
        // The parts first, to point at the one that reads a secret...
        if let Classified::Mixed(parts) = classify(&text.source) {
            for part in parts {
                let inner = &text.source[part];
                if let Some(source) = self.expression_source(inner, own) {
                    return Some(Found {
                        source,
                        span: self.locate(text.span, inner),
                    });
                }
            }
        }
        // ...then the blocks (`${%% set %%}`, `${%% for %%}`): the text is
        // rendered as one template, so they can read too. What minijinja
        // says a block reads cannot be trusted (`set secrets = secrets.K`
        // hides the read, filter blocks are not looked at), so a block that
        // names a context that can hold secrets is taken to read them.
        blocks(&text.source)
            .find_map(|block| {
                words(block).find_map(|word| match word {
                    "secrets" => Some(Source::Block("secrets")),
                    "steps" if self.any_sensitive_step => Some(Source::Block("steps")),
                    _ => None,
                })
            })
            .map(|source| Found {
                source,
                span: text.span,
            })
    }

    /// Where `inner` (a part of the text written at `span`) is in the file.
    fn locate(&self, span: Span, inner: &str) -> Span {
        let written = self.file.text.get(span.start..span.end).unwrap_or("");
        let inner = inner.trim();
        match written.find(inner) {
            Some(at) if !inner.is_empty() => span.sub(at, at + inner.len()),
            _ => span,
        }
    }

    /// Adds the JSON pointers (under `pointer`) of the secret values of
    /// `template` to `found`.
    fn secret_paths(
        &self,
        template: &ValueTemplate,
        pointer: &mut String,
        found: &mut Vec<String>,
    ) {
        match template {
            ValueTemplate::Literal(_) => {}
            ValueTemplate::Expression(_) | ValueTemplate::Text(_) => {
                if self.template(template, None).is_some() {
                    found.push(pointer.clone());
                }
            }
            ValueTemplate::List(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.nested_paths(&index.to_string(), item, pointer, found);
                }
            }
            ValueTemplate::Map(entries) => {
                for (key, value) in entries {
                    self.nested_paths(key, value, pointer, found);
                }
            }
        }
    }

    fn nested_paths(
        &self,
        key: &str,
        value: &ValueTemplate,
        pointer: &mut String,
        found: &mut Vec<String>,
    ) {
        let length = pointer.len();
        pointer.push('/');
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        self.secret_paths(value, pointer, found);
        pointer.truncate(length);
    }

    /// Checks where a step's secret values go: only into its step type's
    /// credential inputs. Returns the JSON pointers of those values in the
    /// evaluated `with`. `until` is the condition the workflow wrote, if
    /// any (a step type's default gate is its own business).
    pub(crate) fn check_step(
        &self,
        step_id: &str,
        metadata: Option<&StepMetadata>,
        condition: Option<&Expression>,
        with: &ValueTemplate,
        until: Option<&Expression>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<String> {
        if let Some(found) = condition.and_then(|condition| self.expression(condition, None)) {
            diagnostics.push(condition_diagnostic(
                step_id,
                "if",
                "whether the step runs",
                &found,
            ));
        }
        if let Some(found) = until.and_then(|until| self.expression(until, metadata)) {
            diagnostics.push(condition_diagnostic(
                step_id,
                "until",
                "how often the step runs",
                &found,
            ));
        }
        let mut secret_inputs = Vec::new();
        let entries: Vec<(&str, &ValueTemplate)> = match with {
            ValueTemplate::Map(entries) => entries
                .iter()
                .map(|(key, value)| (key.as_str(), value))
                .collect(),
            other => vec![("with", other)],
        };
        for (key, value) in entries {
            let Some(found) = self.template(value, None) else {
                continue;
            };
            if metadata.is_some_and(|metadata| metadata.is_credential_input(key)) {
                self.nested_paths(key, value, &mut String::new(), &mut secret_inputs);
            } else {
                diagnostics.push(input_diagnostic(step_id, key, metadata, &found));
            }
        }
        secret_inputs
    }

    /// Checks a run output: a secret value may be passed through unchanged
    /// (then the output is sensitive: the result is `true`), never computed
    /// on.
    pub(crate) fn check_output(
        &self,
        name: &str,
        value: &ValueTemplate,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> bool {
        let Some(found) = self.template(value, None) else {
            return false;
        };
        if let ValueTemplate::Expression(expression) = value
            && simple_path(&expression.source).is_some()
        {
            return true;
        }
        diagnostics.push(
            Diagnostic::new(
                Code::SecretFlow,
                found.span,
                format!("the output `{name}` is computed from {}, so the run result would show it", found.source),
            )
            .label("secret value")
            .help(format!(
                "an output may pass a secret or a sensitive output through unchanged, like \
                 `${{{{ steps.token.outputs.verification_url }}}}`: the result then shows \
                 `[redacted]`, and `idflow run --reveal {name}` shows the value; nothing \
                 computed from one can be an output (see \"Where secret values may go\" in docs/workflow-format.md)"
            )),
        );
        false
    }
}

/// The insides of the `${%% %%}` blocks of a text (to its end when one is
/// not closed).
fn blocks(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("${%%").map(move |(at, open)| {
        let inside = &text[at + open.len()..];
        inside.find("%%}").map_or(inside, |end| &inside[..end])
    })
}

/// The identifiers in a piece of template source.
fn words(source: &str) -> impl Iterator<Item = &str> {
    source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
}

fn condition_diagnostic(step_id: &str, key: &str, effect: &str, found: &Found) -> Diagnostic {
    Diagnostic::new(
        Code::SecretFlow,
        found.span,
        format!(
            "the `{key}` of step `{step_id}` reads {}: {effect} would tell something about it",
            found.source
        ),
    )
    .label("secret value")
    .help("decide with values that are not secret, such as `steps.<id>.status` or an output that is not sensitive (see \"Where secret values may go\" in docs/workflow-format.md)")
}

fn input_diagnostic(
    step_id: &str,
    key: &str,
    metadata: Option<&StepMetadata>,
    found: &Found,
) -> Diagnostic {
    let uses = metadata.map_or("its step type", |metadata| metadata.name.as_str());
    let help = match metadata.map(|metadata| metadata.credential_inputs.as_slice()) {
        Some(inputs) if !inputs.is_empty() => {
            let names: Vec<String> = inputs.iter().map(|input| format!("`{input}`")).collect();
            format!(
                "{uses} keeps only {} hidden: a secret may go there and nowhere else (see \"Where secret values may go\" in docs/workflow-format.md)",
                names.join(", ")
            )
        }
        _ => format!(
            "{uses} has no input that keeps a value hidden: a secret may only go into a credential input, such as `headers` of core.http (see \"Where secret values may go\" in docs/workflow-format.md)"
        ),
    };
    Diagnostic::new(
        Code::SecretFlow,
        found.span,
        format!(
            "`{key}` of step `{step_id}` is computed from {}, and {uses} would show it",
            found.source
        ),
    )
    .label("secret value")
    .help(help)
}

#[cfg(test)]
mod tests;
