//! Error types for loading IDX files and datasets.
//!
//! Every failure is a [`DataError`]: the path of the offending file (or directory) plus an
//! [`IdxErrorKind`] saying what is wrong and what was expected. The display form is
//! `PATH: MESSAGE`, e.g.
//! `assets/mnist/train-labels-idx1-ubyte.gz: label 12 at index 5 is >= 10 classes (...)`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::csv::CsvProblem;

/// A failure while loading a file or a dataset, tagged with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct DataError {
    /// The file (or, for [`IdxErrorKind::MissingFile`], the directory) the error is about.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: IdxErrorKind,
}

impl DataError {
    /// Builds an error for `path`.
    pub fn new(path: impl Into<PathBuf>, kind: IdxErrorKind) -> Self {
        Self { path: path.into(), kind }
    }
}

/// What is wrong with an IDX file or a dataset; one variant per failure.
#[derive(Debug, thiserror::Error)]
pub enum IdxErrorKind {
    /// The file (or its decompressed contents) holds no bytes at all.
    #[error(
        "the file is empty (no bytes, or a gzip stream that decompresses to nothing); \
         expected an IDX file starting with the magic bytes 00 00 08 <ndims>"
    )]
    Empty,

    /// The first two bytes are not zero.
    #[error(
        "not an IDX file: the first two bytes are {:02x} {:02x}, expected 00 00 \
         (is it compressed but not named .gz, or a different format?)",
        .found[0], .found[1]
    )]
    BadMagic {
        /// The first two bytes of the stream.
        found: [u8; 2],
    },

    /// The element type code (byte 2) is not `0x08` (unsigned byte).
    #[error(
        "unsupported IDX element type 0x{code:02x}; only 0x08 (unsigned byte) is supported, \
         as used by MNIST-format data sets"
    )]
    UnsupportedType {
        /// The type code found in byte 2.
        code: u8,
    },

    /// The number of dimensions (byte 3) is not what this file must have.
    #[error(
        "the header declares {found} dimension(s), expected {expected} \
         (image files have 3: count, rows, cols; label files have 1: count) \
         - is this the right file?"
    )]
    WrongDimCount {
        /// The dimension count found in byte 3.
        found: u8,
        /// The dimension count this file must have.
        expected: usize,
    },

    /// The file ends inside the header.
    #[error(
        "truncated header: the IDX header needs {expected} bytes but the stream ends after \
         {found}; the file is incomplete (re-download it)"
    )]
    TruncatedHeader {
        /// Header length in bytes (4 + 4 x ndims, or 4 if the dimension count was not reached).
        expected: usize,
        /// Bytes actually present.
        found: usize,
    },

    /// The product of the dimensions does not fit in 64 bits / the address space.
    #[error(
        "the dimensions {dims:?} multiply to more than the address space can hold; \
         the header is corrupt"
    )]
    DimsOverflow {
        /// The dimensions declared in the header.
        dims: Vec<u32>,
    },

    /// The declared payload exceeds [`IdxLimits::max_bytes`](crate::data::IdxLimits).
    #[error(
        "the header declares {declared} payload bytes (dimensions {dims:?}), above the limit of \
         {max} bytes; the header is corrupt, or raise IdxLimits::max_bytes for a genuinely \
         large data set"
    )]
    TooLarge {
        /// The dimensions declared in the header.
        dims: Vec<u32>,
        /// Declared payload size in bytes.
        declared: u64,
        /// The limit in force.
        max: u64,
    },

    /// The payload has fewer bytes than the header declares.
    #[error(
        "truncated payload: the header declares {expected} bytes of data but only {found} \
         are present; the file is incomplete (re-download it)"
    )]
    TruncatedPayload {
        /// Declared payload size in bytes.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },

    /// There is more data after the declared payload (this also catches gzip bombs, which
    /// are never decompressed past the declared size).
    #[error(
        "trailing bytes: the stream continues after the {expected}-byte payload declared by \
         the header; expected the file to end there (wrong header, or a corrupt / \
         concatenated file)"
    )]
    TrailingBytes {
        /// Declared payload size in bytes.
        expected: u64,
    },

    /// The file name ends in `.gz` but the content does not start with the gzip magic.
    #[error(
        "the file name ends in .gz but the content is not gzip (starts with {}, expected \
         1f 8b); gzip it or drop the .gz suffix",
        hex_bytes(.found)
    )]
    NotGzip {
        /// The first (up to two) bytes of the file.
        found: Vec<u8>,
    },

    /// The gzip stream is damaged (bad CRC or length, broken deflate data, cut short).
    #[error("corrupt gzip stream ({detail}); the file is damaged (re-download it)")]
    CorruptGzip {
        /// The decoder's description of the problem.
        detail: String,
    },

    /// Reading failed at the operating-system level (missing file, permissions, ...).
    #[error("cannot read: {0}")]
    Io(std::io::Error),

    /// A label is not a valid class index.
    #[error(
        "label {label} at index {index} is >= {classes} classes \
         (expected every label in 0..{classes}; wrong class count or a corrupt labels file)"
    )]
    LabelOutOfRange {
        /// Position of the offending label in the file.
        index: usize,
        /// The label value.
        label: u8,
        /// The number of classes in force.
        classes: usize,
    },

    /// The labels file and the images file hold a different number of samples.
    #[error(
        "{labels} labels but {} holds {images} images; expected one label per image \
         (are the files from the same set / split?)",
        .images_path.display()
    )]
    CountMismatch {
        /// Number of labels.
        labels: usize,
        /// Number of images.
        images: usize,
        /// The images file.
        images_path: PathBuf,
    },

    /// The images do not have the pixel count the model expects.
    #[error(
        "images are {rows}x{cols} = {} pixels but the model input size is {expected}; \
         expected images of exactly {expected} pixels (e.g. 28x28 for 784): use a data set of \
         that shape or change the model input size",
        .rows * .cols
    )]
    WrongImageSize {
        /// Image height.
        rows: usize,
        /// Image width.
        cols: usize,
        /// The required number of pixels.
        expected: usize,
    },

    /// Train and test images have different shapes.
    #[error(
        "test images are {test_rows}x{test_cols} but training images are \
         {train_rows}x{train_cols}; expected both splits to have the same image shape"
    )]
    ShapeMismatch {
        /// Training image height.
        train_rows: usize,
        /// Training image width.
        train_cols: usize,
        /// Test image height.
        test_rows: usize,
        /// Test image width.
        test_cols: usize,
    },

    /// A split holds no samples at all.
    #[error("the file holds 0 samples; expected at least one")]
    NoSamples,

    /// The data directory does not exist or is not a directory.
    #[error("not a directory; expected a directory holding the four IDX files (e.g. {})",
        crate::data::FILES.join(", "))]
    NotADirectory,

    /// One of the four files is not in the data directory.
    #[error(
        "missing {file}: tried {}; put the file (gzipped or raw) in this directory, or MNIST as CSV \
         (mnist_train.csv and mnist_test.csv, optionally .gz)",
        display_paths(.tried)
    )]
    MissingFile {
        /// Canonical stem of the missing file, e.g. `train-labels-idx1-ubyte`.
        file: String,
        /// Every path that was tried.
        tried: Vec<PathBuf>,
    },

    /// A CSV file breaks one of the readers' rules ([`crate::data::csv`]).
    #[error("{}{problem}", csv_place(*.line, .column.as_deref()))]
    Csv {
        /// The line (1-based) the offending row starts on; `None` for the file as a whole.
        line: Option<u64>,
        /// The column, numbered from 1 and named by the header where it has one: `3 (1x2)`.
        column: Option<String>,
        /// What is wrong.
        problem: CsvProblem,
    },
}

/// "line L, column C: " — where in a CSV file an error is.
fn csv_place(line: Option<u64>, column: Option<&str>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: "),
        (Some(l), None) => format!("line {l}: "),
        (None, Some(c)) => format!("column {c}: "),
        (None, None) => String::new(),
    }
}

fn hex_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing".to_owned();
    }
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p: &PathBuf| Path::display(p).to_string()).collect::<Vec<_>>().join(", ")
}
