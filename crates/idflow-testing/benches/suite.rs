//! `idflow test` on 1,000 cases of `workflows/face-enrollment.yaml` (goal:
//! at most 1 s in all, release, on the 2-core reference machine), against
//! a baseline measured in the same run: parsing the same test file's YAML
//! and nothing else.
//!
//! The cases are realistic, not trivial: each one's enrollment is created
//! after a retried error, the photo stays `pending` for two or more polls
//! before its outcome (each of the five outcomes in turn), and enrolled
//! cases get their token on a second attempt. Every case checks its status,
//! its `outcome` and a step's attempt count, as a shipped test would.
//! One case in 100 is snapshotted, with CI settings (nothing written).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use idflow_core::StepRegistry;
use idflow_engine::source::SourceFile;
use idflow_face::FaceConnection;
use idflow_testing::snapshot::SnapshotSettings;
use idflow_testing::{Options, Suite};

const CASES: usize = 1_000;
const REASONS: [&str; 4] = [
    "no_face_detected",
    "face_in_blocklist",
    "file_format_not_supported",
    "multiple_faces",
];

fn generate(cases: usize) -> String {
    let mut text = String::from("workflow: face-enrollment.yaml\ncases:\n");
    for i in 0..cases {
        let polls = 2 + i % 5;
        let _ = writeln!(
            text,
            "  case_{i}:\n    description: generated case {i}\n    inputs: {{photo: photo.jpg, account_id: ACC{i}}}\n    mocks:\n      enroll:\n        - error: {{message: overloaded, code: http_status, retryable: true}}\n        - outputs: {{enrollment_id: ENR{i}, status: pending, file_upload_link: \"https://upload.test/u/{i}-link\"}}\n      upload:\n        outputs: {{bytes: 632, content_type: image/jpeg}}\n      processed:"
        );
        for _ in 0..polls {
            let _ = writeln!(text, "        - outputs: {{status: pending}}");
        }
        let outcome = if i % 5 == 0 {
            let _ = writeln!(
                text,
                "        - outputs: {{status: success, account_id: ACC{i}}}\n      issue_token:\n        - error: {{message: busy, code: http_status, retryable: true}}\n        - outputs: {{api_key: tok-{i}-secret, verification_url: \"https://verify.test/?token=tok-{i}-secret\"}}"
            );
            "enrolled"
        } else {
            let reason = REASONS[i % 4];
            let _ = writeln!(
                text,
                "        - outputs: {{status: failure, reason: {reason}}}"
            );
            if reason == "multiple_faces" {
                "enrollment_failed"
            } else {
                reason
            }
        };
        let status = if outcome == "enrolled" {
            "succeeded"
        } else {
            "failed"
        };
        let _ = writeln!(
            text,
            "    expect:\n      status: {status}\n      outputs: {{outcome: {outcome}}}\n      steps:\n        processed: {{attempts: {}}}",
            polls + 1
        );
        if i % 100 == 0 {
            let _ = writeln!(text, "    snapshot: true");
        }
    }
    text
}

fn registry() -> StepRegistry {
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).expect("core steps");
    idflow_face::register(&mut registry, FaceConnection::unconfigured()).expect("face steps");
    registry
}

fn project(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(
        root.join("workflows/face-enrollment.yaml"),
        dir.join("face-enrollment.yaml"),
    )
    .expect("the shipped workflow");
    std::fs::copy(
        root.join("workflows/fixtures/photo.jpg"),
        dir.join("photo.jpg"),
    )
    .expect("the fixture photo");
    let path = dir.join("many.test.yaml");
    std::fs::write(&path, generate(CASES)).expect("test file");
    path
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = project(dir.path());
    let registry = registry();
    let options = Options {
        snapshot_all: false,
        snapshots: SnapshotSettings {
            ci: true,
            accept: false,
        },
    };
    // Every case must pass (snapshots aside: they are new), or the
    // benchmark measures failure paths.
    let report = Suite::new(&registry, options)
        .expect("suite")
        .run(std::slice::from_ref(&path));
    let file = &report.files[0];
    assert!(!file.is_invalid(), "{:?}", file.problems);
    assert_eq!(file.cases.len(), CASES);
    for case in &file.cases {
        assert!(
            case.mismatches.is_empty(),
            "{}: {:?}",
            case.name,
            case.mismatches
        );
        assert!(case.error.is_none(), "{}: {:?}", case.name, case.error);
    }
    let text = std::fs::read_to_string(&path).expect("test file");
    let mut group = c.benchmark_group("idflow_test");
    group.sample_size(10);
    group.bench_function("baseline_parse_yaml_1000_cases", |b| {
        b.iter(|| {
            let source = SourceFile::new("many.test.yaml", text.clone());
            idflow_engine::yaml::parse(&source).expect("YAML")
        });
    });
    group.bench_function("load_and_run_1000_cases", |b| {
        b.iter(|| {
            Suite::new(&registry, options)
                .expect("suite")
                .run(std::slice::from_ref(&path))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
