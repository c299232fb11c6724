//! Checking a step's `with` against the step type's input JSON Schema.
//!
//! Literal values are checked; a value that is exactly one `${{ }}`
//! expression has no type until run time and is let through (the step
//! checks it again when it runs). Text with `${{ }}` inside is text. The
//! schema subset understood is what schemars generates for step inputs:
//! `type`, `enum`, `const`, `properties`, `required`,
//! `additionalProperties`, `items`, `anyOf`/`oneOf`, `minimum`/`maximum`.

use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::expr::{Classified, classify};
use crate::source::Span;
use crate::yaml::{Node, NodeKind};

/// Checks `with` (absent: `None`) of step `step` (type `uses`) against
/// `schema`; `anchor` is where a missing key is reported.
pub(crate) fn check_with(
    schema: &Value,
    with: Option<&Node>,
    anchor: Span,
    step: &str,
    uses: &str,
    out: &mut Vec<Diagnostic>,
) {
    let cx = Context { step, uses, anchor };
    if let Some(node) = with {
        cx.check(node, schema, "with", out, true);
    } else {
        let required = required_keys(schema);
        if !required.is_empty() {
            out.push(
                Diagnostic::new(
                    Code::MissingWithKey,
                    anchor,
                    format!(
                        "step `{step}` ({uses}) needs `with` and its {}",
                        quote_list(&required)
                    ),
                )
                .help(format!("add `with:` with {}", example_keys(&required))),
            );
        }
    }
}

struct Context<'a> {
    step: &'a str,
    uses: &'a str,
    /// Where `with` is written (the key), for a missing top-level key.
    anchor: Span,
}

fn required_keys(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn quote_list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    if quoted.len() > 1 {
        format!("inputs {}", quoted.join(", "))
    } else {
        format!("input {}", quoted.join(""))
    }
}

