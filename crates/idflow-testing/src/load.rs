//! Reading a `*.test.yaml` file: text in, a [`TestFile`] or located
//! diagnostics out, with the same YAML loader and the same reading helpers
//! as workflow files (so a misspelt key gets the same `IDF0003` and the
//! same "did you mean").
//!
//! Two stages, as for workflows: [`read`] checks the file's shape alone;
//! [`check`] checks it against the validated workflow and the step types
//! (mocks and expectations name steps, step types and outputs that exist,
//! mocked outputs are declared by the step type, inputs and secrets fit the
//! workflow's declarations).

use std::path::Path;
use std::sync::Arc;

use idflow_core::{Outputs, StepError, StepRegistry};
use idflow_engine::diagnostic::{Code, Diagnostic, did_you_mean};
use idflow_engine::inputs::{InputError, resolve};
use idflow_engine::model::Workflow;
use idflow_engine::run::{RunStatus, StepState};
use idflow_engine::source::{SourceFile, Span, Spanned};
use idflow_engine::validate::reader::{Fields, Reader, list};
use idflow_engine::yaml::{self, Node, NodeKind};

use crate::case::{
    ANSWER_KEYS, Answer, CASE_KEYS, Case, DEFAULT_ERROR_CODE, ERROR_EXPECT_KEYS, ERROR_KEYS,
    EXPECT_KEYS, ErrorExpect, Expect, FILE_KEYS, Mock, RUN_STATUSES, STEP_EXPECT_KEYS,
    STEP_STATUSES, StepExpect, TestFile,
};

/// Reads a test file's shape. `dir` is the folder the file is in (the
/// workflow path is relative to it). The file is returned only when it
/// has no error.
pub fn read(source: &Arc<SourceFile>, dir: &Path) -> Result<TestFile, Vec<Diagnostic>> {
    let root = yaml::parse(source).map_err(|diagnostic| vec![diagnostic])?;
    let mut reader = Reader::default();
    let file = read_file(&mut reader, source, &root, dir);
    let diagnostics = reader.diagnostics;
    match file {
        Some(file) if !diagnostics.has_errors() => Ok(file),
        _ => Err(diagnostics.into_sorted()),
    }
}

fn read_file(
    reader: &mut Reader,
    source: &Arc<SourceFile>,
    root: &Node,
    dir: &Path,
) -> Option<TestFile> {
    if matches!(root.kind, NodeKind::Null) {
        reader.push(
            Diagnostic::new(Code::MissingKey, root.span, "the test file is empty").help(
                "a test file needs `workflow:` (the workflow's path) and `cases:`; see docs/workflow-tests.md",
            ),
        );
        return None;
    }
    let fields = reader.fields(root, "the test file", root.span, FILE_KEYS)?;
    let workflow = reader
        .required(
            &fields,
            "workflow",
            "the test file",
            "workflow: ../workflows/face-enrollment.yaml",
        )
        .and_then(|node| reader.string(node, "`workflow`"));
    let cases_node = reader.required(
        &fields,
        "cases",
        "the test file",
        "cases: {enrolled: {expect: {status: succeeded}}}",
    );
    let mut cases = Vec::new();
    if let Some(node) = cases_node
        && let Some(entries) = reader.map_entries(node, "`cases`")
    {
        if entries.is_empty() {
            reader.push(
                Diagnostic::new(Code::MissingKey, node.span, "`cases` has no case")
                    .help("add a case: a name, then its inputs, mocks and expectations"),
            );
        }
        for (name, value) in entries {
            if let Some(case) = read_case(reader, name, value) {
                cases.push(case);
            }
        }
    }
    let workflow = workflow?;
    Some(TestFile {
        source: Arc::clone(source),
        dir: dir.to_path_buf(),
        workflow_path: dir.join(&workflow.value),
        workflow_span: workflow.span,
        cases,
    })
}

