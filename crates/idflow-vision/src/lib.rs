//! # idflow-vision: real face detection and recognition
//!
//! Turns untrusted image bytes into a face [`Embedding`] with dlib: HOG face
//! detection, 5-point landmark alignment and the ResNet descriptor (see
//! `shared/docs/face-stack.md`). Two embeddings of one person lie within
//! [`SAME_PERSON_DISTANCE`] (0.6) of each other; [`confidence_score`] turns a
//! distance into a documented 0..1 score.
//!
//! ## Layout
//! - [`engine`]: the [`FaceEngine`] (worker pool, async `analyze`), its
//!   [`EngineConfig`] and the [`FaceAnalysis`] it returns.
//! - [`decode`]: bytes to an upright RGB image: format by content, limits
//!   against decompression bombs, EXIF orientation, downscaling.
//! - [`models`]: one worker's dlib models and the detect/align/embed pipeline.
//! - [`embedding`]: [`Embedding`], [`distance`], [`confidence_score`] (the
//!   mapping and the scores measured on the test photos are documented there).
//! - [`error`]: [`AnalyzeError`] (per image) and [`LoadError`] (at start).
//! - [`assets`]: where `scripts/setup` puts models and test photos.
//!
//! ## Features
//! - `dlib` (default): the models and the engine (dlib, C++). Without it
//!   the crate is decoding and embedding arithmetic only, in pure Rust:
//!   what the `decode_image` fuzz target builds, in seconds instead of the
//!   minutes dlib's bindings take.
//!
//! ## Cost (measured on the 2-core development machine)
//! `benches/latency.rs` (one worker, `OPENBLAS_NUM_THREADS=1 taskset -c 0`):
//! a 784x1276 (1 MP) face JPEG takes p50 76 ms, p95 90 ms for the whole
//! `analyze` (decode, downscale to 1000 px, HOG, landmarks, embedding); with
//! OpenBLAS free to use both cores, p50 79 ms. Criterion (`benches/analyze.rs`)
//! agrees: 85 ms median. On a machine busy with builds the p50 rose to 110 ms.
//! Models load once per worker at start (about a second); the one-worker
//! latency bench peaks at 88 MB resident.
//!
//! ## Use
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use idflow_vision::{EngineConfig, FaceEngine, assets, confidence_score, distance};
//!
//! // Once at start-up (blocks about a second while the models load).
//! let engine = FaceEngine::load(EngineConfig::new(assets::models_dir()).with_workers(2))?;
//!
//! let enrolled = engine.analyze(std::fs::read("enrolled.jpg")?).await?;
//! let selfie = engine.analyze(std::fs::read("selfie.jpg")?).await?;
//! let score = confidence_score(distance(&enrolled.embedding, &selfie.embedding));
//! println!("same person: {}", score >= 0.65);
//! # Ok(())
//! # }
//! ```

pub mod assets;
pub mod decode;
pub mod embedding;
#[cfg(feature = "dlib")]
pub mod engine;
pub mod error;
#[cfg(feature = "dlib")]
pub mod models;

pub use decode::{ImageFormat, ImageLimits};
pub use embedding::{
    EMBEDDING_DIMENSIONS, Embedding, SAME_PERSON_DISTANCE, SCORE_AT_SAME_PERSON_DISTANCE,
    confidence_score, distance,
};
#[cfg(feature = "dlib")]
pub use engine::{DEFAULT_DETECTION_MAX_SIDE, EngineConfig, FaceAnalysis, FaceEngine};
pub use error::{AnalyzeError, EmbeddingBytesError, LoadError};
#[cfg(feature = "dlib")]
pub use models::{LANDMARKS_MODEL_FILE, MODEL_FILES, RESNET_MODEL_FILE};
