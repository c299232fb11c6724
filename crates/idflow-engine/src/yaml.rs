//! The YAML loader: text in, a tree of spanned [`Node`]s out.
//!
//! This is the only module that knows the YAML library (`serde-saphyr`). It
//! parses with budgets (size, depth, node count, alias expansion) so that a
//! YAML bomb, deep nesting or a huge file becomes a diagnostic instead of an
//! out-of-memory or a hang. Duplicate keys are kept (not rejected by the
//! parser) so that the validator can report them with its own code and both
//! places.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned as YamlSpanned;

use crate::diagnostic::{Code, Diagnostic};
use crate::source::{SourceFile, Span};

/// The largest workflow file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;
/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// The most YAML nodes (scalars, lists, maps) accepted.
pub const MAX_NODES: usize = 1_000_000;
/// The stack the parser runs on.
const PARSER_STACK_BYTES: usize = 64 * 1024 * 1024;

/// A YAML value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Where it was written (for a collection: its first token).
    pub span: Span,
}

/// The kinds of YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i128),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    String(String),
    /// A list.
    Seq(Vec<Node>),
    /// A map, in written order, duplicates kept.
    Map(Vec<(Node, Node)>),
}

impl NodeKind {
    /// The name of the kind, for messages ("a list", "text").
    pub fn describe(&self) -> &'static str {
        match self {
            NodeKind::Null => "nothing (null)",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) | NodeKind::Float(_) => "a number",
            NodeKind::String(_) => "text",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }
}

impl Node {
    /// The text, when the node is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, when the node is a map.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The text of a scalar key (strings, numbers and booleans are all
    /// valid keys in YAML; we read them as text).
    pub fn key_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::String(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            NodeKind::Null => Some("null".to_owned()),
            NodeKind::Seq(_) | NodeKind::Map(_) => None,
        }
    }

    /// The value as JSON (map keys as text).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => i64::try_from(*i)
                .map(Value::from)
                .or_else(|_| u64::try_from(*i).map(Value::from))
                .unwrap_or_else(|_| Value::String(i.to_string())),
            NodeKind::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeKind::String(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses a workflow file into a node tree; a failure is one located
/// diagnostic (YAML stops at its first syntax error).
pub fn parse(file: &SourceFile) -> Result<Node, Diagnostic> {
    if file.text.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::new(
            Code::InputLimit,
            Span::new(0, 0),
            format!("the file is larger than the {MAX_FILE_BYTES} bytes a workflow file may have"),
        )
        .help("split the workflow into smaller files"));
    }
    // The parser recurses once per nesting level with large frames; give it
    // a stack that the depth budget cannot exhaust, whatever thread we are
    // called on.
    let text = file.text.as_str();
    let root = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("idflow-yaml".into())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, || {
                serde_saphyr::from_str_with_options::<YamlSpanned<RawNode>>(text, parser_options())
            })
            .map(std::thread::ScopedJoinHandle::join)
    });
    let Ok(Ok(root)) = root else {
        return Err(Diagnostic::new(
            Code::InputLimit,
            Span::new(0, 0),
            "the file could not be loaded: the YAML parser gave up",
        )
        .help("simplify the file: less nesting, fewer aliases"));
    };
    match root {
        Ok(root) => {
            let span = span_of(file, &root);
            Ok(convert(file, root.value, span))
        }
        Err(error) => Err(yaml_error(file, &error)),
    }
}

fn parser_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_events: MAX_NODES * 4,
        },
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        // Only `true` and `false` are booleans: `NO` (Norway) stays text.
        strict_booleans: true,
        with_snippet: false,
    }
}

fn yaml_error(file: &SourceFile, error: &serde_saphyr::Error) -> Diagnostic {
    let location = error.location();
    let span = location.map_or(Span::new(0, 0), |location| {
        let start = location_offset(file, &location);
        Span::new(start, start + next_char_len(&file.text, start))
    });
    let message = error.to_string();
    let first_line = message.lines().next().unwrap_or("invalid YAML").trim();
    // The position is shown by the diagnostic itself.
    let message = first_line
        .find(" at line ")
        .map_or(first_line, |at| &first_line[..at])
        .to_owned();
    let budget = message.contains("budget")
        || message.contains("recursion limit")
        || message.contains("depth");
    if budget {
        let reason = if message.contains("Depth")
            || message.contains("depth")
            || message.contains("recursion")
        {
            format!("it nests deeper than {MAX_DEPTH} levels")
        } else if message.contains("lias") || message.contains("nchor") {
            "its aliases (`*name`) expand into too much data".to_owned()
        } else {
            "it holds too many values".to_owned()
        };
        Diagnostic::new(Code::InputLimit, span, format!("the file cannot be loaded safely: {reason}"))
            .help(format!(
                "workflow files may nest at most {MAX_DEPTH} levels and hold at most {MAX_NODES} values; aliases may not expand into huge documents"
            ))
    } else if message.contains("from_str_multiple") || message.contains("multiple documents") {
        Diagnostic::new(
            Code::YamlSyntax,
            span,
            "the file holds more than one YAML document (`---`)",
        )
        .help("a workflow file holds one workflow: remove the `---` line, or split the file")
    } else {
        Diagnostic::new(Code::YamlSyntax, span, format!("invalid YAML: {message}"))
            .help("check the indentation and quoting around this place; text containing `: ` or starting with `{`, `[`, `*`, `&` or `!` needs quotes")
    }
}

fn next_char_len(text: &str, offset: usize) -> usize {
    text.get(offset..)
        .and_then(|rest| rest.chars().next())
        .map_or(0, char::len_utf8)
}

