//! The shape of a workflow file: keys, types, names, durations and
//! policies. Produces a draft whose every part knows its span; the graph
//! and the expressions are checked afterwards.

use std::time::Duration;

use crate::diagnostic::{Code, Diagnostic};
use crate::model::{Backoff, InputType, Jitter, RetryPolicy};
use crate::source::{Span, Spanned};
use crate::validate::reader::{Reader, is_identifier, to_identifier};
use crate::yaml::{Node, NodeKind};

/// The keys of the top level.
pub(crate) const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "description",
    "inputs",
    "secrets",
    "steps",
    "outputs",
    "timeout",
];
/// The keys of a step.
pub(crate) const STEP_KEYS: &[&str] = &[
    "uses",
    "needs",
    "if",
    "with",
    "retry",
    "timeout",
    "until",
    "poll",
    "continue_on_error",
    "description",
];
/// The keys of an input declaration.
pub(crate) const INPUT_KEYS: &[&str] = &["type", "required", "default", "description"];
/// The keys of `retry`.
pub(crate) const RETRY_KEYS: &[&str] = &["attempts", "backoff", "initial", "max", "jitter"];
/// The keys of `poll`.
pub(crate) const POLL_KEYS: &[&str] = &["interval", "backoff", "max_interval", "timeout"];
/// The most steps a workflow may have (validation keeps, per step, the set
/// of steps before it: memory grows with the square of this).
pub(crate) const MAX_STEPS: usize = 20_000;
/// The input types.
pub(crate) const INPUT_TYPES: &[&str] = &["string", "number", "boolean", "file", "object"];

/// A workflow file read for shape, not yet for meaning.
#[derive(Debug, Default)]
pub(crate) struct Draft<'a> {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) description: Option<String>,
    pub(crate) inputs: Vec<DraftInput>,
    pub(crate) secrets: Vec<Spanned<String>>,
    pub(crate) steps: Vec<DraftStep<'a>>,
    pub(crate) outputs: Vec<(Spanned<String>, &'a Node)>,
    pub(crate) timeout: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct DraftInput {
    pub(crate) name: Spanned<String>,
    pub(crate) kind: InputType,
    pub(crate) required: bool,
    pub(crate) default: Option<serde_json::Value>,
    pub(crate) description: Option<String>,
}

#[derive(Debug)]
pub(crate) struct DraftStep<'a> {
    pub(crate) id: Spanned<String>,
    pub(crate) uses: Option<Spanned<String>>,
    pub(crate) needs: Vec<Spanned<String>>,
    pub(crate) condition: Option<&'a Node>,
    pub(crate) with: Option<&'a Node>,
    pub(crate) with_key: Option<Span>,
    /// `with` was written but is not a map (already reported).
    pub(crate) with_invalid: bool,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Option<Duration>,
    pub(crate) until: Option<&'a Node>,
    pub(crate) poll: Option<PollOverride>,
    pub(crate) continue_on_error: bool,
    pub(crate) description: Option<String>,
}

/// What a step's `poll` sets; unset fields come from the step type's
/// default gate or the engine's default.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PollOverride {
    pub(crate) key: Span,
    pub(crate) interval: Option<Duration>,
    pub(crate) backoff_factor: Option<f64>,
    pub(crate) max_interval: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
}

/// Reads the whole file's shape.
pub(crate) fn read_workflow<'a>(reader: &mut Reader, root: &'a Node) -> Draft<'a> {
    let mut draft = Draft::default();
    let anchor = root.span;
    if matches!(root.kind, NodeKind::Null) {
        reader.push(
            Diagnostic::new(Code::MissingKey, anchor, "the file is empty").help(
                "a workflow needs at least `name:` and `steps:`; see docs/workflow-format.md",
            ),
        );
        return draft;
    }
    let Some(fields) = reader.fields(root, "the workflow", anchor, WORKFLOW_KEYS) else {
        return draft;
    };
    if let Some(node) = reader.required(&fields, "name", "the workflow", "name: face-enrollment") {
        draft.name = read_workflow_name(reader, node);
    }
    draft.description = fields
        .get("description")
        .and_then(|n| reader.string(n, "`description`"))
        .map(|s| s.value);
    if let Some(node) = fields.get("inputs") {
        draft.inputs = read_inputs(reader, node);
    }
    if let Some(node) = fields.get("secrets") {
        draft.secrets = read_secrets(reader, node);
    }
    if let Some(node) = reader.required(
        &fields,
        "steps",
        "the workflow",
        "steps: { hello: { uses: core.log, with: { message: hi } } }",
    ) {
        let key = fields.key_span("steps").unwrap_or(anchor);
        draft.steps = read_steps(reader, node, key);
    }
    if let Some(node) = fields.get("outputs") {
        draft.outputs = read_outputs(reader, node);
    }
    if let Some(node) = fields.get("timeout") {
        draft.timeout = positive_duration(reader, node, "the workflow's `timeout`");
    }
    draft
}

