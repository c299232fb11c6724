//! The README cannot drift: every `$ idflow ...` command in it runs here,
//! in a scratch folder holding the files the README writes
//! (`<!-- file: NAME -->` before a code block) and links to the
//! repository's `workflows/`, `docs/` and `.cache/`. A command expects exit
//! 0 unless its comment says `exits N`; lines after a command in the same
//! block are output it must print. The two commands at the top run
//! elsewhere: `scripts/demo` in `main_job.rs`, `scripts/test` in CI. The
//! README's Rust snippet compiles as a doctest of this package.
//!
//! The Truora command runs against the embedded provider started with
//! `idflow serve` and a client key from `idflow provider create-client`:
//! the same workflow, configured only through the environment.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use idflow_tests::{idflow_bin, repo_root};

struct Example {
    line: usize,
    command: String,
    exit: i32,
    expected: Vec<String>,
}

fn parse(readme: &str) -> (Vec<(String, String)>, Vec<Example>) {
    let lines: Vec<&str> = readme.lines().collect();
    let mut files = Vec::new();
    let mut examples: Vec<Example> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(name) = line
            .strip_prefix("<!-- file: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        {
            let start = i + 2;
            let end = start
                + lines[start..]
                    .iter()
                    .position(|l| l.starts_with("```"))
                    .expect("closed block");
            files.push((name.to_owned(), lines[start..end].join("\n") + "\n"));
            i = end;
        } else if line == "```sh" {
            i += 1;
            while i < lines.len() && lines[i] != "```" {
                if let Some(command) = lines[i].strip_prefix("$ ") {
                    let (command, comment) = command.split_once('#').unwrap_or((command, ""));
                    let exit = comment
                        .split("exits ")
                        .nth(1)
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0);
                    examples.push(Example {
                        line: i + 1,
                        command: command.trim().to_owned(),
                        exit,
                        expected: Vec::new(),
                    });
                } else if let Some(last) = examples.last_mut()
                    && !lines[i].trim().is_empty()
                    && lines[i].starts_with(' ')
                {
                    last.expected.push(lines[i].trim().to_owned());
                }
                i += 1;
            }
        }
        i += 1;
    }
    (files, examples)
}

/// Starts `idflow serve` on a free port; returns it and its base URL.
fn serve(data: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(idflow_bin())
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("idflow serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("idflow serve prints its address")
            .expect("a line");
        if let Some(at) = line.find("http://") {
            break line[at..].trim().trim_end_matches('/').to_owned();
        }
    };
    (child, url)
}

#[test]
fn every_command_in_the_readme_runs_as_shown() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let (files, examples) = parse(&readme);
    assert!(
        files.len() >= 2 && examples.len() >= 6,
        "README parsing found too little"
    );
    let scratch = tempfile::tempdir().unwrap();
    for (name, text) in &files {
        std::fs::write(scratch.path().join(name), text).unwrap();
    }
    for shared in ["workflows", "docs", ".cache"] {
        std::os::unix::fs::symlink(repo_root().join(shared), scratch.path().join(shared)).unwrap();
    }
    std::fs::copy(
        repo_root().join(".cache/photos/obama.jpg"),
        scratch.path().join("me.jpg"),
    )
    .expect("the sample photos are set up (scripts/setup)");
    let data = scratch.path().join("provider-data");
    let truora_data = scratch.path().join("truora-stand-in");
    let (mut server, url) = serve(&truora_data);
    let key = Command::new(idflow_bin())
        .args(["provider", "create-client", "readme", "--data"])
        .arg(&truora_data)
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    assert!(!key.is_empty());

    let mut failures = Vec::new();
    for example in &examples {
        let mut command = example.command.clone();
        let mut env: Vec<(String, String)> = vec![("NO_COLOR".into(), "1".into())];
        if let Some(rest) = command.strip_prefix("TRUORA_API_KEY=... ") {
            env.push(("TRUORA_API_KEY".into(), key.clone()));
            for var in [
                "IDFLOW_VALIDATIONS_URL",
                "IDFLOW_ACCOUNT_URL",
                "IDFLOW_IDENTITY_URL",
                "IDFLOW_IDENTITY_WEB_URL",
            ] {
                env.push((var.into(), url.clone()));
            }
            command = rest.to_owned();
        }
        let Some(args) = command.strip_prefix("idflow ") else {
            failures.push(format!(
                "README.md:{}: not an idflow command: {command}",
                example.line
            ));
            continue;
        };
        let output = Command::new(idflow_bin())
            .args(args.split_whitespace())
            .current_dir(scratch.path())
            .env("IDFLOW_PROVIDER_DATA", &data)
            .env("IDFLOW_DATA", scratch.path().join("idflow-data"))
            .env_remove("TRUORA_API_KEY")
            .envs(env)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.code() != Some(example.exit) {
            failures.push(format!(
                "README.md:{}: `{}` exited {:?}, expected {}\n{stdout}\n{}",
                example.line,
                example.command,
                output.status.code(),
                example.exit,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        for expected in &example.expected {
            if !stdout.contains(expected.as_str()) {
                failures.push(format!(
                    "README.md:{}: output lacks `{expected}`:\n{stdout}",
                    example.line
                ));
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
