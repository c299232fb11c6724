//! Untrusted image bytes to an RGB image ready for face detection.
//!
//! The steps, in order, each one refusing bad input with an [`AnalyzeError`]:
//! 1. **Format by content**: the magic bytes must say JPEG, PNG or WebP
//!    ([`ImageFormat::sniff`]); a name or a declared MIME type is never trusted.
//! 2. **Limits before decoding**: the header's dimensions and the memory the
//!    decoder would need are checked against [`ImageLimits`] before any pixel
//!    buffer is allocated, so a decompression bomb (a small file declaring a
//!    huge image) is refused, not followed.
//! 3. **Orientation**: the EXIF orientation of JPEG (and WebP) files is
//!    applied, so a phone photo taken sideways is upright for the detector.
//! 4. **RGB**: grey, 16-bit and alpha images become 8-bit RGB (alpha dropped).
//! 5. **Downscale**: the longest side is reduced to at most the detection size
//!    (about 1000 px by default); HOG detection cost grows with the pixel
//!    count and larger images do not find faces better.
//!
//! Decoding uses `image` 0.25 (limits, EXIF orientation); the result is handed
//! to dlib as an `image` 0.24 buffer, the version `dlib-face-recognition` takes.

use std::fmt;
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, metadata::Orientation};

use crate::error::AnalyzeError;

/// The longest side, in pixels, images are reduced to before detection.
pub const DEFAULT_DETECTION_MAX_SIDE: u32 = 1000;

/// The image formats accepted, detected from the file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (`89 50 4E 47 0D 0A 1A 0A`).
    Png,
    /// WebP (`RIFF` .... `WEBP`).
    Webp,
}

impl ImageFormat {
    /// The format the bytes are in, judged by their magic bytes; `None` for
    /// anything that is not JPEG, PNG or WebP.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(PNG_MAGIC) {
            Some(Self::Png)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    /// The format's MIME type (`image/jpeg`, `image/png`, `image/webp`).
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    /// A short lowercase name (`jpeg`, `png`, `webp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    fn to_image_format(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
            Self::Webp => image::ImageFormat::WebP,
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an image may declare and cost before it is refused as
/// [`AnalyzeError::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest accepted width, in pixels.
    pub max_width: u32,
    /// Largest accepted height, in pixels.
    pub max_height: u32,
    /// Most memory the decoder may allocate for the pixels, in bytes.
    pub max_alloc_bytes: u64,
}

impl Default for ImageLimits {
    /// 8000x8000 pixels and 256 MiB: room for any camera photo (an 8000x8000
    /// RGBA image is 244 MiB), not for a bomb.
    fn default() -> Self {
        Self {
            max_width: 8000,
            max_height: 8000,
            max_alloc_bytes: 256 * 1024 * 1024,
        }
    }
}

impl fmt::Display for ImageLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at most {}x{} pixels and {} MiB of pixel data",
            self.max_width,
            self.max_height,
            self.max_alloc_bytes / (1024 * 1024)
        )
    }
}

/// An image decoded, upright and in RGB, possibly downscaled for detection.
#[derive(Debug)]
pub(crate) struct DecodedImage {
    /// The format the bytes were in.
    pub(crate) format: ImageFormat,
    /// Width of the upright image at full size.
    pub(crate) width: u32,
    /// Height of the upright image at full size.
    pub(crate) height: u32,
    /// The pixels handed to dlib; longest side at most the detection size.
    pub(crate) rgb: image_dlib::RgbImage,
}

/// Decodes untrusted bytes (see the module docs for the steps) and downscales
/// the result so its longest side is at most `max_side` pixels.
pub(crate) fn decode(
    bytes: &[u8],
    limits: &ImageLimits,
    max_side: u32,
) -> Result<DecodedImage, AnalyzeError> {
    if bytes.is_empty() {
        return Err(AnalyzeError::EmptyInput);
    }
    let format = ImageFormat::sniff(bytes).ok_or(AnalyzeError::UnsupportedFormat)?;

    // Only the memory limit while the header is read (it bounds metadata
    // chunks); the dimensions are checked below, where they are known and the
    // error can say what they are.
    let mut header_limits = image::Limits::default();
    header_limits.max_alloc = Some(limits.max_alloc_bytes);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image_format());
    reader.limits(header_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|error| classify(&error, None))?;

    let (width, height) = decoder.dimensions();
    let too_large = AnalyzeError::TooLarge {
        width,
        height,
        limits: *limits,
    };
    if width > limits.max_width
        || height > limits.max_height
        || decoder.total_bytes() > limits.max_alloc_bytes
    {
        return Err(too_large);
    }
    let mut full_limits = image::Limits::default();
    full_limits.max_image_width = Some(limits.max_width);
    full_limits.max_image_height = Some(limits.max_height);
    full_limits.max_alloc = Some(limits.max_alloc_bytes);
    decoder
        .set_limits(full_limits)
        .map_err(|error| classify(&error, Some(&too_large)))?;

    // A broken EXIF block is not worth refusing the photo for: keep it as is.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|error| classify(&error, Some(&too_large)))?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());

    let rgb = downscale(image.into_rgb8(), max_side);
    let (rgb_width, rgb_height) = rgb.dimensions();
    let rgb = image_dlib::RgbImage::from_raw(rgb_width, rgb_height, rgb.into_raw())
        .ok_or_else(|| AnalyzeError::Corrupt("decoded pixel buffer has the wrong size".into()))?;
    Ok(DecodedImage {
        format,
        width,
        height,
        rgb,
    })
}

