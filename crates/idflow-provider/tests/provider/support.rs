//! Test support: one real face engine shared by all tests, providers on
//! `127.0.0.1:0` with a real SQLite database in a temporary directory and a
//! manual clock, an HTTP client speaking the contract, and waiting for
//! background processing through the provider's notifications (no sleeps).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use idflow_provider::{
    API_KEY_HEADER, EmbeddedProvider, IDEMPOTENCY_HEADER, ManualClock, ProcessedEvent,
    ProviderConfig, RetryPolicy, create_client, start_embedded_with_engine,
};
use idflow_vision::{EngineConfig, FaceEngine, assets};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::broadcast;

/// Guard against a hang; processing a photo takes well under a second.
const PROCESSING_GUARD: Duration = Duration::from_mins(2);

/// The real face engine, loaded once; fails naming `scripts/setup` when the
/// models are missing.
pub(crate) fn engine() -> Arc<FaceEngine> {
    static ENGINE: OnceLock<Arc<FaceEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let config = EngineConfig::new(assets::models_dir()).with_workers(2);
            Arc::new(FaceEngine::load(config).unwrap_or_else(|error| {
                panic!("the face tests need the models: {error} (run scripts/setup)")
            }))
        })
        .clone()
}

/// A test photo from `.cache/photos`; fails naming `scripts/setup` when missing.
pub(crate) fn photo(name: &str) -> Vec<u8> {
    assets::photo(name).unwrap_or_else(|error| panic!("{error}"))
}

/// A provider under test with its data directory and clock.
pub(crate) struct TestProvider {
    pub(crate) provider: EmbeddedProvider,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: ManualClock,
    pub(crate) base: String,
}

/// A provider with two clients, `client-a` and `client-b`: its data
/// directory, the provider, and the two API keys.
pub(crate) async fn two_client_provider() -> (tempfile::TempDir, TestProvider, String, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let clock = ManualClock::starting_now();
    let key_a = new_client(dir.path(), "client-a").await;
    let key_b = new_client(dir.path(), "client-b").await;
    let provider = TestProvider::start(dir.path(), &clock).await;
    (dir, provider, key_a, key_b)
}

/// [`two_client_provider`] with client a's account `obama` enrolled with
/// obama.jpg.
pub(crate) async fn obama_enrolled() -> (tempfile::TempDir, TestProvider, String, String) {
    let (dir, provider, key_a, key_b) = two_client_provider().await;
    provider.enroll(&key_a, "obama", "obama.jpg").await;
    (dir, provider, key_a, key_b)
}

pub(crate) fn config(data_dir: &Path, clock: &ManualClock) -> ProviderConfig {
    let mut config = ProviderConfig::new(data_dir, assets::models_dir());
    config.clock = clock.clone().into();
    config.max_upload_bytes = 4 * 1024 * 1024;
    config.webhook_retry = RetryPolicy {
        attempts: 4,
        base_delay: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
    };
    // The webhook receivers of the tests listen on loopback.
    config.webhook_targets.allow_private = true;
    config
}

impl TestProvider {
    pub(crate) async fn start(data_dir: &Path, clock: &ManualClock) -> Self {
        Self::start_with(config(data_dir, clock), clock).await
    }

    pub(crate) async fn start_with(config: ProviderConfig, clock: &ManualClock) -> Self {
        let provider = start_embedded_with_engine(config, engine())
            .await
            .expect("provider starts");
        let base = provider
            .base_url()
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        Self {
            provider,
            http: reqwest::Client::new(),
            clock: clock.clone(),
            base,
        }
    }

