//! Any bytes as an uploaded photo: idflow-vision's decoding (format by
//! content, limits before decoding, orientation, RGB, downscaling) returns
//! an image or an error, never a panic, and stays within its limits.
#![no_main]

use idflow_vision::ImageLimits;
use idflow_vision::decode::decode_for_detection;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Smaller than the defaults, so that an allowed image stays well under
    // libFuzzer's memory limit (scripts/test sets 512 MB).
    let limits = ImageLimits {
        max_width: 2000,
        max_height: 2000,
        max_alloc_bytes: 32 * 1024 * 1024,
    };
    if let Ok((width, height)) = decode_for_detection(data, &limits) {
        assert!(width <= limits.max_width && height <= limits.max_height);
    }
});