fn read_case(reader: &mut Reader, name: Spanned<String>, node: &Node) -> Option<Case> {
    let what = format!("case `{}`", name.value);
    let fields = reader.fields(node, &what, name.span, CASE_KEYS)?;
    let description = fields
        .get("description")
        .and_then(|node| reader.string(node, "`description`"))
        .map(|text| text.value);
    let inputs = fields
        .get("inputs")
        .and_then(|node| reader.map_entries(node, "`inputs`"))
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name, value.to_json()))
        .collect();
    let secrets = fields
        .get("secrets")
        .and_then(|node| reader.map_entries(node, "`secrets`"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| {
            let text = reader.string(value, &format!("the secret `{}`", name.value))?;
            Some((name, text.value))
        })
        .collect();
    let mocks = fields
        .get("mocks")
        .and_then(|node| reader.map_entries(node, "`mocks`"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(target, value)| read_mock(reader, target, value))
        .collect();
    let expect = match fields.get("expect") {
        Some(node) => read_expect(reader, node, fields.key_span("expect").unwrap_or(name.span)),
        None => Expect::default(),
    };
    let snapshot = fields
        .get("snapshot")
        .and_then(|node| reader.boolean(node, "`snapshot`"))
        .unwrap_or(false);
    Some(Case {
        inputs_span: fields.key_span("inputs").unwrap_or(name.span),
        name,
        description,
        inputs,
        secrets,
        mocks,
        expect,
        snapshot,
    })
}

fn read_mock(reader: &mut Reader, target: Spanned<String>, node: &Node) -> Option<Mock> {
    let what = format!("the mock of `{}`", target.value);
    let answers: Vec<Answer> = match &node.kind {
        NodeKind::Seq(items) => {
            if items.is_empty() {
                reader.push(
                    Diagnostic::new(Code::MissingKey, node.span, format!("{what} has no answer"))
                        .help("give one answer per attempt: `- outputs: {...}` or `- error: {message: ...}`"),
                );
            }
            items
                .iter()
                .filter_map(|item| read_answer(reader, item, &what))
                .collect()
        }
        _ => read_answer(reader, node, &what).into_iter().collect(),
    };
    (!answers.is_empty()).then_some(Mock { target, answers })
}

fn read_answer(reader: &mut Reader, node: &Node, what: &str) -> Option<Answer> {
    let fields = reader.fields(
        node,
        &format!("an answer of {what}"),
        node.span,
        ANSWER_KEYS,
    )?;
    let delay = fields
        .get("delay")
        .and_then(|node| reader.duration(node, "`delay`"))
        .unwrap_or_default();
    let result = match (fields.get("outputs"), fields.get("error")) {
        (Some(_), Some(error)) => {
            reader.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    fields.key_span("error").unwrap_or(error.span),
                    format!("an answer of {what} has both `outputs` and `error`"),
                )
                .help("an attempt either returns outputs or fails: keep one of them (a list gives one answer per attempt)"),
            );
            return None;
        }
        (None, None) => {
            reader.push(
                Diagnostic::new(
                    Code::MissingKey,
                    node.span,
                    format!("an answer of {what} has neither `outputs` nor `error`"),
                )
                .help("write `outputs: {name: value}` (use `outputs: {}` for none) or `error: {message: ...}`"),
            );
            return None;
        }
        (Some(outputs), None) => {
            let entries = reader.map_entries(outputs, "`outputs`")?;
            let mut values = Outputs::new();
            let mut spans = Vec::with_capacity(entries.len());
            for (name, value) in entries {
                values.insert(name.value.clone(), value.to_json());
                spans.push(name);
            }
            return Some(Answer {
                result: Ok(values),
                delay,
                span: node.span,
                output_spans: spans,
            });
        }
        (None, Some(error)) => read_error(reader, error)?,
    };
    Some(Answer {
        result: Err(result),
        delay,
        span: node.span,
        output_spans: Vec::new(),
    })
}

