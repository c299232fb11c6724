//! Checking a run's inputs against the workflow's declared inputs, before
//! anything runs: unknown names, missing required inputs, wrong types and
//! missing files are refused; defaults are filled in.

use std::path::Path;

use serde_json::{Map, Value};

use crate::diagnostic::did_you_mean;
use crate::model::{InputDecl, InputType, Workflow};

/// One problem with the inputs given to a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A name the workflow does not declare.
    #[error("the workflow has no input `{name}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    Unknown {
        /// The name given.
        name: String,
        /// A close declared name.
        suggestion: Option<String>,
    },
    /// A required input that was not given.
    #[error("the input `{name}` is required{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Missing {
        /// The input.
        name: String,
        /// What it is.
        description: Option<String>,
    },
    /// A value of the wrong type.
    #[error("the input `{name}` must be {expected}, but `{given}` is not")]
    WrongType {
        /// The input.
        name: String,
        /// The declared type, for people.
        expected: &'static str,
        /// The value given (shortened).
        given: String,
    },
    /// A `file` input naming a file that cannot be read.
    #[error("the input `{name}` names the file `{path}`, which cannot be read: {reason}")]
    Unreadable {
        /// The input.
        name: String,
        /// The path given.
        path: String,
        /// Why.
        reason: String,
    },
}

fn expected(kind: InputType) -> &'static str {
    match kind {
        InputType::String => "text",
        InputType::Number => "a number",
        InputType::Boolean => "true or false",
        InputType::File => "the path of a readable file",
        InputType::Object => "a JSON object",
    }
}

fn shorten(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

/// Converts a value given as text on a command line (`--input n=3`) to the
/// input's declared type. Unknown names are kept as text (and refused by
/// [`resolve`]).
pub fn from_text(workflow: &Workflow, name: &str, text: &str) -> Value {
    match workflow.inputs.iter().find(|input| input.name == name) {
        Some(decl) => typed_from_text(decl.kind, text),
        None => Value::String(text.to_owned()),
    }
}

/// Converts a value given as text to an input of type `kind`; text that
/// does not fit stays text (and is refused by [`resolve`] with a message).
pub fn typed_from_text(kind: InputType, text: &str) -> Value {
    match kind {
        InputType::String | InputType::File => Value::String(text.to_owned()),
        InputType::Number => serde_json::from_str::<serde_json::Number>(text.trim())
            .map_or_else(|_| Value::String(text.to_owned()), Value::Number),
        InputType::Boolean => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_owned()),
        },
        InputType::Object => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::String(text.to_owned())),
    }
}

/// Checks `given` against the declared inputs; returns every input's value
/// (defaults filled in) or every problem. `base_dir` is where relative
/// file paths are resolved to check that they can be read.
pub fn resolve(
    workflow: &Workflow,
    given: &Map<String, Value>,
    base_dir: &Path,
) -> Result<Value, Vec<InputError>> {
    let mut errors = Vec::new();
    for name in given.keys() {
        if !workflow.inputs.iter().any(|input| &input.name == name) {
            errors.push(InputError::Unknown {
                name: name.clone(),
                suggestion: did_you_mean(name, workflow.inputs.iter().map(|i| i.name.as_str()))
                    .map(str::to_owned),
            });
        }
    }
    let mut resolved = Map::new();
    for decl in &workflow.inputs {
        match given.get(&decl.name).or(decl.default.as_ref()) {
            Some(value) => match check(decl, value, base_dir) {
                Ok(()) => {
                    resolved.insert(decl.name.clone(), value.clone());
                }
                Err(error) => errors.push(error),
            },
            None if decl.required => errors.push(InputError::Missing {
                name: decl.name.clone(),
                description: decl.description.clone(),
            }),
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(resolved))
    } else {
        Err(errors)
    }
}

