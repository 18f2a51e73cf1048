//! Reading and writing picture files: the format from the contents, the size from the header (a picture over
//! [`MAX_PICTURE_PIXELS`] is refused before it is decoded), writes atomic.

use std::io;
use std::path::Path;

use image::{DynamicImage, ImageError};

use crate::error::{Error, Result};

/// An [`Error::Io`] for an image that could not be read or written.
fn image_error(path: &Path, e: ImageError) -> Error {
    match e {
        ImageError::IoError(source) => Error::io(path, source),
        other => Error::io(path, io::Error::new(io::ErrorKind::InvalidData, other.to_string())),
    }
}

/// The most pixels a picture to classify may have: 4096 × 4096. Decoding and converting one to grayscale floats
/// then takes well under 200 MiB, whatever the file's size (a 275 KB PNG can declare 16000 × 16000 pixels).
pub const MAX_PICTURE_PIXELS: u64 = 1 << 24;

/// Reads a picture (PNG, JPEG or PGM/PPM/PBM), recognising the format from the file's contents, not its name.
/// Its size is read from its header first: a picture of more than [`MAX_PICTURE_PIXELS`] is refused before it is
/// decoded (an error for that picture alone, naming it).
pub fn load_image(path: &Path) -> Result<DynamicImage> {
    // A regular file only: /dev/zero or a FIFO would be read without end.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(path, io::Error::other("is not a regular file (a directory, a device or a FIFO)")));
    }
    decode_checked(path, || {
        let reader = image::ImageReader::open(path).map_err(|e| Error::io(path, e))?;
        reader.with_guessed_format().map_err(|e| Error::io(path, e))
    })
}

/// [`load_image`] for a picture already in memory: the same format guess, size cap and decoder limits; `name`
/// only names it in errors.
pub fn decode_image(name: &Path, bytes: &[u8]) -> Result<DynamicImage> {
    decode_checked(name, || {
        let reader = image::ImageReader::new(io::Cursor::new(bytes));
        reader.with_guessed_format().map_err(|e| Error::io(name, e))
    })
}

/// Reads the picture's size from its header (a first reader from `open`), refuses one over
/// [`MAX_PICTURE_PIXELS`], then decodes it (a second reader) with the decoder held to that size.
fn decode_checked<R: io::BufRead + io::Seek>(
    path: &Path,
    open: impl Fn() -> Result<image::ImageReader<R>>,
) -> Result<DynamicImage> {
    let (width, height) = open()?.into_dimensions().map_err(|e| image_error(path, e))?;
    if u64::from(width) * u64::from(height) > MAX_PICTURE_PIXELS {
        return Err(Error::io(
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a picture of {width}×{height} pixels, over the {MAX_PICTURE_PIXELS} this command converts; scale \
                     it down (the model sees 28×28)"
                ),
            ),
        ));
    }
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    (limits.max_image_width, limits.max_image_height) = (Some(width), Some(height));
    reader.limits(limits);
    reader.decode().map_err(|e| image_error(path, e))
}

/// Writes a picture, in the format its extension names (`.png`, `.jpg`, `.pgm` …): encoded in memory first, then
/// written atomically ([`crate::files::write_atomically`]), so a full disk is an error and leaves no partial
/// or empty file, and an unknown extension fails before anything is created.
pub fn save_image(img: &DynamicImage, path: &Path) -> Result<()> {
    let format = image::ImageFormat::from_path(path).map_err(|e| image_error(path, e))?;
    let mut bytes = io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format).map_err(|e| image_error(path, e))?;
    crate::files::write_atomically(path, |f| io::Write::write_all(f, bytes.get_ref()))
}