fn example_keys(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}: ...`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The JSON type names a node has (`integer` is also a `number`).
fn node_types(node: &Node) -> &'static [&'static str] {
    match &node.kind {
        NodeKind::Null => &["null"],
        NodeKind::Bool(_) => &["boolean"],
        NodeKind::Int(_) => &["integer", "number"],
        NodeKind::Float(f) if f.fract() == 0.0 => &["number", "integer"],
        NodeKind::Float(_) => &["number"],
        NodeKind::String(_) => &["string"],
        NodeKind::Seq(_) => &["array"],
        NodeKind::Map(_) => &["object"],
    }
}

fn describe_type(name: &str) -> &str {
    match name {
        "string" => "text",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "a list",
        "object" => "a map",
        "null" => "null",
        other => other,
    }
}

impl Context<'_> {
    fn check(&self, node: &Node, schema: &Value, path: &str, out: &mut Vec<Diagnostic>, top: bool) {
        let Some(schema) = schema.as_object() else {
            // `true` (anything) or a form we do not check.
            return;
        };
        if let NodeKind::String(text) = &node.kind {
            // A single expression has no type until run time; an unclosed
            // one is reported by the expression check.
            if matches!(
                classify(text),
                Classified::Single(..) | Classified::Unclosed(_)
            ) {
                return;
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = schema.get(key).and_then(Value::as_array) {
                let fits = branches.iter().any(|branch| {
                    let mut scratch = Vec::new();
                    self.check(node, branch, path, &mut scratch, top);
                    scratch.is_empty()
                });
                if !fits {
                    let mut diagnostic = Diagnostic::new(
                        Code::WithType,
                        node.span,
                        format!(
                            "`{path}` of step `{}` does not fit any form that {} accepts",
                            self.step, self.uses
                        ),
                    );
                    if let Some(description) = schema.get("description").and_then(Value::as_str) {
                        diagnostic = diagnostic.help(first_sentence(description));
                    } else {
                        diagnostic = diagnostic.help(format!(
                            "see `idflow steps` for the inputs of {}",
                            self.uses
                        ));
                    }
                    out.push(diagnostic);
                    return;
                }
            }
        }
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !allowed.is_empty() && !node_types(node).iter().any(|t| allowed.contains(t)) {
                let expected: Vec<&str> = allowed
                    .iter()
                    .filter(|t| **t != "null")
                    .map(|t| describe_type(t))
                    .collect();
                out.push(
                    Diagnostic::new(
                        Code::WithType,
                        node.span,
                        format!(
                            "`{path}` of step `{}` must be {}, but this is {}",
                            self.step,
                            expected.join(" or "),
                            node.kind.describe()
                        ),
                    )
                    .label(format!("expected {}", expected.join(" or ")))
                    .help(self.help_for(schema, path)),
                );
                return;
            }
        }
        let value = node.to_json();
        if let Some(choices) = schema.get("enum").and_then(Value::as_array)
            && !choices.contains(&value)
        {
            let names: Vec<String> = choices
                .iter()
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned))
                .collect();
            let close = value
                .as_str()
                .and_then(|v| did_you_mean(v, names.iter().map(String::as_str)));
            out.push(
                Diagnostic::new(
                    Code::WithType,
                    node.span,
                    format!("`{path}` of step `{}` cannot be {value}", self.step),
                )
                .help(match close {
                    Some(close) => {
                        format!("did you mean `{close}`? (one of {})", names.join(", "))
                    }
                    None => format!("write one of: {}", names.join(", ")),
                }),
            );
            return;
        }
        if let Some(expected) = schema.get("const")
            && expected != &value
        {
            out.push(
                Diagnostic::new(
                    Code::WithType,
                    node.span,
                    format!("`{path}` of step `{}` must be {expected}", self.step),
                )
                .help(self.help_for(schema, path)),
            );
            return;
        }
        if let Some(number) = value.as_f64() {
            let below = schema
                .get("minimum")
                .and_then(Value::as_f64)
                .filter(|min| number < *min);
            let above = schema
                .get("maximum")
                .and_then(Value::as_f64)
                .filter(|max| number > *max);
            if let Some(bound) = below.or(above) {
                out.push(
                    Diagnostic::new(
                        Code::WithType,
                        node.span,
                        format!(
                            "`{path}` of step `{}` is {number}, which is {} the {} of {bound}",
                            self.step,
                            if below.is_some() { "below" } else { "above" },
                            if below.is_some() {
                                "minimum"
                            } else {
                                "maximum"
                            }
                        ),
                    )
                    .help(self.help_for(schema, path)),
                );
                return;
            }
        }
        match &node.kind {
            NodeKind::Map(entries) => self.check_object(node, entries, schema, path, out, top),
            NodeKind::Seq(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, item_schema, &format!("{path}[{i}]"), out, false);
                    }
                }
            }
            _ => {}
        }
    }

    fn check_object(
        &self,
        node: &Node,
        entries: &[(Node, Node)],
        schema: &serde_json::Map<String, Value>,
        path: &str,
        out: &mut Vec<Diagnostic>,
        top: bool,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let closed = matches!(additional, Some(Value::Bool(false)));
        let known: Vec<&str> = properties
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for (key, value) in entries {
            let Some(name) = key.key_text() else { continue };
            let child_path = format!("{path}.{name}");
            if let Some(property) = properties.and_then(|p| p.get(name.as_ref())) {
                self.check(value, property, &child_path, out, false);
            } else if closed {
                let what = if top {
                    format!("step type {} has no input `{name}`", self.uses)
                } else {
                    format!("`{path}` of step `{}` has no key `{name}`", self.step)
                };
                let diagnostic = Diagnostic::new(Code::UnknownWithKey, key.span, what)
                    .label("not accepted here");
                out.push(match did_you_mean(&name, known.iter().copied()) {
                    Some(close) => diagnostic.help(format!("did you mean `{close}`?")),
                    None if known.is_empty() => {
                        diagnostic.help(format!("{} takes no inputs here", self.uses))
                    }
                    None => diagnostic.help(format!(
                        "the keys accepted here are: {}",
                        known
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                });
            } else if let Some(additional @ Value::Object(_)) = additional {
                self.check(value, additional, &child_path, out, false);
            }
        }
        let present: Vec<std::borrow::Cow<'_, str>> =
            entries.iter().filter_map(|(k, _)| k.key_text()).collect();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|keys| keys.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let missing: Vec<&str> = required
            .into_iter()
            .filter(|key| !present.iter().any(|p| p == key))
            .collect();
        if !missing.is_empty() {
            let where_ = if top {
                "`with`".to_owned()
            } else {
                format!("`{path}`")
            };
            let mut diagnostic = Diagnostic::new(
                Code::MissingWithKey,
                if top { self.anchor } else { node.span },
                format!(
                    "{where_} of step `{}` ({}) lacks the required {}",
                    self.step,
                    self.uses,
                    quote_list(&missing)
                ),
            )
            .help(format!("add {}", example_keys(&missing)));
            if let Some(description) = missing
                .first()
                .and_then(|key| properties.and_then(|p| p.get(*key)))
                .and_then(|p| p.get("description"))
                .and_then(Value::as_str)
            {
                diagnostic = diagnostic.help(format!(
                    "add {} ({})",
                    example_keys(&missing),
                    first_sentence(description)
                ));
            }
            out.push(diagnostic);
        }
    }

    fn help_for(&self, schema: &serde_json::Map<String, Value>, path: &str) -> String {
        match schema.get("description").and_then(Value::as_str) {
            Some(description) => format!("`{path}`: {}", first_sentence(description)),
            None => format!("see `idflow steps` for the inputs of {}", self.uses),
        }
    }
}

fn first_sentence(text: &str) -> String {
    let text = text.trim();
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    text[..end].replace('\n', " ")
}
