//! The inputs and secrets of a run, from the command line, a JSON file and
//! the environment; checked against the workflow before anything runs.

use std::path::Path;

use idflow_engine::inputs::{resolve, typed_from_text};
use idflow_engine::model::{InputType, Workflow};
use idflow_engine::run::Secrets;
use idflow_engine::source::read_regular_file;
use serde_json::{Map, Value};

use super::Args;

/// The most bytes `--inputs FILE` or `--input NAME=@FILE` reads: inputs are
/// values, not payloads (a `file` input passes its path, not its bytes).
const MAX_INPUT_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The checked inputs and the secrets, or every problem found.
pub(super) fn collect(
    workflow: &Workflow,
    args: &Args,
    base_dir: &Path,
) -> Result<(Value, Secrets), Vec<String>> {
    let kind_of = |name: &str| {
        workflow
            .inputs
            .iter()
            .find(|input| input.name == name)
            .map(|input| input.kind)
    };
    let (given, mut problems) = given(args, base_dir, kind_of);
    let inputs = match resolve(workflow, &given, base_dir) {
        Ok(inputs) => Some(inputs),
        Err(errors) => {
            problems.extend(errors.iter().map(ToString::to_string));
            None
        }
    };
    let mut secrets = Vec::new();
    for name in &workflow.secrets {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => secrets.push((name.clone(), value)),
            _ => problems.push(format!(
                "the workflow reads the secret `{name}`: set the environment variable {name}"
            )),
        }
    }
    match inputs {
        Some(inputs) if problems.is_empty() => Ok((inputs, secrets.into_iter().collect())),
        _ => Err(problems),
    }
}

/// The inputs given by `--inputs FILE.json` and `--input NAME=VALUE`, each
/// text converted to its input's type (`kind_of`; a `file` input keeps its
/// path), and every problem found reading them (the inputs that could not
/// be read are left out).
pub(super) fn given(
    args: &Args,
    base_dir: &Path,
    kind_of: impl Fn(&str) -> Option<InputType>,
) -> (Map<String, Value>, Vec<String>) {
    let mut problems = Vec::new();
    let mut given = Map::new();
    if let Some(path) = &args.inputs_file {
        match read_regular_file(path, MAX_INPUT_FILE_BYTES)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<Value>(&text).map_err(|e| format!("not JSON: {e}"))
            }) {
            Ok(Value::Object(values)) => given.extend(values),
            Ok(_) => problems.push(format!(
                "{} must hold a JSON object of inputs",
                path.display()
            )),
            Err(reason) => problems.push(format!(
                "cannot read inputs from {}: {reason}",
                path.display()
            )),
        }
    }
    for item in &args.inputs {
        let Some((name, text)) = item.split_once('=') else {
            problems.push(format!(
                "`--input {item}` must be NAME=VALUE (or NAME=@PATH)"
            ));
            continue;
        };
        let kind = kind_of(name);
        let value = match text.strip_prefix('@') {
            Some(path) if kind == Some(InputType::File) => Value::String(path.to_owned()),
            Some(path) => match read_regular_file(&base_dir.join(path), MAX_INPUT_FILE_BYTES) {
                Ok(contents) => typed(kind, contents.trim_end_matches('\n')),
                Err(error) => {
                    problems.push(format!(
                        "cannot read the value of input `{name}` from {path}: {error}"
                    ));
                    continue;
                }
            },
            None => typed(kind, text),
        };
        given.insert(name.to_owned(), value);
    }
    (given, problems)
}

/// Text as a value of `kind` (an unknown input stays text).
fn typed(kind: Option<InputType>, text: &str) -> Value {
    kind.map_or_else(
        || Value::String(text.to_owned()),
        |kind| typed_from_text(kind, text),
    )
}
