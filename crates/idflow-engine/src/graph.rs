//! Drawing a workflow's graph: Mermaid, Graphviz dot, or JSON.
//!
//! The drawings show the logic, not only the order: an edge into a step
//! with one need carries the step's (shortened) `if`; a step with several
//! needs shows it in its box. A status gate is a hexagon with a dashed
//! loop labelled with its `until` and a line with its polling; retries,
//! time limits and `continue_on_error` are lines of the box; a `core.fail`
//! step (an outcome that fails the run) is a red rounded box (a red octagon
//! in dot); a step that runs after failures (`failure()`, `always()`) has a
//! dashed border; a step's description is its tooltip in dot (SVG output).
//! Conditions are cut to [`LABEL_LIMIT`] characters so that
//! big graphs stay readable; `--format json` keeps them whole. Text is
//! escaped for each format (Mermaid entity codes; dot's quoted strings).

use std::fmt::Write as _;

use idflow_core::duration::format_duration;
use serde_json::json;

use crate::model::{StepPlan, Workflow};

/// The outputs of `idflow graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// A Mermaid flowchart (renders on GitHub and in many editors).
    Mermaid,
    /// Graphviz dot.
    Dot,
    /// JSON: nodes and edges.
    Json,
}

/// The longest condition a drawing shows, in characters (longer ones end
/// in `…`).
pub const LABEL_LIMIT: usize = 56;

/// The step type that ends a run as failed: drawn as an outcome.
const FAIL_STEP: &str = "core.fail";