fn read_workflow_name(reader: &mut Reader, node: &Node) -> Option<Spanned<String>> {
    let name = reader.string(node, "`name`")?;
    let valid = !name.value.is_empty()
        && name
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        let suggestion: String = name
            .value
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        reader.push(
            Diagnostic::new(
                Code::InvalidValue,
                node.span,
                format!(
                    "the workflow name `{}` may only use lowercase letters, digits and `-`",
                    name.value
                ),
            )
            .help(format!(
                "for example `name: {}`",
                if suggestion.is_empty() {
                    "my-workflow"
                } else {
                    &suggestion
                }
            )),
        );
        return None;
    }
    Some(name)
}

fn check_identifier(reader: &mut Reader, name: &Spanned<String>, what: &str) -> bool {
    if is_identifier(&name.value) {
        return true;
    }
    reader.push(
        Diagnostic::new(
            Code::InvalidValue,
            name.span,
            format!("the {what} `{}` is not a valid name", name.value),
        )
        .help(if what == "output" {
            format!(
                "names use letters, digits and `_` only, and do not start with a digit: try `{}`",
                to_identifier(&name.value)
            )
        } else {
            format!(
                "names are read in expressions (like `{what}s.{}`), so they use letters, digits and `_` only, and do not start with a digit: try `{}`",
                to_identifier(&name.value),
                to_identifier(&name.value)
            )
        }),
    );
    false
}

fn read_inputs(reader: &mut Reader, node: &Node) -> Vec<DraftInput> {
    let Some(entries) = reader.map_entries(node, "`inputs`") else {
        return Vec::new();
    };
    let mut inputs = Vec::new();
    for (name, decl) in entries {
        check_identifier(reader, &name, "input");
        let what = format!("input `{}`", name.value);
        let Some(fields) = reader.fields(decl, &what, name.span, INPUT_KEYS) else {
            continue;
        };
        let kind = match fields.get("type") {
            // An unknown type is reported; the input is kept (as text) so
            // that expressions reading it are not reported too.
            Some(node) => reader
                .choice(node, &format!("the type of {what}"), INPUT_TYPES)
                .map_or(InputType::String, input_type),
            None => InputType::String,
        };
        let default = fields.get("default").and_then(|node| {
            let value = node.to_json();
            if default_fits(kind, &value) {
                Some(value)
            } else {
                reader.push(
                    Diagnostic::new(
                        Code::WrongType,
                        node.span,
                        format!(
                            "the default of {what} is {}, but the input's type is `{}`",
                            node.kind.describe(),
                            kind.as_str()
                        ),
                    )
                    .help(format!(
                        "give a default of type `{}`, or change `type`",
                        kind.as_str()
                    )),
                );
                None
            }
        });
        let required = match fields.get("required") {
            Some(node) => {
                let required = reader.boolean(node, "`required`").unwrap_or(true);
                if required && fields.get("default").is_some() {
                    reader.push(
                        Diagnostic::new(
                            Code::InvalidValue,
                            node.span,
                            format!("{what} is required and has a default, so the default is never used"),
                        )
                        .help("remove `required: true` (an input with a default is optional) or remove the default"),
                    );
                }
                required
            }
            None => fields.get("default").is_none(),
        };
        let description = fields
            .get("description")
            .and_then(|n| reader.string(n, "`description`"))
            .map(|s| s.value);
        inputs.push(DraftInput {
            name,
            kind,
            required,
            default,
            description,
        });
    }
    inputs
}

fn input_type(text: &str) -> InputType {
    match text {
        "number" => InputType::Number,
        "boolean" => InputType::Boolean,
        "file" => InputType::File,
        "object" => InputType::Object,
        _ => InputType::String,
    }
}

/// Whether a default (or a given value) fits an input type.
pub(crate) fn default_fits(kind: InputType, value: &serde_json::Value) -> bool {
    match kind {
        InputType::String | InputType::File => value.is_string(),
        InputType::Number => value.is_number(),
        InputType::Boolean => value.is_boolean(),
        InputType::Object => value.is_object(),
    }
}

