//! The main job, end to end through the real binary and the README's first
//! command: a face enrollment on the embedded provider, with a face photo
//! (success; the verification link answers with the page), a photo with no
//! face, and a file that is not an image.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use idflow_tests::{idflow, repo_root};

/// The longest a run may take before the test gives up (not a timing
/// assertion: a guard against a hang).
const GUARD: Duration = Duration::from_mins(10);

fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir")
}

#[test]
fn the_demo_enrolls_a_face_prints_the_link_and_serves_the_page_until_interrupted() {
    let data = data_dir();
    let mut child = Command::new(repo_root().join("scripts/demo"))
        .current_dir(repo_root())
        .env("IDFLOW_PROVIDER_DATA", data.path())
        .env("NO_COLOR", "1")
        .env_remove("TRUORA_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scripts/demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut seen = Vec::new();
    let url = loop {
        let Ok(line) = lines_rx.recv_timeout(GUARD) else {
            let _ = child.kill();
            panic!("no verification link; stdout so far:\n{}", seen.join("\n"));
        };
        seen.push(line.clone());
        if let Some(url) = line.trim().strip_prefix("verification_url: ") {
            break url.to_owned();
        }
    };
    let stdout = seen.join("\n");
    assert!(stdout.contains("of face-enrollment: succeeded"), "{stdout}");
    assert!(stdout.contains("outcome: enrolled"), "{stdout}");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("/?token="),
        "{url}"
    );

    // The provider keeps serving: the link opens the verification page.
    let page = reqwest::blocking::get(&url).expect("the page answers");
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(
        html.contains("<html") && html.to_lowercase().contains("camera"),
        "{html}"
    );

    // Ctrl-C stops it cleanly; the run had succeeded.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    let stderr = errors.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "no face provider configured: using the embedded provider at http://127.0.0.1:"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("press Ctrl-C to stop"), "{stderr}");
    // The token is only in the deliberate summary line, never in the logs.
    let token = url.split("token=").nth(1).unwrap();
    assert!(!stderr.contains(token), "the token leaked into the logs");
}

fn enroll(photo: &str) -> (Option<i32>, String, String) {
    enroll_with(photo, &[])
}

fn enroll_with(photo: &str, options: &[&str]) -> (Option<i32>, String, String) {
    let data = data_dir();
    let output = idflow()
        .args([
            "run",
            "workflows/face-enrollment.yaml",
            "--input",
            &format!("photo={photo}"),
        ])
        .args(options)
        .env("IDFLOW_PROVIDER_DATA", data.path())
        .env_remove("TRUORA_API_KEY")
        .timeout(GUARD)
        .output()
        .expect("idflow runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_photo_without_a_face_ends_in_the_no_face_outcome_and_exit_1() {
    let (code, stdout, stderr) = enroll(".cache/photos/coffee.png");
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("outcome: no_face_detected"), "{stdout}");
    assert!(stdout.contains("reason: no_face_detected"), "{stdout}");
    assert!(
        stdout.contains("no_face_detected: failed: enrollment ENR"),
        "{stdout}"
    );
}

#[test]
fn a_file_that_is_not_an_image_ends_in_the_format_outcome_and_exit_1() {
    let (code, stdout, stderr) = enroll("Cargo.toml");
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("outcome: file_format_not_supported"),
        "{stdout}"
    );
    assert!(
        stdout.contains("file_format_not_supported: failed"),
        "{stdout}"
    );
}

/// `idflow run --log-format json | jq`: every line on stderr is a JSON
/// object, the embedded provider's own announcement included.
#[test]
fn every_line_of_json_logs_is_json() {
    let (code, stdout, stderr) = enroll_with(
        ".cache/photos/obama.jpg",
        &["--log-format", "json", "--ephemeral"],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not JSON ({error}): {line}\n{stderr}"))
        })
        .collect();
    let message = |line: &serde_json::Value| line["message"].as_str().unwrap_or("").to_owned();
    assert!(
        lines.iter().any(|line| message(line).starts_with(
            "no face provider configured: using the embedded provider at http://127.0.0.1:"
        )),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|line| message(line).starts_with("issue_token: succeeded")),
        "{stderr}"
    );
}
