//! `gpu-mnist train`: train, print a line per epoch, write metrics.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use gpu_mnist::metrics::MetricsWriter;
use gpu_mnist::train::{EpochMetrics, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

use super::{load_data, make_backend, BackendArg, DataArgs, ModelArgs, OptimArgs};

#[derive(Args)]
pub struct TrainArgs {
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub optim: OptimArgs,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Samples per step (1 = per-sample SGD).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Samples per evaluation step.
    #[arg(long, default_value_t = 1000, hide = true)]
    pub eval_batch: usize,
    /// Seed of the initial weights and of the shuffles: the same seed gives the same run.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write per-epoch metrics: CSV with a header if PATH ends in .csv, JSON lines otherwise.
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
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

/// Runs `gpu-mnist train`.
pub fn run(args: TrainArgs) -> Result<()> {
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    let optimizer = args.optim.optimizer()?;
    // Open the metrics file first: a path that cannot be written should fail now, not after an hour of training.
    let mut metrics = args.metrics.as_deref().map(MetricsWriter::create).transpose()?;
    let data = Arc::new(load_data(&args.data)?);
    let model = args.model.model(&data);
    let config =
        TrainConfig { epochs: args.epochs, batch_size: args.batch_size, seed: args.seed, eval_batch: args.eval_batch };
    let layout = config.layout(&model, optimizer)?;
    let backend = make_backend(args.backend, &layout, data.clone())?;
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
