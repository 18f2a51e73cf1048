//! A strict parser for IDX files, the format MNIST and its look-alikes are shipped in.
//!
//! # Format
//!
//! ```text
//! offset  size     content
//! 0       2        0x00 0x00                     magic
//! 2       1        element type code             only 0x08 (unsigned byte) is accepted
//! 3       1        n = number of dimensions      3 for image files, 1 for label files
//! 4       4 * n    dimensions, big-endian u32    e.g. [60000, 28, 28]
//! 4 + 4n  d0*d1*.. payload, row-major            nothing may follow it
//! ```
//!
//! Files may be gzipped; a file whose name ends in `.gz` must be gzip, any other file is
//! read raw.
//!
//! # Checks
//!
//! Every failure is a typed [`IdxErrorKind`], never a panic:
//!
//! * empty input ([`Empty`](IdxErrorKind::Empty)), first two bytes not zero
//!   ([`BadMagic`](IdxErrorKind::BadMagic)), type code other than `0x08`
//!   ([`UnsupportedType`](IdxErrorKind::UnsupportedType)), a dimension count other than the
//!   caller expects ([`WrongDimCount`](IdxErrorKind::WrongDimCount)), a stream that ends inside
//!   the header ([`TruncatedHeader`](IdxErrorKind::TruncatedHeader));
//! * the payload size is computed with checked arithmetic
//!   ([`DimsOverflow`](IdxErrorKind::DimsOverflow)) and compared with
//!   [`IdxLimits::max_bytes`] *before anything is allocated* ([`TooLarge`](IdxErrorKind::TooLarge));
//! * the payload is read with `Read::take(declared).read_to_end`, so memory grows only with the
//!   bytes actually present ([`TruncatedPayload`](IdxErrorKind::TruncatedPayload) if there are
//!   fewer); then one more byte is requested and must not exist
//!   ([`TrailingBytes`](IdxErrorKind::TrailingBytes)). At most `declared + 1` payload bytes
//!   are ever read, so a gzip bomb is stopped after decompressing one byte past the declared
//!   size, and the final read makes the gzip decoder verify its CRC and length trailer;
//! * for `.gz` files: the gzip magic `1f 8b` must be present ([`NotGzip`](IdxErrorKind::NotGzip))
//!   and any decoder failure (bad CRC or length, broken deflate data, stream cut short, garbage
//!   after the last member) is [`CorruptGzip`](IdxErrorKind::CorruptGzip); errors of the
//!   underlying file stay [`Io`](IdxErrorKind::Io).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::error::{DataError, IdxErrorKind};

/// The element type code for unsigned bytes, the only one accepted.
pub const TYPE_U8: u8 = 0x08;

/// The two magic bytes every gzip stream starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Resource limits applied while parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdxLimits {
    /// Maximum payload size in bytes, checked against the header before anything is allocated;
    /// it also bounds how much of a gzip stream is decompressed (at most the header plus
    /// `max_bytes + 1` bytes).
    pub max_bytes: u64,
}

impl IdxLimits {
    /// The default cap: 128 MiB (MNIST's training images take 47 MB).
    pub const DEFAULT_MAX_BYTES: u64 = 128 * 1024 * 1024;
}

impl Default for IdxLimits {
    fn default() -> Self {
        Self { max_bytes: Self::DEFAULT_MAX_BYTES }
    }
}

/// A parsed IDX file: its dimensions and its row-major `u8` payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions from the header, e.g. `[60000, 28, 28]`.
    pub dims: Vec<usize>,
    /// The payload; its length is the product of `dims`.
    pub data: Vec<u8>,
}

/// Parses an IDX stream that is already decompressed.
///
/// `expected_dims` is the number of dimensions the file must have (3 for images, 1 for
/// labels). Reads at most the header plus `declared + 1` bytes, where `declared` never
/// exceeds `limits.max_bytes`.
pub fn parse_idx(bytes_reader: impl Read, expected_dims: usize, limits: &IdxLimits) -> Result<IdxArray, IdxErrorKind> {
    let mut reader = bytes_reader;

    let mut head = [0u8; 4];
    let n = read_full(&mut reader, &mut head).map_err(classify_io)?;
    if n == 0 {
        return Err(IdxErrorKind::Empty);
    }
    // Judge the magic on whatever is there, so a 3-byte text file is "not IDX", not "truncated".
    if head[..n.min(2)].iter().any(|&b| b != 0) {
        return Err(IdxErrorKind::BadMagic { found: [head[0], head[1]] });
    }
    if n < head.len() {
        return Err(IdxErrorKind::TruncatedHeader { expected: head.len(), found: n });
    }
    if head[2] != TYPE_U8 {
        return Err(IdxErrorKind::UnsupportedType { code: head[2] });
    }
    let ndims = head[3];
    if usize::from(ndims) != expected_dims {
        return Err(IdxErrorKind::WrongDimCount { found: ndims, expected: expected_dims });
    }

    let mut dim_bytes = vec![0u8; 4 * usize::from(ndims)];
    let n = read_full(&mut reader, &mut dim_bytes).map_err(classify_io)?;
    if n < dim_bytes.len() {
        return Err(IdxErrorKind::TruncatedHeader { expected: head.len() + dim_bytes.len(), found: head.len() + n });
    }
    let raw_dims: Vec<u32> = dim_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();

    let declared = raw_dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)));
    let Some(declared) = declared else {
        return Err(IdxErrorKind::DimsOverflow { dims: raw_dims });
    };
    let dims: Option<Vec<usize>> = raw_dims.iter().map(|&d| usize::try_from(d).ok()).collect();
    let (Some(dims), Ok(_)) = (dims, usize::try_from(declared)) else {
        return Err(IdxErrorKind::DimsOverflow { dims: raw_dims });
    };
    if declared > limits.max_bytes {
        return Err(IdxErrorKind::TooLarge { dims: raw_dims, declared, max: limits.max_bytes });
    }

    // Grows only with the bytes actually present: a tiny file declaring a big payload costs
    // nothing.
    let mut data = Vec::new();
    (&mut reader).take(declared).read_to_end(&mut data).map_err(classify_io)?;
    let found = data.len() as u64;
    if found < declared {
        return Err(IdxErrorKind::TruncatedPayload { expected: declared, found });
    }
    // One more byte must not exist. For gzip this read also makes the decoder check the
    // CRC-32 and length trailer.
    let mut probe = [0u8; 1];
    if read_full(&mut reader, &mut probe).map_err(classify_io)? != 0 {
        return Err(IdxErrorKind::TrailingBytes { expected: declared });
    }
    data.shrink_to_fit();
    Ok(IdxArray { dims, data })
}