fn check(decl: &InputDecl, value: &Value, base_dir: &Path) -> Result<(), InputError> {
    let fits = match decl.kind {
        InputType::String | InputType::File => value.is_string(),
        InputType::Number => value.is_number(),
        InputType::Boolean => value.is_boolean(),
        InputType::Object => value.is_object(),
    };
    if !fits {
        return Err(InputError::WrongType {
            name: decl.name.clone(),
            expected: expected(decl.kind),
            given: shorten(value),
        });
    }
    if decl.kind == InputType::File {
        let path = value.as_str().unwrap_or_default();
        let full = base_dir.join(path);
        let readable = std::fs::metadata(&full)
            .map_err(|error| error.to_string())
            .and_then(|metadata| {
                if metadata.is_file() {
                    std::fs::File::open(&full)
                        .map(|_| ())
                        .map_err(|error| error.to_string())
                } else {
                    Err("it is not a file".to_owned())
                }
            });
        if let Err(reason) = readable {
            return Err(InputError::Unreadable {
                name: decl.name.clone(),
                path: path.to_owned(),
                reason,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::source::SourceFile;

    fn workflow() -> Workflow {
        Workflow {
            name: "w".into(),
            description: None,
            source: SourceFile::new("w.yaml", ""),
            inputs: vec![
                InputDecl {
                    name: "photo".into(),
                    kind: InputType::File,
                    required: true,
                    default: None,
                    description: Some("A face photo.".into()),
                },
                InputDecl {
                    name: "count".into(),
                    kind: InputType::Number,
                    required: false,
                    default: Some(json!(2)),
                    description: None,
                },
                InputDecl {
                    name: "loud".into(),
                    kind: InputType::Boolean,
                    required: false,
                    default: None,
                    description: None,
                },
                InputDecl {
                    name: "extra".into(),
                    kind: InputType::Object,
                    required: false,
                    default: None,
                    description: None,
                },
            ],
            secrets: Vec::new(),
            steps: Vec::new(),
            order: Vec::new(),
            outputs: Vec::new(),
            timeout: None,
        }
    }

    #[test]
    fn converts_command_line_text_to_the_declared_type() {
        let w = workflow();
        assert_eq!(from_text(&w, "count", "3"), json!(3));
        assert_eq!(from_text(&w, "count", "x"), json!("x"));
        assert_eq!(from_text(&w, "loud", "true"), json!(true));
        assert_eq!(from_text(&w, "extra", "{\"a\":1}"), json!({"a": 1}));
        assert_eq!(from_text(&w, "photo", "a.jpg"), json!("a.jpg"));
        assert_eq!(from_text(&w, "nope", "1"), json!("1"));
    }

    #[test]
    fn fills_defaults_and_reports_every_problem() {
        let w = workflow();
        let dir = std::env::temp_dir();
        let photo = dir.join("idflow-inputs-test.jpg");
        std::fs::write(&photo, b"x").unwrap();
        let given = json!({"photo": photo.display().to_string()});
        let resolved = resolve(&w, given.as_object().unwrap(), &dir).unwrap();
        assert_eq!(resolved["count"], json!(2));
        assert!(resolved.get("loud").is_none());

        let given = json!({"count": "many", "cuont": 1, "extra": [1]});
        let errors = resolve(&w, given.as_object().unwrap(), &dir).unwrap_err();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "the workflow has no input `cuont` (did you mean `count`?)",
                "the input `photo` is required: A face photo.",
                "the input `count` must be a number, but `many` is not",
                "the input `extra` must be a JSON object, but `[1]` is not",
            ]
        );
    }

    #[test]
    fn a_file_input_must_name_a_readable_file() {
        let w = workflow();
        let given = json!({"photo": "definitely-missing.jpg"});
        let errors = resolve(&w, given.as_object().unwrap(), Path::new("/")).unwrap_err();
        assert!(
            matches!(&errors[0], InputError::Unreadable { name, .. } if name == "photo"),
            "{errors:?}"
        );
        let given = json!({"photo": "tmp"});
        let errors = resolve(&w, given.as_object().unwrap(), Path::new("/")).unwrap_err();
        assert!(errors[0].to_string().contains("not a file"), "{errors:?}");
    }
}