/// Draws the graph; edges go from a step to the steps that need it.
pub fn render(workflow: &Workflow, format: GraphFormat) -> String {
    match format {
        GraphFormat::Mermaid => mermaid(workflow),
        GraphFormat::Dot => dot(workflow),
        GraphFormat::Json => {
            let mut text = serde_json::to_string_pretty(&graph_json(workflow)).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

/// What a drawing says about one step, before escaping.
struct Node<'a> {
    step: &'a StepPlan,
    /// The lines of its box.
    lines: Vec<String>,
    /// The label of the edge from its one need (its `if`), if any.
    edge_label: Option<String>,
    /// The label of its polling loop (`until ...`), if it has a gate.
    gate_label: Option<String>,
    /// It ends the run as failed (`core.fail`).
    fails_run: bool,
    /// It runs after failures (`failure()` or `always()` in its `if`).
    after_failure: bool,
}

impl<'a> Node<'a> {
    fn new(workflow: &Workflow, step: &'a StepPlan) -> Self {
        let mut lines = vec![step.id.clone(), step.uses.clone()];
        let one_need = match step.needs.as_slice() {
            [need] => Some(workflow.steps[need.get()].id.as_str()),
            _ => None,
        };
        let mut edge_label = None;
        if let Some(condition) = &step.condition {
            match one_need {
                Some(need) => edge_label = Some(shorten(&condition.source, Some(need))),
                None => lines.push(format!("if: {}", shorten(&condition.source, None))),
            }
        }
        let gate_label = step.gate.as_ref().map(|gate| {
            // A gate whose deadline is an input lasts what `with` says.
            let deadline = match &gate.deadline {
                Some(deadline) => format!(
                    "with.{} (default {})",
                    deadline.input,
                    format_duration(gate.poll.timeout)
                ),
                None => format_duration(gate.poll.timeout),
            };
            lines.push(format!(
                "poll: every {}, up to {deadline}",
                format_duration(gate.poll.interval)
            ));
            format!("until {}", shorten(&gate.until.source, Some("")))
        });
        if step.retry.attempts > 1 {
            lines.push(format!("retry: {} attempts", step.retry.attempts));
        }
        if let Some(timeout) = step.timeout {
            lines.push(format!("timeout: {}", format_duration(timeout)));
        }
        if step.continue_on_error {
            lines.push("continues on error".to_owned());
        }
        let fails_run = step.uses == FAIL_STEP;
        if fails_run {
            lines.push("outcome: fails the run".to_owned());
        }
        let after_failure = step.condition.as_ref().is_some_and(|condition| {
            condition.source.contains("failure()") || condition.source.contains("always()")
        });
        Self {
            step,
            lines,
            edge_label,
            gate_label,
            fails_run,
            after_failure,
        }
    }
}

/// A condition as a drawing shows it: on one line, `steps.X.outputs.Y` as
/// `X.Y`, the outputs of `from` (the step the edge comes from; `""` for a
/// gate's own `outputs.Y`) as `Y`, and cut to [`LABEL_LIMIT`] characters.
/// Quoted text is left as written.
fn shorten(source: &str, from: Option<&str>) -> String {
    let flat = source.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(flat.len());
    let mut quote = None;
    let mut name = String::new();
    let is_name = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    for c in flat.chars().chain(std::iter::once(' ')) {
        if quote.is_none() && is_name(c) {
            name.push(c);
            continue;
        }
        out.push_str(&short_name(&name, from));
        name.clear();
        match quote {
            Some(open) if open == c => quote = None,
            None if c == '\'' || c == '"' => quote = Some(c),
            _ => {}
        }
        out.push(c);
    }
    out.pop();
    truncate(&out)
}

/// One dotted name of a condition, shortened (see [`shorten`]).
fn short_name(name: &str, from: Option<&str>) -> String {
    if let Some(rest) = name.strip_prefix("steps.")
        && let Some((id, field)) = rest.split_once('.')
    {
        return match field.strip_prefix("outputs.") {
            Some(output) if from == Some(id) => output.to_owned(),
            Some(output) => format!("{id}.{output}"),
            None => format!("{id}.{field}"),
        };
    }
    match name.strip_prefix("outputs.") {
        Some(output) if from == Some("") => output.to_owned(),
        _ => name.to_owned(),
    }
}

/// Cuts text to [`LABEL_LIMIT`] characters, ending in `…` when cut.
fn truncate(text: &str) -> String {
    if text.chars().count() <= LABEL_LIMIT {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(LABEL_LIMIT - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// Text inside a quoted Mermaid label: characters Mermaid or its HTML
/// labels would read are written as entity codes (`#34;`).
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '#' | '<' | '>' | '&' | '`' | '|' | '\\' => {
                let _ = write!(out, "#{};", u32::from(c));
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid node id: step ids are identifiers, and the prefix keeps words
/// Mermaid reserves (`end`, ids starting with `o` or `x` after an arrow)
/// out of the way.
fn mermaid_id(step: &StepPlan) -> String {
    format!("s_{}", step.id)
}

fn mermaid(workflow: &Workflow) -> String {
    let nodes: Vec<Node<'_>> = workflow
        .order
        .iter()
        .map(|index| Node::new(workflow, &workflow.steps[index.get()]))
        .collect();
    let mut out = format!("---\ntitle: {}\n---\nflowchart TD\n", workflow.name);
    for node in &nodes {
        let label = node
            .lines
            .iter()
            .map(|line| mermaid_text(line))
            .collect::<Vec<_>>()
            .join("<br/>");
        let (open, close) = if node.fails_run {
            ("([", "])")
        } else if node.gate_label.is_some() {
            ("{{", "}}")
        } else {
            ("[", "]")
        };
        let _ = writeln!(out, "    {}{open}\"{label}\"{close}", mermaid_id(node.step));
    }
    for node in &nodes {
        let to = mermaid_id(node.step);
        for need in &node.step.needs {
            let from = mermaid_id(&workflow.steps[need.get()]);
            match &node.edge_label {
                Some(label) => {
                    let _ = writeln!(out, "    {from} -->|\"{}\"| {to}", mermaid_text(label));
                }
                None => {
                    let _ = writeln!(out, "    {from} --> {to}");
                }
            }
        }
        if let Some(label) = &node.gate_label {
            let _ = writeln!(out, "    {to} -.->|\"{}\"| {to}", mermaid_text(label));
        }
    }
    let class = |name: &str, style: &str, members: Vec<String>, out: &mut String| {
        if !members.is_empty() {
            let _ = writeln!(out, "    classDef {name} {style}");
            let _ = writeln!(out, "    class {} {name}", members.join(","));
        }
    };
    class(
        "fails_run",
        "fill:#fdecea,stroke:#b42318,color:#7a271a",
        nodes
            .iter()
            .filter(|node| node.fails_run)
            .map(|node| mermaid_id(node.step))
            .collect(),
        &mut out,
    );
    class(
        "after_failure",
        "stroke-dasharray:5 3",
        nodes
            .iter()
            .filter(|node| node.after_failure)
            .map(|node| mermaid_id(node.step))
            .collect(),
        &mut out,
    );
    out
}

/// Text inside a quoted dot string.
fn dot_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn dot(workflow: &Workflow) -> String {
    let nodes: Vec<Node<'_>> = workflow
        .order
        .iter()
        .map(|index| Node::new(workflow, &workflow.steps[index.get()]))
        .collect();
    let mut out = format!(
        "digraph \"{}\" {{\n    rankdir=TB;\n    node [shape=box];\n",
        dot_text(&workflow.name)
    );
    for node in &nodes {
        let label = node
            .lines
            .iter()
            .map(|line| dot_text(line))
            .collect::<Vec<_>>()
            .join("\\n");
        let mut attributes = vec![format!("label=\"{label}\"")];
        if let Some(description) = &node.step.description {
            // Shown when the pointer rests on the step in SVG output.
            attributes.push(format!("tooltip=\"{}\"", dot_text(description.trim())));
        }
        let mut styles = Vec::new();
        if node.fails_run {
            attributes.push(
                "shape=octagon, color=\"#b42318\", fontcolor=\"#7a271a\", fillcolor=\"#fdecea\""
                    .to_owned(),
            );
            styles.push("filled");
        } else if node.gate_label.is_some() {
            attributes.push("shape=hexagon".to_owned());
        }
        if node.after_failure {
            styles.push("dashed");
        }
        if !styles.is_empty() {
            attributes.push(format!("style=\"{}\"", styles.join(",")));
        }
        let _ = writeln!(
            out,
            "    \"{}\" [{}];",
            dot_text(&node.step.id),
            attributes.join(", ")
        );
    }
    for node in &nodes {
        let to = dot_text(&node.step.id);
        for need in &node.step.needs {
            let from = dot_text(&workflow.steps[need.get()].id);
            match &node.edge_label {
                Some(label) => {
                    let _ = writeln!(
                        out,
                        "    \"{from}\" -> \"{to}\" [label=\"{}\"];",
                        dot_text(label)
                    );
                }
                None => {
                    let _ = writeln!(out, "    \"{from}\" -> \"{to}\";");
                }
            }
        }
        if let Some(label) = &node.gate_label {
            let _ = writeln!(
                out,
                "    \"{to}\" -> \"{to}\" [label=\"{}\", style=dashed];",
                dot_text(label)
            );
        }
    }
    out.push_str("}\n");
    out
}

fn graph_json(workflow: &Workflow) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = workflow
        .order
        .iter()
        .map(|index| {
            let step = &workflow.steps[index.get()];
            json!({
                "id": step.id,
                "uses": step.uses,
                "description": step.description,
                "if": step.condition.as_ref().map(|c| c.source.clone()),
                "until": step.gate.as_ref().map(|g| g.until.source.clone()),
            })
        })
        .collect();
    let edges: Vec<serde_json::Value> = workflow
        .order
        .iter()
        .flat_map(|index| {
            let step = &workflow.steps[index.get()];
            step.needs
                .iter()
                .map(|need| json!({"from": workflow.steps[need.get()].id, "to": step.id}))
                .collect::<Vec<_>>()
        })
        .collect();
    json!({ "workflow": workflow.name, "nodes": nodes, "edges": edges })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_shortened_relative_to_the_edge() {
        let condition = "steps.processed.outputs.status == 'failure' and\n  steps.processed.outputs.reason == 'x'";
        assert_eq!(
            shorten(condition, Some("processed")),
            "status == 'failure' and reason == 'x'"
        );
        assert_eq!(
            shorten("steps.processed.outputs.status == 'failure'", None),
            "processed.status == 'failure'"
        );
        assert_eq!(
            shorten("steps.a.status == 'failed'", Some("b")),
            "a.status == 'failed'"
        );
        assert_eq!(shorten("outputs.done", Some("")), "done");
        assert_eq!(
            shorten("my_outputs.x or inputs.outputs", None),
            "my_outputs.x or inputs.outputs"
        );
    }

    #[test]
    fn long_conditions_end_in_an_ellipsis() {
        let long = "a".repeat(LABEL_LIMIT + 10);
        let cut = shorten(&long, None);
        assert_eq!(cut.chars().count(), LABEL_LIMIT);
        assert!(cut.ends_with('…'));
        assert_eq!(shorten("short", None), "short");
    }

    #[test]
    fn text_is_escaped_for_each_format() {
        assert_eq!(
            mermaid_text(r#"a < "b" & c|d #x `y` \z"#),
            "a #60; #34;b#34; #38; c#124;d #35;x #96;y#96; #92;z"
        );
        assert_eq!(dot_text("say \"hi\"\\n\nnext"), "say \\\"hi\\\"\\\\n next");
    }
}
