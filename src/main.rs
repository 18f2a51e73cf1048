//! The `gpu-mnist` command line: a thin layer over the library (parsing, printing, exit codes).
//! Each subcommand lives in its own file under `src/cli/`.

mod cli;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gpu-mnist", version, about = "Train MLPs on MNIST on the CPU or on any GPU through wgpu")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an MLP and evaluate it on the test set after every epoch.
    Train(cli::train::TrainArgs),
    /// Train the same model on each backend and compare speed side by side.
    Bench(cli::bench::BenchArgs),
    /// Run every GPU kernel against its CPU reference and print the largest errors.
    Check(cli::check::CheckArgs),
    /// List the GPU adapters wgpu finds, with their limits.
    Devices(cli::devices::DevicesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => cli::train::run(args).context("training failed"),
        Command::Bench(args) => cli::bench::run(args).context("benchmark failed"),
        Command::Check(args) => cli::check::run(args).context("kernel check failed"),
        Command::Devices(args) => cli::devices::run(args).context("listing GPU adapters failed"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
