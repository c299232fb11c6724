//! The secret probe of issue 17: many ways to transform a secret, sent to
//! every place a run could show it.
//!
//! - Statically: each form, computed from a secret or from a sensitive
//!   face output (the upload link, the verification URL), in every place
//!   that would show it (a log message, `core.set`, a `core.fail` message,
//!   a duration, the `url` of `core.http`, a non-credential face input, a
//!   run output, `if`, `until`) is IDF0020, and the file does not run.
//! - End to end: each form in the credential inputs of `core.http` (a
//!   header, a JSON body, a query value) against a loopback server that
//!   echoes back what it received (answering 200 for some and 500 for the
//!   others, so that the echo lands in outputs and in errors), run by the
//!   real binary with text and JSON logs, for secrets of 1, 3 and 16
//!   characters (`&<>'`, non-ASCII): nothing computed from the secret shows
//!   in stdout, stderr or the run result, nor where a later step logs the
//!   echo or a run output copies it.
//!
//! What counts as shown: a probe string (the secret, and every text the
//! workflow computed from it, worked out here with the same expression
//! engine) inside any log line or any text of the run result. A probe string
//! of one to three ASCII characters (`T`, `16`) occurs in ordinary text by
//! chance, so for those only a whole value counts: a text of the result, or
//! a field of a JSON log line, that is exactly it.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use idflow_engine::expr::{ExprEngine, Scope};
use idflow_engine::model::Expression;
use idflow_engine::source::{SourceFile, Span};
use idflow_engine::validate::validate;
use idflow_tests::idflow;
use serde_json::Value;

/// `@` is the secret value read (`secrets.K`, or a sensitive output), `MAP`
/// the map it is read from (`secrets`, or the step's outputs).
const FORMS: &[&str] = &[
    "@",
    "@ | upper",
    "@ | lower",
    "@ | title",
    "@ | capitalize",
    "@ | reverse",
    "@[1:]",
    "@[:4]",
    "@[::-1]",
    "@[0]",
    "@[-1]",
    "@[0] ~ @[1:]",
    "@ | list",
    "@ | list | join(' ')",
    "@ | list | join('\u{200b}')",
    "@ | list | sort",
    "@ | list | sort | join",
    "@ | replace('a', 'b')",
    "@ | replace('', '-')",
    "@ | split('&')",
    "'%.15s' | format(@)",
    "'%s!' | format(@)",
    "@ | tojson",
    "@ | escape",
    "{'k': @} | tojson",
    "[@] | tojson",
    "MAP | tojson",
    "MAP | pprint",
    "MAP | items | list",
    "MAP | dictsort",
    "MAP | list",
    "@ ~ ''",
    "'<' ~ @ ~ '>'",
    "@ ~ @",
    "@ * 2",
    "@.upper()",
    "@.lower()",
    "@.replace('a', 'b')",
    "@.split()",
    "@.strip()",
    "@ | trim",
    "@ | length",
    "@ | first",
    "@ | last",
    "@ | batch(2) | list",
    "@ | slice(3) | list",
    "@ | map('upper') | join",
    "@ | unique | join",
    "@ | indent(2)",
    "@ | string",
    "[@, 1] | join(',')",
    "dict(a=@) | tojson",
    "@ if true else ''",
    "(@ ~ 'x')[:-1]",
    "namespace(v=@).v",
    "@ | wordcount",
    "@ + 1",
    "@ | urlencode",
];

/// Forms that are text around expressions, or blocks (which never validate:
/// their loop variables are unknown references too).
const TEXT_FORMS: &[&str] = &[
    "key=${{ @ }};",
    "${{ 1 }}${%% for c in @ %%}${{ c }}${%% endfor %%}",
    "${{ 1 }}${%% set v = @ %%}${{ v }}",
    "${{ 1 }}${%% if @ == 'x' %%}x${%% endif %%}",
];

/// The secrets of the end-to-end probe: 1, 3 and 16 characters, with
/// `&<>'` and non-ASCII letters.
const SECRETS: &[&str] = &["ж", "ж<'", "7&Q", "TR0UB4DOR&3<>'ZQ"];

