//! The YAML loader: text in, a tree of spanned [`Node`]s out.
//!
//! This is the only module that knows the YAML library (`serde-saphyr`,
//! through the event parser it is built on). It builds the tree from the
//! event stream with budgets (size, depth, node count, alias expansion) so
//! that a YAML bomb, deep nesting or a huge file becomes a diagnostic
//! instead of an out-of-memory or a hang. Duplicate keys are kept so that
//! the validator can report them with its own code and both places. Values
//! follow the YAML 1.2 core schema: only `true` and `false` are booleans.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{
    self, Event, Parser, ScalarStyle, ScanError, Span as ParserSpan, Tag,
};

use crate::diagnostic::{Code, Diagnostic};
use crate::source::{SourceFile, Span};

/// The largest workflow file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;
/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// The most YAML nodes (scalars, lists, maps) accepted.
pub const MAX_NODES: usize = 1_000_000;

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
    /// valid keys in YAML; we read them as text). Borrowed for the usual
    /// text keys.
    pub fn key_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match &self.kind {
            NodeKind::String(s) => Some(Cow::Borrowed(s.as_str())),
            NodeKind::Int(i) => Some(Cow::Owned(i.to_string())),
            NodeKind::Float(f) => Some(Cow::Owned(f.to_string())),
            NodeKind::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            NodeKind::Null => Some(Cow::Borrowed("null")),
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
                    .map(|(k, v)| (k.key_text().unwrap_or_default().into_owned(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses a workflow file into a node tree; a failure is one located
/// diagnostic (YAML stops at its first syntax error).
///
/// The tree is built from the parser's event stream without recursion, so
/// no input can exhaust the stack; the budgets bound what a small file can
/// make the loader do (aliases count every node they copy).
pub fn parse(file: &SourceFile) -> Result<Node, Diagnostic> {
    if file.text.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::new(
            Code::InputLimit,
            Span::new(0, 0),
            format!("the file is larger than the {MAX_FILE_BYTES} bytes a workflow file may have"),
        )
        .help("split the workflow into smaller files"));
    }
    let mut builder = Builder::new(file);
    for event in Parser::new_from_str(&file.text) {
        let (event, span) = event.map_err(|error| builder.syntax_error(&error))?;
        builder.event(event, span)?;
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Null,
        span: Span::new(0, 0),
    }))
}

/// A collection being built.
enum Open {
    /// Items, where it started, its anchor.
    Seq(Vec<Node>, Span, usize),
    /// Entries, the key waiting for its value, where it started, its anchor.
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

/// A collection being built and how many nodes it holds so far (itself
/// and everything inside, aliases expanded).
struct Building {
    open: Open,
    size: usize,
}

/// Builds the tree from parser events.
struct Builder<'f> {
    file: &'f SourceFile,
    stack: Vec<Building>,
    root: Option<Node>,
    /// Anchored nodes by anchor id, with their node counts.
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    documents: usize,
}

impl<'f> Builder<'f> {
    fn new(file: &'f SourceFile) -> Self {
        Self {
            file,
            stack: Vec::new(),
            root: None,
            anchors: HashMap::new(),
            nodes: 0,
            documents: 0,
        }
    }

    fn span(&self, span: &ParserSpan) -> Span {
        let offset = |marker: &granit_parser::Marker| {
            marker
                .byte_offset()
                .unwrap_or_else(|| self.file.offset_of(marker.line(), marker.col() + 1))
                .min(self.file.text.len())
        };
        let start = offset(&span.start);
        Span::new(start, offset(&span.end).max(start))
    }

    fn limit(&self, span: Span, reason: &str) -> Diagnostic {
        Diagnostic::new(Code::InputLimit, non_empty(self.file, span), format!("the file cannot be loaded safely: {reason}")).help(format!(
            "workflow files may nest at most {MAX_DEPTH} levels and hold at most {MAX_NODES} values; aliases may not expand into huge documents"
        ))
    }

    fn syntax_error(&self, error: &ScanError) -> Diagnostic {
        let marker = error.marker();
        let start = marker
            .byte_offset()
            .unwrap_or_else(|| self.file.offset_of(marker.line(), marker.col() + 1))
            .min(self.file.text.len());
        let span = Span::new(start, start + next_char_len(&self.file.text, start));
        let info = error.info();
        let message = info.lines().next().unwrap_or("invalid YAML").trim();
        Diagnostic::new(Code::YamlSyntax, span, format!("invalid YAML: {message}"))
            .help("check the indentation and quoting around this place; text containing `: ` or starting with `{`, `[`, `*`, `&` or `!` needs quotes")
    }

