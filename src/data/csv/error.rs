//! What can be wrong with a CSV file: one variant per rule, each saying what was found and what was expected.
//! [`super::super::IdxErrorKind::Csv`] adds the line and the column.

/// A rule of the CSV readers that a file breaks.
#[derive(Debug, thiserror::Error)]
pub enum CsvProblem {
    /// No bytes at all (or only a byte-order mark, or blank lines).
    #[error("the file is empty; expected a header row naming the columns, then one row per sample")]
    Empty,
    /// A header and nothing else.
    #[error("the file has a header but no rows; expected one row per sample after it")]
    HeaderOnly,
    /// A row with more or fewer fields than the first.
    #[error("{found} fields, but the header has {expected}; every row needs one value per column")]
    Ragged {
        /// Fields in this row.
        found: u64,
        /// Fields in the header.
        expected: u64,
    },
    /// A field that is not a number.
    #[error("{text:?} is not a number")]
    NotANumber {
        /// The field as written.
        text: String,
    },
    /// NaN or an infinity.
    #[error("{text:?} is not a finite number (NaN and infinities are refused: fill or drop the missing values)")]
    NotFinite {
        /// The field as written.
        text: String,
    },
    /// An MNIST pixel that is not an integer 0–255.
    #[error("{text:?} is not a pixel value; expected an integer from 0 to 255")]
    NotAPixel {
        /// The field as written.
        text: String,
    },
    /// An MNIST label that is not a class number.
    #[error("{text:?} is not a class; expected an integer from 0 to {}", .classes - 1)]
    NotAClass {
        /// The field as written.
        text: String,
        /// The number of classes.
        classes: usize,
    },
    /// A test label the training file never had.
    #[error("the label {label:?} is not one of the {} classes of the training file ({})", .classes.len(), .classes.join(", "))]
    UnknownLabel {
        /// The label as written.
        label: String,
        /// The training file's classes.
        classes: Vec<String>,
    },
    /// More distinct labels than a `u8` holds.
    #[error("more than {max} distinct labels; is --label naming a feature column?")]
    TooManyClasses {
        /// The most classes a data set may have.
        max: usize,
    },
    /// Fewer than two distinct labels in the training file.
    #[error("the training file's labels hold {found} class(es): {}; a classifier needs at least 2", .names.join(", "))]
    TooFewClasses {
        /// Distinct labels found.
        found: usize,
        /// Their names.
        names: Vec<String>,
    },
    /// The label column is not in the header.
    #[error("no column is named {name:?}; the header has {}", .header.join(", "))]
    NoLabelColumn {
        /// The name asked for.
        name: String,
        /// The header's names.
        header: Vec<String>,
    },
    /// A feature column of the training file missing from this one.
    #[error("no column is named {name:?}, a feature of the training file; the header has {}", .header.join(", "))]
    MissingFeature {
        /// The training file's column.
        name: String,
        /// This file's header.
        header: Vec<String>,
    },
    /// Two columns with the same name.
    #[error("two columns are named {name:?}; name every column once")]
    DuplicateColumn {
        /// The repeated name.
        name: String,
    },
    /// The label column and nothing else.
    #[error("the only column is the label; a table needs at least one feature column")]
    NoFeatures,
    /// More columns than any model here takes.
    #[error("{found} columns, more than the {max} a row may have")]
    TooManyColumns {
        /// Columns found.
        found: usize,
        /// The most allowed.
        max: usize,
    },
    /// A row longer than the reader's bound (memory stays bounded whatever the file holds).
    #[error("a row longer than {max} bytes (is it a CSV file? are line ends missing?)")]
    RowTooLong {
        /// The bound in bytes.
        max: u64,
    },
    /// More values than the data-set size limit.
    #[error("more than {max} bytes of samples; the limit keeps memory bounded (use a smaller file)")]
    TooLarge {
        /// The bound in bytes.
        max: u64,
    },
    /// A field that is not UTF-8 text.
    #[error("the field is not UTF-8 text; save the file as UTF-8")]
    NotUtf8,
    /// The CSV reader's own complaint (a stray quote, …).
    #[error("not well-formed CSV: {0}")]
    Malformed(String),
}
