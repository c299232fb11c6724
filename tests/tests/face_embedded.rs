//! The shipped face workflows against the real embedded provider: real
//! HTTP on `127.0.0.1:0`, a real SQLite database in a temporary folder and
//! the real face engine on the photos `scripts/setup` puts in `.cache/`.
//! What the wiremock tests (`face_workflows.rs`) assume about the contract
//! (field names, statuses, reasons, error bodies), this checks against the
//! provider idflow ships.
//!
//! The clock is real. The provider's webhooks come back to the hook route
//! of the idflow server (served alone on loopback, as `idflow run` serves
//! it) and wake the status gates of the runs (their in-memory inbox): a
//! gate reads the status twice, the second time as soon as the photo is
//! processed, instead of polling after 5 s.

use std::path::Path;
use std::sync::Arc;

use idflow_core::StepRegistry;
use idflow_engine::expr::ExprEngine;
use idflow_engine::run::{MemoryInbox, RunRequest, Runner};
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use idflow_face::webhooks::WebhookSecret;
use idflow_face::{FaceConnection, ProviderSettings};
use idflow_provider::{ProviderConfig, create_client, start_embedded_with_engine};
use idflow_tests::repo_root;
use idflow_vision::{EngineConfig, FaceEngine, assets};
use serde_json::{Value, json};

async fn run(
    registry: &StepRegistry,
    inbox: &MemoryInbox,
    file: &str,
    inputs: Value,
    base_dir: &Path,
    key: &str,
) -> Value {
    let path = repo_root().join("workflows").join(file);
    let text = std::fs::read_to_string(path).expect("workflow file");
    let validated = validate(
        SourceFile::new(format!("workflows/{file}"), text),
        registry,
        &ExprEngine::new(),
    );
    let workflow = Arc::new(validated.workflow.expect("a valid workflow"));
    let given = inputs.as_object().expect("inputs").clone();
    let inputs = idflow_engine::inputs::resolve(&workflow, &given, base_dir).expect("valid inputs");
    let runner = Runner::new(workflow, registry).expect("runner");
    let request = inbox.attach(RunRequest::new(inputs).base_dir(base_dir));
    let result = runner.run(request).await;
    let text = serde_json::to_string(&result).expect("result as JSON");
    assert!(
        !text.contains(key),
        "the run result shows the API key: {text}"
    );
    assert!(
        !text.contains("signature="),
        "the run result shows an upload link: {text}"
    );
    assert!(
        !text.contains("token="),
        "the run result shows a verification URL: {text}"
    );
    serde_json::from_str(&text).expect("result from JSON")
}

