//! `--metrics PATH`: one record per epoch, as CSV with a header (`*.csv`) or JSON lines (anything else).
//!
//! A fresh run starts the file anew; a resumed run keeps the records of the epochs its checkpoint holds and appends
//! to them (as Keras's `CSVLogger(append=True)`), so the file always describes the whole run.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::checkpoint::write_atomically;
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

/// Whether `path` names a CSV file (by its extension).
fn is_csv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

impl MetricsWriter {
    /// Creates (truncates) `path` now, so an unwritable path fails before training starts.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut writer = MetricsWriter::on(path, file);
        if let Format::Csv(w) = &mut writer.format {
            // The header goes out now, so even a run stopped in its first epoch leaves a well-formed file.
            w.write_record(FIELDS).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
            w.flush().map_err(|e| Error::io(path, e))?;
        }
        Ok(writer)
    }

    /// For a run resumed after `epoch` epochs: keeps the records of `path` up to that epoch (later ones belong to
    /// epochs the resumed run trains again), rewrites the file with them atomically, and appends from there. A
    /// missing file is started anew. Returns the kept records, the run's history so far.
    pub fn resume(path: &Path, epoch: usize) -> Result<(Self, Vec<EpochMetrics>)> {
        if !path.exists() {
            return Ok((MetricsWriter::create(path)?, Vec::new()));
        }
        let kept: Vec<EpochMetrics> = read(path)?.into_iter().filter(|m| m.epoch <= epoch).collect();
        let other = |e| Error::io(path, std::io::Error::other(e));
        let mut bytes = Vec::new();
        if is_csv(path) {
            // The header, then the kept records: what `create` and `write` would have written.
            let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(&mut bytes);
            w.write_record(FIELDS).map_err(other)?;
            kept.iter().try_for_each(|m| w.serialize(m)).map_err(other)?;
            w.flush().map_err(|e| Error::io(path, e))?;
        } else {
            for m in &kept {
                serde_json::to_writer(&mut bytes, m).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
                bytes.push(b'\n');
            }
        }
        write_atomically(path, |f| f.write_all(&bytes))?;
        let file = OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
        Ok((MetricsWriter::on(path, file), kept))
    }

    /// A writer appending records to `file` in the format `path`'s extension names.
    fn on(path: &Path, file: File) -> Self {
        let format = if is_csv(path) {
            Format::Csv(Box::new(csv::WriterBuilder::new().has_headers(false).from_writer(file)))
        } else {
            Format::JsonLines(BufWriter::new(file))
        };
        MetricsWriter { path: path.to_owned(), format }
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

/// Reads a metrics file written by [`MetricsWriter`] (CSV or JSON lines, by the extension). A record that does not
/// parse is an error naming the file and the line, so a file of something else is never overwritten unnoticed.
pub fn read(path: &Path) -> Result<Vec<EpochMetrics>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let bad = |line: u64, what: String| {
        Error::io(
            path,
            std::io::Error::other(format!(
                "line {line} is not a gpu-mnist metrics record ({what}); move the file away or choose another \
                 --metrics path"
            )),
        )
    };
    if is_csv(path) {
        let mut reader = csv::Reader::from_reader(file);
        let header = reader.headers().map_err(|e| bad(1, e.to_string()))?;
        if header.iter().ne(FIELDS) {
            return Err(bad(1, format!("the header is not {}", FIELDS.join(","))));
        }
        reader
            .deserialize()
            .enumerate()
            .map(|(i, r)| r.map_err(|e: csv::Error| bad(i as u64 + 2, e.to_string())))
            .collect()
    } else {
        let mut records = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| Error::io(path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            records.push(serde_json::from_str(&line).map_err(|e| bad(i as u64 + 1, e.to_string()))?);
        }
        Ok(records)
    }
}
