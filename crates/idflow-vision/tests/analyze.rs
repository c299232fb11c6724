//! The face engine on real models and real photos (installed by
//! `scripts/setup`; without them these tests fail with a message naming it).
//!
//! Run with `--nocapture` to see the distance and score table that the
//! `embedding` module docs record.

use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

use idflow_vision::{
    AnalyzeError, EngineConfig, FaceAnalysis, FaceEngine, ImageFormat, ImageLimits, LoadError,
    SAME_PERSON_DISTANCE, assets, confidence_score, distance,
};
use image::{DynamicImage, ImageEncoder, codecs::jpeg::JpegEncoder};

/// One engine (2 workers) shared by the tests: models load once. Tokio's
/// channels work across the per-test runtimes.
fn engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        FaceEngine::load(EngineConfig::new(assets::models_dir()).with_workers(2))
            .unwrap_or_else(|error| panic!("{error}"))
    })
}

fn photo(name: &str) -> Vec<u8> {
    assets::photo(name).unwrap_or_else(|error| panic!("{error}"))
}

fn decoded_photo(name: &str) -> DynamicImage {
    image::load_from_memory(&photo(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

async fn analyze(name: &str) -> FaceAnalysis {
    engine()
        .analyze(photo(name))
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn encode_png(image: &DynamicImage) -> Vec<u8> {
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode png");
    png
}

#[tokio::test]
async fn same_person_is_close_and_different_people_are_far() {
    let names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];
    let mut analyses = Vec::new();
    for name in names {
        let analysis = analyze(name).await;
        assert_eq!(analysis.format, ImageFormat::Jpeg);
        analyses.push((name, analysis));
    }

    println!("| photo A | photo B | same person | distance | confidence_score |");
    println!("|---|---|---|---|---|");
    for (index, (name_a, a)) in analyses.iter().enumerate() {
        for (name_b, b) in &analyses[index + 1..] {
            let same_person = name_a.starts_with("obama") == name_b.starts_with("obama");
            let d = distance(&a.embedding, &b.embedding);
            let score = confidence_score(d);
            println!("| {name_a} | {name_b} | {same_person} | {d:.3} | {score:.3} |");
            if same_person {
                assert!(d < SAME_PERSON_DISTANCE, "{name_a} vs {name_b}: {d}");
                assert!(score > 0.65, "{name_a} vs {name_b}: score {score}");
            } else {
                assert!(d > SAME_PERSON_DISTANCE, "{name_a} vs {name_b}: {d}");
                assert!(score < 0.65, "{name_a} vs {name_b}: score {score}");
            }
        }
    }
}

#[tokio::test]
async fn reports_the_image_size_and_one_face_per_portrait() {
    let obama = analyze("obama.jpg").await;
    assert_eq!((obama.width, obama.height), (910, 1137));
    assert_eq!(obama.faces_seen, 1);
}

#[tokio::test]
async fn photos_without_a_face_give_no_face_detected() {
    for name in ["coffee.png", "chelsea.png"] {
        assert_eq!(
            engine().analyze(photo(name)).await,
            Err(AnalyzeError::NoFaceDetected),
            "{name}"
        );
    }
    let blank = encode_png(&DynamicImage::new_rgb8(640, 480));
    assert_eq!(
        engine().analyze(blank).await,
        Err(AnalyzeError::NoFaceDetected)
    );
}

#[tokio::test]
async fn only_jpeg_png_and_webp_are_accepted_and_empty_input_is_named() {
    assert_eq!(
        engine().analyze(b"name,age\nAda,36\n".to_vec()).await,
        Err(AnalyzeError::UnsupportedFormat)
    );
    // Real image formats that are not accepted: a 1x1 GIF and a BMP header.
    for other in [
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
        b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00".to_vec(),
    ] {
        assert_eq!(
            engine().analyze(other).await,
            Err(AnalyzeError::UnsupportedFormat)
        );
    }
    assert_eq!(
        engine().analyze(Vec::new()).await,
        Err(AnalyzeError::EmptyInput)
    );
}

#[tokio::test]
async fn a_truncated_jpeg_is_corrupt() {
    let mut jpeg = photo("obama.jpg");
    jpeg.truncate(600);
    let result = engine().analyze(jpeg).await;
    assert!(
        matches!(result, Err(AnalyzeError::Corrupt(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn rgba_grey_and_webp_images_work() {
    // 32bit.png is obama2.jpg as RGBA.
    let rgba = analyze("32bit.png").await;
    let reference = analyze("obama2.jpg").await;
    assert_eq!(rgba.format, ImageFormat::Png);
    let rgba_distance = distance(&rgba.embedding, &reference.embedding);
    println!("32bit.png (RGBA) vs obama2.jpg: {rgba_distance:.3}");
    assert!(rgba_distance < 0.1);

    // camera.png is an 8-bit grey photo of a person.
    let grey = analyze("camera.png").await;
    assert_eq!(grey.faces_seen, 1);

    let mut webp = Vec::new();
    decoded_photo("obama.jpg")
        .write_to(&mut Cursor::new(&mut webp), image::ImageFormat::WebP)
        .expect("encode webp");
    let from_webp = engine().analyze(webp).await.expect("webp analysed");
    assert_eq!(from_webp.format, ImageFormat::Webp);
    let from_jpeg = analyze("obama.jpg").await;
    let webp_distance = distance(&from_webp.embedding, &from_jpeg.embedding);
    println!("obama.jpg as lossless WebP vs the JPEG: {webp_distance:.3}");
    assert!(webp_distance < 0.1);
}

/// A PNG chunk: length, type, data, CRC-32.
fn png_chunk(kind: [u8; 4], data: &[u8]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = u32::MAX;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut chunk = Vec::new();
    chunk.extend_from_slice(
        &u32::try_from(data.len())
            .expect("small chunk")
            .to_be_bytes(),
    );
    let mut typed = kind.to_vec();
    typed.extend_from_slice(data);
    chunk.extend_from_slice(&typed);
    chunk.extend_from_slice(&crc32(&typed).to_be_bytes());
    chunk
}

#[tokio::test]
async fn a_png_declaring_a_huge_size_is_refused_before_decoding() {
    let mut header = Vec::new();
    header.extend_from_slice(&100_000_u32.to_be_bytes());
    header.extend_from_slice(&100_000_u32.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
    bomb.extend(png_chunk(*b"IHDR", &header));
    // A zlib stream of a few zero bytes: what a real bomb inflates from.
    bomb.extend(png_chunk(
        *b"IDAT",
        &[0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
    ));
    bomb.extend(png_chunk(*b"IEND", &[]));
    assert!(bomb.len() < 100);

    assert_eq!(
        engine().analyze(bomb).await,
        Err(AnalyzeError::TooLarge {
            width: 100_000,
            height: 100_000,
            limits: ImageLimits::default(),
        })
    );
}

#[tokio::test]
async fn an_image_needing_more_memory_than_allowed_is_refused() {
    let limits = ImageLimits {
        max_alloc_bytes: 1024 * 1024,
        ..ImageLimits::default()
    };
    let small_engine = FaceEngine::load(
        EngineConfig::new(assets::models_dir())
            .with_workers(1)
            .with_limits(limits),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        small_engine.analyze(photo("obama.jpg")).await,
        Err(AnalyzeError::TooLarge {
            width: 910,
            height: 1137,
            limits,
        })
    );
}

/// A minimal EXIF block (TIFF, little-endian) holding only an orientation.
fn exif_with_orientation(orientation: u16) -> Vec<u8> {
    let mut exif = b"II\x2a\x00\x08\x00\x00\x00".to_vec(); // header, IFD at offset 8
    exif.extend_from_slice(&1_u16.to_le_bytes()); // one entry
    exif.extend_from_slice(&0x0112_u16.to_le_bytes()); // Orientation
    exif.extend_from_slice(&3_u16.to_le_bytes()); // SHORT
    exif.extend_from_slice(&1_u32.to_le_bytes()); // count
    exif.extend_from_slice(&u32::from(orientation).to_le_bytes()); // value, padded
    exif.extend_from_slice(&0_u32.to_le_bytes()); // no next IFD
    exif
}

fn encode_jpeg(image: &DynamicImage, exif: Option<Vec<u8>>) -> Vec<u8> {
    let mut jpeg = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut jpeg, 92);
    if let Some(exif) = exif {
        encoder.set_exif_metadata(exif).expect("jpeg takes exif");
    }
    image.write_with_encoder(encoder).expect("encode jpeg");
    jpeg
}

#[tokio::test]
async fn exif_orientation_is_applied_before_detection() {
    let upright = decoded_photo("obama.jpg");
    // Stored turned a quarter to the left; orientation 6 says "turn it right
    // to display", as a phone held sideways writes it.
    let sideways = upright.rotate270();
    let tagged = encode_jpeg(&sideways, Some(exif_with_orientation(6)));
    let untagged = encode_jpeg(&sideways, None);

    // Control: without the tag, the sideways face is not found.
    assert_eq!(
        engine().analyze(untagged).await,
        Err(AnalyzeError::NoFaceDetected)
    );
    let rotated = engine().analyze(tagged).await.expect("face found");
    assert_eq!((rotated.width, rotated.height), (910, 1137));
    let reference = analyze("obama.jpg").await;
    let rotated_distance = distance(&rotated.embedding, &reference.embedding);
    println!(
        "obama.jpg stored sideways with EXIF orientation 6 vs the original: {rotated_distance:.3}"
    );
    assert!(rotated_distance < 0.15);
}

#[tokio::test]
async fn with_several_faces_the_largest_is_embedded() {
    let obama = decoded_photo("obama.jpg");
    let biden = decoded_photo("biden.jpg");
    let biden = biden.resize(
        biden.width() / 2,
        biden.height() / 2,
        image::imageops::FilterType::Triangle,
    );
    let mut canvas = DynamicImage::new_rgb8(
        obama.width() + biden.width(),
        obama.height().max(biden.height()),
    );
    image::imageops::overlay(&mut canvas, &obama, 0, 0);
    image::imageops::overlay(&mut canvas, &biden, i64::from(obama.width()), 0);

    let group = engine()
        .analyze(encode_png(&canvas))
        .await
        .expect("faces found");
    assert_eq!(group.faces_seen, 2);
    let obama_alone = analyze("obama.jpg").await;
    let biden_alone = analyze("biden.jpg").await;
    assert!(distance(&group.embedding, &obama_alone.embedding) < 0.3);
    assert!(distance(&group.embedding, &biden_alone.embedding) > SAME_PERSON_DISTANCE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_on_a_two_worker_pool_all_succeed() {
    let names = [
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "biden.jpg",
        "astronaut.png",
        "camera.png",
        "32bit.png",
        "obama.jpg",
    ];
    let photos: Vec<Vec<u8>> = names.iter().map(|name| photo(name)).collect();
    let results =
        futures::future::join_all(photos.into_iter().map(|bytes| engine().analyze(bytes))).await;
    for (name, result) in names.iter().zip(&results) {
        let analysis = result
            .as_ref()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(analysis.faces_seen >= 1, "{name}");
    }
    // The same photo gives the same embedding, whichever worker took it.
    let first = results[0].as_ref().expect("analysed");
    let last = results[7].as_ref().expect("analysed");
    assert!(distance(&first.embedding, &last.embedding) < 1e-5);
}

#[tokio::test]
async fn a_cancelled_call_leaves_the_engine_working() {
    for _ in 0..4 {
        let call = engine().analyze(photo("obama3.jpg"));
        // Poll once (the job is queued), then give up on it.
        tokio::select! {
            biased;
            _ = call => {}
            () = std::future::ready(()) => {}
        }
    }
    let after = analyze("obama.jpg").await;
    assert_eq!(after.faces_seen, 1);
}

#[test]
fn missing_models_fail_at_start_naming_the_setup_script() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-models-here");
    let error = FaceEngine::load(EngineConfig::new(&dir)).expect_err("must fail");
    let message = error.to_string();
    assert!(
        matches!(&error, LoadError::ModelsMissing { missing_files, .. } if missing_files.len() == 2),
        "{error:?}"
    );
    assert!(message.contains("scripts/setup"), "{message}");
    assert!(
        message.contains("dlib_face_recognition_resnet_model_v1.dat"),
        "{message}"
    );
}

#[test]
fn an_unreadable_model_fails_at_start_naming_the_setup_script() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in idflow_vision::MODEL_FILES {
        std::fs::write(dir.path().join(name), b"").expect("write empty model");
    }
    let error =
        FaceEngine::load(EngineConfig::new(dir.path()).with_workers(1)).expect_err("must fail");
    assert!(
        matches!(error, LoadError::ModelUnreadable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("scripts/setup"), "{error}");
}

#[test]
fn zero_workers_is_refused() {
    let error = FaceEngine::load(EngineConfig::new(assets::models_dir()).with_workers(0))
        .expect_err("must fail");
    assert!(matches!(error, LoadError::NoWorkers), "{error:?}");
}
