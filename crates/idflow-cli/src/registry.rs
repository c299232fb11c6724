//! The step types this binary ships, registered explicitly.

use anyhow::Context as _;
use idflow_core::StepRegistry;
use idflow_face::FaceConnection;

/// Every step crate's `register`, in one place, with the face steps not
/// connected to any provider (for validating, drawing and listing: nothing
/// runs).
pub fn build() -> anyhow::Result<StepRegistry> {
    build_with(FaceConnection::unconfigured())
}

/// Every step crate's `register`, with the face steps talking to `face`.
pub fn build_with(face: FaceConnection) -> anyhow::Result<StepRegistry> {
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).context("registering the core steps")?;
    idflow_face::register(&mut registry, face).context("registering the face steps")?;
    Ok(registry)
}
