//! `idflow steps`: the registered step types, their inputs and outputs.

use std::io::Write as _;

use serde_json::Value;

use super::OutputFormat;
use crate::Outcome;

/// Arguments of `idflow steps`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let registry = idflow_cli::registry::build()?;
    let mut out = crate::commands::stdout();
    if matches!(args.format, OutputFormat::Json) {
        let all: Vec<&idflow_core::StepMetadata> =
            registry.iter().map(|(_, step)| step.metadata()).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(Outcome::Success);
    }
    for (name, step) in registry.iter() {
        let metadata = step.metadata();
        writeln!(out, "{name}\n    {}", metadata.description)?;
        let schema = &metadata.input_schema;
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = schema["properties"].as_object() {
            writeln!(out, "    inputs:")?;
            for (input, spec) in properties {
                // Doc comments wrap lines: show the whole text as one line.
                let description = spec["description"]
                    .as_str()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let marks: Vec<&str> = [
                    (required.contains(&input.as_str()), "required"),
                    (metadata.is_credential_input(input), "credential"),
                ]
                .into_iter()
                .filter_map(|(holds, mark)| holds.then_some(mark))
                .collect();
                let marker = if marks.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", marks.join(", "))
                };
                writeln!(out, "      {input}{marker}: {description}")?;
            }
        } else if metadata.dynamic_outputs {
            writeln!(out, "    inputs: any keys")?;
        }
        if metadata.dynamic_outputs {
            writeln!(out, "    outputs: the same keys as its inputs")?;
        } else if !metadata.outputs.is_empty() {
            writeln!(out, "    outputs:")?;
            for output in &metadata.outputs {
                let marker = if output.sensitive { " (sensitive)" } else { "" };
                writeln!(out, "      {}{marker}: {}", output.name, output.description)?;
            }
        }
        if let Some(until) = &metadata.default_until {
            writeln!(out, "    default gate: until {until}")?;
        }
        writeln!(out)?;
    }
    Ok(Outcome::Success)
}
