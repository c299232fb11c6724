//! # idflow-face: face recognition as workflow steps
//!
//! The `face.*` step types enroll a user's reference face, upload photos,
//! wait for the provider's verdict, issue a web token for the verification
//! page, wait for the person's verification there (woken by the provider's
//! webhook), validate a selfie against an enrolled face and report faces to
//! the client's blocklist. They speak the Truora-compatible provider contract
//! over HTTP, so one workflow runs unchanged against Truora and against the
//! embedded provider: only the [`ProviderSettings`] differ.
//!
//! ## Layout
//! - [`settings`]: [`ProviderSettings`] (base URLs and API key) from the
//!   environment and `idflow.toml`, with the names and defaults.
//! - [`connection`]: [`FaceConnection`], a configured provider or none (for
//!   commands that only read workflows).
//! - [`client`]: [`ProviderClient`], the typed client of the contract, and
//!   [`ProviderError`], its failures classified (retryable, terminal,
//!   ambiguous).
//! - [`photo`]: reading photos from disk and typing them by their bytes.
//! - [`steps`]: the step types, one module per part of the process.
//! - [`webhooks`]: the provider's signed webhooks, checked, and the event
//!   keys they are delivered under (the status gates wait for those keys,
//!   polling only as a fallback).
//! - [`register`]: adds every step type to a [`StepRegistry`].
//!
//! ## Use
//! ```
//! use idflow_face::{FaceConnection, ProviderSettings};
//!
//! let mut registry = idflow_core::StepRegistry::new();
//! // `idflow validate` and friends: nothing runs, no provider needed.
//! idflow_face::register(&mut registry, FaceConnection::unconfigured()).unwrap();
//! assert!(registry.get("face.await_enrollment").is_some());
//!
//! // `idflow run`: the configured provider (or the embedded one's URL and key).
//! let settings = ProviderSettings::single_origin("http://127.0.0.1:8080", "key-123").unwrap();
//! let mut registry = idflow_core::StepRegistry::new();
//! idflow_face::register(&mut registry, FaceConnection::configured(settings).unwrap()).unwrap();
//! ```
//!
//! ## Credentials
//! The API key, upload links, web tokens and verification URLs join the
//! run's [`Redactor`](idflow_core::Redactor) as soon as a step sees them,
//! and the outputs that hold them are declared sensitive: logs, errors and
//! run results show `[redacted]`, while later steps still receive the
//! values.

pub mod client;
pub mod connection;
pub mod photo;
pub mod settings;
pub mod steps;
pub mod webhooks;

use idflow_core::{RegistryError, StepRegistry};

pub use client::{ClientBuildError, ClientOptions, ProviderClient, ProviderError};
pub use connection::FaceConnection;
pub use settings::{ProviderSettings, ProviderUrls, SettingsError};

/// Registers every `face.*` step type, all talking to `connection`:
/// `face.create_enrollment`, `face.upload_photo`, `face.get_enrollment`,
/// `face.await_enrollment`, `face.issue_token`, `face.create_validation`,
/// `face.await_validation` and `face.await_verification`.
pub fn register(
    registry: &mut StepRegistry,
    connection: FaceConnection,
) -> Result<(), RegistryError> {
    use steps::{enrollment, token, upload, validation, verification};
    registry.register(enrollment::CreateEnrollmentStep::new(connection.clone()))?;
    registry.register(upload::UploadPhotoStep::new(connection.clone()))?;
    registry.register(enrollment::GetEnrollmentStep::get(connection.clone()))?;
    registry.register(enrollment::GetEnrollmentStep::await_processed(
        connection.clone(),
    ))?;
    registry.register(token::IssueTokenStep::new(connection.clone()))?;
    registry.register(validation::CreateValidationStep::new(connection.clone()))?;
    registry.register(validation::AwaitValidationStep::new(connection.clone()))?;
    registry.register(verification::AwaitVerificationStep::new(connection))?;
    Ok(())
}
