//! Files as gpu-mnist reads and writes them: inputs only if they are regular files of a bounded size, outputs
//! written atomically (a temporary file beside the target, fsynced and renamed), never over a device or a FIFO, a
//! symlink written through; the temporary files of unfinished writes can be removed by a process about to exit.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Checks, before a long run, that `path` can be written later: it is not a directory and its directory accepts
/// a new file (one is created and removed).
pub fn ensure_writable(path: &Path) -> Result<()> {
    let path = &output_target(path)?;
    let tmp = temp_file(path)?;
    tmp.close().map_err(|e| Error::io(path, e))
}

/// Reads the input file `path` whole, if it is a regular file (through links) of at most `max` bytes. A device
/// (`/dev/zero` never ends), a FIFO (waits for a writer forever), a directory or a file over the cap is an error
/// naming it, before anything is read.
pub fn read_input(path: &Path, max: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a directory" } else { "not a regular file (a device, a FIFO or a socket)" };
        return Err(Error::io(path, std::io::Error::other(format!("is {what}; give the path of a file"))));
    }
    if meta.len() > max {
        return Err(Error::io(
            path,
            std::io::Error::other(format!("is {} bytes, over the {max} bytes this input may have", meta.len())),
        ));
    }
    let mut bytes = Vec::new();
    // Read at most one byte past the cap: a file that grew since its size was read is still caught.
    std::io::Read::read_to_end(
        &mut std::io::Read::take(File::open(path).map_err(|e| Error::io(path, e))?, max + 1),
        &mut bytes,
    )
    .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::io(path, std::io::Error::other(format!("grew past the {max} bytes this input may have"))));
    }
    Ok(bytes)
}

/// Where writing the output `path` goes, or why it cannot: a symlink is followed to its target (written through, so
/// `latest.safetensors → run-7.safetensors` updates run 7's file and keeps the link); anything else that exists must
/// be a regular file — a directory, a device (`/dev/null`, `/dev/full`), a FIFO or a socket is refused, since the
/// write (a new file renamed over the path) would replace it.
pub fn output_target(path: &Path) -> Result<PathBuf> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let link = std::fs::read_link(path).map_err(|e| Error::io(path, e))?;
            parent_dir(path).join(link)
        }
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => {
            let what = if meta.is_dir() { "a directory" } else { "not a regular file (a device, a FIFO or a socket)" };
            Err(Error::io(
                path,
                std::io::Error::other(format!(
                    "is {what}; give the path of a file to write, like out/model.safetensors"
                )),
            ))
        }
        _ => Ok(target),
    }
}

/// A new temporary file next to `path`, named `.NAME.XXXXXX.tmp` (removed when dropped).
fn temp_file(path: &Path) -> Result<tempfile::NamedTempFile> {
    let name =
        path.file_name().ok_or_else(|| Error::io(path, std::io::Error::other("not a file name")))?.to_string_lossy();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // As a plain new file would be (0666 less the umask), not tempfile's private 0600: a checkpoint is shared.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(parent_dir(path)).map_err(|e| {
        // tempfile appends ` at path "<its random temporary name>"`; the error is about `path`, which is named.
        let text = e.to_string();
        let cause = text.rsplit_once(" at path ").map_or(&text[..], |(cause, _)| cause);
        Error::io(path, std::io::Error::new(e.kind(), cause))
    })
}

/// The temporary files of the writes in progress: a process that exits at once (a second Ctrl-C) runs no
/// destructors, so it removes them through [`remove_unfinished_writes`].
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The list of unfinished writes (a panic elsewhere while it was held leaves it valid).
fn unfinished() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes the temporary files of the atomic writes still in progress, and returns their paths: for a process about
/// to exit at once (a second Ctrl-C during a large save), so that nothing partial is left behind. The targets are
/// untouched: a write either renamed its file over its target or never did.
pub fn remove_unfinished_writes() -> Vec<PathBuf> {
    let mut pending = unfinished();
    for tmp in pending.iter() {
        let _ = std::fs::remove_file(tmp);
    }
    std::mem::take(&mut *pending)
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes a file atomically: `write` fills a new temporary file in `path`'s directory, which is flushed to disk
/// and renamed over `path`; the directory is then synced so the rename itself is durable. If anything fails, the
/// temporary file is removed and whatever was at `path` before is untouched. A symlinked `path` is written through
/// to its target; any other path that exists must be a regular file ([`output_target`]).
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut File) -> std::io::Result<()>) -> Result<()> {
    let path = &output_target(path)?;
    // The list is held while the file is created and listed, and while it is renamed and unlisted, so that
    // `remove_unfinished_writes` never misses a temporary file that exists, nor lists one already renamed.
    let mut pending = unfinished();
    let mut tmp = temp_file(path)?;
    let tmp_path = tmp.path().to_path_buf();
    pending.push(tmp_path.clone());
    drop(pending);
    let written = write(tmp.as_file_mut()).and_then(|()| tmp.as_file().sync_all());
    let mut pending = unfinished();
    // On an error the temporary file is removed as `tmp` drops; the target is untouched.
    let renamed = written
        .map_err(|e| Error::io(&tmp_path, e))
        .and_then(|()| tmp.persist(path).map(drop).map_err(|e| Error::io(path, e.error)));
    pending.retain(|p| *p != tmp_path);
    drop(pending);
    renamed?;
    sync_dir(parent_dir(path))
}

/// Flushes a directory's entries (the rename) to disk. Only Unix can open a directory for this.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
