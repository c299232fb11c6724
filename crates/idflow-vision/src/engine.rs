//! The [`FaceEngine`]: a pool of worker threads, each owning its own dlib
//! models, fed through a channel so that `analyze` never blocks the async
//! runtime.
//!
//! - `load` checks the model files, starts the workers and waits until every
//!   one has loaded its models (about a second; call it at start-up, from
//!   `spawn_blocking` if a runtime is already running).
//! - `analyze` checks the cheap things (empty input, format) at once, then
//!   queues the bytes on a bounded channel (waiting asynchronously when the
//!   queue is full) and awaits the worker's reply on a oneshot channel.
//! - Cancel-safe: dropping the `analyze` future before its job was queued
//!   queues nothing; dropping it later makes the worker skip the job if it has
//!   not started it, and discard the result if it has.
//! - Dropping the engine closes the queue; each worker finishes its current
//!   job and exits.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc as std_mpsc};
use std::thread;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

pub use crate::decode::DEFAULT_DETECTION_MAX_SIDE;
use crate::decode::{ImageFormat, ImageLimits};
use crate::embedding::Embedding;
use crate::error::{AnalyzeError, LoadError};
use crate::models::{self, FaceModels, PipelineSettings};

/// How to start a [`FaceEngine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Directory holding the model files ([`MODEL_FILES`](crate::MODEL_FILES));
    /// `scripts/setup` puts them in `.cache/models/` of the repository.
    pub models_dir: PathBuf,
    /// Number of worker threads, each with its own copy of the models.
    pub workers: usize,
    /// Decoding limits; beyond them an image is refused as too large.
    pub limits: ImageLimits,
    /// Images are downscaled so their longest side is at most this before
    /// detection. HOG finds faces of about 80x80 pixels and more at this
    /// scale, so a face must span at least ~8% of the longest side at 1000.
    /// An image with no face found whose longest side is at most two thirds
    /// of this is enlarged to this size and searched once more (small faces
    /// in small images, as dlib's upsampling does).
    pub detection_max_side: u32,
    /// Jobs that may wait for a worker before `analyze` waits to queue more.
    pub queue_capacity: usize,
}

impl EngineConfig {
    /// Defaults: one worker per core (at most 4), [`ImageLimits::default`],
    /// detection at 1000 px, a queue of 64 jobs.
    pub fn new(models_dir: impl Into<PathBuf>) -> Self {
        let cores = thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            models_dir: models_dir.into(),
            workers: cores.min(4),
            limits: ImageLimits::default(),
            detection_max_side: DEFAULT_DETECTION_MAX_SIDE,
            queue_capacity: 64,
        }
    }

    /// The same configuration with `workers` worker threads.
    #[must_use]
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// The same configuration with other decoding limits.
    #[must_use]
    pub fn with_limits(mut self, limits: ImageLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// What the engine found in an image.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceAnalysis {
    /// The embedding of the largest face.
    pub embedding: Embedding,
    /// How many faces were detected (the largest one was embedded).
    pub faces_seen: usize,
    /// The format the bytes were in.
    pub format: ImageFormat,
    /// Width of the upright image (after EXIF orientation), full size.
    pub width: u32,
    /// Height of the upright image (after EXIF orientation), full size.
    pub height: u32,
}

/// A job for a worker: the bytes, and where to send the answer.
struct Job {
    bytes: Bytes,
    reply: oneshot::Sender<Result<FaceAnalysis, AnalyzeError>>,
}

/// Face detection and recognition on a pool of worker threads. `Send + Sync`:
/// share it (for example in an `Arc`) between request handlers.
pub struct FaceEngine {
    jobs: mpsc::Sender<Job>,
    workers: usize,
}

impl fmt::Debug for FaceEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaceEngine")
            .field("workers", &self.workers)
            .field("queue_free", &self.jobs.capacity())
            .finish()
    }
}

impl FaceEngine {
    /// Starts the workers and loads their models; blocks until all are ready
    /// (about a second). Fails with [`LoadError::ModelsMissing`], naming
    /// `scripts/setup`, when the model files are not there.
    pub fn load(config: EngineConfig) -> Result<Self, LoadError> {
        if config.workers == 0 {
            return Err(LoadError::NoWorkers);
        }
        models::check_models_present(&config.models_dir)?;

        let (jobs, queue) = mpsc::channel::<Job>(config.queue_capacity.max(1));
        let queue = Arc::new(Mutex::new(queue));
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), LoadError>>();
        let models_dir: Arc<Path> = config.models_dir.into();
        let settings = PipelineSettings {
            limits: config.limits,
            detection_max_side: config.detection_max_side,
        };
        for index in 0..config.workers {
            let queue = Arc::clone(&queue);
            let ready = ready_tx.clone();
            let models_dir = Arc::clone(&models_dir);
            thread::Builder::new()
                .name(format!("face-worker-{index}"))
                .spawn(move || match FaceModels::load(&models_dir) {
                    Ok(models) => {
                        // The receiver is only gone if `load` already failed.
                        if ready.send(Ok(())).is_ok() {
                            drop(ready);
                            run_worker(&models, &queue, &settings);
                        }
                    }
                    Err(error) => {
                        let _ = ready.send(Err(error));
                    }
                })
                .map_err(LoadError::Spawn)?;
        }
        drop(ready_tx);
        for _ in 0..config.workers {
            // On error, `jobs` is dropped on return: started workers exit.
            ready_rx.recv().map_err(|_| LoadError::WorkerDied)??;
        }
        tracing::info!(workers = config.workers, "face engine ready");
        Ok(Self {
            jobs,
            workers: config.workers,
        })
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Finds the largest face in an image (JPEG, PNG or WebP bytes) and
    /// computes its embedding, on a worker thread. Never blocks the runtime;
    /// cancel-safe (see the module docs).
    pub async fn analyze(&self, bytes: impl Into<Bytes>) -> Result<FaceAnalysis, AnalyzeError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(AnalyzeError::EmptyInput);
        }
        if ImageFormat::sniff(&bytes).is_none() {
            return Err(AnalyzeError::UnsupportedFormat);
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { bytes, reply })
            .await
            .map_err(|_| AnalyzeError::EngineUnavailable)?;
        answer.await.map_err(|_| AnalyzeError::EngineUnavailable)?
    }
}

/// A worker's loop: take jobs until the engine is dropped.
fn run_worker(
    models: &FaceModels,
    queue: &Mutex<mpsc::Receiver<Job>>,
    settings: &PipelineSettings,
) {
    loop {
        // Holding the lock while waiting is fine: whoever holds it takes the
        // next job, and releases it before working on it.
        let job = queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        let Some(job) = job else {
            return;
        };
        if job.reply.is_closed() {
            continue; // The caller gave up before the work started.
        }
        let result = catch_unwind(AssertUnwindSafe(|| models.analyze(&job.bytes, settings)))
            .unwrap_or_else(|_| {
                tracing::error!("a face engine worker panicked while analysing an image");
                Err(AnalyzeError::EngineUnavailable)
            });
        // The caller may have given up meanwhile; then nobody wants the result.
        let _ = job.reply.send(result);
    }
}