fn location_offset(file: &SourceFile, location: &serde_saphyr::Location) -> usize {
    let span = location.span();
    match span.byte_offset() {
        Some(offset) => usize::try_from(offset).unwrap_or(file.text.len()),
        None => file.offset_of(
            usize::try_from(location.line()).unwrap_or(usize::MAX),
            usize::try_from(location.column()).unwrap_or(usize::MAX),
        ),
    }
}

fn span_of<T>(file: &SourceFile, spanned: &YamlSpanned<T>) -> Span {
    let location = &spanned.referenced;
    let start = location_offset(file, location);
    let len = location
        .span()
        .byte_len()
        .and_then(|len| usize::try_from(len).ok())
        .unwrap_or(0);
    Span::new(start, (start + len).min(file.text.len()))
}

fn convert(file: &SourceFile, raw: RawNode, span: Span) -> Node {
    let kind = match raw {
        RawNode::Null => NodeKind::Null,
        RawNode::Bool(b) => NodeKind::Bool(b),
        RawNode::Int(i) => NodeKind::Int(i),
        RawNode::Float(f) => NodeKind::Float(f),
        RawNode::String(s) => NodeKind::String(s),
        RawNode::Seq(items) => NodeKind::Seq(
            items
                .into_iter()
                .map(|item| {
                    let span = span_of(file, &item);
                    convert(file, item.value, span)
                })
                .collect(),
        ),
        RawNode::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(key, value)| {
                    let key_span = span_of(file, &key);
                    let value_span = span_of(file, &value);
                    (
                        convert(file, key.value, key_span),
                        convert(file, value.value, value_span),
                    )
                })
                .collect(),
        ),
    };
    // A collection's span from the parser covers its first token; make it
    // at least one character so a caret shows.
    let span = if span.is_empty() {
        Span::new(
            span.start,
            span.start + next_char_len(&file.text, span.start),
        )
    } else {
        span
    };
    Node { kind, span }
}

/// The parser-facing tree: children carry the YAML library's locations.
enum RawNode {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    String(String),
    Seq(Vec<YamlSpanned<RawNode>>),
    Map(Vec<(YamlSpanned<RawNode>, YamlSpanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawNodeVisitor)
    }
}

struct RawNodeVisitor;

impl<'de> Visitor<'de> for RawNodeVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Int(i128::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        Ok(RawNode::Int(i128::from(v)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawNode, E> {
        Ok(RawNode::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawNode, E> {
        Ok(i128::try_from(v).map_or_else(|_| RawNode::String(v.to_string()), RawNode::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::String(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawNode, E> {
        Ok(RawNode::String(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<YamlSpanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<YamlSpanned<RawNode>>()? {
            let value = map.next_value::<YamlSpanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (std::sync::Arc<SourceFile>, Result<Node, Diagnostic>) {
        let file = SourceFile::new("t.yaml", text);
        let node = parse(&file);
        (file, node)
    }

    fn text_at(file: &SourceFile, span: Span) -> &str {
        &file.text[span.start..span.end]
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let (file, node) =
            load("name: demo\nsteps:\n  a:\n    uses: core.log\n    needs: [b, 'c']\n");
        let node = node.unwrap();
        let map = node.as_map().unwrap();
        assert_eq!(text_at(&file, map[0].0.span), "name");
        assert_eq!(text_at(&file, map[0].1.span), "demo");
        let steps = map[1].1.as_map().unwrap();
        let step = steps[0].1.as_map().unwrap();
        assert_eq!(text_at(&file, step[0].1.span), "core.log");
        let NodeKind::Seq(needs) = &step[1].1.kind else {
            panic!("needs is a list")
        };
        assert_eq!(text_at(&file, needs[0].span), "b");
        assert_eq!(file.line_col(needs[1].span.start), (5, 16));
    }

    #[test]
    fn keeps_duplicate_keys() {
        let (_, node) = load("a: 1\na: 2\n");
        assert_eq!(node.unwrap().as_map().unwrap().len(), 2);
    }

    #[test]
    fn scalar_types_are_inferred() {
        let (_, node) = load("a: 1\nb: 1.5\nc: true\nd: '1'\ne: ~\nf: -3\n");
        let json = node.unwrap().to_json();
        assert_eq!(
            json,
            serde_json::json!({"a": 1, "b": 1.5, "c": true, "d": "1", "e": null, "f": -3})
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let (file, node) = load("name: x\nsteps:\n  a: [unclosed\n");
        let diagnostic = node.unwrap_err();
        assert_eq!(diagnostic.code, Code::YamlSyntax);
        assert!(
            file.line_col(diagnostic.span.start).0 >= 3,
            "{diagnostic:?}"
        );
    }

    #[test]
    fn a_billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            let aliases = vec![format!("*a{prev}"); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{aliases}]\n"));
        }
        let (_, node) = load(&text);
        let diagnostic = node.unwrap_err();
        assert_eq!(diagnostic.code, Code::InputLimit, "{diagnostic:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let (_, node) = load(&text);
        assert!(node.is_err());
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&"  ".repeat(i));
            text.push_str(&format!("k{i}:\n"));
        }
        let (_, node) = load(&text);
        assert_eq!(node.unwrap_err().code, Code::InputLimit);
    }

    #[test]
    fn a_huge_file_is_refused_before_parsing() {
        let text = "#".repeat(MAX_FILE_BYTES + 1);
        let (_, node) = load(&text);
        assert_eq!(node.unwrap_err().code, Code::InputLimit);
    }
}
