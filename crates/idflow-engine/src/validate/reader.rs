//! Reading typed values out of YAML nodes, reporting every mismatch as a
//! located diagnostic instead of stopping at the first.

use std::time::Duration;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::source::{Span, Spanned};
use crate::yaml::{Node, NodeKind};

/// Collects diagnostics while reading a node tree.
#[derive(Debug, Default)]
pub struct Reader {
    pub diagnostics: Diagnostics,
    /// Keys already suggested for a misspelt key, by map: a missing
    /// required key that was suggested is not reported again.
    suggested: std::collections::HashSet<(usize, &'static str)>,
}

/// The entries of a map, after unknown and duplicate keys were reported.
#[derive(Debug)]
pub struct Fields<'a> {
    entries: Vec<(Spanned<String>, &'a Node)>,
    /// Where the map is named (its key in the parent), for "missing key".
    pub anchor: Span,
}

impl<'a> Fields<'a> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(_, node)| *node)
    }

    /// The span of the key `key`, if present.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(k, _)| k.span)
    }
}

impl Reader {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Reads a map with a fixed set of keys. `what` names the place for
    /// messages ("step `fetch`", "the workflow"); `anchor` is where the map
    /// is named.
    pub fn fields<'a>(
        &mut self,
        node: &'a Node,
        what: &str,
        anchor: Span,
        known: &[&'static str],
    ) -> Option<Fields<'a>> {
        let entries = self.map_entries(node, what)?;
        let mut fields = Fields {
            entries: Vec::new(),
            anchor,
        };
        for (key, value) in entries {
            if known.contains(&key.value.as_str()) {
                fields.entries.push((key, value));
                continue;
            }
            let mut diagnostic = Diagnostic::new(
                Code::UnknownKey,
                key.span,
                format!("{what} has no key `{}`", key.value),
            )
            .label("unknown key");
            diagnostic = match did_you_mean(&key.value, known.iter().copied()) {
                Some(close) => {
                    self.suggested.insert((anchor.start, close));
                    diagnostic.help(format!("did you mean `{close}`?"))
                }
                None => diagnostic.help(format!("the keys allowed here are: {}", list(known))),
            };
            self.push(diagnostic);
        }
        Some(fields)
    }

    /// Reads a map with any keys; duplicate keys are reported (the first
    /// one is kept).
    pub fn map_entries<'a>(
        &mut self,
        node: &'a Node,
        what: &str,
    ) -> Option<Vec<(Spanned<String>, &'a Node)>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.wrong_type(node, &format!("{what} must be a map (`key: value` lines)"));
            return None;
        };
        let mut out: Vec<(Spanned<String>, &'a Node)> = Vec::with_capacity(entries.len());
        // Small maps (nearly all) look for duplicates among the keys kept so
        // far; large ones (`steps` of a big workflow) use a hash map.
        let mut seen: Option<std::collections::HashMap<std::borrow::Cow<'a, str>, Span>> =
            (entries.len() > 32).then(|| std::collections::HashMap::with_capacity(entries.len()));
        for (key, value) in entries {
            let Some(text) = key.key_text() else {
                self.push(
                    Diagnostic::new(
                        Code::WrongType,
                        key.span,
                        format!("a key in {what} is a list or a map"),
                    )
                    .help("keys are plain words, like `name:`"),
                );
                continue;
            };
            let first = match &seen {
                Some(seen) => seen.get(&text).copied(),
                None => out
                    .iter()
                    .find(|(kept, _)| kept.value == text)
                    .map(|(kept, _)| kept.span),
            };
            if let Some(first) = first {
                self.push(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("`{text}` appears twice in {what}"),
                    )
                    .label("second time")
                    .related(first, "first time")
                    .help("keep one of them (rename it if you meant two different things)"),
                );
                continue;
            }
            if let Some(seen) = &mut seen {
                seen.insert(text.clone(), key.span);
            }
            out.push((Spanned::new(text.into_owned(), key.span), value));
        }
        Some(out)
    }

    pub fn wrong_type(&mut self, node: &Node, expected: &str) {
        self.push(
            Diagnostic::new(
                Code::WrongType,
                node.span,
                format!("{expected}, but this is {}", node.kind.describe()),
            )
            .label(format!("this is {}", node.kind.describe()))
            .help(shape_help(expected, &node.kind)),
        );
    }

    /// A required key: reports it missing at the map's anchor.
    pub fn required<'a>(
        &mut self,
        fields: &Fields<'a>,
        key: &str,
        what: &str,
        example: &str,
    ) -> Option<&'a Node> {
        let node = fields.get(key);
        if node.is_none() {
            self.push(
                Diagnostic::new(
                    Code::MissingKey,
                    fields.anchor,
                    format!("{what} has no `{key}`"),
                )
                .label(format!("`{key}` missing here"))
                .help(format!("add it, for example `{example}`")),
            );
        }
        node
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        if let NodeKind::String(s) = &node.kind {
            Some(Spanned::new(s.clone(), node.span))
        } else {
            self.wrong_type(node, &format!("{what} must be text"));
            None
        }
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        if let NodeKind::Bool(b) = &node.kind {
            Some(*b)
        } else {
            self.push(
                Diagnostic::new(
                    Code::WrongType,
                    node.span,
                    format!(
                        "{what} must be `true` or `false`, but this is {}",
                        node.kind.describe()
                    ),
                )
                .help("write true or false without quotes"),
            );
            None
        }
    }

    pub fn integer(&mut self, node: &Node, what: &str) -> Option<i128> {
        match &node.kind {
            NodeKind::Int(i) => Some(*i),
            // A whole number too large for an integer is read as a float.
            #[allow(clippy::cast_possible_truncation)]
            NodeKind::Float(f) if f.fract() == 0.0 => {
                Some(if *f > 0.0 { i128::MAX } else { i128::MIN })
            }
            _ => {
                self.wrong_type(node, &format!("{what} must be a whole number"));
                None
            }
        }
    }

    pub fn number(&mut self, node: &Node, what: &str) -> Option<f64> {
        match &node.kind {
            #[allow(clippy::cast_precision_loss)]
            NodeKind::Int(i) => Some(*i as f64),
            NodeKind::Float(f) => Some(*f),
            _ => {
                self.wrong_type(node, &format!("{what} must be a number"));
                None
            }
        }
    }

    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let NodeKind::String(text) = &node.kind else {
            self.push(
                Diagnostic::new(
                    Code::BadDuration,
                    node.span,
                    format!("{what} must be a duration like `500ms`, `2s`, `5m` or `1h`, but this is {}", node.kind.describe()),
                )
                .help(match &node.kind {
                    NodeKind::Int(n) => format!("add a unit: `{n}s` for {n} seconds"),
                    _ => "write a number followed by ms, s, m or h".to_owned(),
                }),
            );
            return None;
        };
        match idflow_core::parse_duration(text) {
            Ok(duration) => Some(duration),
            Err(error) => {
                self.push(
                    Diagnostic::new(Code::BadDuration, node.span, format!("{what}: {error}"))
                        .help("durations are a whole number and a unit: `500ms`, `2s`, `5m`, `1h` (or a sum, like `1m30s`)"),
                );
                None
            }
        }
    }

    /// A string that must be one of `choices`.
    pub fn choice<'c>(&mut self, node: &Node, what: &str, choices: &[&'c str]) -> Option<&'c str> {
        let text = self.string(node, what)?;
        if let Some(choice) = choices.iter().find(|c| **c == text.value) {
            return Some(choice);
        }
        let mut diagnostic = Diagnostic::new(
            Code::InvalidValue,
            node.span,
            format!("{what} cannot be `{}`", text.value),
        );
        diagnostic = match did_you_mean(&text.value, choices.iter().copied()) {
            Some(close) => diagnostic.help(format!(
                "did you mean `{close}`? (one of {})",
                list(choices)
            )),
            None => diagnostic.help(format!("write one of {}", list(choices))),
        };
        self.push(diagnostic);
        None
    }

    /// A list of strings; a single string is accepted as a list of one.
    pub fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        match &node.kind {
            NodeKind::String(s) => vec![Spanned::new(s.clone(), node.span)],
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|item| self.string(item, &format!("each entry of {what}")))
                .collect(),
            _ => {
                self.wrong_type(node, &format!("{what} must be a list of names"));
                Vec::new()
            }
        }
    }
}

/// How to write a value of the expected shape, given what was written.
fn shape_help(expected: &str, actual: &NodeKind) -> String {
    let wants = |word: &str| expected.contains(word);
    match actual {
        NodeKind::Seq(_) if wants("map") => {
            "write `key: value` lines indented under the key, not `- ` list items".to_owned()
        }
        NodeKind::Map(_) | NodeKind::String(_) if wants("list") => {
            "write a list as `[a, b]`, or as one `- item` per line".to_owned()
        }
        NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) if wants("text") => {
            "put the value in quotes to make it text".to_owned()
        }
        NodeKind::String(_) if wants("number") => "write the number without quotes".to_owned(),
        NodeKind::Null => "give it a value, or remove the key".to_owned(),
        _ => "see docs/workflow-format.md for how this key is written".to_owned(),
    }
}

/// `a`, `b` and `c`, for messages.
pub fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Whether `name` can be used after a dot in an expression
/// (`steps.<name>`, `inputs.<name>`).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name` made into an identifier, for a suggestion.
pub fn to_identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}