fn read_error(reader: &mut Reader, node: &Node) -> Option<StepError> {
    let fields = reader.fields(node, "a mocked `error`", node.span, ERROR_KEYS)?;
    let message = reader
        .required(
            &fields,
            "message",
            "a mocked `error`",
            "message: the provider is down",
        )
        .and_then(|node| reader.string(node, "`message`"))?;
    let code = fields
        .get("code")
        .and_then(|node| reader.string(node, "`code`"))
        .map_or_else(|| DEFAULT_ERROR_CODE.to_owned(), |code| code.value);
    let retryable = fields
        .get("retryable")
        .and_then(|node| reader.boolean(node, "`retryable`"))
        .unwrap_or(false);
    let mut error = if retryable {
        StepError::retryable(code, message.value)
    } else {
        StepError::terminal(code, message.value)
    };
    if let Some(wait) = fields
        .get("retry_after")
        .and_then(|node| reader.duration(node, "`retry_after`"))
    {
        error = error.with_retry_after(wait);
    }
    Some(error)
}

fn read_expect(reader: &mut Reader, node: &Node, anchor: Span) -> Expect {
    let Some(fields) = reader.fields(node, "`expect`", anchor, EXPECT_KEYS) else {
        return Expect::default();
    };
    let status = fields
        .get("status")
        .and_then(|node| reader.choice(node, "the expected run `status`", RUN_STATUSES))
        .map(|status| match status {
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => RunStatus::Succeeded,
        });
    let outputs = read_values(reader, &fields, "outputs", "the expected `outputs`");
    let error = fields
        .get("error")
        .and_then(|node| read_error_expect(reader, node));
    let steps = fields
        .get("steps")
        .and_then(|node| reader.map_entries(node, "the expected `steps`"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(id, node)| {
            let expect = read_step_expect(reader, &id, node)?;
            Some((id, expect))
        })
        .collect();
    Expect {
        status,
        outputs,
        error,
        steps,
    }
}

fn read_values(
    reader: &mut Reader,
    fields: &Fields<'_>,
    key: &str,
    what: &str,
) -> Vec<(Spanned<String>, serde_json::Value)> {
    fields
        .get(key)
        .and_then(|node| reader.map_entries(node, what))
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name, value.to_json()))
        .collect()
}

fn step_state(reader: &mut Reader, node: &Node, what: &str) -> Option<StepState> {
    Some(match reader.choice(node, what, STEP_STATUSES)? {
        "failed" => StepState::Failed,
        "skipped" => StepState::Skipped,
        "cancelled" => StepState::Cancelled,
        _ => StepState::Succeeded,
    })
}

fn read_step_expect(reader: &mut Reader, id: &Spanned<String>, node: &Node) -> Option<StepExpect> {
    let what = format!("the expected status of step `{}`", id.value);
    if let NodeKind::String(_) = node.kind {
        return Some(StepExpect {
            status: Some(step_state(reader, node, &what)?),
            ..StepExpect::default()
        });
    }
    let fields = reader.fields(
        node,
        &format!("the expectation of step `{}`", id.value),
        id.span,
        STEP_EXPECT_KEYS,
    )?;
    let status = fields
        .get("status")
        .and_then(|node| step_state(reader, node, &what));
    let attempts = fields
        .get("attempts")
        .and_then(|node| reader.integer(node, "`attempts`"))
        .and_then(|count| {
            let fitted = u32::try_from(count).ok();
            if fitted.is_none() {
                reader.push(
                    Diagnostic::new(
                        Code::OutOfRange,
                        fields.key_span("attempts").unwrap_or(id.span),
                        format!("`attempts` cannot be {count}"),
                    )
                    .help("write how many attempts the step started: 0 or more"),
                );
            }
            fitted
        });
    Some(StepExpect {
        status,
        attempts,
        outputs: read_values(reader, &fields, "outputs", "the expected step `outputs`"),
        error: fields
            .get("error")
            .and_then(|node| read_error_expect(reader, node)),
    })
}

