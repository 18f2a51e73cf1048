//! The `gpu-mnist` command line: a thin layer over the library (parsing, printing, exit codes).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use gpu_mnist::backend::Backend;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{self, DataSource, Dataset, LoadOptions};
use gpu_mnist::metrics::MetricsWriter;
use gpu_mnist::model::{Activation, Loss, ModelConfig};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::train::{EpochMetrics, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(name = "gpu-mnist", version, about = "Train MLPs on MNIST on the CPU or on any GPU through wgpu")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an MLP and evaluate it on the test set after every epoch.
    Train(TrainArgs),
}

/// Where the work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// The CPU reference (matrixmultiply GEMM, all cores).
    Cpu,
}

#[derive(Args)]
struct DataArgs {
    /// A folder holding the four MNIST-format files (train-images-idx3-ubyte[.gz] …); default: the MNIST embedded
    /// in the binary.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Train on the first N training samples only (quick runs); the test set stays whole.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

#[derive(Args)]
struct ModelArgs {
    /// Hidden layer widths, comma-separated; "" for none (softmax regression).
    #[arg(long, default_value = "512,512", value_parser = parse_hidden, value_name = "W,W,…")]
    hidden: Hidden,
    /// Activation of the hidden layers.
    #[arg(long, value_enum, default_value_t = Activation::Relu)]
    activation: Activation,
    /// Cost: softmax cross-entropy, or the quadratic cost on a sigmoid output layer.
    #[arg(long, value_enum, default_value_t = Loss::Xent)]
    loss: Loss,
}

/// Hidden widths (a newtype so clap takes the whole comma list as one value).
#[derive(Clone, Debug)]
struct Hidden(Vec<usize>);

fn parse_hidden(s: &str) -> Result<Hidden, String> {
    if s.trim().is_empty() {
        return Ok(Hidden(Vec::new()));
    }
    s.split(',')
        .map(|w| match w.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("'{w}' is not a layer width; give positive integers like 512,512 (or \"\" for none)")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Hidden)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OptimizerArg {
    /// Plain SGD (default lr 0.1).
    Sgd,
    /// SGD with momentum, PyTorch's form (default lr 0.05).
    Momentum,
    /// Adam (default lr 0.001).
    Adam,
}

#[derive(Args)]
struct OptimArgs {
    /// Update rule.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Momentum)]
    optimizer: OptimizerArg,
    /// Learning rate [default: sgd 0.1, momentum 0.05, adam 0.001].
    #[arg(long)]
    lr: Option<f32>,
    /// Momentum factor μ.
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// Adam β1.
    #[arg(long, default_value_t = 0.9)]
    beta1: f32,
    /// Adam β2.
    #[arg(long, default_value_t = 0.999)]
    beta2: f32,
    /// Adam ε.
    #[arg(long, default_value_t = 1e-8)]
    eps: f32,
}

impl OptimArgs {
    fn optimizer(&self) -> Result<Optimizer> {
        let lr = self.lr.unwrap_or(match self.optimizer {
            OptimizerArg::Sgd => 0.1,
            OptimizerArg::Momentum => 0.05,
            OptimizerArg::Adam => 0.001,
        });
        anyhow::ensure!(lr.is_finite() && lr > 0.0, "--lr {lr} must be a positive number, e.g. --lr 0.05");
        anyhow::ensure!((0.0..1.0).contains(&self.momentum), "--momentum {} must be in [0, 1)", self.momentum);
        anyhow::ensure!(
            (0.0..1.0).contains(&self.beta1) && (0.0..1.0).contains(&self.beta2),
            "--beta1 and --beta2 must be in [0, 1)"
        );
        anyhow::ensure!(self.eps > 0.0, "--eps must be positive");
        Ok(match self.optimizer {
            OptimizerArg::Sgd => Optimizer::Sgd { lr },
            OptimizerArg::Momentum => Optimizer::Momentum { lr, momentum: self.momentum },
            OptimizerArg::Adam => Optimizer::Adam { lr, beta1: self.beta1, beta2: self.beta2, eps: self.eps },
        })
    }
}

#[derive(Args)]
struct TrainArgs {
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    backend: BackendArg,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    optim: OptimArgs,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Samples per step (1 = per-sample SGD).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Samples per evaluation step.
    #[arg(long, default_value_t = 1000, hide = true)]
    eval_batch: usize,
    /// Seed of the initial weights and of the shuffles: the same seed gives the same run.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write per-epoch metrics: CSV with a header if PATH ends in .csv, JSON lines otherwise.
    #[arg(long, value_name = "PATH")]
    metrics: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn load_data(args: &DataArgs) -> Result<Dataset> {
    let source = match &args.data_dir {
        Some(dir) => DataSource::Dir(dir.clone()),
        None => DataSource::Embedded,
    };
    let mut data = data::load(&source, &LoadOptions::default())?;
    if let Some(n) = args.limit {
        anyhow::ensure!(n > 0, "--limit {n}: give at least 1 training sample");
        data.train.truncate(n);
    }
    Ok(data)
}

/// One line per epoch, the way Keras and PyTorch loops print it.
fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    format!(
        "epoch {}/{epochs}  train loss {:.4} acc {:.2}%  test loss {:.4} acc {:.2}%  {:.2} s  {:.0} samples/s",
        m.epoch,
        m.train_loss,
        100.0 * m.train_acc,
        m.test_loss,
        100.0 * m.test_acc,
        m.seconds,
        m.samples_per_sec
    )
}

fn train(args: TrainArgs) -> Result<()> {
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    let optimizer = args.optim.optimizer()?;
    // Open the metrics file first: a path that cannot be written should fail now, not after an hour of training.
    let mut metrics = args.metrics.as_deref().map(MetricsWriter::create).transpose()?;
    let data = Arc::new(load_data(&args.data)?);
    let model = ModelConfig {
        inputs: data.train.pixels(),
        hidden: args.model.hidden.0.clone(),
        classes: data.classes,
        activation: args.model.activation,
        loss: args.model.loss,
    };
    let config =
        TrainConfig { epochs: args.epochs, batch_size: args.batch_size, seed: args.seed, eval_batch: args.eval_batch };
    let layout = config.layout(&model, optimizer)?;
    let backend = match args.backend {
        BackendArg::Cpu => CpuBackend::new(&layout, data.clone()),
    };
    println!("backend: {}", backend.describe());
    println!("model:   {}", model.describe());
    println!(
        "optim:   {}, batch {}, {} epochs, seed {}",
        optimizer.describe(),
        config.batch_size,
        config.epochs,
        config.seed
    );
    println!("data:    {}: {} train, {} test samples", data.name, data.train.len(), data.test.len());
    let mut trainer = Trainer::new(backend, layout, data.clone(), config)?;
    for _ in 0..args.epochs {
        let bar = progress_bar(args.quiet, data.train.len(), trainer.epoch + 1, args.epochs);
        let m = trainer.epoch(&mut |p| {
            bar.set_position(p.samples as u64);
            bar.set_message(format!("loss {:.4}", p.stats.loss()));
        })?;
        bar.finish_and_clear();
        println!("{}", epoch_line(&m, args.epochs));
        if let Some(w) = metrics.as_mut() {
            w.write(&m)?;
        }
    }
    Ok(())
}

/// A bar on stderr, drawn only when stderr is a terminal (indicatif hides it otherwise) and not `--quiet`.
fn progress_bar(quiet: bool, total: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} {per_sec} eta {eta}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => train(args).context("training failed"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
