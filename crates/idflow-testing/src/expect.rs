//! Checking a trace against a case's expectations: every unmet one, as a
//! [`Mismatch`] (where, expected, actual), in the order they are written.

use idflow_core::Redactor;
use serde::Serialize;
use serde_json::Value;

use crate::case::{ErrorExpect, Expect};
use crate::trace::{ErrorTrace, Trace};

/// One expectation the run did not meet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    /// What was checked: `status`, `outputs.outcome`,
    /// `steps.issue_token.attempts`.
    pub path: String,
    /// What the case expects.
    pub expected: Value,
    /// What the run did (`null`: nothing).
    pub actual: Value,
}

impl Mismatch {
    fn new(path: impl Into<String>, expected: Value, actual: Value) -> Self {
        Self {
            path: path.into(),
            expected,
            actual,
        }
    }

    /// The same, with secrets hidden.
    #[must_use]
    pub fn redacted(&self, redactor: &Redactor) -> Mismatch {
        Mismatch {
            path: self.path.clone(),
            expected: redactor.redact_json(&self.expected),
            actual: redactor.redact_json(&self.actual),
        }
    }
}

/// Every expectation of `expect` that `trace` does not meet.
pub fn check(expect: &Expect, trace: &Trace) -> Vec<Mismatch> {
    let mut found = Vec::new();
    if let Some(status) = expect.status
        && status != trace.status
    {
        found.push(Mismatch::new(
            "status",
            status.as_str().into(),
            trace.status.as_str().into(),
        ));
    }
    for (name, expected) in &expect.outputs {
        let actual = trace
            .outputs
            .get(&name.value)
            .cloned()
            .unwrap_or(Value::Null);
        if !same(expected, &actual) {
            found.push(Mismatch::new(
                format!("outputs.{}", name.value),
                expected.clone(),
                actual,
            ));
        }
    }
    if let Some(error) = &expect.error {
        check_error("error", error, trace.error.as_ref(), &mut found);
    }
    for (id, expected) in &expect.steps {
        let Some(step) = trace.steps.get(&id.value) else {
            continue;
        };
        let at = |what: &str| format!("steps.{}.{what}", id.value);
        if let Some(status) = expected.status
            && status != step.status
        {
            found.push(Mismatch::new(
                at("status"),
                status.as_str().into(),
                step.status.as_str().into(),
            ));
        }
        if let Some(attempts) = expected.attempts
            && attempts != step.attempt_count()
        {
            found.push(Mismatch::new(
                at("attempts"),
                attempts.into(),
                step.attempt_count().into(),
            ));
        }
        for (name, value) in &expected.outputs {
            let actual = step
                .outputs
                .get(&name.value)
                .cloned()
                .unwrap_or(Value::Null);
            if !same(value, &actual) {
                found.push(Mismatch::new(
                    at(&format!("outputs.{}", name.value)),
                    value.clone(),
                    actual,
                ));
            }
        }
        if let Some(error) = &expected.error {
            check_error(&at("error"), error, step.error.as_ref(), &mut found);
        }
    }
    found
}

fn check_error(
    path: &str,
    expected: &ErrorExpect,
    actual: Option<&ErrorTrace>,
    found: &mut Vec<Mismatch>,
) {
    let Some(actual) = actual else {
        found.push(Mismatch::new(path, describe(expected), Value::Null));
        return;
    };
    if let Some(code) = &expected.code
        && code != &actual.code
    {
        found.push(Mismatch::new(
            format!("{path}.code"),
            code.as_str().into(),
            actual.code.as_str().into(),
        ));
    }
    if let Some(message) = &expected.message
        && !actual.message.contains(message.as_str())
    {
        found.push(Mismatch::new(
            format!("{path}.message (contains)"),
            message.as_str().into(),
            actual.message.as_str().into(),
        ));
    }
}

fn describe(expected: &ErrorExpect) -> Value {
    let mut map = serde_json::Map::new();
    if let Some(code) = &expected.code {
        map.insert("code".into(), code.as_str().into());
    }
    if let Some(message) = &expected.message {
        map.insert("message".into(), message.as_str().into());
    }
    Value::Object(map)
}

/// JSON equality where numbers compare by value (`1` equals `1.0`): YAML
/// writes whole numbers as integers, expressions may compute floats.
fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()),
            _ => a == b,
        },
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, value)| b.get(key).is_some_and(|other| same(value, other)))
        }
        _ => expected == actual,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::same;

    #[test]
    fn numbers_compare_by_value_and_everything_else_exactly() {
        assert!(same(&json!(1), &json!(1.0)));
        assert!(same(&json!({"a": [1, "x"]}), &json!({"a": [1.0, "x"]})));
        assert!(!same(&json!(1), &json!("1")));
        assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!same(&json!(null), &json!(false)));
    }
}