fn read_error_expect(reader: &mut Reader, node: &Node) -> Option<ErrorExpect> {
    if let NodeKind::String(code) = &node.kind {
        return Some(ErrorExpect {
            code: Some(code.clone()),
            message: None,
        });
    }
    let fields = reader.fields(node, "the expected `error`", node.span, ERROR_EXPECT_KEYS)?;
    Some(ErrorExpect {
        code: fields
            .get("code")
            .and_then(|node| reader.string(node, "`code`"))
            .map(|code| code.value),
        message: fields
            .get("message")
            .and_then(|node| reader.string(node, "`message`"))
            .map(|message| message.value),
    })
}

/// Checks a test file against its (valid) workflow and the step types:
/// every problem, located in the test file.
pub fn check(file: &TestFile, workflow: &Workflow, registry: &StepRegistry) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let dir = file.dir.as_path();
    let ids: Vec<&str> = workflow.steps.iter().map(|step| step.id.as_str()).collect();
    for case in &file.cases {
        for mock in &case.mocks {
            check_mock(mock, workflow, registry, &ids, &mut diagnostics);
        }
        for (name, _) in &case.expect.outputs {
            if !workflow
                .outputs
                .iter()
                .any(|output| output.name == name.value)
            {
                let names: Vec<&str> = workflow.outputs.iter().map(|o| o.name.as_str()).collect();
                diagnostics.push(unknown(
                    name,
                    &format!("the workflow has no output `{}`", name.value),
                    &names,
                    "the workflow's outputs",
                ));
            }
        }
        for (id, expect) in &case.expect.steps {
            let Some(step) = workflow.step(&id.value) else {
                diagnostics.push(unknown(
                    id,
                    &format!("the workflow has no step `{}`", id.value),
                    &ids,
                    "its steps",
                ));
                continue;
            };
            if let Some(metadata) = registry.metadata(&step.uses) {
                for (name, _) in &expect.outputs {
                    if !metadata.has_output(&name.value) {
                        let declared: Vec<&str> =
                            metadata.outputs.iter().map(|o| o.name.as_str()).collect();
                        diagnostics.push(unknown(
                            name,
                            &format!(
                                "step `{}` ({}) has no output `{}`",
                                step.id, step.uses, name.value
                            ),
                            &declared,
                            &format!("the outputs of {}", step.uses),
                        ));
                    }
                }
            }
        }
        check_inputs(case, workflow, dir, &mut diagnostics);
    }
    diagnostics
}

fn unknown(name: &Spanned<String>, message: &str, candidates: &[&str], what: &str) -> Diagnostic {
    let help = match did_you_mean(&name.value, candidates.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None if candidates.is_empty() => format!("{what}: none"),
        None => format!("{what}: {}", list(candidates).replace(" or ", " and ")),
    };
    Diagnostic::new(Code::TestUnknownName, name.span, message)
        .label("not in the workflow")
        .help(help)
}

fn check_mock(
    mock: &Mock,
    workflow: &Workflow,
    registry: &StepRegistry,
    ids: &[&str],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let uses = if mock.is_by_type() {
        let used: Vec<&str> = workflow
            .steps
            .iter()
            .map(|step| step.uses.as_str())
            .collect();
        if !used.contains(&mock.target.value.as_str()) {
            diagnostics.push(unknown(
                &mock.target,
                &format!("no step of the workflow uses `{}`", mock.target.value),
                &used,
                "the step types it uses",
            ));
            return;
        }
        mock.target.value.as_str()
    } else {
        let Some(step) = workflow.step(&mock.target.value) else {
            diagnostics.push(unknown(
                &mock.target,
                &format!(
                    "the mock names step `{}`, which the workflow does not have",
                    mock.target.value
                ),
                ids,
                "its steps",
            ));
            return;
        };
        step.uses.as_str()
    };
    let Some(metadata) = registry.metadata(uses) else {
        return;
    };
    let declared: Vec<&str> = metadata.outputs.iter().map(|o| o.name.as_str()).collect();
    for answer in &mock.answers {
        for name in &answer.output_spans {
            if !metadata.has_output(&name.value) {
                let help = match did_you_mean(&name.value, declared.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!(
                        "{uses} declares {}",
                        if declared.is_empty() {
                            "no outputs".to_owned()
                        } else {
                            list(&declared).replace(" or ", " and ")
                        }
                    ),
                };
                diagnostics.push(
                    Diagnostic::new(
                        Code::TestUndeclaredOutput,
                        name.span,
                        format!(
                            "the mock of `{}` answers with the output `{}`, which {uses} does not declare",
                            mock.target.value, name.value
                        ),
                    )
                    .label("not an output of the step type")
                    .help(help),
                );
            }
        }
    }
}

