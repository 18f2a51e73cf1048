//! The library's error type. The binary wraps it in `anyhow`; the library never panics on user input.

use std::path::PathBuf;

use crate::data::DataError;

/// Everything that can go wrong in the library, each variant carrying enough to say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file is missing or malformed (the message names the file).
    #[error(transparent)]
    Data(#[from] DataError),
    /// A flag or a combination of settings that cannot work.
    #[error("{0}")]
    Config(String),
    /// The GPU or its driver refused something (no adapter, limits, validation, device lost).
    #[error("GPU: {0}")]
    Gpu(String),
    /// A backend computed a result that differs from the host's reference: a broken kernel, driver or backend.
    #[error("wrong result: {0}")]
    WrongResult(String),
    /// Reading or writing a file failed.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// What the operating system said (part of the message, so not also chained as a `source`, which would
        /// print it twice in `{:#}`).
        cause: std::io::Error,
    },
    /// The loss became NaN or infinite.
    #[error(
        "training diverged at epoch {epoch}, step {step}: the mean loss is {loss}; try a lower learning rate (--lr)"
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The non-finite value seen.
        loss: f32,
    },
    /// The user asked to stop (Ctrl-C, SIGTERM) and the current step finished.
    /// Steps count within the epoch, as the progress bar does (a checkpoint's `steps_done` counts the whole run).
    #[error("interrupted in epoch {epoch} after step {step} of {steps}{}", if *.evaluating { " (in its test evaluation)" } else { "" })]
    Interrupted {
        /// 1-based epoch.
        epoch: usize,
        /// Steps of that epoch completed.
        step: usize,
        /// The epoch's training steps.
        steps: usize,
        /// Whether the epoch's training had finished and its test evaluation was cut short.
        evaluating: bool,
    },
    /// A checkpoint could not be read or does not fit the model.
    #[error("checkpoint {}: {msg}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An `Io` error for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), cause: source }
    }
}
