//! What both benchmarks share: a one-worker engine and a ~1 MP face photo.

use std::io::Cursor;

use idflow_vision::{EngineConfig, FaceEngine, assets};

/// A one-worker engine on the models `scripts/setup` installed.
pub(crate) fn one_worker_engine() -> FaceEngine {
    FaceEngine::load(EngineConfig::new(assets::models_dir()).with_workers(1))
        .unwrap_or_else(|error| panic!("{error}"))
}

/// `obama3.jpg` (1434x2333, 3.3 MP) resized to about 1 MP and re-encoded as
/// a JPEG of quality 90: a typical phone selfie after client-side resizing.
/// Returns the bytes, the width and the height.
pub(crate) fn one_megapixel_face_jpeg() -> (Vec<u8>, u32, u32) {
    let bytes = assets::photo("obama3.jpg").unwrap_or_else(|error| panic!("{error}"));
    let photo = image::load_from_memory(&bytes).expect("obama3.jpg decodes");
    let scale = (1_000_000.0 / (f64::from(photo.width()) * f64::from(photo.height()))).sqrt();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (width, height) = (
        (f64::from(photo.width()) * scale).round() as u32,
        (f64::from(photo.height()) * scale).round() as u32,
    );
    let resized = photo.resize_exact(width, height, image::imageops::FilterType::Triangle);
    let mut jpeg = Vec::new();
    resized
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            Cursor::new(&mut jpeg),
            90,
        ))
        .expect("encode jpeg");
    (jpeg, width, height)
}
