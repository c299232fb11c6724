//! The fake camera's video: a real photo turned into a short YUV4MPEG2
//! (`.y4m`, 4:2:0) clip of identical frames, which Chromium plays in a loop
//! as the camera (`--use-file-for-fake-video-capture`, given by
//! [`Driver::browser`](crate::Driver::browser)).

use std::io::{Cursor, Write as _};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder as _, ImageReader, RgbImage};

/// Frames in the clip (Chromium loops it).
const FRAMES: usize = 3;

/// Decodes `photo` (applying its EXIF orientation) and writes it as a
/// `.y4m` clip in `dir`; returns the file's path.
pub fn y4m_from_photo(photo: &[u8], dir: &Path, name: &str) -> PathBuf {
    let rgb = even_sized(upright(photo).to_rgb8());
    let path = dir.join(format!("{name}.y4m"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        file,
        "YUV4MPEG2 W{} H{} F30:1 Ip A1:1 C420jpeg",
        rgb.width(),
        rgb.height()
    )
    .unwrap();
    let frame = i420(&rgb);
    for _ in 0..FRAMES {
        file.write_all(b"FRAME\n").unwrap();
        file.write_all(&frame).unwrap();
    }
    file.flush().unwrap();
    path
}

/// The photo decoded and turned upright (its EXIF orientation applied), as
/// the camera shows it.
pub fn upright(photo: &[u8]) -> DynamicImage {
    let mut decoder = ImageReader::new(Cursor::new(photo))
        .with_guessed_format()
        .expect("the photo is readable")
        .into_decoder()
        .expect("the photo has a known format");
    let orientation = decoder.orientation().expect("the orientation is readable");
    let mut image = DynamicImage::from_decoder(decoder).expect("the photo decodes");
    image.apply_orientation(orientation);
    image
}

/// Crops one pixel row or column if needed: 4:2:0 wants even dimensions.
fn even_sized(rgb: RgbImage) -> RgbImage {
    let (width, height) = (rgb.width() & !1, rgb.height() & !1);
    if (width, height) == rgb.dimensions() {
        rgb
    } else {
        image::imageops::crop_imm(&rgb, 0, 0, width, height).to_image()
    }
}

/// The Y, U and V planes of an even-sized image (BT.601, limited range, as
/// Chromium reads camera frames); chroma is the mean of each 2x2 block.
fn i420(rgb: &RgbImage) -> Vec<u8> {
    let (width, height) = rgb.dimensions();
    let plane = width as usize * height as usize;
    let mut y_plane = Vec::with_capacity(plane * 3 / 2);
    for pixel in rgb.pixels() {
        let [r, g, b] = pixel.0.map(f32::from);
        y_plane.push(clamp(
            16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
        ));
    }
    let mut u_plane = Vec::with_capacity(plane / 4);
    let mut v_plane = Vec::with_capacity(plane / 4);
    for y in (0..height).step_by(2) {
        for x in (0..width).step_by(2) {
            let mut sum = [0.0_f32; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let pixel = rgb.get_pixel(x + dx, y + dy);
                for (total, channel) in sum.iter_mut().zip(pixel.0) {
                    *total += f32::from(channel) / 4.0;
                }
            }
            let [r, g, b] = sum;
            u_plane.push(clamp(
                128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
            ));
            v_plane.push(clamp(128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0));
        }
    }
    y_plane.extend(u_plane);
    y_plane.extend(v_plane);
    y_plane
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn clamp(value: f32) -> u8 {
    value.round().clamp(0.0, 255.0) as u8
}
