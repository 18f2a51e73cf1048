//! `--metrics PATH`: one record per epoch, as CSV with a header (`*.csv`) or JSON lines (anything else).
//!
//! A fresh run starts the file anew; a resumed run keeps the records of the epochs its checkpoint holds and appends
//! to them (as Keras's `CSVLogger(append=True)`), so the file always describes the whole run.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::train::EpochMetrics;

/// The CSV header: the fields of [`EpochMetrics`], in order.
pub const FIELDS: [&str; 7] =
    ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "samples_per_sec"];

/// Where the records go.
enum Out {
    /// A file, and the length of its whole records: a record that fails half-written is cut off again.
    File { file: File, len: u64 },
    /// A stream (standard output): JSON lines, flushed after each record.
    Stream(Box<dyn Write>),
}

/// Writes [`EpochMetrics`] as they come, each flushed at once so a crash loses nothing already measured. A record
/// that cannot be written whole (a full disk) is an error, and the file is cut back to the records before it.
pub struct MetricsWriter {
    path: PathBuf,
    csv: bool,
    out: Out,
}

/// Whether `path` names a CSV file (by its extension).
fn is_csv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

impl MetricsWriter {
    /// Creates (truncates) `path` now, so an unwritable path fails before training starts.
    pub fn create(path: &Path) -> Result<Self> {
        // Not a device, FIFO or directory (opening a FIFO would wait for a reader forever); a link is followed.
        crate::files::output_target(path)?;
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut writer = MetricsWriter { path: path.to_owned(), csv: is_csv(path), out: Out::File { file, len: 0 } };
        if writer.csv {
            // The header goes out now, so even a run stopped in its first epoch leaves a well-formed file.
            writer.append(&csv_line(FIELDS).map_err(|e| Error::io(path, e))?)?;
        }
        Ok(writer)
    }

    /// Writes JSON lines to `stream` (standard output for `--metrics -`), named `name` in errors. A stream has no
    /// earlier records to keep: a resumed run writes its new epochs only.
    pub fn to_stream(name: &str, stream: Box<dyn Write>) -> Self {
        MetricsWriter { path: PathBuf::from(name), csv: false, out: Out::Stream(stream) }
    }

    /// For a run resumed after `epoch` epochs: keeps the records of `path` up to that epoch (later ones belong to
    /// epochs the resumed run trains again), rewrites the file with them atomically, and appends from there. A
    /// missing file is started anew. Returns the kept records, the run's history so far.
    ///
    /// The kept records (and the CSV header) are copied as text, byte for byte: a float parsed and printed again
    /// need not come back the same, and the file says what the run measured, so it is never reformatted.
    pub fn resume(path: &Path, epoch: usize) -> Result<(Self, Vec<EpochMetrics>)> {
        crate::files::output_target(path)?;
        if !path.exists() {
            return Ok((MetricsWriter::create(path)?, Vec::new()));
        }
        let file = parse(path)?;
        let mut bytes = file.bytes[file.head].to_vec();
        let mut kept = Vec::new();
        for (m, span) in file.records {
            if m.epoch <= epoch {
                bytes.extend_from_slice(&file.bytes[span]);
                kept.push(m);
            }
        }
        // A last line without its newline gets one, so the next record starts a line of its own.
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        write_atomically(path, |f| f.write_all(&bytes))?;
        let file = OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Ok((MetricsWriter { path: path.to_owned(), csv: is_csv(path), out: Out::File { file, len } }, kept))
    }

    /// Appends one epoch and flushes it to the file.
    pub fn write(&mut self, m: &EpochMetrics) -> Result<()> {
        let line = if self.csv {
            csv_line(m)
        } else {
            serde_json::to_vec(m).map_err(std::io::Error::other).map(|mut v| {
                v.push(b'\n');
                v
            })
        };
        self.append(&line.map_err(|e| Error::io(&self.path, e))?)
    }

    /// Appends `bytes` whole, or not at all: after a failed write the file is cut back to its earlier length.
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let written = match &mut self.out {
            Out::Stream(w) => w.write_all(bytes).and_then(|()| w.flush()),
            Out::File { file, len } => match file.write_all(bytes).and_then(|()| file.flush()) {
                Ok(()) => {
                    *len += bytes.len() as u64;
                    Ok(())
                }
                Err(e) => {
                    // Best effort: the error that stops the run is the write's, whatever this does.
                    let _ = file.set_len(*len);
                    Err(e)
                }
            },
        };
        written.map_err(|e| Error::io(&self.path, e))
    }
}

/// One CSV line (with its line ending) of `record`: a serializable struct or a list of fields.
fn csv_line(record: impl serde::Serialize) -> std::io::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.serialize(record).map_err(std::io::Error::other)?;
    w.into_inner().map_err(|e| std::io::Error::other(e.to_string()))
}

/// Reads a metrics file written by [`MetricsWriter`] (CSV or JSON lines, by the extension). A record that does not
/// parse is an error naming the file and the line, so a file of something else is never overwritten unnoticed.
pub fn read(path: &Path) -> Result<Vec<EpochMetrics>> {
    Ok(parse(path)?.records.into_iter().map(|(m, _)| m).collect())
}

/// A metrics file as read: its bytes, and where in them its parts are.
struct Parsed {
    /// The whole file.
    bytes: Vec<u8>,
    /// The bytes before the first record: the CSV header line (nothing for JSON lines).
    head: Range<usize>,
    /// Each record, with the bytes it was read from: its line and line ending (for CSV, with any blank lines before
    /// it).
    records: Vec<(EpochMetrics, Range<usize>)>,
}

/// Reads and checks a metrics file (see [`read`]), keeping the text of each record.
fn parse(path: &Path) -> Result<Parsed> {
    // A metrics file of a million epochs is under 200 MB.
    let bytes = crate::files::read_input(path, 1 << 30)?;
    let bad = |line: u64, what: String| {
        Error::io(
            path,
            std::io::Error::other(format!(
                "line {line} is not a gpu-mnist metrics record ({what}); move the file away or choose another \
                 --metrics path"
            )),
        )
    };
    let mut records = Vec::new();
    if is_csv(path) {
        let mut reader = csv::Reader::from_reader(&bytes[..]);
        let header = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
        if header.iter().ne(FIELDS) {
            return Err(bad(1, format!("the header is not {}", FIELDS.join(","))));
        }
        // A record's text runs from where the reader stood before reading it to where it stands after (its line
        // ending included; blank lines before it are skipped as part of it).
        let head = 0..reader.position().byte() as usize;
        let mut record = csv::StringRecord::new();
        loop {
            let start = reader.position().byte() as usize;
            let line = records.len() as u64 + 2;
            if !reader.read_record(&mut record).map_err(|e| bad(line, e.to_string()))? {
                break;
            }
            let m = record.deserialize(Some(&header)).map_err(|e: csv::Error| bad(line, e.to_string()))?;
            records.push((m, start..reader.position().byte() as usize));
        }
        Ok(Parsed { bytes, head, records })
    } else {
        let (mut rest, mut start, mut line) = (&bytes[..], 0, String::new());
        for i in 1.. {
            line.clear();
            let n = rest.read_line(&mut line).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            let span = start..start + n;
            start += n;
            // The line without its ending, as `BufRead::lines` gives it (so error positions count from its start).
            let text = line.strip_suffix('\n').map_or(&line[..], |l| l.strip_suffix('\r').unwrap_or(l));
            if text.trim().is_empty() {
                continue;
            }
            records.push((serde_json::from_str(text).map_err(|e| bad(i, e.to_string()))?, span));
        }
        Ok(Parsed { bytes, head: 0..0, records })
    }
}