fn expression(form: &str, value: &str, map: &str) -> String {
    form.replace("MAP", map).replace('@', value)
}

/// A workflow with the secret `K`, an enrollment (`file_upload_link`) and
/// a token (`verification_url`), then `rest`.
fn workflow_with(rest: &str) -> String {
    format!(
        "name: probe\nsecrets: [K]\nsteps:\n  enroll:\n    uses: face.create_enrollment\n    with:\n      user_authorized: true\n  token:\n    uses: face.issue_token\n    needs: [enroll]\n    with:\n      account_id: acc\n{rest}"
    )
}

/// Each place that would show a value, as YAML around it (`V`: a value in
/// `${{ }}` or text; `C`: one expression, for conditions).
const SINKS: &[(&str, &str)] = &[
    (
        "log",
        "  sink:\n    uses: core.log\n    needs: [token]\n    with:\n      message: \"V\"\n",
    ),
    (
        "set",
        "  sink:\n    uses: core.set\n    needs: [token]\n    with:\n      value: \"V\"\n",
    ),
    (
        "fail",
        "  sink:\n    uses: core.fail\n    needs: [token]\n    with:\n      message: \"V\"\n",
    ),
    (
        "duration",
        "  sink:\n    uses: core.sleep\n    needs: [token]\n    with:\n      duration: \"V\"\n",
    ),
    (
        "url",
        "  sink:\n    uses: core.http\n    needs: [token]\n    with:\n      url: \"http://127.0.0.1:9/V\"\n",
    ),
    (
        "face input",
        "  sink:\n    uses: face.upload_photo\n    needs: [token]\n    with:\n      file_upload_link: ${{ steps.enroll.outputs.file_upload_link }}\n      photo: \"V\"\n",
    ),
    ("output", "outputs:\n  leak: \"x V\"\n"),
    (
        "if",
        "  sink:\n    uses: core.log\n    needs: [token]\n    if: \"C\"\n    with:\n      message: hi\n",
    ),
    (
        "until",
        "  sink:\n    uses: core.set\n    needs: [token]\n    with:\n      n: 1\n    until: \"C\"\n",
    ),
];

/// The secret values a form can be computed from: (value, its map).
const SOURCES: &[(&str, &str)] = &[
    ("secrets.K", "secrets"),
    (
        "steps.enroll.outputs.file_upload_link",
        "steps.enroll.outputs",
    ),
    (
        "steps.token.outputs.verification_url",
        "steps.token.outputs",
    ),
];