/// Reads and parses the IDX file at `path`; gzip if the name ends in `.gz`, raw otherwise.
///
/// The file is streamed, never read whole: at most the header plus `limits.max_bytes + 1`
/// bytes of (decompressed) data are consumed. Errors carry `path`.
pub fn read_idx_file(path: &Path, expected_dims: usize, limits: &IdxLimits) -> Result<IdxArray, DataError> {
    let parse = || -> Result<IdxArray, IdxErrorKind> {
        let file = File::open(path).map_err(IdxErrorKind::Io)?;
        read_stream(file, is_gz_name(path), expected_dims, limits)
    };
    parse().map_err(|kind| DataError::new(path, kind))
}

/// Parses an IDX file held in memory; `gzipped` says whether `bytes` must be gzip.
///
/// `name` is only used as the path in errors.
pub fn read_idx_bytes(
    name: &str,
    bytes: &[u8],
    gzipped: bool,
    expected_dims: usize,
    limits: &IdxLimits,
) -> Result<IdxArray, DataError> {
    read_stream(bytes, gzipped, expected_dims, limits).map_err(|kind| DataError::new(name, kind))
}

/// Whether a file with this path is expected to be gzip (its name ends in `.gz`, any case).
pub fn is_gz_name(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("gz"))
}

fn read_stream(
    mut src: impl Read,
    gzipped: bool,
    expected_dims: usize,
    limits: &IdxLimits,
) -> Result<IdxArray, IdxErrorKind> {
    if !gzipped {
        return parse_idx(BufReader::new(src), expected_dims, limits);
    }
    let mut magic = [0u8; 2];
    let n = read_full(&mut src, &mut magic).map_err(IdxErrorKind::Io)?;
    if n == 0 {
        return Err(IdxErrorKind::Empty);
    }
    if magic[..n] != GZIP_MAGIC {
        return Err(IdxErrorKind::NotGzip { found: magic[..n].to_vec() });
    }
    let source = SourceTagged(io::Cursor::new(magic).chain(src));
    let decoder = GzipTagged(MultiGzDecoder::new(source));
    parse_idx(decoder, expected_dims, limits)
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Marks an error raised by the gzip decoder itself (as opposed to the underlying file).
#[derive(Debug)]
struct GzipFailure(String);

impl fmt::Display for GzipFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GzipFailure {}

/// Marks an error raised by the reader underneath the gzip decoder.
#[derive(Debug)]
struct SourceFailure(io::Error);

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SourceFailure {}

/// Wraps the compressed source so its own errors can be told apart from decoder errors.
struct SourceTagged<R>(R);

impl<R: Read> Read for SourceTagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::Interrupted => e,
            kind => io::Error::new(kind, SourceFailure(e)),
        })
    }
}

/// Wraps the gzip decoder: decoder errors become [`GzipFailure`], source errors are unwrapped.
struct GzipTagged<R>(R);

impl<R: Read> Read for GzipTagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            let kind = e.kind();
            let is_source = e.get_ref().is_some_and(|inner| inner.is::<SourceFailure>());
            if is_source {
                match e.into_inner().map(|inner| inner.downcast::<SourceFailure>()) {
                    Some(Ok(source)) => source.0,
                    _ => io::Error::new(kind, "read error"),
                }
            } else {
                io::Error::new(io::ErrorKind::InvalidData, GzipFailure(e.to_string()))
            }
        })
    }
}

/// Maps a read error to [`IdxErrorKind::CorruptGzip`] if the gzip decoder raised it,
/// to [`IdxErrorKind::Io`] otherwise.
fn classify_io(e: io::Error) -> IdxErrorKind {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<GzipFailure>()) {
        Some(failure) => IdxErrorKind::CorruptGzip { detail: failure.0.clone() },
        None => IdxErrorKind::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that gives `bytes`, then fails with "disk on fire".
    struct Failing<'a>(&'a [u8]);

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, "disk on fire"));
            }
            let n = self.0.read(buf)?;
            Ok(n)
        }
    }

    /// A read error of the file under a gzip stream is reported as the file's own error (kind and message), not
    /// as corrupt gzip or a generic read error.
    #[test]
    fn a_failing_source_under_gzip_reports_its_own_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        io::Write::write_all(&mut gz, &[0, 0, 8, 1, 0, 0, 0, 200]).unwrap();
        let gz = gz.finish().unwrap();
        // The stream is cut after its header: the decoder reads on and meets the source's failure.
        let err = read_stream(Failing(&gz[..12]), true, 1, &IdxLimits::default()).unwrap_err();
        match err {
            IdxErrorKind::Io(e) => {
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
                assert_eq!(e.to_string(), "disk on fire");
            }
            other => panic!("expected the source's error, got {other:?}"),
        }
    }
}
