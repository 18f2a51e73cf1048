//! Standard output and error that never panic.
//!
//! `println!` panics when standard output is a closed pipe (`gpu-mnist train … | head -1`) or a full disk, which would
//! end a run before it saves its work. The `outln!`, `out!`, `errln!` and `err!` macros (defined in `main.rs`) write
//! through [`stdout`] and [`stderr`] instead: the first failure of a stream prints one warning on the other stream
//! (where that one still works) and every later write to the failed stream is dropped, so the command carries on to
//! the end, saves everything it was asked to save and exits as it would have.
//!
//! A command asked to write data to standard output (`--metrics -`, `eval --confusion -`) calls
//! [`reserve_stdout_for_data`]: from then on the human-readable lines go to standard error, and only [`DataOut`]
//! writes to standard output, so a pipe receives the data alone.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);
static STDERR_FAILED: AtomicBool = AtomicBool::new(false);
static STDOUT_IS_DATA: AtomicBool = AtomicBool::new(false);

/// Whether `path` names standard output: `-`, or `/dev/stdout` (a link to whatever fd 1 is, a pipe or a terminal,
/// which the file checks of every other output would refuse).
pub fn is_stdout(path: &Path) -> bool {
    path == Path::new("-") || path == Path::new("/dev/stdout")
}

/// From now on the human-readable lines (`outln!`) go to standard error: standard output carries data only.
pub fn reserve_stdout_for_data() {
    STDOUT_IS_DATA.store(true, Ordering::Relaxed);
}

/// A writer of data to standard output that never fails: a closed pipe or a full disk is one warning, as for the
/// human-readable lines, and the command carries on.
pub struct DataOut;

impl Write for DataOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_stdout(|out| out.write_all(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `args` to standard output (standard error once it is reserved for data) and flushes it; after the first
/// failure, nothing (one warning on stderr).
pub fn stdout(args: fmt::Arguments<'_>) {
    if STDOUT_IS_DATA.load(Ordering::Relaxed) {
        return stderr(args);
    }
    write_stdout(|out| out.write_fmt(args));
}

/// Runs `write` on the locked standard output and flushes it; after the first failure, nothing (one warning on
/// stderr).
fn write_stdout(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    if STDOUT_FAILED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = write(&mut out).and_then(|()| out.flush()) {
        STDOUT_FAILED.store(true, Ordering::Relaxed);
        drop(out);
        stderr(format_args!("warning: standard output failed ({e}); carrying on without it\n"));
    }
}

/// Writes `args` to standard error; after the first failure, nothing (one warning on stdout, if it still works).
pub fn stderr(args: fmt::Arguments<'_>) {
    if STDERR_FAILED.load(Ordering::Relaxed) {
        return;
    }
    let mut err = io::stderr().lock();
    if let Err(e) = err.write_fmt(args).and_then(|()| err.flush()) {
        STDERR_FAILED.store(true, Ordering::Relaxed);
        drop(err);
        // Not into data on standard output: there the warning is lost with the rest.
        if !STDOUT_IS_DATA.load(Ordering::Relaxed) {
            write_stdout(|out| writeln!(out, "warning: standard error failed ({e}); carrying on without it"));
        }
    }
}