    pub(crate) async fn stop(self) {
        self.provider
            .shutdown()
            .await
            .expect("provider stops cleanly");
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ProcessedEvent> {
        self.provider.subscribe_processed()
    }

    /// A form POST with an API key (and an Idempotency-Key if given).
    pub(crate) async fn post_form(
        &self,
        key: &str,
        path: &str,
        fields: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(self.url(path))
            .header(API_KEY_HEADER, key)
            .form(fields);
        if let Some(idempotency_key) = idempotency_key {
            request = request.header(IDEMPOTENCY_HEADER, idempotency_key);
        }
        json_of(request.send().await.expect("request sent")).await
    }

    /// A request to `path`, with `key` as the API key if given.
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url(path));
        match key {
            Some(key) => request.header(API_KEY_HEADER, key),
            None => request,
        }
    }

    pub(crate) async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        send(self.request(reqwest::Method::GET, path, Some(key))).await
    }

    pub(crate) async fn delete(&self, key: &str, path: &str) -> (StatusCode, Value) {
        send(self.request(reqwest::Method::DELETE, path, Some(key))).await
    }

    /// PUT raw bytes on an upload link.
    pub(crate) async fn upload(
        &self,
        link: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .put(link)
            .header("Content-Type", content_type)
            .body(bytes)
            .send()
            .await
            .expect("upload sent");
        json_of(response).await
    }

    /// Creates a face-recognition enrollment for `account` and returns
    /// (enrollment id, upload link).
    pub(crate) async fn create_enrollment(&self, key: &str, account: &str) -> (String, String) {
        let (status, body) = self
            .post_form(
                key,
                "/v1/enrollments",
                &[
                    ("type", "face-recognition"),
                    ("user_authorized", "true"),
                    ("account_id", account),
                ],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["enrollment_id"].as_str().unwrap().to_owned(),
            body["file_upload_link"].as_str().unwrap().to_owned(),
        )
    }

    /// Enrolls `photo_name` for `account`, waits for processing, and returns
    /// the enrollment as `GET` shows it.
    pub(crate) async fn enroll(&self, key: &str, account: &str, photo_name: &str) -> Value {
        let (id, link) = self.create_enrollment(key, account).await;
        self.upload_and_wait(&id, &link, photo(photo_name)).await;
        let (status, body) = self.get(key, &format!("/v1/enrollments/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Uploads to a link and waits until the record `id` is processed.
    pub(crate) async fn upload_and_wait(
        &self,
        id: &str,
        link: &str,
        bytes: Vec<u8>,
    ) -> ProcessedEvent {
        let mut events = self.subscribe();
        let (status, body) = self.upload(link, bytes, "image/jpeg").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        wait_processed(&mut events, id).await
    }
}

/// Waits for the notification that record `id` was processed.
pub(crate) async fn wait_processed(
    events: &mut broadcast::Receiver<ProcessedEvent>,
    id: &str,
) -> ProcessedEvent {
    tokio::time::timeout(PROCESSING_GUARD, async {
        loop {
            match events.recv().await {
                Ok(event) if event.id == id => return event,
                Ok(_) => {}
                Err(error) => panic!("processing notifications ended: {error}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{id} was not processed within {PROCESSING_GUARD:?}"))
}

/// Sends `request`; its status and JSON body.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    json_of(request.send().await.expect("request sent")).await
}

pub(crate) async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body read");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// A new client in `data_dir`, returning its API key.
pub(crate) async fn new_client(data_dir: &Path, name: &str) -> String {
    create_client(data_dir, name).await.expect("client created")
}

/// Asserts the one error shape: code, http_code, message (and field).
pub(crate) fn assert_error(
    status: StatusCode,
    body: &Value,
    expected: StatusCode,
    field: Option<&str>,
) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["http_code"], expected.as_u16(), "{body}");
    let code = body["code"].as_u64().expect("code is a number");
    assert_eq!(code / 100, u64::from(expected.as_u16()), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    match field {
        Some(field) => assert_eq!(body["field"], field, "{body}"),
        None => assert!(body.get("field").is_none(), "{body}"),
    }
}

/// A PNG declaring `side` x `side` 1-bit pixels, all zero, deflated: a few
/// tens of KiB that would decode to hundreds of MiB.
pub(crate) fn png_bomb(side: u32) -> Vec<u8> {
    use std::io::Write;
    fn chunk(out: &mut Vec<u8>, kind: [u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&kind);
        out.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&kind);
        crc.update(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // 1-bit greyscale, deflate, filter 0, no interlace
    let row_bytes = 1 + (side as usize).div_ceil(8);
    let row = vec![0_u8; row_bytes];
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    for _ in 0..side {
        encoder.write_all(&row).unwrap();
    }
    let idat = encoder.finish().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, *b"IHDR", &ihdr);
    chunk(&mut png, *b"IDAT", &idat);
    chunk(&mut png, *b"IEND", &[]);
    png
}

/// The smallest GIF: a real image, in a format the provider does not accept.
pub(crate) const TINY_GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
