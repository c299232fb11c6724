//! Photos on disk: read with a size limit before any request is made, and
//! typed by their bytes (JPEG, PNG and WebP magic numbers), never by their
//! file name.

use std::path::{Path, PathBuf};

use idflow_core::StepError;

/// What the photo's bytes say it is.
pub const JPEG: &str = "image/jpeg";
/// PNG.
pub const PNG: &str = "image/png";
/// WebP.
pub const WEBP: &str = "image/webp";
/// Bytes that are none of the above: sent as they are, so that the
/// provider decides (and answers `file_format_not_supported`).
pub const UNKNOWN: &str = "application/octet-stream";

/// The content type of an image, from its first bytes.
pub fn detect_content_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(JPEG)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(PNG)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some(WEBP)
    } else {
        None
    }
}

/// A photo read from disk, ready to upload.
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    bytes: Vec<u8>,
    content_type: &'static str,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("bytes", &self.bytes.len())
            .field("content_type", &self.content_type)
            .finish()
    }
}

impl Photo {
    /// A photo from bytes in memory, typed by its bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        let content_type = detect_content_type(&bytes).unwrap_or(UNKNOWN);
        Self {
            bytes,
            content_type,
        }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `image/jpeg`, `image/png`, `image/webp`, or
    /// `application/octet-stream` when the bytes are none of these.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// How many bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A photo that cannot be uploaded. Messages name the path as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// No file at that path.
    #[error("the photo `{}` does not exist", path.display())]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The file exists but cannot be read (permissions, a folder, ...).
    #[error("the photo `{}` cannot be read: {reason}", path.display())]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is empty.
    #[error("the photo `{}` is empty", path.display())]
    Empty {
        /// The path.
        path: PathBuf,
    },
    /// The file is larger than the upload limit.
    #[error("the photo `{}` is {size} bytes, more than the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl PhotoError {
    /// The step error: terminal (the file will not change by retrying),
    /// with codes `photo_not_found`, `photo_unreadable`, `photo_empty` and
    /// `photo_too_large`.
    pub fn to_step_error(&self) -> StepError {
        let code = match self {
            Self::NotFound { .. } => "photo_not_found",
            Self::Unreadable { .. } => "photo_unreadable",
            Self::Empty { .. } => "photo_empty",
            Self::TooLarge { .. } => "photo_too_large",
        };
        StepError::terminal(code, self.to_string())
    }
}

/// Reads the photo at `path` (shown in errors as `shown`), refusing a
/// missing, unreadable, empty or too large file without reading more than
/// `limit` bytes.
pub async fn read_photo(path: &Path, shown: &Path, limit: u64) -> Result<Photo, PhotoError> {
    let unreadable = |error: &std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound => PhotoError::NotFound {
            path: shown.to_path_buf(),
        },
        _ => PhotoError::Unreadable {
            path: shown.to_path_buf(),
            reason: error.to_string(),
        },
    };
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|error| unreadable(&error))?;
    if !metadata.is_file() {
        return Err(PhotoError::Unreadable {
            path: shown.to_path_buf(),
            reason: "it is not a regular file".into(),
        });
    }
    if metadata.len() > limit {
        return Err(PhotoError::TooLarge {
            path: shown.to_path_buf(),
            size: metadata.len(),
            limit,
        });
    }
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|error| unreadable(&error))?;
    // The file may grow between the size check and the read: read at most
    // one byte past the limit to notice.
    let mut bytes = Vec::new();
    let mut capped = tokio::io::AsyncReadExt::take(file, limit.saturating_add(1));
    tokio::io::AsyncReadExt::read_to_end(&mut capped, &mut bytes)
        .await
        .map_err(|error| unreadable(&error))?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > limit {
        return Err(PhotoError::TooLarge {
            path: shown.to_path_buf(),
            size,
            limit,
        });
    }
    if bytes.is_empty() {
        return Err(PhotoError::Empty {
            path: shown.to_path_buf(),
        });
    }
    Ok(Photo::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_comes_from_the_bytes() {
        assert_eq!(
            detect_content_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]),
            Some(JPEG)
        );
        assert_eq!(
            detect_content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(PNG)
        );
        assert_eq!(detect_content_type(b"RIFF\x24\0\0\0WEBPVP8 "), Some(WEBP));
        for other in [
            &b"RIFF\x24\0\0\0WAVEfmt "[..],
            b"GIF89a",
            b"\xFF\xD8",
            b"\x89PNG",
            b"RIFF",
            b"",
            b"hello",
        ] {
            assert_eq!(detect_content_type(other), None, "{other:?}");
        }
        assert_eq!(
            Photo::from_bytes(b"GIF89a".to_vec()).content_type(),
            UNKNOWN
        );
    }

    #[tokio::test]
    async fn a_photo_named_like_a_png_is_typed_by_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("face.png");
        std::fs::write(&path, [0xFF, 0xD8, 0xFF, 0xDB, 1, 2, 3]).unwrap();
        let photo = read_photo(&path, &path, 1024).await.unwrap();
        assert_eq!(photo.content_type(), JPEG);
        assert_eq!(photo.len(), 7);
    }

    #[tokio::test]
    async fn missing_unreadable_empty_and_large_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let shown = Path::new("photos/face.jpg");

        let missing = read_photo(&dir.path().join("nope.jpg"), shown, 1024)
            .await
            .unwrap_err();
        assert_eq!(
            missing,
            PhotoError::NotFound {
                path: shown.to_path_buf()
            }
        );
        let error = missing.to_step_error();
        assert_eq!(error.code, "photo_not_found");
        assert!(!error.is_retryable());
        assert_eq!(error.message, "the photo `photos/face.jpg` does not exist");

        let folder = read_photo(dir.path(), shown, 1024).await.unwrap_err();
        assert_eq!(folder.to_step_error().code, "photo_unreadable");

        let empty = dir.path().join("empty.jpg");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(
            read_photo(&empty, shown, 1024)
                .await
                .unwrap_err()
                .to_step_error()
                .code,
            "photo_empty"
        );

        let large = dir.path().join("large.jpg");
        std::fs::write(&large, vec![0xFF; 2048]).unwrap();
        let error = read_photo(&large, shown, 1024).await.unwrap_err();
        assert_eq!(
            error,
            PhotoError::TooLarge {
                path: shown.to_path_buf(),
                size: 2048,
                limit: 1024
            }
        );
        assert_eq!(error.to_step_error().code, "photo_too_large");
    }
}