fn read_secrets(reader: &mut Reader, node: &Node) -> Vec<Spanned<String>> {
    let NodeKind::Seq(_) = node.kind else {
        reader.wrong_type(
            node,
            "`secrets` must be a list of names, like `secrets: [TRUORA_API_KEY]`",
        );
        return Vec::new();
    };
    let mut secrets: Vec<Spanned<String>> = Vec::new();
    for name in reader.string_list(node, "`secrets`") {
        if !check_identifier(reader, &name, "secret") {
            continue;
        }
        if let Some(first) = secrets.iter().find(|s| s.value == name.value) {
            reader.push(
                Diagnostic::new(
                    Code::DuplicateKey,
                    name.span,
                    format!("the secret `{}` is listed twice", name.value),
                )
                .related(first.span, "first time")
                .help("list each secret once"),
            );
            continue;
        }
        secrets.push(name);
    }
    secrets
}

fn read_outputs<'a>(reader: &mut Reader, node: &'a Node) -> Vec<(Spanned<String>, &'a Node)> {
    let Some(entries) = reader.map_entries(node, "`outputs`") else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|(name, _)| check_identifier(reader, name, "output"))
        .collect()
}

fn read_steps<'a>(reader: &mut Reader, node: &'a Node, key: Span) -> Vec<DraftStep<'a>> {
    let Some(entries) = reader.map_entries(node, "`steps`") else {
        return Vec::new();
    };
    if entries.len() > MAX_STEPS {
        reader.push(
            Diagnostic::new(
                Code::InputLimit,
                key,
                format!(
                    "the workflow has {} steps; at most {MAX_STEPS} are accepted",
                    entries.len()
                ),
            )
            .help("split the work into several workflows"),
        );
        return Vec::new();
    }
    if entries.is_empty() {
        reader.push(
            Diagnostic::new(Code::MissingKey, key, "the workflow has no steps")
                .help("add at least one step under `steps:`"),
        );
    }
    let mut steps = Vec::with_capacity(entries.len());
    for (id, body) in entries {
        check_identifier(reader, &id, "step");
        if let Some(step) = read_step(reader, id, body) {
            steps.push(step);
        }
    }
    steps
}

fn read_step<'a>(
    reader: &mut Reader,
    id: Spanned<String>,
    body: &'a Node,
) -> Option<DraftStep<'a>> {
    let what = format!("step `{}`", id.value);
    let fields = reader.fields(body, &what, id.span, STEP_KEYS)?;
    let uses = reader
        .required(&fields, "uses", &what, "uses: core.log")
        .and_then(|node| reader.string(node, "`uses`"));
    let needs = fields
        .get("needs")
        .map(|node| reader.string_list(node, "`needs`"))
        .unwrap_or_default();
    let with = fields.get("with").filter(|node| match node.kind {
        NodeKind::Map(_) => true,
        NodeKind::Null => false,
        _ => {
            reader.wrong_type(
                node,
                &format!("`with` of {what} must be a map of the step type's inputs"),
            );
            false
        }
    });
    let retry = fields.get("retry").map_or(RetryPolicy::NONE, |node| {
        read_retry(
            reader,
            node,
            &what,
            fields.key_span("retry").unwrap_or(id.span),
        )
    });
    let timeout = fields
        .get("timeout")
        .and_then(|node| positive_duration(reader, node, &format!("the `timeout` of {what}")));
    let poll = fields.get("poll").and_then(|node| {
        read_poll(
            reader,
            node,
            &what,
            fields.key_span("poll").unwrap_or(id.span),
        )
    });
    let continue_on_error = fields
        .get("continue_on_error")
        .and_then(|node| reader.boolean(node, "`continue_on_error`"))
        .unwrap_or(false);
    let description = fields
        .get("description")
        .and_then(|n| reader.string(n, "`description`"))
        .map(|s| s.value);
    let condition = fields
        .get("if")
        .filter(|node| condition_shape(reader, node, "`if`"));
    let until = fields
        .get("until")
        .filter(|node| condition_shape(reader, node, "`until`"));
    let with_invalid = fields
        .get("with")
        .is_some_and(|node| !matches!(node.kind, NodeKind::Map(_) | NodeKind::Null));
    Some(DraftStep {
        with_invalid,
        with_key: fields.key_span("with"),
        id,
        uses,
        needs,
        condition,
        with,
        retry,
        timeout,
        until,
        poll,
        continue_on_error,
        description,
    })
}

/// A condition is an expression (text) or a literal boolean.
fn condition_shape(reader: &mut Reader, node: &Node, what: &str) -> bool {
    match node.kind {
        NodeKind::String(_) | NodeKind::Bool(_) => true,
        _ => {
            reader.wrong_type(
                node,
                &format!(
                    "{what} must be an expression, like `steps.check.outputs.status == 'success'`"
                ),
            );
            false
        }
    }
}

fn positive_duration(reader: &mut Reader, node: &Node, what: &str) -> Option<Duration> {
    let duration = reader.duration(node, what)?;
    if duration.is_zero() {
        reader.push(
            Diagnostic::new(
                Code::OutOfRange,
                node.span,
                format!("{what} must be longer than zero"),
            )
            .help("give a duration like `30s`, or remove the key for no limit"),
        );
        return None;
    }
    Some(duration)
}