/// The gate `step` ended before its first fallback poll (5 s after its
/// first read): the provider's webhook woke it (or the first read already
/// found the photo processed).
fn woken(result: &Value, step: &str) {
    let at = |name: &str| {
        let text = result["steps"][step][name].as_str().expect("a step time");
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("an RFC 3339 time")
    };
    let waited = at("finished_at") - at("started_at");
    assert!(
        waited < time::Duration::seconds(4),
        "{step} took {waited}: no webhook woke it before its fallback poll: {result:#}"
    );
    let attempts = result["steps"][step]["attempts"].as_u64();
    assert!(attempts.is_some_and(|n| n <= 2), "{result:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_face_workflows_run_against_the_embedded_provider() {
    let engine = FaceEngine::load(EngineConfig::new(assets::models_dir()).with_workers(2))
        .unwrap_or_else(|error| {
            panic!("the face tests need the models: {error} (run scripts/setup)")
        });
    let data = tempfile::tempdir().unwrap();
    let key = create_client(data.path(), "workflow-tests").await.unwrap();
    // The hook route on loopback, delivering to the runs' inbox.
    let inbox = MemoryInbox::new();
    let hooks = idflow_server::Hooks::new(Vec::new(), Arc::new(inbox.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!(
        "http://{}/api/v1/hooks/truora",
        listener.local_addr().unwrap()
    );
    let hook_router = idflow_server::api::hooks::router(hooks.clone());
    tokio::spawn(async move { axum::serve(listener, hook_router).await.unwrap() });
    let mut config = ProviderConfig::new(data.path(), assets::models_dir());
    config
        .webhook_targets
        .allowed
        .push(url::Url::parse(&hook_url).unwrap());
    let provider = start_embedded_with_engine(config, Arc::new(engine))
        .await
        .unwrap();
    let registered: Value = reqwest::Client::new()
        .post(provider.base_url().join("/v1/webhooks").unwrap())
        .header(idflow_provider::API_KEY_HEADER, &key)
        .form(&[("url", hook_url.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    hooks.add_secret(
        WebhookSecret::new(registered["secret"].as_str().expect("the hook's secret")).unwrap(),
    );
    let settings = ProviderSettings::single_origin(provider.base_url().as_str(), &key).unwrap();
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).unwrap();
    idflow_face::register(&mut registry, FaceConnection::configured(settings).unwrap()).unwrap();

    let photos = tempfile::tempdir().unwrap();
    for name in ["obama.jpg", "obama2.jpg", "biden.jpg", "coffee.png"] {
        let bytes = assets::photo(name).unwrap_or_else(|error| panic!("{error}"));
        std::fs::write(photos.path().join(name), bytes).unwrap();
    }
    std::fs::write(photos.path().join("notes.jpg"), b"not an image at all").unwrap();
    let dir = photos.path();

    // Enroll Obama: success, and a verification page URL (redacted in the result).
    let result = run(
        &registry,
        &inbox,
        "face-enrollment.yaml",
        json!({"photo": "obama.jpg", "account_id": "obama"}),
        dir,
        &key,
    )
    .await;
    assert_eq!(result["status"], "succeeded", "{result:#}");
    assert_eq!(result["outputs"]["outcome"], "enrolled");
    woken(&result, "processed");
    assert_eq!(result["outputs"]["account_id"], "obama");
    assert_eq!(result["outputs"]["verification_url"], "[redacted]");
    assert!(
        result["outputs"]["token_expires_at"].is_string(),
        "{result:#}"
    );

    // Another photo of him is verified; Biden is not.
    let result = run(
        &registry,
        &inbox,
        "face-verification.yaml",
        json!({"account_id": "obama", "selfie": "obama2.jpg"}),
        dir,
        &key,
    )
    .await;
    assert_eq!(result["status"], "succeeded", "{result:#}");
    assert_eq!(result["outputs"]["outcome"], "verified");
    woken(&result, "decision");
    assert_eq!(result["outputs"]["similarity_status"], "success");
    assert!(result["outputs"]["confidence_score"].as_f64().unwrap() >= 0.65);

    let result = run(
        &registry,
        &inbox,
        "face-verification.yaml",
        json!({"account_id": "obama", "selfie": "biden.jpg"}),
        dir,
        &key,
    )
    .await;
    assert_eq!(result["status"], "failed", "{result:#}");
    assert_eq!(result["outputs"]["outcome"], "not_verified");
    assert_eq!(
        result["outputs"]["reason"],
        "similarity_threshold_not_passed"
    );

    // No face, and not an image: each ends in its own outcome.
    let result = run(
        &registry,
        &inbox,
        "face-enrollment.yaml",
        json!({"photo": "coffee.png"}),
        dir,
        &key,
    )
    .await;
    assert_eq!(result["status"], "failed", "{result:#}");
    assert_eq!(result["outputs"]["outcome"], "no_face_detected");
    assert_eq!(result["steps"]["no_face_detected"]["status"], "failed");

    let result = run(
        &registry,
        &inbox,
        "face-enrollment.yaml",
        json!({"photo": "notes.jpg"}),
        dir,
        &key,
    )
    .await;
    assert_eq!(result["status"], "failed", "{result:#}");
    assert_eq!(result["outputs"]["outcome"], "file_format_not_supported");
    assert_eq!(
        result["steps"]["upload"]["outputs"]["content_type"],
        "application/octet-stream"
    );

    // Report Biden to the blocklist; enrolling him then fails.
    let result = run(
        &registry,
        &inbox,
        "blocklist-report.yaml",
        json!({"photo": "biden.jpg", "country": "CO"}),
        dir,
        &key,
    )
    .await;
    assert_eq!(result["status"], "succeeded", "{result:#}");
    assert_eq!(result["outputs"]["outcome"], "blocklisted");

    let result = run(
        &registry,
        &inbox,
        "face-enrollment.yaml",
        json!({"photo": "biden.jpg", "account_id": "biden"}),
        dir,
        &key,
    )
    .await;
    assert_eq!(result["status"], "failed", "{result:#}");
    assert_eq!(result["outputs"]["outcome"], "face_in_blocklist");

    // A wrong API key: the provider's 401, terminal, with its message.
    let settings =
        ProviderSettings::single_origin(provider.base_url().as_str(), "not-the-key").unwrap();
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).unwrap();
    idflow_face::register(&mut registry, FaceConnection::configured(settings).unwrap()).unwrap();
    let result = run(
        &registry,
        &inbox,
        "face-enrollment.yaml",
        json!({"photo": "obama.jpg"}),
        dir,
        &key,
    )
    .await;
    assert_eq!(result["status"], "failed");
    assert_eq!(result["outputs"]["outcome"], "error");
    let enroll = &result["steps"]["enroll"];
    assert_eq!(enroll["attempts"], 1);
    assert_eq!(enroll["error"]["details"]["status"], 401);
    assert!(
        enroll["error"]["details"]["provider_message"].is_string(),
        "{enroll:#}"
    );

    provider.shutdown().await.unwrap();
}