/// Decodes untrusted bytes exactly as face analysis does (format, limits,
/// orientation, RGB, downscaling for detection) and returns the upright
/// full-size dimensions: the decoding entry point without the face models,
/// for fuzzing and for checking a photo before it is stored.
pub fn decode_for_detection(
    bytes: &[u8],
    limits: &ImageLimits,
) -> Result<(u32, u32), AnalyzeError> {
    let decoded = decode(bytes, limits, DEFAULT_DETECTION_MAX_SIDE)?;
    Ok((decoded.width, decoded.height))
}

/// Shrinks `image` so its longest side is at most `max_side`, keeping the
/// aspect ratio (area averaging); smaller images are returned unchanged.
fn downscale(image: image::RgbImage, max_side: u32) -> image::RgbImage {
    let (width, height) = image.dimensions();
    let longest = width.max(height);
    if longest <= max_side || max_side == 0 {
        return image;
    }
    let scale = |side: u32| -> u32 {
        let scaled = u64::from(side) * u64::from(max_side) / u64::from(longest);
        u32::try_from(scaled).unwrap_or(max_side).max(1)
    };
    image::imageops::thumbnail(&image, scale(width), scale(height))
}

/// Maps a decoder error to what it means for the caller.
fn classify(error: &ImageError, too_large: Option<&AnalyzeError>) -> AnalyzeError {
    match error {
        ImageError::Limits(_) => too_large.cloned().unwrap_or_else(|| {
            AnalyzeError::Corrupt(format!("the image header is beyond the limits: {error}"))
        }),
        ImageError::Unsupported(_) => AnalyzeError::UnsupportedFormat,
        ImageError::Decoding(_)
        | ImageError::IoError(_)
        | ImageError::Parameter(_)
        | ImageError::Encoding(_) => AnalyzeError::Corrupt(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats_by_content() {
        assert_eq!(
            ImageFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(
            ImageFormat::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(ImageFormat::Png)
        );
        assert_eq!(
            ImageFormat::sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 "),
            Some(ImageFormat::Webp)
        );
        assert_eq!(ImageFormat::sniff(b"RIFF\x10\x00\x00\x00WAVEfmt "), None);
        assert_eq!(ImageFormat::sniff(b"GIF89a"), None);
        assert_eq!(ImageFormat::sniff(b"hello, world"), None);
        assert_eq!(ImageFormat::sniff(&[0xFF, 0xD8]), None);
    }

    #[test]
    fn downscale_keeps_the_aspect_ratio_and_leaves_small_images_alone() {
        let big = image::RgbImage::new(3000, 1500);
        assert_eq!(downscale(big, 1000).dimensions(), (1000, 500));
        let tall = image::RgbImage::new(10, 4000);
        assert_eq!(downscale(tall, 1000).dimensions(), (2, 1000));
        let small = image::RgbImage::new(640, 480);
        assert_eq!(downscale(small, 1000).dimensions(), (640, 480));
    }

    #[test]
    fn empty_and_unknown_bytes_are_refused_before_decoding() {
        let limits = ImageLimits::default();
        assert_eq!(
            decode(&[], &limits, 1000).err(),
            Some(AnalyzeError::EmptyInput)
        );
        assert_eq!(
            decode(b"just some text\n", &limits, 1000).err(),
            Some(AnalyzeError::UnsupportedFormat)
        );
    }

    #[test]
    fn a_truncated_png_is_corrupt() {
        let mut png = Vec::new();
        image::RgbImage::new(64, 64)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode png");
        png.truncate(png.len() / 2);
        let result = decode(&png, &ImageLimits::default(), 1000);
        assert!(
            matches!(result, Err(AnalyzeError::Corrupt(_))),
            "{result:?}"
        );
    }

    #[test]
    fn dimensions_and_memory_beyond_the_limits_are_refused_before_decoding() {
        let mut png = Vec::new();
        image::RgbImage::new(1200, 900)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode png");
        let narrow = ImageLimits {
            max_width: 1000,
            ..ImageLimits::default()
        };
        let small_memory = ImageLimits {
            max_alloc_bytes: 1024 * 1024,
            ..ImageLimits::default()
        };
        for limits in [narrow, small_memory] {
            assert_eq!(
                decode(&png, &limits, 1000).err(),
                Some(AnalyzeError::TooLarge {
                    width: 1200,
                    height: 900,
                    limits
                })
            );
        }
    }

    #[test]
    fn a_decoded_image_is_rgb_and_reports_full_size() {
        let mut png = Vec::new();
        image::RgbaImage::new(2400, 1200)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode png");
        let decoded = decode(&png, &ImageLimits::default(), 1000).expect("decodes");
        assert_eq!(decoded.format, ImageFormat::Png);
        assert_eq!((decoded.width, decoded.height), (2400, 1200));
        assert_eq!(decoded.rgb.dimensions(), (1000, 500));
    }
}
