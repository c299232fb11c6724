//! Source files and spans: where in a workflow file something is.
//!
//! A [`SourceFile`] indexes where its lines start (once, on first use), so
//! turning an offset into a line and column costs a binary search: a file
//! with thousands of diagnostics reports them in linear time.

use std::sync::{Arc, OnceLock};

/// A workflow file's name and text, shared by every diagnostic about it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it (or a label such as `<stdin>`).
    pub name: String,
    /// The whole text.
    pub text: String,
    /// The byte offset where each line starts (built on first use).
    line_starts: OnceLock<Vec<usize>>,
}

impl PartialEq for SourceFile {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.text == other.text
    }
}

impl Eq for SourceFile {}

impl SourceFile {
    /// A shared source file.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            text: text.into(),
            line_starts: OnceLock::new(),
        })
    }

    /// The byte offset where each line starts; the first is 0.
    pub(crate) fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(at, _)| at + 1))
                .collect()
        })
    }

    /// The 0-based line that holds a byte offset.
    pub(crate) fn line_index(&self, offset: usize) -> usize {
        self.line_starts()
            .partition_point(|&start| start <= offset)
            .saturating_sub(1)
    }

    /// The byte range of a 0-based line, without its line break.
    pub(crate) fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let starts = self.line_starts();
        let start = starts.get(line).copied().unwrap_or(self.text.len());
        let end = starts
            .get(line + 1)
            .map_or(self.text.len(), |next| next - 1);
        let end = if self.text[start..end].ends_with('\r') {
            end - 1
        } else {
            end
        };
        start..end.max(start)
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_index(offset);
        let line_start = self.line_starts()[line];
        let column = self.text[line_start..offset].chars().count() + 1;
        (line + 1, column)
    }

    /// The byte offset of a 1-based line and column (in characters);
    /// clamped to the text.
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let Some(&offset) = self.line_starts().get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let line_text = &self.text[offset..];
        let line_end = line_text.find('\n').unwrap_or(line_text.len());
        let in_line = line_text[..line_end]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(line_end, |(i, _)| i);
        offset + in_line
    }
}

/// Reads a regular file of at most `limit` bytes as UTF-8 text (see
/// [`read_regular_bytes`]).
pub fn read_regular_file(path: &std::path::Path, limit: usize) -> std::io::Result<String> {
    String::from_utf8(read_regular_bytes(path, limit)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// Reads a regular file of at most `limit` bytes.
///
/// Anything else is refused before a byte is read: a folder, a device such
/// as `/dev/zero`, a pipe or a socket (reading them may never end), and a
/// file that grows past `limit` while being read. The error says which.
pub fn read_regular_bytes(path: &std::path::Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let not_regular = |kind: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {kind}, not a regular file"),
        )
    };
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(not_regular(file_kind(metadata.file_type())));
    }
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is larger than the {limit} bytes allowed"),
        )
    };
    if metadata.len() > limit as u64 {
        return Err(too_large());
    }
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// What kind of thing a path that is not a regular file names, in words.
fn file_kind(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a named pipe";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

pub(crate) fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A byte range in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Self {
            start,
            end: end.max(start),
        }
    }

    /// How many bytes it covers.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether it covers nothing.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// A sub-span, given offsets relative to this span's start.
    #[must_use]
    pub fn sub(&self, start: usize, end: usize) -> Span {
        Span::new(
            (self.start + start).min(self.end),
            (self.start + end).min(self.end),
        )
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.start, span.len()).into()
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs a value with its span.
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_and_offset_are_inverse() {
        let file = SourceFile::new("f.yaml", "a: 1\nbé: 22\n\nc: x");
        for (offset, expected) in [
            (0, (1, 1)),
            (5, (2, 1)),
            (9, (2, 4)),
            (13, (3, 1)),
            (14, (4, 1)),
        ] {
            assert_eq!(file.line_col(offset), expected, "offset {offset}");
            assert_eq!(file.offset_of(expected.0, expected.1), offset);
        }
        // Past the end clamps.
        assert_eq!(file.offset_of(99, 1), file.text.len());
        assert_eq!(file.line_col(999), (4, 5));
        assert_eq!(file.line_range(1), 5..12);
        assert_eq!(file.line_range(2), 13..13);
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.yaml");
        std::fs::write(&small, "name: x\n").unwrap();
        assert_eq!(read_regular_file(&small, 100).unwrap(), "name: x\n");
        let error = read_regular_file(&small, 3).unwrap_err();
        assert!(
            error.to_string().contains("larger than the 3 bytes"),
            "{error}"
        );
        let error = read_regular_file(dir.path(), 100).unwrap_err();
        assert!(error.to_string().contains("a folder"), "{error}");
        // A device that never ends is refused before anything is read.
        let error = read_regular_file(std::path::Path::new("/dev/zero"), 100).unwrap_err();
        assert!(error.to_string().contains("a character device"), "{error}");
    }
}
