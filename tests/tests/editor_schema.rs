//! The editor schema (`docs/workflow.schema.json`) as an editor shows it:
//! the real yaml-language-server (installed by `scripts/setup`) over every
//! shipped workflow and every valid workflow example of the docs must
//! report nothing at all, and over each invalid fixture whose problem a
//! schema can express it must flag the line `idflow validate` reports (a
//! diagnostic whose range covers it: the key, or the step missing a key).
//!
//! The test speaks the Language Server Protocol over the server's stdio:
//! JSON-RPC messages framed by `Content-Length` headers; `initialize`, the
//! `yaml.schemas` setting that maps the schema to the examples and
//! fixtures (shipped workflows name it in their first line),
//! `textDocument/didOpen`, then one `textDocument/publishDiagnostics` per
//! document.

// Helpers are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use idflow_engine::expr::ExprEngine;
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use idflow_tests::{files_in, marked, repo_root};
use serde_json::{Value, json};

/// The longest the test waits for one message (a guard against a hung
/// server, not a timing assertion).
const GUARD: Duration = Duration::from_mins(2);

/// Diagnostic codes a JSON Schema can express: YAML syntax, unknown and
/// missing keys, wrong types, names and choices, duplicates, step types,
/// `with` keys and values, durations and ranges. The others (needs,
/// cycles, expressions, secrets, budgets) are `idflow validate`'s alone.
const EXPRESSIBLE: &[&str] = &[
    "IDF0001", "IDF0003", "IDF0004", "IDF0005", "IDF0006", "IDF0007", "IDF0008", "IDF0015",
    "IDF0016", "IDF0017", "IDF0018", "IDF0019",
];

/// Fixtures of expressible codes that the schema cannot see, and why.
const NOT_EXPRESSIBLE: &[(&str, &str)] = &[
    (
        "IDF0004-empty-file.yaml",
        "an empty file has no document to check",
    ),
    (
        "IDF0005-input-default-wrong-type.yaml",
        "the default's type depends on the sibling `type`",
    ),
    (
        "IDF0006-required-input-with-default.yaml",
        "a rule between two keys' values",
    ),
    (
        "IDF0019-poll-max-interval-below-interval.yaml",
        "a comparison of two durations",
    ),
    (
        "IDF0019-retry-max-below-initial.yaml",
        "a comparison of two durations",
    ),
    (
        "IDF0019-zero-timeout.yaml",
        "`0s` has the shape of a duration; its value is the problem",
    ),
];

