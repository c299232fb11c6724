//! Drawing a workflow's graph: Mermaid, Graphviz dot, or JSON.

use std::fmt::Write as _;

use serde_json::json;

use crate::model::Workflow;

/// The output formats of `idflow graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// A Mermaid flowchart (renders on GitHub and in many editors).
    Mermaid,
    /// Graphviz dot.
    Dot,
    /// JSON: nodes and edges.
    Json,
}

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

fn label(step: &crate::model::StepPlan) -> String {
    let mut label = format!("{}<br/>{}", step.id, step.uses);
    if step.condition.is_some() {
        label.push_str("<br/>if");
    }
    if step.gate.is_some() {
        label.push_str("<br/>until");
    }
    label.replace('"', "#quot;")
}

fn mermaid(workflow: &Workflow) -> String {
    let mut out = format!("---\ntitle: {}\n---\nflowchart TD\n", workflow.name);
    for &index in &workflow.order {
        let step = &workflow.steps[index.get()];
        let _ = writeln!(out, "    {}[\"{}\"]", step.id, label(step));
    }
    for &index in &workflow.order {
        let step = &workflow.steps[index.get()];
        for need in &step.needs {
            let _ = writeln!(out, "    {} --> {}", workflow.steps[need.get()].id, step.id);
        }
    }
    out
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot(workflow: &Workflow) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n    rankdir=TB;\n    node [shape=box];\n",
        dot_escape(&workflow.name)
    );
    for &index in &workflow.order {
        let step = &workflow.steps[index.get()];
        let _ = writeln!(
            out,
            "    \"{}\" [label=\"{}\\n{}\"];",
            dot_escape(&step.id),
            dot_escape(&step.id),
            dot_escape(&step.uses)
        );
    }
    for &index in &workflow.order {
        let step = &workflow.steps[index.get()];
        for need in &step.needs {
            let _ = writeln!(
                out,
                "    \"{}\" -> \"{}\";",
                dot_escape(&workflow.steps[need.get()].id),
                dot_escape(&step.id)
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
