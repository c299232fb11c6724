//! A durable run's log: events encoded for a [`RunStore`], sensitive step
//! outputs sealed, and the [`Journal`] sink that writes them ahead of the
//! actions they cause.
//!
//! Events are stored as compact JSON. In `attempt_succeeded`, every output
//! that its step type declares sensitive (tokens, upload links) is replaced
//! by `{"$sealed": "<base64>"}`, the output's JSON encrypted by the store's
//! [`Seal`] (an AEAD the store crate provides), and opened again when the
//! log is read. Secrets are never part of an event.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use idflow_core::{Outputs, Redactor};

use super::driver::EventSink;
use super::event::{Event, EventKind};
use super::store::{Append, NewRun, RunStore, StoreError};

/// Encrypts and decrypts sensitive values at rest.
pub trait Seal: Send + Sync + 'static {
    /// `plain`, encrypted and authenticated.
    fn seal(&self, plain: &[u8]) -> Vec<u8>;
    /// The plain bytes of a sealed value; `None` when it was not sealed by
    /// this key or was altered.
    fn open(&self, sealed: &[u8]) -> Option<Vec<u8>>;
}

const SEALED: &str = "$sealed";

/// Encodes and decodes the events of one run.
#[derive(Clone)]
pub struct Codec {
    /// The outputs of each step that must be sealed.
    sensitive: Arc<Vec<Vec<String>>>,
    seal: Arc<dyn Seal>,
    /// The run's secret values: an output that contains one is sealed too
    /// (a step should never output a secret, but if one does, it is not
    /// written in clear).
    secrets: Redactor,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("sensitive", &self.sensitive)
            .finish_non_exhaustive()
    }
}

impl Codec {
    /// A codec sealing `sensitive[i]` (output names of step `i`).
    pub fn new(sensitive: Arc<Vec<Vec<String>>>, seal: Arc<dyn Seal>) -> Self {
        Self {
            sensitive,
            seal,
            secrets: Redactor::new(),
        }
    }

    /// Also seals every output that contains one of these secret values.
    #[must_use]
    pub fn sealing_secrets(mut self, secrets: Redactor) -> Self {
        self.secrets = secrets;
        self
    }

    fn must_seal(&self, step: usize, name: &str, value: &serde_json::Value) -> bool {
        self.sensitive
            .get(step)
            .is_some_and(|names| names.iter().any(|sensitive| sensitive == name))
            || (!self.secrets.is_empty() && self.secrets.redact_json(value) != *value)
    }

    /// The stored form of an event.
    pub fn encode(&self, event: &Event) -> Vec<u8> {
        let EventKind::AttemptSucceeded {
            step,
            attempt,
            outputs,
        } = &event.kind
        else {
            return serde_json::to_vec(event).unwrap_or_default();
        };
        // Each output is judged once (with secrets, judging redacts it).
        let to_seal: Vec<&String> = outputs
            .iter()
            .filter(|(name, value)| self.must_seal(step.get(), name, value))
            .map(|(name, _)| name)
            .collect();
        if !to_seal.is_empty() {
            let mut sealed = Outputs::clone(outputs);
            for name in to_seal {
                if let Some(value) = sealed.get_mut(name) {
                    let plain = serde_json::to_vec(value).unwrap_or_default();
                    let text = STANDARD_NO_PAD.encode(self.seal.seal(&plain));
                    *value = serde_json::json!({ SEALED: text });
                }
            }
            let event = Event::new(
                event.at,
                EventKind::AttemptSucceeded {
                    step: *step,
                    attempt: *attempt,
                    outputs: Arc::new(sealed),
                },
            );
            return serde_json::to_vec(&event).unwrap_or_default();
        }
        serde_json::to_vec(event).unwrap_or_default()
    }

    /// An event back from its stored form.
    pub fn decode(&self, bytes: &[u8]) -> Result<Event, String> {
        let mut event: Event =
            serde_json::from_slice(bytes).map_err(|error| format!("not an event: {error}"))?;
        if let EventKind::AttemptSucceeded { outputs, .. } = &mut event.kind
            && outputs.values().any(is_sealed)
        {
            for (name, value) in Arc::make_mut(outputs) {
                let Some(text) = sealed_text(value) else {
                    continue;
                };
                let sealed = STANDARD_NO_PAD
                    .decode(text)
                    .map_err(|_| format!("output `{name}` is not sealed data"))?;
                let plain = self.seal.open(&sealed).ok_or_else(|| {
                    format!("output `{name}` was sealed with another key (or altered)")
                })?;
                *value = serde_json::from_slice(&plain)
                    .map_err(|error| format!("output `{name}`: {error}"))?;
            }
        }
        Ok(event)
    }
}

/// The sealed text of a `{"$sealed": "..."}` value.
fn sealed_text(value: &serde_json::Value) -> Option<&str> {
    match value {
        serde_json::Value::Object(map) if map.len() == 1 => {
            map.get(SEALED).and_then(serde_json::Value::as_str)
        }
        _ => None,
    }
}

