//! The checkpoint flags of `gpu-mnist train`: `--save`, `--save-every`, `--resume`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{ArgMatches, Args};
use gpu_mnist::backend::Backend;
use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::data::Dataset;
use gpu_mnist::files;
use gpu_mnist::model::ModelConfig;
use gpu_mnist::optim::Optimizer;
use gpu_mnist::train::{Shuffle, TrainConfig, Trainer};

use super::{ModelArgs, OptimArgs};

#[derive(Args)]
pub struct CheckpointArgs {
    /// Write a checkpoint (safetensors: weights, optimizer state, progress) at the end of training.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
    /// Also write the --save checkpoint every N epochs (counted from the start of the run, resumes included).
    #[arg(long, value_name = "N", requires = "save")]
    pub save_every: Option<usize>,
    /// Continue the run saved in PATH: model, optimizer, seed and batch size come from it (--lr and the other
    /// optimizer hyper-parameters may be changed); trains up to --epochs in total.
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
}

impl CheckpointArgs {
    /// Checks the flags and that the --save path can be written, before any training; loads --resume.
    pub fn prepare(&self) -> Result<Option<Checkpoint>> {
        anyhow::ensure!(self.save_every != Some(0), "--save-every must be at least 1");
        if let Some(path) = &self.save {
            files::ensure_writable(path).context("--save: cannot write the checkpoint there")?;
        }
        Ok(self.resume.as_deref().map(Checkpoint::load).transpose()?)
    }

    /// After an interruption: saves the state as it is (mid-epoch; `--resume` continues from that step) and says how
    /// to resume.
    pub fn on_interrupt<B: Backend>(&self, trainer: &mut Trainer<B>) -> Result<()> {
        if let Some(path) = &self.save {
            let ck = Checkpoint::capture(trainer)?;
            ck.save(path)?;
            // Steps within the epoch, as the progress bar and the interrupt message count them.
            let step = ck.steps_done.saturating_sub(trainer.epoch_start_steps);
            let at = match step {
                0 => format!("end of epoch {}", trainer.epoch),
                _ => format!("epoch {}, step {step} of {}", trainer.epoch + 1, trainer.steps_per_epoch()),
            };
            errln!("saved:   {} ({at}); continue with --resume {}", path.display(), path.display());
        }
        Ok(())
    }

    /// Saves after an epoch if --save-every says so, or if it was the last one.
    pub fn after_epoch<B: Backend>(&self, trainer: &mut Trainer<B>, epochs: usize, last: bool) -> Result<()> {
        let Some(path) = &self.save else { return Ok(()) };
        let due = self.save_every.is_some_and(|n| trainer.epoch.is_multiple_of(n));
        if due || last || trainer.epoch == epochs {
            Checkpoint::capture(trainer)?.save(path)?;
            outln!("saved:   {} (epoch {})", path.display(), trainer.epoch);
        }
        Ok(())
    }
}

/// Whether the user gave flag `id` (a field name of the args) on the command line.
pub fn given(matches: Option<&ArgMatches>, id: &str) -> bool {
    matches.is_some_and(|m| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
}

/// The flags of `train` that a resumed run checks against its checkpoint (or takes instead of it).
pub struct RunFlags<'a> {
    /// The `--resume` checkpoint, for messages.
    pub path: &'a Path,
    pub model: &'a ModelArgs,
    pub optim: &'a OptimArgs,
    pub seed: u64,
    pub shuffle: Shuffle,
    pub batch_size: usize,
    pub epochs: usize,
    pub eval_batch: usize,
    pub dropout: f32,
    pub input_dropout: f32,
}

