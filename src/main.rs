//! The `gpu-mnist` command line: a thin layer over the library (parsing, printing, exit codes).
//! Each subcommand lives in its own file under `src/cli/`. Native only: a browser has no command line, signals or
//! terminal, so on wasm32 (where the library is driven from a page) every item here is left out and `main` is empty.

#[cfg(not(target_arch = "wasm32"))]
/// `println!` that never panics: see `cli::out`.
macro_rules! outln {
    () => {
        $crate::cli::out::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(not(target_arch = "wasm32"))]
/// `print!` that never panics: see `cli::out`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::stdout(format_args!($($arg)*))
    };
}

#[cfg(not(target_arch = "wasm32"))]
/// `eprintln!` that never panics: see `cli::out`.
macro_rules! errln {
    () => {
        $crate::cli::out::stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
use std::process::ExitCode;

#[cfg(not(target_arch = "wasm32"))]
use anyhow::Context;
#[cfg(not(target_arch = "wasm32"))]
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[cfg(not(target_arch = "wasm32"))]
#[derive(Parser)]
#[command(name = "gpu-mnist", version, about = "Train MLPs on MNIST on the CPU or on any GPU through wgpu")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Subcommand)]
enum Command {
    /// Train an MLP and evaluate it on the test set after every epoch.
    Train(cli::train::TrainArgs),
    /// Evaluate a saved checkpoint on the test set: loss, accuracy, per-class accuracy, confusion matrix.
    Eval(cli::eval::EvalArgs),
    /// Train the same model on each backend and compare speed side by side.
    Bench(cli::bench::BenchArgs),
    /// Write a PNG grid of sample images with their labels.
    Show(cli::show::ShowArgs),
    /// Classify pictures of digits (or clothes) with a saved model: the top classes and their probabilities.
    Predict(cli::predict::PredictArgs),
    /// Run every GPU kernel against its CPU reference and print the largest errors.
    Check(cli::check::CheckArgs),
    /// List the GPU adapters wgpu finds, with their limits.
    Devices(cli::devices::DevicesArgs),
}

#[cfg(not(target_arch = "wasm32"))]
/// On a headless Linux machine wgpu's Vulkan backend loads libwayland, which prints
/// `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` (twice) when that variable is unset, as if
/// something had failed. Before any thread starts, point it at a private directory (created 0700, as the variable's
/// specification asks) when it is unset; a value the user set is left alone.
fn quiet_runtime_dir() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("gpu-mnist-runtime-{uid}"));
        // Created now, or left by an earlier run: used only if it is a directory of ours that nobody else can read.
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        let ours = std::fs::metadata(&dir).is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0);
        if ours {
            std::env::set_var("XDG_RUNTIME_DIR", &dir);
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> ExitCode {
    quiet_runtime_dir();
    // The matches say which flags were given on the command line (a resumed run takes the others from its checkpoint).
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Train(args) => cli::train::run(args, matches.subcommand_matches("train")).context("training failed"),
        Command::Eval(args) => cli::eval::run(args).context("evaluation failed"),
        Command::Bench(args) => cli::bench::run(args).context("benchmark failed"),
        Command::Show(args) => cli::show::run(args).context("show failed"),
        Command::Predict(args) => cli::predict::run(args).context("prediction failed"),
        Command::Check(args) => cli::check::run(args).context("kernel check failed"),
        Command::Devices(args) => cli::devices::run(args).context("listing GPU adapters failed"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Ctrl-C: the conventional 128 + SIGINT, after the work was saved.
        Err(e) if matches!(e.downcast_ref(), Some(gpu_mnist::Error::Interrupted { .. })) => {
            errln!("stopped: {}", e.root_cause());
            ExitCode::from(130)
        }
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