fn read_retry(reader: &mut Reader, node: &Node, step: &str, key: Span) -> RetryPolicy {
    let mut policy = RetryPolicy::NONE;
    let what = format!("`retry` of {step}");
    let Some(fields) = reader.fields(node, &what, key, RETRY_KEYS) else {
        return policy;
    };
    policy.attempts = 3;
    if let Some(node) = fields.get("attempts")
        && let Some(attempts) = reader.integer(node, "`retry.attempts`")
    {
        match u32::try_from(attempts) {
                Ok(n) if (1..=RetryPolicy::MAX_ATTEMPTS).contains(&n) => policy.attempts = n,
                _ => reader.push(
                    Diagnostic::new(
                        Code::OutOfRange,
                        node.span,
                        format!("`retry.attempts` is {attempts}, but it must be between 1 and {}", RetryPolicy::MAX_ATTEMPTS),
                    )
                    .help("attempts counts the first try too: `attempts: 3` means one try and up to two retries"),
                ),
            }
    }
    if let Some(node) = fields.get("backoff") {
        match reader.choice(node, "`retry.backoff`", &["fixed", "exponential"]) {
            Some("fixed") => policy.backoff = Backoff::Fixed,
            Some(_) => policy.backoff = Backoff::Exponential,
            None => {}
        }
    }
    if let Some(node) = fields.get("initial")
        && let Some(initial) = reader.duration(node, "`retry.initial`")
    {
        policy.initial = initial;
    }
    if let Some(node) = fields.get("max")
        && let Some(max) = reader.duration(node, "`retry.max`")
    {
        policy.max = max;
        if fields.get("initial").is_none() {
            // The default first wait gives way to a shorter maximum.
            policy.initial = policy.initial.min(max);
        } else if max < policy.initial {
            reader.push(
                    Diagnostic::new(Code::OutOfRange, node.span, "`retry.max` is shorter than `retry.initial`")
                        .help("the longest wait cannot be shorter than the first one: raise `max` or lower `initial`"),
                );
        }
    }
    if let Some(node) = fields.get("jitter") {
        match reader.choice(node, "`retry.jitter`", &["full", "none"]) {
            Some("full") => policy.jitter = Jitter::Full,
            Some(_) => policy.jitter = Jitter::None,
            None => {}
        }
    }
    policy
}

fn read_poll(reader: &mut Reader, node: &Node, step: &str, key: Span) -> Option<PollOverride> {
    let what = format!("`poll` of {step}");
    let fields = reader.fields(node, &what, key, POLL_KEYS)?;
    let mut poll = PollOverride {
        key,
        ..PollOverride::default()
    };
    poll.interval = fields
        .get("interval")
        .and_then(|n| positive_duration(reader, n, "`poll.interval`"));
    poll.max_interval = fields
        .get("max_interval")
        .and_then(|n| positive_duration(reader, n, "`poll.max_interval`"));
    poll.timeout = fields
        .get("timeout")
        .and_then(|n| positive_duration(reader, n, "`poll.timeout`"));
    if let Some(node) = fields.get("backoff") {
        poll.backoff_factor = match &node.kind {
            NodeKind::String(text) if text == "fixed" => Some(1.0),
            NodeKind::String(text) if text == "exponential" => Some(2.0),
            NodeKind::Int(_) | NodeKind::Float(_) => match reader.number(node, "`poll.backoff`") {
                Some(factor) if (1.0..=10.0).contains(&factor) => Some(factor),
                _ => {
                    reader.push(
                        Diagnostic::new(Code::OutOfRange, node.span, "`poll.backoff` as a number must be between 1 and 10")
                            .help("it multiplies the interval after each attempt: 1 keeps it fixed, 2 doubles it"),
                    );
                    None
                }
            },
            _ => {
                reader.push(
                    Diagnostic::new(
                        Code::InvalidValue,
                        node.span,
                        "`poll.backoff` must be `fixed`, `exponential` or a factor like `1.5`",
                    )
                    .help("write `fixed`, `exponential`, or a number between 1 and 10"),
                );
                None
            }
        };
    }
    if let (Some(interval), Some(max)) = (poll.interval, poll.max_interval)
        && max < interval
        && let Some(node) = fields.get("max_interval")
    {
        reader.push(
            Diagnostic::new(
                Code::OutOfRange,
                node.span,
                "`poll.max_interval` is shorter than `poll.interval`",
            )
            .help("raise `max_interval` or lower `interval`"),
        );
    }
    Some(poll)
}