/// The model, optimizer and settings of a resumed run: the checkpoint's, with the flags the user gave checked
/// against them (model flags, --optimizer, --seed, --batch-size must agree; optimizer hyper-parameters override).
pub fn settings(
    ck: &Checkpoint,
    args: &RunFlags,
    matches: Option<&ArgMatches>,
    data: &Dataset,
) -> Result<(ModelConfig, Optimizer, TrainConfig)> {
    let path = args.path;
    let given = |id| given(matches, id);
    let loss = if given("loss") { args.model.loss } else { ck.model.loss };
    // The checkpoint's output units, unless asked for or the loss asked for does not take them.
    let output_units = match given("output_units") || !loss.takes(ck.model.output_units) {
        true => args.model.output_units.unwrap_or(loss.default_output_units(data.classes)),
        false => ck.model.output_units,
    };
    let requested = ModelConfig {
        inputs: data.train.pixels(),
        classes: data.classes,
        hidden: if given("hidden") { args.model.hidden.0.clone() } else { ck.model.hidden.clone() },
        activation: if given("activation") { args.model.activation } else { ck.model.activation },
        leaky_slope: if given("leaky_slope") { args.model.leaky_slope } else { ck.model.leaky_slope },
        loss,
        output_units,
    };
    // The checkpoint's optimizer and hyper-parameters (the table's defaults for another --optimizer, which
    // check_compatible then refuses), with the values of the flags given.
    let schedule = if given("lr_schedule") { args.optim.lr_schedule } else { ck.lr_schedule };
    let rule = if given("optimizer") { args.optim.optimizer } else { ck.optimizer.rule() };
    let base = if rule == ck.optimizer.rule() { ck.optimizer } else { Optimizer::new(rule) };
    let optimizer = args.optim.applied_to(base)?;
    ck.check_compatible(path, &requested, &optimizer)?;
    let batch = gpu_mnist::train::batch_size_name;
    for (flag, id, ours, theirs) in [
        ("--seed", "seed", args.seed.to_string(), ck.seed.to_string()),
        ("--shuffle", "shuffle", args.shuffle.name().to_owned(), ck.shuffle.name().to_owned()),
        ("--batch-size", "batch_size", batch(args.batch_size), batch(ck.batch_size)),
    ] {
        anyhow::ensure!(
            !given(id) || ours == theirs,
            "{flag} {ours} differs from the checkpoint's {theirs} ({}): a resumed run keeps its {flag}; drop the flag",
            path.display()
        );
    }
    if given("init") {
        errln!("warning: --init is not used: a resumed run's weights come from its checkpoint");
    }
    if schedule != ck.lr_schedule {
        outln!(
            "note:    the learning-rate schedule changes from the checkpoint's {} to {} (--lr-schedule)",
            ck.lr_schedule.name(),
            schedule.name()
        );
    }
    if optimizer != ck.optimizer {
        outln!(
            "note:    the optimizer changes from the checkpoint's {} to {}",
            ck.optimizer.describe(),
            optimizer.describe()
        );
    }
    // The same data is the same digest (or, for a checkpoint without one, the same name) and the same --limit.
    if !ck.trained_on(data) || ck.train_samples != data.train.len() {
        errln!(
            "warning: the checkpoint was trained on {} ({} samples), this run uses {} ({} samples): the run continues, \
             but not as an uninterrupted run would",
            ck.describe_data(),
            ck.train_samples,
            data.describe(),
            data.train.len()
        );
    }
    anyhow::ensure!(
        ck.epoch <= args.epochs,
        "the checkpoint has already trained {} epochs, more than --epochs {} (--epochs counts all epochs, resumed ones \
         included)",
        ck.epoch,
        args.epochs
    );
    if ck.epoch == args.epochs {
        outln!(
            "note:    the checkpoint has all {} epochs already; nothing to train (--epochs counts them all)",
            ck.epoch
        );
    }
    // Each dropout: the checkpoint's unless its flag is given, a change said.
    let kept = |id: &'static str, flag: &str, what: &str, asked: f32, saved: f32| {
        let p = if given(id) { asked } else { saved };
        if p != saved {
            outln!("note:    {what} changes from the checkpoint's {saved} to {p} ({flag})");
        }
        p
    };
    let dropout = kept("dropout", "--dropout", "dropout", args.dropout, ck.dropout);
    let input_dropout = kept("input_dropout", "--input-dropout", "input dropout", args.input_dropout, ck.input_dropout);
    let resumed = ck.train_config(args.epochs, args.eval_batch);
    let config = TrainConfig { lr_schedule: schedule, dropout, input_dropout, ..resumed };
    Ok((requested, optimizer, config))
}
