//! Face embeddings, the distance between two of them, and the 0..1
//! confidence score derived from that distance.
//!
//! An [`Embedding`] is dlib's 128-dimensional face descriptor (ResNet,
//! computed on a 150x150 face chip aligned with 5 landmarks). Photos of one
//! person lie close together: dlib's suggested same-person threshold is a
//! Euclidean [`distance`] below **0.6** ([`SAME_PERSON_DISTANCE`]).
//!
//! ## Confidence score
//! [`confidence_score`] maps a distance `d` to a score in `0..=1` with a
//! logistic curve, decreasing in `d`:
//!
//! ```text
//! score(d) = 1 / (1 + exp(k * (d - c)))      k = 10
//! c = 0.6 + ln(0.65 / 0.35) / k  ≈ 0.6619    so that score(0.6) = 0.65
//! ```
//!
//! So dlib's same-person threshold (0.6) maps to **0.65**, the threshold in
//! the provider contract's examples: `score >= 0.65` decides as dlib does.
//! Other landmarks of the curve: score(0) ≈ 0.999, score(0.4) ≈ 0.93,
//! score(0.5233) = 0.80 (the upstream SDK's default threshold, so it asks
//! for a distance under about 0.52), score(0.8) ≈ 0.20, score(1.0) ≈ 0.03.
//!
//! ## Measured on the test photos
//! Computed by this crate's tests (`tests/analyze.rs`) with the real models on
//! the photos `scripts/setup` installs:
//!
//! | photo A | photo B | same person | distance | confidence_score |
//! |---|---|---|---|---|
//! | obama.jpg | obama2.jpg | yes | 0.359 | 0.954 |
//! | obama.jpg | obama3.jpg | yes | 0.346 | 0.959 |
//! | obama2.jpg | obama3.jpg | yes | 0.442 | 0.900 |
//! | obama.jpg | biden.jpg | no | 0.854 | 0.127 |
//! | obama2.jpg | biden.jpg | no | 0.827 | 0.162 |
//! | obama3.jpg | biden.jpg | no | 0.876 | 0.105 |
//!
//! Same person: 0.35-0.44 (scores 0.90-0.96); different people: 0.83-0.88
//! (scores 0.10-0.16). The same photo in another encoding stays very close:
//! 0.048 for `32bit.png` (obama2 as RGBA PNG) against `obama2.jpg`, 0.051 for
//! obama.jpg re-encoded sideways with EXIF orientation 6, 0.000 as lossless WebP.

use crate::error::EmbeddingBytesError;

/// Number of dimensions of an [`Embedding`].
pub const EMBEDDING_DIMENSIONS: usize = 128;

/// dlib's suggested threshold: two faces whose embeddings are closer than
/// this are the same person.
pub const SAME_PERSON_DISTANCE: f32 = 0.6;

/// The [`confidence_score`] of a distance of exactly [`SAME_PERSON_DISTANCE`].
pub const SCORE_AT_SAME_PERSON_DISTANCE: f32 = 0.65;

/// How steeply [`confidence_score`] falls around the threshold.
const SCORE_STEEPNESS: f32 = 10.0;

/// A face descriptor: 128 numbers, comparable with [`distance`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Embedding(pub [f32; EMBEDDING_DIMENSIONS]);

impl Embedding {
    /// Size of [`Embedding::to_bytes`]: 128 little-endian `f32`s.
    pub const BYTES: usize = EMBEDDING_DIMENSIONS * 4;

    /// The embedding as 512 bytes (128 little-endian `f32`), for storage.
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut bytes = [0; Self::BYTES];
        for (chunk, value) in bytes.chunks_exact_mut(4).zip(self.0) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    /// Reads bytes written by [`Embedding::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EmbeddingBytesError> {
        if bytes.len() != Self::BYTES {
            return Err(EmbeddingBytesError::WrongLength {
                expected: Self::BYTES,
                found: bytes.len(),
            });
        }
        let mut values = [0.0; EMBEDDING_DIMENSIONS];
        for (index, (value, chunk)) in values.iter_mut().zip(bytes.chunks_exact(4)).enumerate() {
            let raw = [chunk[0], chunk[1], chunk[2], chunk[3]];
            *value = f32::from_le_bytes(raw);
            if !value.is_finite() {
                return Err(EmbeddingBytesError::NotFinite { index });
            }
        }
        Ok(Self(values))
    }

    /// Converts dlib's `f64` descriptor; `None` unless it has 128 finite values.
    #[allow(clippy::cast_possible_truncation)] // f64 -> f32 on purpose: dlib computes in f32.
    pub(crate) fn from_dlib(values: &[f64]) -> Option<Self> {
        if values.len() != EMBEDDING_DIMENSIONS || !values.iter().all(|value| value.is_finite()) {
            return None;
        }
        let mut embedding = [0.0; EMBEDDING_DIMENSIONS];
        for (target, value) in embedding.iter_mut().zip(values) {
            *target = *value as f32;
        }
        Some(Self(embedding))
    }
}

