//! The step types this binary ships, registered explicitly.

use anyhow::Context as _;
use idflow_core::StepRegistry;

/// Every step crate's `register`, in one place.
pub fn build() -> anyhow::Result<StepRegistry> {
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).context("registering the core steps")?;
    idflow_face::register(&mut registry, idflow_face::FaceConnection::unconfigured())
        .context("registering the face steps")?;
    Ok(registry)
}