fn is_sealed(value: &serde_json::Value) -> bool {
    sealed_text(value).is_some()
}

/// The durable sink: encodes each event as it is recorded and, when the
/// driver is about to act, appends them all to the store in one write
/// (fenced by the lease and the log's length).
pub struct Journal {
    store: Arc<dyn RunStore>,
    codec: Codec,
    run_id: String,
    owner: String,
    next_seq: u64,
    pending: Vec<Vec<u8>>,
    /// The run to create with the first flush.
    creating: Option<Box<NewRun>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("run_id", &self.run_id)
            .field("owner", &self.owner)
            .field("next_seq", &self.next_seq)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal of `run_id` whose log holds `next_seq` events, written as
    /// `owner`.
    pub fn new(
        store: Arc<dyn RunStore>,
        codec: Codec,
        run_id: impl Into<String>,
        owner: impl Into<String>,
        next_seq: u64,
    ) -> Self {
        Self {
            store,
            codec,
            run_id: run_id.into(),
            owner: owner.into(),
            next_seq,
            pending: Vec::new(),
            creating: None,
        }
    }

    /// A journal of a new run: the first flush records the run with its
    /// first events, in one write.
    pub fn creating(store: Arc<dyn RunStore>, codec: Codec, run: NewRun) -> Self {
        let owner = run.owner.clone().unwrap_or_default();
        let mut journal = Self::new(store, codec, run.id.clone(), owner, 0);
        journal.creating = Some(Box::new(run));
        journal
    }

    /// Events in the log once pending ones are written.
    pub fn next_seq(&self) -> u64 {
        self.next_seq + self.pending.len() as u64
    }
}

impl EventSink for Journal {
    fn record(&mut self, event: &Event) {
        self.pending.push(self.codec.encode(event));
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.pending);
        let count = events.len() as u64;
        if let Some(mut run) = self.creating.take() {
            run.events = events;
            self.store.create_run(*run).await?;
            self.next_seq += count;
            return Ok(());
        }
        self.store
            .append(Append {
                run_id: self.run_id.clone(),
                owner: self.owner.clone(),
                expected_seq: self.next_seq,
                events,
            })
            .await?;
        self.next_seq += count;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::model::StepIndex;

    /// A toy cipher for the codec's own test (the real AEAD lives in the
    /// store crate, which tests it).
    struct Xor;

    impl Seal for Xor {
        fn seal(&self, plain: &[u8]) -> Vec<u8> {
            let mut out = vec![0xA5];
            out.extend(plain.iter().map(|b| b ^ 0x5A));
            out
        }
        fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
            let (tag, body) = sealed.split_first()?;
            (*tag == 0xA5).then(|| body.iter().map(|b| b ^ 0x5A).collect())
        }
    }

    #[test]
    fn sensitive_outputs_are_sealed_and_opened_again() {
        let codec = Codec::new(Arc::new(vec![vec![], vec!["token".into()]]), Arc::new(Xor));
        let mut outputs = Outputs::new();
        outputs.insert("token".into(), json!("tok-very-secret"));
        outputs.insert("status".into(), json!("ok"));
        let event = Event::new(
            Duration::from_millis(3),
            EventKind::AttemptSucceeded {
                step: StepIndex(1),
                attempt: 2,
                outputs: Arc::new(outputs),
            },
        );
        let stored = codec.encode(&event);
        let text = String::from_utf8_lossy(&stored);
        assert!(!text.contains("tok-very-secret"), "{text}");
        assert!(
            text.contains("$sealed") && text.contains("\"ok\""),
            "{text}"
        );
        assert_eq!(codec.decode(&stored).unwrap(), event);

        // An output that contains a secret is sealed too.
        let secrets = Redactor::new();
        secrets.add("sk-live-9");
        let codec = codec.sealing_secrets(secrets);
        let leaky = Event::new(
            Duration::ZERO,
            EventKind::AttemptSucceeded {
                step: StepIndex(0),
                attempt: 1,
                outputs: Arc::new(
                    [("auth".to_owned(), json!("Bearer sk-live-9"))]
                        .into_iter()
                        .collect(),
                ),
            },
        );
        let stored = codec.encode(&leaky);
        assert!(!String::from_utf8_lossy(&stored).contains("sk-live-9"));
        assert_eq!(codec.decode(&stored).unwrap(), leaky);

        // Another step's outputs of the same name are not sensitive.
        let plain = Event::new(
            Duration::ZERO,
            EventKind::AttemptSucceeded {
                step: StepIndex(0),
                attempt: 1,
                outputs: Arc::new([("token".to_owned(), json!("x"))].into_iter().collect()),
            },
        );
        assert_eq!(codec.encode(&plain), serde_json::to_vec(&plain).unwrap());

        // A sealed value that does not open is an error, not a panic.
        let tampered = text.replace("$sealed\":\"", "$sealed\":\"AA");
        assert!(codec.decode(tampered.as_bytes()).is_err());
    }
}
