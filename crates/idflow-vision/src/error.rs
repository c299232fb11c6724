//! Errors: why an image could not be analysed ([`AnalyzeError`]) and why the
//! engine could not start ([`LoadError`]).

use std::path::PathBuf;

use crate::decode::ImageLimits;

/// Why [`FaceEngine::analyze`](crate::FaceEngine::analyze) gave no embedding.
///
/// Every variant except [`AnalyzeError::EngineUnavailable`] is a property of
/// the input: retrying the same bytes gives the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalyzeError {
    /// The input has no bytes at all.
    #[error("the image is empty (0 bytes)")]
    EmptyInput,
    /// The bytes are not a JPEG, PNG or WebP image (checked by content, not name).
    #[error("the file is not a supported image: JPEG, PNG or WebP expected")]
    UnsupportedFormat,
    /// The image was decoded, but no face was found in it.
    #[error("no face was detected in the image")]
    NoFaceDetected,
    /// The image declares dimensions, or needs memory, beyond the decoding
    /// limits; it was refused before being decoded (decompression bombs end here).
    #[error("the image ({width}x{height} pixels) is beyond the decoding limits ({limits})")]
    TooLarge {
        /// Width the image declares.
        width: u32,
        /// Height the image declares.
        height: u32,
        /// The limits it broke.
        limits: ImageLimits,
    },
    /// The image claims a supported format but cannot be decoded.
    #[error("the image is corrupt: {0}")]
    Corrupt(String),
    /// The engine's workers are gone (shut down, or a worker failed); not the input's fault.
    #[error("the face engine is unavailable")]
    EngineUnavailable,
}

/// Why [`FaceEngine::load`](crate::FaceEngine::load) could not start the engine.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Model files are not in the models directory.
    #[error(
        "face models missing in {}: {}; run `scripts/setup` to download them",
        dir.display(),
        missing_files.join(", ")
    )]
    ModelsMissing {
        /// The directory that was searched.
        dir: PathBuf,
        /// The file names that are not there.
        missing_files: Vec<String>,
    },
    /// A model file exists but dlib could not read it.
    #[error(
        "face model {} could not be loaded: {reason}; run `scripts/setup` to restore it",
        path.display()
    )]
    ModelUnreadable {
        /// The model file.
        path: PathBuf,
        /// What dlib said.
        reason: String,
    },
    /// The configuration asks for no workers.
    #[error("the face engine needs at least one worker")]
    NoWorkers,
    /// A worker thread could not be started.
    #[error("could not start a face engine worker thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// A worker thread stopped while loading its models.
    #[error("a face engine worker stopped while loading its models")]
    WorkerDied,
}

/// Why [`Embedding::from_bytes`](crate::Embedding::from_bytes) refused stored bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbeddingBytesError {
    /// Not exactly [`Embedding::BYTES`](crate::Embedding::BYTES) bytes.
    #[error("a stored face embedding must be {expected} bytes, found {found}")]
    WrongLength {
        /// The length an embedding has.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A component is NaN or infinite.
    #[error("a stored face embedding has a non-finite value at position {index}")]
    NotFinite {
        /// Position of the first bad component.
        index: usize,
    },
}
