//! `--metrics PATH`: one record per epoch, as CSV with a header (`*.csv`) or JSON lines (anything else).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::train::EpochMetrics;

/// The CSV header: the fields of [`EpochMetrics`], in order.
pub const FIELDS: [&str; 7] =
    ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "samples_per_sec"];

enum Format {
    Csv(Box<csv::Writer<File>>),
    JsonLines(BufWriter<File>),
}

/// Writes [`EpochMetrics`] as they come, flushed after each epoch so a crash loses nothing already measured.
pub struct MetricsWriter {
    path: PathBuf,
    format: Format,
}

impl MetricsWriter {
    /// Creates (truncates) `path` now, so an unwritable path fails before training starts.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let format = if csv {
            // The header goes out now, so even a run stopped in its first epoch leaves a well-formed file.
            let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(file);
            w.write_record(FIELDS).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
            w.flush().map_err(|e| Error::io(path, e))?;
            Format::Csv(Box::new(w))
        } else {
            Format::JsonLines(BufWriter::new(file))
        };
        Ok(MetricsWriter { path: path.to_owned(), format })
    }

    /// Appends one epoch and flushes it to the file.
    pub fn write(&mut self, m: &EpochMetrics) -> Result<()> {
        let io = |e: std::io::Error| Error::io(&self.path, e);
        match &mut self.format {
            Format::Csv(w) => {
                w.serialize(m).map_err(|e| Error::io(&self.path, std::io::Error::other(e)))?;
                w.flush().map_err(io)
            }
            Format::JsonLines(w) => {
                serde_json::to_writer(&mut *w, m).map_err(|e| Error::io(&self.path, std::io::Error::other(e)))?;
                w.write_all(b"\n").map_err(io)?;
                w.flush().map_err(io)
            }
        }
    }
}
