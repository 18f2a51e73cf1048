//! Reading a CSV file strictly, with bounded memory: gzip-compressed or not (told by its first bytes), a UTF-8
//! byte-order mark skipped, CRLF or LF line ends, RFC 4180 quoting (the `csv` crate's reader), fields trimmed.
//! A row with another field count than the first, a row longer than [`MAX_ROW_BYTES`] or wider than
//! [`MAX_COLUMNS`], a field that is not UTF-8, a number that is not one or is not finite: each an error that names
//! the file, the line and the column.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::bufread::MultiGzDecoder;

use super::error::CsvProblem;
use crate::data::{DataError, IdxErrorKind};

/// The longest row the readers take, in bytes: far above any real row (MNIST's are under 4 KiB), low enough that a
/// file without line ends cannot take the memory.
pub const MAX_ROW_BYTES: u64 = 16 << 20;

/// The most columns a row may have (MNIST has 785).
pub const MAX_COLUMNS: usize = 1 << 16;

/// How much the `csv` reader reads ahead: the bound on a row is [`MAX_ROW_BYTES`] plus this.
const READ_AHEAD: usize = 64 << 10;

/// The error a [`Bounded`] reader gives past its bound, told apart from real I/O errors by its type.
#[derive(Debug, thiserror::Error)]
#[error("row too long")]
struct RowTooLong;

/// A reader that counts the bytes read since the counter was last reset (after each row) and fails past `max`.
struct Bounded<R> {
    inner: R,
    since_row: Rc<Cell<u64>>,
    max: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.since_row.get().saturating_add(n as u64);
        self.since_row.set(total);
        if total > self.max {
            return Err(io::Error::other(RowTooLong));
        }
        Ok(n)
    }
}

/// An open CSV file, read one row at a time into one reused record.
pub struct CsvFile {
    path: PathBuf,
    rows: csv::Reader<Bounded<Box<dyn BufRead>>>,
    since_row: Rc<Cell<u64>>,
    record: csv::ByteRecord,
    /// The column names used in errors: the header's, once [`CsvFile::set_header`] gave them.
    names: Vec<String>,
}

impl CsvFile {
    /// Opens `path`: gzip if it starts with gzip's magic bytes, a UTF-8 byte-order mark skipped.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|e| DataError::new(path, IdxErrorKind::Io(e)))?;
        Self::from_reader(path, BufReader::new(file))
    }

    /// As [`CsvFile::open`], from any reader; `path` names it in errors.
    pub fn from_reader(path: &Path, mut raw: impl BufRead + 'static) -> Result<Self, DataError> {
        let io_error = |e| DataError::new(path, IdxErrorKind::Io(e));
        let gzipped = raw.fill_buf().map_err(io_error)?.starts_with(&[0x1f, 0x8b]);
        let mut text: Box<dyn BufRead> =
            if gzipped { Box::new(BufReader::new(MultiGzDecoder::new(raw))) } else { Box::new(raw) };
        if text.fill_buf().map_err(io_error)?.starts_with(b"\xEF\xBB\xBF") {
            text.consume(3);
        }
        let since_row = Rc::new(Cell::new(0));
        let bounded = Bounded { inner: text, since_row: Rc::clone(&since_row), max: MAX_ROW_BYTES };
        let rows = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .trim(csv::Trim::All)
            .buffer_capacity(READ_AHEAD)
            .from_reader(bounded);
        Ok(CsvFile { path: path.to_path_buf(), rows, since_row, record: csv::ByteRecord::new(), names: Vec::new() })
    }

    /// Reads the next row; `Ok(None)` at the end of the file. Blank lines are skipped.
    pub fn next_row(&mut self) -> Result<Option<u64>, DataError> {
        self.since_row.set(0);
        match self.rows.read_byte_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let line = self.line();
                if self.record.len() > MAX_COLUMNS {
                    return Err(self.error(
                        line,
                        None,
                        CsvProblem::TooManyColumns { found: self.record.len(), max: MAX_COLUMNS },
                    ));
                }
                Ok(Some(line))
            }
            Err(e) => Err(self.read_error(e)),
        }
    }

    /// The fields of the row last read.
    pub fn fields(&self) -> &csv::ByteRecord {
        &self.record
    }

    /// Field `column` of the row last read, as trimmed UTF-8 text.
    pub fn text(&self, line: u64, column: usize) -> Result<&str, DataError> {
        let bytes = self.record.get(column).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|_| self.error(line, Some(column), CsvProblem::NotUtf8))
    }

    /// Field `column` of the row last read as a finite `f32`.
    pub fn number(&self, line: u64, column: usize) -> Result<f32, DataError> {
        let text = self.text(line, column)?;
        match text.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(self.error(line, Some(column), CsvProblem::NotFinite { text: text.to_owned() })),
            Err(_) => Err(self.error(line, Some(column), CsvProblem::NotANumber { text: text.to_owned() })),
        }
    }

    /// Takes the row last read as the header: its fields name the columns in errors from now on.
    pub fn set_header(&mut self, line: u64) -> Result<Vec<String>, DataError> {
        let names =
            (0..self.record.len()).map(|c| self.text(line, c).map(str::to_owned)).collect::<Result<Vec<_>, _>>()?;
        for (c, name) in names.iter().enumerate() {
            if names[..c].contains(name) {
                return Err(self.error(line, Some(c), CsvProblem::DuplicateColumn { name: name.clone() }));
            }
        }
        self.names = names.clone();
        Ok(names)
    }

    /// The error `problem` at `line` (0: the file as a whole) and `column` (0-based), naming the file.
    pub fn error(&self, line: u64, column: Option<usize>, problem: CsvProblem) -> DataError {
        let column = column.map(|c| match self.names.get(c) {
            Some(name) => format!("{} ({name})", c + 1),
            None => (c + 1).to_string(),
        });
        DataError::new(&self.path, IdxErrorKind::Csv { line: (line > 0).then_some(line), column, problem })
    }

    /// The line the row last read starts on (1-based).
    fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }

    /// The `csv` reader's error as one of ours: a ragged row, a row past the bound, an I/O error, bad CSV.
    fn read_error(&self, e: csv::Error) -> DataError {
        // Where the error has no position (I/O), the row being read starts where the reader stands.
        let line = e.position().map_or(self.rows.position().line(), |p| p.line());
        match e.into_kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, pos } => {
                let line = pos.map_or(line, |p| p.line());
                self.error(line, None, CsvProblem::Ragged { found: len, expected: expected_len })
            }
            csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<RowTooLong>()) => {
                self.error(line, None, CsvProblem::RowTooLong { max: MAX_ROW_BYTES })
            }
            csv::ErrorKind::Io(io) => DataError::new(&self.path, IdxErrorKind::Io(io)),
            other => self.error(line, None, CsvProblem::Malformed(format!("{other:?}"))),
        }
    }
}