    fn count(&mut self, added: usize, span: Span) -> Result<(), Diagnostic> {
        self.nodes += added;
        if self.nodes > MAX_NODES {
            let reason = if added > 1 {
                "its aliases (`*name`) expand into too much data".to_owned()
            } else {
                "it holds too many values".to_owned()
            };
            return Err(self.limit(span, &reason));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: ParserSpan) -> Result<(), Diagnostic> {
        let span = self.span(&span);
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Diagnostic::new(Code::YamlSyntax, span, "the file holds more than one YAML document (`---`)")
                        .help("a workflow file holds one workflow: remove the `---` line, or split the file"));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, span)?;
                let kind = scalar(&text, style, tag.as_deref());
                let kind = kind.map_err(|tag| {
                    Diagnostic::new(Code::YamlSyntax, span, format!("the YAML tag `{tag}` is not used in workflow files"))
                        .help("remove the tag: values are read as text, numbers, true/false or null by themselves")
                })?;
                self.finish(
                    Node {
                        kind,
                        span: non_empty(self.file, span),
                    },
                    anchor,
                    1,
                );
            }
            Event::SequenceStart(_, anchor, _) => {
                self.open(Open::Seq(Vec::new(), span, anchor), span)?;
            }
            Event::MappingStart(_, anchor, _) => {
                self.open(Open::Map(Vec::new(), None, span, anchor), span)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(Building { open, size }) = self.stack.pop() else {
                    return Ok(());
                };
                let (kind, start, anchor) = match open {
                    Open::Seq(items, start, anchor) => (NodeKind::Seq(items), start, anchor),
                    Open::Map(entries, _, start, anchor) => (NodeKind::Map(entries), start, anchor),
                };
                // A collection's span is its first token (one character),
                // so a caret shows where it starts.
                let start = Span::new(
                    start.start,
                    start.start + next_char_len(&self.file.text, start.start),
                );
                self.finish(Node { kind, span: start }, anchor, size);
            }
            Event::Alias(id) => {
                let Some(size) = self.anchors.get(&id).map(|(_, size)| *size) else {
                    return Err(Diagnostic::new(
                        Code::YamlSyntax,
                        span,
                        "this alias names no anchor defined before it",
                    )
                    .help("define the anchor (`&name`) before using it (`*name`)"));
                };
                // Count what the alias copies before copying it.
                self.count(size, span)?;
                let node = self.anchors.get(&id).map(|(node, _)| node.clone());
                if let Some(node) = node {
                    self.finish(node, 0, size);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn open(&mut self, open: Open, span: Span) -> Result<(), Diagnostic> {
        self.count(1, span)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.limit(span, &format!("it nests deeper than {MAX_DEPTH} levels")));
        }
        self.stack.push(Building { open, size: 1 });
        Ok(())
    }

    /// A complete node: into its parent (or as the root), and remembered
    /// under its anchor.
    fn finish(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        parent.size = parent.size.saturating_add(size);
        match &mut parent.open {
            Open::Seq(items, ..) => items.push(node),
            Open::Map(entries, pending, ..) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

fn non_empty(file: &SourceFile, span: Span) -> Span {
    if span.is_empty() {
        Span::new(
            span.start,
            span.start + next_char_len(&file.text, span.start),
        )
    } else {
        span
    }
}

/// What a scalar is (YAML 1.2 core schema: only `true` and `false` are
/// booleans). Quoted and block scalars are text. A tag other than the core
/// schema's is refused (its text is the error).
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<NodeKind, String> {
    if let Some(tag) = tag {
        if !tag.is_yaml_core_schema() {
            return Err(tag.to_string());
        }
        if tag.is_yaml_core_schema_tag("str") {
            return Ok(NodeKind::String(text.to_owned()));
        }
    }
    if style != ScalarStyle::Plain {
        return Ok(NodeKind::String(text.to_owned()));
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => NodeKind::Null,
        "true" | "True" | "TRUE" => NodeKind::Bool(true),
        "false" | "False" | "FALSE" => NodeKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => NodeKind::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => NodeKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => NodeKind::Float(f64::NAN),
        _ => number(text).unwrap_or_else(|| NodeKind::String(text.to_owned())),
    })
}

/// A YAML 1.2 core-schema number, if the text is one.
fn number(text: &str) -> Option<NodeKind> {
    let first = text.as_bytes().first()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i128::from_str_radix(hex, 16).ok().map(NodeKind::Int);
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return i128::from_str_radix(octal, 8).ok().map(NodeKind::Int);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(text.parse::<i128>().map_or_else(
            |_| NodeKind::Float(text.parse().unwrap_or(f64::INFINITY)),
            NodeKind::Int,
        ));
    }
    let valid_float = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if valid_float {
        return text.parse::<f64>().ok().map(NodeKind::Float);
    }
    None
}

fn next_char_len(text: &str, offset: usize) -> usize {
    text.get(offset..)
        .and_then(|rest| rest.chars().next())
        .map_or(0, char::len_utf8)
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Nothing panics on any input, and every span is inside the text.
        #[test]
        fn any_text_loads_or_gets_a_located_diagnostic(text in "[ -~\\n\\t:{}\\[\\],&*!|>'\"#%@`ñ€]{0,200}") {
            let file = SourceFile::new("p.yaml", text);
            match parse(&file) {
                Ok(node) => {
                    let mut stack = vec![&node];
                    while let Some(node) = stack.pop() {
                        proptest::prop_assert!(node.span.end <= file.text.len());
                        proptest::prop_assert!(file.text.is_char_boundary(node.span.start));
                        match &node.kind {
                            NodeKind::Seq(items) => stack.extend(items),
                            NodeKind::Map(entries) => stack.extend(entries.iter().flat_map(|(k, v)| [k, v])),
                            _ => {}
                        }
                    }
                }
                Err(diagnostic) => proptest::prop_assert!(diagnostic.span.end <= file.text.len()),
            }
        }
    }

    #[test]
    fn yaml_1_2_scalars_and_tags() {
        let (_, node) = load("a: NO\nb: yes\nc: 0x1f\nd: 0o17\ne: 1e3\nf: !!str 12\ng: .5\n");
        assert_eq!(
            node.unwrap().to_json(),
            serde_json::json!({"a": "NO", "b": "yes", "c": 31, "d": 15, "e": 1000.0, "f": "12", "g": 0.5})
        );
        let (_, node) = load("a: !Ref x\n");
        assert_eq!(node.unwrap_err().code, Code::YamlSyntax);
        let (_, node) = load("a: 1\n---\nb: 2\n");
        assert!(
            node.unwrap_err()
                .message
                .contains("more than one YAML document")
        );
        let (_, node) = load("a: *nothing\n");
        assert_eq!(node.unwrap_err().code, Code::YamlSyntax);
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