fn check_inputs(case: &Case, workflow: &Workflow, dir: &Path, diagnostics: &mut Vec<Diagnostic>) {
    let given: serde_json::Map<String, serde_json::Value> = case
        .inputs
        .iter()
        .map(|(name, value)| (name.value.clone(), value.clone()))
        .collect();
    let span_of = |name: &str| {
        case.inputs
            .iter()
            .find(|(given, _)| given.value == name)
            .map_or(case.inputs_span, |(given, _)| given.span)
    };
    if let Err(errors) = resolve(workflow, &given, dir) {
        for error in errors {
            let span = match &error {
                InputError::Unknown { name, .. }
                | InputError::WrongType { name, .. }
                | InputError::Unreadable { name, .. } => span_of(name),
                InputError::Missing { .. } => case.inputs_span,
            };
            let help = match &error {
                InputError::Unreadable { .. } => {
                    "file inputs are paths relative to the test file; the file must exist (its content matters only to steps that run for real)"
                }
                InputError::Missing { .. } => "give it under the case's `inputs:`",
                InputError::Unknown { .. } | InputError::WrongType { .. } => {
                    "see the workflow's `inputs:` for the names and types"
                }
            };
            diagnostics.push(
                Diagnostic::new(
                    Code::TestInput,
                    span,
                    format!("case `{}`: {error}", case.name.value),
                )
                .help(help),
            );
        }
    }
    for secret in &workflow.secrets {
        if !case.secrets.iter().any(|(name, _)| &name.value == secret) {
            diagnostics.push(
                Diagnostic::new(
                    Code::TestInput,
                    case.name.span,
                    format!(
                        "case `{}` gives no value for the secret `{secret}`, which the workflow reads",
                        case.name.value
                    ),
                )
                .help(format!("add `secrets: {{{secret}: a-test-value}}` to the case (test values only: never a real credential)")),
            );
        }
    }
    for (name, _) in &case.secrets {
        if !workflow.secrets.contains(&name.value) {
            let declared: Vec<&str> = workflow.secrets.iter().map(String::as_str).collect();
            let mut diagnostic = unknown(
                name,
                &format!("the workflow has no secret `{}`", name.value),
                &declared,
                "its secrets",
            );
            diagnostic.code = Code::TestInput;
            diagnostics.push(diagnostic);
        }
    }
}

/// A step with no mock whose type may not run for real in a test.
pub(crate) fn missing_mock(
    case: &Case,
    step_id: &str,
    uses: &str,
    registry: &StepRegistry,
) -> Diagnostic {
    let example = registry
        .metadata(uses)
        .map(|metadata| {
            metadata
                .outputs
                .iter()
                .map(|output| format!("{}: ...", output.name))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Diagnostic::new(
        Code::TestMissingMock,
        case.name.span,
        format!(
            "case `{}` runs step `{step_id}` ({uses}), which has no mock; {uses} is not a pure step that may run for real in a test",
            case.name.value
        ),
    )
    .label("in this case")
    .help(format!(
        "add `mocks: {{{step_id}: {{outputs: {{{example}}}}}}}` to the case (or mock every {uses} step with `{uses}:`); only {} run for real",
        list(crate::simulate::PURE_STEPS).replace(" or ", " and ")
    ))
}