/// Euclidean distance between two embeddings: below
/// [`SAME_PERSON_DISTANCE`] (0.6) means the same person.
pub fn distance(a: &Embedding, b: &Embedding) -> f32 {
    a.0.iter()
        .zip(&b.0)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// How confident a match is, in `0..=1`, from the [`distance`] of two
/// embeddings: the logistic curve in the module docs; 0.6 gives 0.65, and a
/// smaller distance always gives a higher score. NaN gives 0.
pub fn confidence_score(distance: f32) -> f32 {
    if distance.is_nan() {
        return 0.0;
    }
    let center = SAME_PERSON_DISTANCE
        + (SCORE_AT_SAME_PERSON_DISTANCE / (1.0 - SCORE_AT_SAME_PERSON_DISTANCE)).ln()
            / SCORE_STEEPNESS;
    let score = 1.0 / (1.0 + (SCORE_STEEPNESS * (distance - center)).exp());
    score.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedding(seed: f32) -> Embedding {
        let mut values = [0.0; EMBEDDING_DIMENSIONS];
        for (index, value) in values.iter_mut().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let position = index as f32;
            *value = (position * 0.37 + seed).sin() * 0.1;
        }
        Embedding(values)
    }

    #[test]
    fn bytes_round_trip() {
        let original = embedding(1.0);
        let bytes = original.to_bytes();
        assert_eq!(bytes.len(), 512);
        assert_eq!(Embedding::from_bytes(&bytes), Ok(original));
    }

    #[test]
    fn bad_bytes_are_refused() {
        assert_eq!(
            Embedding::from_bytes(&[0; 100]),
            Err(EmbeddingBytesError::WrongLength {
                expected: 512,
                found: 100
            })
        );
        let mut bytes = embedding(2.0).to_bytes();
        bytes[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(
            Embedding::from_bytes(&bytes),
            Err(EmbeddingBytesError::NotFinite { index: 3 })
        );
    }

    #[test]
    fn distance_is_euclidean() {
        let mut a = [0.0; EMBEDDING_DIMENSIONS];
        let mut b = [0.0; EMBEDDING_DIMENSIONS];
        a[0] = 3.0;
        b[1] = 4.0;
        assert!((distance(&Embedding(a), &Embedding(b)) - 5.0).abs() < 1e-6);
        let same = embedding(0.5);
        assert!(distance(&same, &same).abs() < f32::EPSILON);
    }

    #[test]
    fn dlib_descriptors_convert_only_when_complete_and_finite() {
        assert!(Embedding::from_dlib(&[0.5; 128]).is_some());
        assert!(Embedding::from_dlib(&[0.5; 127]).is_none());
        let mut values = vec![0.5; 128];
        values[7] = f64::INFINITY;
        assert!(Embedding::from_dlib(&values).is_none());
    }

    #[test]
    fn confidence_score_matches_its_documented_landmarks() {
        let close = |actual: f32, expected: f32| (actual - expected).abs() < 0.005;
        assert!(close(confidence_score(0.6), 0.65));
        assert!(close(confidence_score(0.0), 0.999));
        assert!(close(confidence_score(0.4), 0.93));
        assert!(close(confidence_score(0.5233), 0.80));
        assert!(close(confidence_score(0.8), 0.20));
        assert!(close(confidence_score(1.0), 0.033));
        assert!(confidence_score(f32::NAN).abs() < f32::EPSILON);
        assert!(confidence_score(f32::INFINITY).abs() < f32::EPSILON);
    }

    #[test]
    fn confidence_score_is_monotone_decreasing_and_within_0_1() {
        let mut previous = confidence_score(0.0);
        for step in 1..=300 {
            #[allow(clippy::cast_precision_loss)]
            let distance = step as f32 * 0.01;
            let score = confidence_score(distance);
            assert!((0.0..=1.0).contains(&score));
            assert!(score <= previous, "score rose at distance {distance}");
            previous = score;
        }
    }
}