#[test]
fn every_form_in_every_place_that_would_show_it_is_idf0020() {
    let registry = idflow_cli::registry::build().unwrap();
    let engine = ExprEngine::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (value, map) in SOURCES {
        let expressions = FORMS
            .iter()
            .map(|form| (true, expression(form, value, map)));
        let texts = TEXT_FORMS
            .iter()
            .map(|form| (false, expression(form, value, map)));
        for (is_expression, source) in expressions.chain(texts) {
            for (sink, yaml) in SINKS {
                let is_condition = yaml.contains("\"C\"");
                if is_condition && !is_expression {
                    continue;
                }
                let text = if is_expression {
                    format!("${{{{ {source} }}}}")
                } else {
                    source.clone()
                };
                let file = workflow_with(&yaml.replace('V', &text).replace('C', &source));
                let validated = validate(SourceFile::new("probe.yaml", file), &registry, &engine);
                let codes: BTreeSet<&str> = validated
                    .diagnostics
                    .iter()
                    .map(|d| d.code.as_str())
                    .collect();
                checked += 1;
                if !codes.contains("IDF0020") || validated.workflow.is_some() {
                    failures.push(format!("{sink} <- {text}: {codes:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "not refused:\n{}", failures.join("\n"));
    assert!(FORMS.len() + TEXT_FORMS.len() >= 45 && checked >= 45 * SINKS.len() * 3 - 100);
}

/// A loopback HTTP server that answers every request with what it received:
/// the `X-Probe` header, the `v` query value and the JSON body's `v`, as JSON
/// with 200 on `/ok/...`, as text with 500 on `/fail/...`.
struct EchoServer {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl EchoServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    if answer(stream).is_ok() {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Self { port, requests }
    }
}

fn answer(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let target = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let (mut header, mut length) = (String::new(), 0);
    loop {
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line)?;
        let line = String::from_utf8_lossy(&line).trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "x-probe" => value.trim().clone_into(&mut header),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let query = url::Url::parse(&format!("http://h{target}"))
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(name, _)| name == "v")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default();
    let json = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|body| body.get("v").cloned())
        .unwrap_or(Value::Null);
    let (status, content_type, reply) = if target.starts_with("/fail") {
        let json = match &json {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        (
            "500 Internal Server Error",
            "text/plain",
            format!("rejected header={header} query={query} json={json}"),
        )
    } else {
        let reply = serde_json::json!({"header": header, "query": query, "json": json});
        ("200 OK", "application/json", reply.to_string())
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    stream.flush()
}

/// A workflow sending every form in each credential input of `core.http`.
fn credential_workflow(port: u16) -> (String, usize) {
    let mut steps = String::new();
    let mut outputs = String::new();
    let mut count = 0;
    for (index, form) in FORMS.iter().enumerate() {
        let value = format!(
            "\"${{{{ {} }}}}\"",
            expression(form, "secrets.K", "secrets")
        );
        for (offset, (kind, with)) in [
            (
                "header",
                format!("      headers:\n        X-Probe: {value}\n"),
            ),
            (
                "json",
                format!("      method: POST\n      json:\n        v: {value}\n"),
            ),
            ("query", format!("      query:\n        v: {value}\n")),
        ]
        .into_iter()
        .enumerate()
        {
            // Each form gets both answers over its three requests.
            let outcome = if (index + offset) % 2 == 0 {
                "ok"
            } else {
                "fail"
            };
            steps.push_str(&format!(
                "  {kind}_{index}:\n    uses: core.http\n    continue_on_error: true\n    with:\n      url: http://127.0.0.1:{port}/{outcome}/{kind}_{index}\n{with}"
            ));
            count += 1;
        }
        // What the server echoed, read by a later step and a run output:
        // it may quote the secret, so it is redacted strictly there too.
        let echo = if index % 2 == 1 { "json" } else { "query" };
        let read = format!("${{{{ steps.{echo}_{index}.outputs.body['{echo}'] }}}}");
        steps.push_str(&format!(
            "  relay_{index}:\n    uses: core.log\n    needs: [{echo}_{index}]\n    with:\n      message: \"echo: {read}\"\n"
        ));
        outputs.push_str(&format!("  echo_{index}: \"echo: {read}\"\n"));
    }
    let file = format!(
        "name: probe-run\nsecrets: [K]\nsteps:\n{steps}outputs:\n  key: ${{{{ secrets.K }}}}\n{outputs}"
    );
    (file, count)
}

/// Every text `value` holds (keys included).
fn texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| texts(item, out)),
        Value::Object(map) => {
            for (key, item) in map {
                out.push(key.clone());
                texts(item, out);
            }
        }
        // Numbers are the result's structure (attempts, statuses); an
        // echoed secret number is checked on its own.
        Value::Number(_) | Value::Bool(_) | Value::Null => {}
    }
}

/// The secret and every text the forms compute from it.
fn probe_strings(secret: &str) -> BTreeSet<String> {
    let engine = ExprEngine::new();
    let scope = Scope::new().secrets(&serde_json::json!({ "K": secret }));
    let mut strings = BTreeSet::from([secret.to_owned()]);
    for form in FORMS {
        let source = expression(form, "secrets.K", "secrets");
        let parsed = Expression {
            source,
            span: Span::default(),
        };
        if let Ok(value) = engine.eval(&parsed, &scope) {
            let mut found = Vec::new();
            texts(&value, &mut found);
            if let Value::Array(_) | Value::Object(_) = value {
                found.push(value.to_string());
            }
            strings.extend(found.into_iter().filter(|text| !text.trim().is_empty()));
        }
    }
    // What the forms add without the secret (the key of `{'k': @}`, the
    // secret's name, the `1` of `[@, 1]`) is no probe; the secret's length
    // is.
    strings.retain(|text| {
        text.chars().any(|c| secret.contains(c))
            || (text.chars().all(|c| c.is_ascii_digit()) && text != "1")
    });
    for structure in ["k", "K", "a", "v", "x", "<", ">", "!", "-", ","] {
        strings.remove(structure);
    }
    strings
}

/// Whether `probe` shows in the text `haystack` (a log or a whole output),
/// or is one of the `values` (texts of the result, fields of JSON logs).
fn shows(probe: &str, haystack: &str, values: &[String]) -> bool {
    let whole = values.iter().any(|value| value.trim() == probe.trim());
    if probe.chars().count() >= 4 || !probe.is_ascii() {
        whole || haystack.contains(probe) || values.iter().any(|value| value.contains(probe))
    } else {
        whole
    }
}

#[test]
fn secrets_sent_to_credential_inputs_and_echoed_back_never_show() {
    let server = EchoServer::start();
    let (workflow, steps) = credential_workflow(server.port);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe-run.yaml");
    std::fs::write(&path, workflow).unwrap();
    let mut leaks = Vec::new();
    let mut runs = 0;
    for secret in SECRETS {
        let probes = probe_strings(secret);
        assert!(probes.len() > 10, "{secret}: {probes:?}");
        for log_format in ["text", "json"] {
            let before = server.requests.load(Ordering::SeqCst);
            let output = idflow()
                .args([
                    "run",
                    path.to_str().unwrap(),
                    "--json",
                    "--log-format",
                    log_format,
                ])
                .env("K", secret)
                .output()
                .unwrap();
            runs += 1;
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert_eq!(output.status.code(), Some(0), "{stderr}\n{stdout}");
            let result: Value = serde_json::from_str(&stdout).unwrap();
            // Most forms reached the server (the others failed before
            // sending, as they should: a list is not a header value).
            let sent = server.requests.load(Ordering::SeqCst) - before;
            assert!(sent * 2 > steps, "{sent} of {steps} requests arrived");
            assert_eq!(result["outputs"]["key"], "[redacted]");
            // The server echoed the secret's length (a number) back as JSON.
            let length = FORMS.iter().position(|form| *form == "@ | length").unwrap();
            let echoed = &result["steps"][format!("json_{length}")];
            assert_eq!(echoed["outputs"]["body"]["json"], "[redacted]", "{echoed}");
            let mut values = Vec::new();
            texts(&result, &mut values);
            let mut log_values = Vec::new();
            if log_format == "json" {
                for line in stderr.lines() {
                    let line: Value = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
                    texts(&line, &mut log_values);
                }
            }
            for probe in &probes {
                if shows(probe, "", &values) {
                    leaks.push(format!(
                        "{secret:?} {log_format}: {probe:?} in the run result"
                    ));
                }
                if shows(probe, &stderr, &log_values) {
                    leaks.push(format!("{secret:?} {log_format}: {probe:?} in the logs"));
                }
            }
        }
    }
    assert_eq!(runs, SECRETS.len() * 2);
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

#[test]
fn a_sensitive_run_output_is_shown_only_when_revealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reveal.yaml");
    std::fs::write(
        &path,
        "name: reveal\nsecrets: [K]\nsteps:\n  hello:\n    uses: core.log\n    with:\n      message: hi\noutputs:\n  key: ${{ secrets.K }}\n",
    )
    .unwrap();
    let run = |reveal: bool| {
        let mut command = idflow();
        command
            .args(["run", path.to_str().unwrap()])
            .env("K", "ж<'");
        if reveal {
            command.args(["--reveal", "key"]);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (hidden, logs) = run(false);
    assert!(
        hidden.contains("key: [redacted] (`--reveal key` shows it)"),
        "{hidden}"
    );
    assert!(
        !hidden.contains("ж") && !logs.contains("ж"),
        "{hidden}{logs}"
    );
    let (shown, logs) = run(true);
    assert!(shown.contains("key: ж<'"), "{shown}");
    assert!(!logs.contains("ж"), "{logs}");
}