/// The yaml-language-server that `scripts/setup` installs.
fn server_path() -> PathBuf {
    let path = std::env::var_os("IDFLOW_YAML_LANGUAGE_SERVER").map_or_else(
        || repo_root().join(".cache/yaml-language-server/node_modules/.bin/yaml-language-server"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup (it installs yaml-language-server from npm)",
        path.display()
    );
    path
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A running yaml-language-server.
struct LanguageServer {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    settings: Value,
    next_id: u64,
}

impl LanguageServer {
    fn start(settings: Value) -> Self {
        let mut child = Command::new(server_path())
            .arg("--stdio")
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("yaml-language-server starts (is node installed?)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            stdin,
            messages,
            settings,
            next_id: 0,
        };
        server.request(
            "initialize",
            &json!({
                "processId": null,
                "rootUri": uri(&repo_root()),
                "capabilities": { "workspace": { "configuration": true } },
            }),
        );
        server.notify("initialized", &json!({}));
        let settings = server.settings.clone();
        server.notify(
            "workspace/didChangeConfiguration",
            &json!({ "settings": settings }),
        );
        server
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len())
            .and_then(|()| self.stdin.flush())
            .expect("the language server reads its input");
    }

    fn notify(&mut self, method: &str, params: &Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its answer.
    fn request(&mut self, method: &str, params: &Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.next();
            if message["id"] == id && message.get("method").is_none() {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    /// The next message that is not a request of the server (those are
    /// answered here: the settings, or nothing).
    fn next(&mut self) -> Value {
        loop {
            let message = self
                .messages
                .recv_timeout(GUARD)
                .expect("the language server answers");
            let (Some(id), Some(method)) = (message.get("id"), message["method"].as_str()) else {
                return message;
            };
            let result = if method == "workspace/configuration" {
                let items = message["params"]["items"].as_array().map_or(0, Vec::len);
                let section = |index: usize| {
                    let name = message["params"]["items"][index]["section"].as_str();
                    name.and_then(|name| self.settings.get(name).cloned())
                        .unwrap_or(Value::Null)
                };
                Value::Array((0..items).map(section).collect())
            } else {
                Value::Null
            };
            let answer = json!({ "jsonrpc": "2.0", "id": id.clone(), "result": result });
            self.send(&answer);
        }
    }

    /// Opens the documents (`(path, text)`) and returns each one's
    /// diagnostics as `(first line, last line, message)`, lines counted
    /// from 1.
    fn diagnose(
        &mut self,
        documents: &[(PathBuf, String)],
    ) -> BTreeMap<String, Vec<(u64, u64, String)>> {
        for (path, text) in documents {
            self.notify(
                "textDocument/didOpen",
                &json!({ "textDocument": { "uri": uri(path), "languageId": "yaml", "version": 1, "text": text } }),
            );
        }
        let mut found = BTreeMap::new();
        while found.len() < documents.len() {
            let message = self.next();
            if message["method"] != "textDocument/publishDiagnostics" {
                continue;
            }
            let diagnostics = message["params"]["diagnostics"]
                .as_array()
                .map(|all| {
                    all.iter()
                        .map(|d| {
                            let line =
                                |end: &str| d["range"][end]["line"].as_u64().unwrap_or(0) + 1;
                            (
                                line("start"),
                                line("end"),
                                d["message"].as_str().unwrap_or("").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Some(uri) = message["params"]["uri"].as_str() {
                found.insert(uri.to_owned(), diagnostics);
            }
        }
        found
    }
}

impl Drop for LanguageServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message: `Content-Length` headers, a blank line, the JSON body.
fn read_message(reader: &mut impl std::io::BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// The settings: the schema for the docs' examples and the fixtures,
/// which do not name it themselves; nothing from the internet.
fn settings() -> Value {
    let schema = uri(&repo_root().join("docs/workflow.schema.json"));
    json!({
        "yaml": {
            "validate": true,
            "schemaStore": { "enable": false },
            "schemas": { schema: ["**/docs-examples/*.yaml", "**/fixtures/invalid/*.yaml"] },
        }
    })
}

/// Every valid workflow the repository shows: the shipped ones, the
/// authoring guide's valid examples (warnings included: the files are
/// valid; they are opened as if in a folder beside `docs/`, where the
/// schema line of the guide's first example leads), and the README's
/// workflow (it names the schema itself).
fn valid_documents() -> Vec<(PathBuf, String)> {
    let mut documents: Vec<(PathBuf, String)> = files_in("workflows", &["yaml"])
        .into_iter()
        .filter(|path| !idflow_testing::suite::is_test_file(path))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect();
    let guide = std::fs::read_to_string(repo_root().join("docs/workflow-format.md")).unwrap();
    for (line, expectation, yaml) in marked(&guide, "<!-- check:") {
        if expectation == "valid" || expectation.starts_with("IDF1") {
            let path = repo_root().join(format!("docs-examples/workflow-format-{line}.yaml"));
            documents.push((path, yaml));
        }
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if *line == "```yaml"
            && lines.get(index + 1)
                == Some(&"# yaml-language-server: $schema=docs/workflow.schema.json")
        {
            let end = lines[index + 1..]
                .iter()
                .position(|l| l.starts_with("```"))
                .map_or(lines.len(), |p| index + 1 + p);
            let path = repo_root().join(format!("README-{}.yaml", index + 1));
            documents.push((path, lines[index + 1..end].join("\n") + "\n"));
        }
    }
    documents
}

#[test]
fn the_language_server_flags_nothing_in_valid_files_and_the_right_line_in_invalid_ones() {
    let valid = valid_documents();
    assert!(
        valid.len() >= 4 + 20,
        "too few valid documents: {}",
        valid.len()
    );

    // The invalid fixtures, with the line of `idflow validate`'s diagnostic.
    let registry = idflow_cli::registry::build().unwrap();
    let engine = ExprEngine::new();
    let mut invalid = Vec::new();
    let mut expected = BTreeMap::new();
    for path in files_in("tests/fixtures/invalid", &["yaml"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let validated = validate(
            SourceFile::new(name.clone(), text.clone()),
            &registry,
            &engine,
        );
        let report = validated.reports().into_iter().next().unwrap().to_json();
        let skipped = NOT_EXPRESSIBLE.iter().any(|(fixture, _)| *fixture == name);
        if EXPRESSIBLE.contains(&report.code) && !skipped {
            expected.insert(
                uri(&path),
                (report.line as u64, report.code, report.message),
            );
            invalid.push((path, text));
        }
    }
    assert!(invalid.len() >= 40, "too few fixtures: {}", invalid.len());

    let mut server = LanguageServer::start(settings());
    let mut problems = Vec::new();
    for (uri, diagnostics) in server.diagnose(&valid) {
        if !diagnostics.is_empty() {
            problems.push(format!("{uri} is valid, yet: {diagnostics:?}"));
        }
    }
    for (uri, diagnostics) in server.diagnose(&invalid) {
        let (line, code, message) = &expected[&uri];
        // The editor underlines the offending key, or the whole step when a
        // key is missing from it: a diagnostic covering the line.
        if !diagnostics
            .iter()
            .any(|(first, last, _)| (first..=last).contains(&line))
        {
            problems.push(format!(
                "{uri}: `idflow validate` says {code} at line {line} ({message}); the editor: {diagnostics:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The shipped workflows' own first line names the schema; the server
/// must not need the settings for them.
#[test]
fn shipped_workflows_name_the_schema_and_an_expression_is_taken_for_a_number() {
    let path = repo_root().join("workflows/face-verification.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("threshold: ${{ inputs.threshold }}"),
        "the example moved"
    );
    // A number input given as text that is not an expression is still wrong.
    let wrong = text.replace("threshold: ${{ inputs.threshold }}", "threshold: high");
    let wrong_path = repo_root().join("workflows/not-shipped-threshold.yaml");
    let mut server = LanguageServer::start(
        json!({ "yaml": { "validate": true, "schemaStore": { "enable": false } } }),
    );
    let found = server.diagnose(&[(path.clone(), text.clone()), (wrong_path.clone(), wrong)]);
    assert_eq!(found[&uri(&path)], Vec::new(), "{found:?}");
    let line = text
        .lines()
        .position(|l| l.contains("threshold: ${{"))
        .unwrap() as u64
        + 1;
    assert!(
        found[&uri(&wrong_path)]
            .iter()
            .any(|(at, _, _)| *at == line),
        "{found:?}"
    );
}
