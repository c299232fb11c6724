//! One worker's dlib models and the per-image pipeline: decode, HOG face
//! detection, 5-point landmarks, ResNet embedding.
//!
//! dlib's detector and network are not `Sync`, so every worker thread owns
//! its own `FaceModels`, loaded once when the engine starts.

use std::os::raw::c_long;
use std::path::{Path, PathBuf};

use dlib_face_recognition::{
    FaceDetector, FaceDetectorTrait, FaceEncoderNetwork, FaceEncoderTrait, ImageMatrix,
    LandmarkPredictor, LandmarkPredictorTrait, Rectangle,
};

use crate::decode::{self, ImageLimits};
use crate::embedding::Embedding;
use crate::engine::FaceAnalysis;
use crate::error::{AnalyzeError, LoadError};

/// dlib's ResNet face descriptor model (128-d embedding), from PyPI's
/// `face_recognition_models` 0.3.0.
pub const RESNET_MODEL_FILE: &str = "dlib_face_recognition_resnet_model_v1.dat";

/// dlib's 5-point landmark model (face alignment), from the same package.
/// (The 68-point model is never used: its training data forbids commercial use.)
pub const LANDMARKS_MODEL_FILE: &str = "shape_predictor_5_face_landmarks.dat";

/// Every model file the engine needs, by name.
pub const MODEL_FILES: [&str; 2] = [RESNET_MODEL_FILE, LANDMARKS_MODEL_FILE];

/// How a worker prepares images: the decoding limits and the detection size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PipelineSettings {
    pub(crate) limits: ImageLimits,
    pub(crate) detection_max_side: u32,
}

/// Checks that every model file is in `dir`, naming all missing ones at once.
pub(crate) fn check_models_present(dir: &Path) -> Result<(), LoadError> {
    let missing_files: Vec<String> = MODEL_FILES
        .iter()
        .filter(|name| !dir.join(name).is_file())
        .map(|name| (*name).to_owned())
        .collect();
    if missing_files.is_empty() {
        Ok(())
    } else {
        Err(LoadError::ModelsMissing {
            dir: dir.to_path_buf(),
            missing_files,
        })
    }
}

/// The dlib models one worker owns.
pub(crate) struct FaceModels {
    detector: FaceDetector,
    landmarks: LandmarkPredictor,
    encoder: FaceEncoderNetwork,
}

impl FaceModels {
    /// Loads the models from `dir` (about a second, mostly the ResNet).
    pub(crate) fn load(dir: &Path) -> Result<Self, LoadError> {
        let unreadable =
            |path: PathBuf| move |reason: String| LoadError::ModelUnreadable { path, reason };
        let landmarks_path = dir.join(LANDMARKS_MODEL_FILE);
        let landmarks =
            LandmarkPredictor::open(&landmarks_path).map_err(unreadable(landmarks_path.clone()))?;
        let resnet_path = dir.join(RESNET_MODEL_FILE);
        let encoder =
            FaceEncoderNetwork::open(&resnet_path).map_err(unreadable(resnet_path.clone()))?;
        Ok(Self {
            detector: FaceDetector::new(),
            landmarks,
            encoder,
        })
    }

    /// Runs the whole pipeline on untrusted bytes.
    pub(crate) fn analyze(
        &self,
        bytes: &[u8],
        settings: &PipelineSettings,
    ) -> Result<FaceAnalysis, AnalyzeError> {
        let image = decode::decode(bytes, &settings.limits, settings.detection_max_side)?;
        let mut matrix = ImageMatrix::from_image(&image.rgb);
        let mut faces = self.detector.face_locations(&matrix);
        if faces.is_empty() {
            // HOG finds faces of about 80 px and more: give a small image a
            // second look at the detection size, as dlib's upsampling would.
            let (width, height) = image.rgb.dimensions();
            if let Some((width, height)) = upscaled_size(width, height, settings.detection_max_side)
            {
                matrix = matrix.resize(width, height);
                faces = self.detector.face_locations(&matrix);
            }
        }

        let largest = faces
            .iter()
            .max_by_key(|face| area(face))
            .ok_or(AnalyzeError::NoFaceDetected)?;
        let landmarks = self.landmarks.face_landmarks(&matrix, largest);
        let encodings = self.encoder.get_face_encodings(&matrix, &[landmarks], 1);
        let embedding = encodings
            .first()
            .and_then(|encoding| Embedding::from_dlib(encoding.as_ref()))
            .ok_or_else(|| {
                tracing::error!("dlib returned no usable face descriptor for a detected face");
                AnalyzeError::EngineUnavailable
            })?;

        Ok(FaceAnalysis {
            embedding,
            faces_seen: faces.len(),
            format: image.format,
            width: image.width,
            height: image.height,
        })
    }
}

/// The size a small image is enlarged to for a second detection pass: its
/// longest side brought to `max_side`; `None` unless that at least
/// multiplies it by 1.5 (below that, a second pass finds nothing new).
fn upscaled_size(width: u32, height: u32, max_side: u32) -> Option<(usize, usize)> {
    let longest = u64::from(width.max(height));
    let max_side = u64::from(max_side);
    if longest == 0 || longest * 3 > max_side * 2 {
        return None;
    }
    let scale = |side: u32| usize::try_from(u64::from(side) * max_side / longest).ok();
    Some((scale(width)?, scale(height)?))
}

fn area(face: &Rectangle) -> c_long {
    face.width().saturating_mul(face.height())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_images_get_a_second_look() {
        assert_eq!(upscaled_size(512, 512, 1000), Some((1000, 1000)));
        assert_eq!(upscaled_size(640, 480, 1000), Some((1000, 750)));
        assert_eq!(upscaled_size(667, 400, 1000), None);
        assert_eq!(upscaled_size(1000, 750, 1000), None);
        assert_eq!(upscaled_size(0, 0, 1000), None);
    }
}
