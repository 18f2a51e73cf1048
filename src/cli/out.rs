//! Standard output and error that never panic.
//!
//! `println!` panics when standard output is a closed pipe (`gpu-mnist train … | head -1`) or a full disk, which would
//! end a run before it saves its work. The `outln!`, `out!`, `errln!` and `err!` macros (defined in `main.rs`) write
//! through [`stdout`] and [`stderr`] instead: the first failure of a stream prints one warning on the other stream
//! (where that one still works) and every later write to the failed stream is dropped, so the command carries on to
//! the end, saves everything it was asked to save and exits as it would have.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);
static STDERR_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to standard output and flushes it; after the first failure, nothing (one warning on stderr).
pub fn stdout(args: fmt::Arguments<'_>) {
    if STDOUT_FAILED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
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
        stdout(format_args!("warning: standard error failed ({e}); carrying on without it\n"));
    }
}
