//! Checkpoints: a training run's parameters, optimizer state and progress in one [safetensors] file.
//!
//! Tensors (all F32, little-endian, row-major), named as PyTorch names them:
//!
//! - `layers.{l}.weight` `[out, in]` and `layers.{l}.bias` `[out]`: the state dict of a module that keeps its
//!   `nn.Linear`s in an `nn.ModuleList` called `layers`;
//! - the optimizer state, under `optimizer.`: `optimizer.layers.{l}.weight.{state}` and `optimizer.layers.{l}.bias.{state}`
//!   for each state tensor of the rule, PyTorch's names from the optimizer table (`momentum_buffer` for SGD with
//!   momentum; `exp_avg` and `exp_avg_sq` for Adam and AdamW; `square_avg`, `momentum_buffer` and `grad_avg` for RMSprop).
//!
//! A PyTorch user reads one with `safetensors.torch.load_file(path)` and keeps the keys without the `optimizer.`
//! prefix for `load_state_dict`. The string metadata holds everything else needed to rebuild the model and to
//! continue the run exactly: `format_version`, `architecture` (`784,512,512,10`), `activation`, `loss`,
//! `optimizer` and its hyper-parameters (`lr`, `momentum`, `beta1`, `beta2`, `eps`), `epoch` (completed), `steps_done`
//! (Adam's t), `seed`, `batch_size`, `dataset`, `data_digest` (what the data was, by content: see
//! [`crate::data::identity`]; absent from checkpoints written before it existed), `classes`, `train_samples`,
//! `lr_schedule`, `dropout`, `input_dropout` (when above 0); for a model trained on a table, `table` (JSON: the label
//! and feature columns, the class names, each feature's mean and scale); for one trained with `--normalize`,
//! `input_mean` and `input_std`; saved mid-epoch also `epoch_loss_sum`, `epoch_correct`, `epoch_samples`,
//! `epoch_seconds` (what that epoch's steps measured so far, so the resumed epoch's record covers the whole epoch).
//!
//! [`Checkpoint::save`] writes atomically (a temporary file in the same directory, fsync, rename, fsync of the
//! directory), so a crash or a full disk never leaves a partial file where the previous checkpoint was.
//! [`Checkpoint::load`] checks everything and says what is wrong in an [`Error::Checkpoint`].
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

mod format;
mod metadata;

pub use format::{param_tensors, state_suffixes, state_tensors};

use std::io::Write;
use std::path::Path;

use crate::backend::Backend;
use crate::data::csv::Table;
use crate::data::identity::{self, Known};
use crate::data::{Dataset, Normalize};
use crate::error::{Error, Result};
use crate::files::{read_input, write_atomically};
use crate::model::{Activation, ModelConfig, Params};
use crate::optim::{LrSchedule, Optimizer};
use crate::train::{EpochSoFar, Shuffle, TrainConfig, Trainer};

/// The largest checkpoint read: 16 GiB (a model of 4 billion parameters with Adam's two states).
pub const MAX_CHECKPOINT_BYTES: u64 = 16 << 30;

/// The version of the layout above that this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The value of the `format` metadata key.
pub const FORMAT: &str = "gpu-mnist";

/// Everything needed to rebuild a model and to continue its training run exactly where it stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The model's shape, activation and loss.
    pub model: ModelConfig,
    /// The optimizer and its hyper-parameters.
    pub optimizer: Optimizer,
    /// The trained parameters.
    pub params: Params,
    /// The optimizer state tensors, in [`crate::plan::Layout::state_buffers`] order (empty for plain SGD).
    pub state: Vec<Vec<f32>>,
    /// Epochs completed.
    pub epoch: usize,
    /// Training steps taken (Adam's t).
    pub steps_done: u64,
    /// The run's seed (initial weights and every epoch's shuffle).
    pub seed: u64,
    /// Samples per training step.
    pub batch_size: usize,
    /// The name of the data set it was trained on (`mnist`, `fashion-mnist`, or the data directory's name).
    pub dataset: String,
    /// The [`digest`](identity::digest) of that data set (before `--limit`), or `None` for a checkpoint written
    /// before gpu-mnist recorded it (then the data is known by [`Checkpoint::dataset`] only).
    pub data_digest: Option<String>,
    /// The number of training samples (after `--limit`).
    pub train_samples: usize,
    /// How the learning rate changes over the run (the decay's length follows from `--epochs`).
    pub lr_schedule: LrSchedule,
    /// The dropout probability of the hidden layers while training (0: none).
    pub dropout: f32,
    /// The dropout probability of the input pixels while training (0: none, and in checkpoints older than it).
    pub input_dropout: f32,
    /// How each epoch's order was drawn from the seed ([`Shuffle::Chacha8`] in checkpoints older than this field).
    pub shuffle: Shuffle,
    /// Saved mid-epoch: what that epoch's steps measured so far, so the resumed epoch's record covers them too.
    /// `None` at an epoch boundary, and in checkpoints older than this field.
    pub epoch_so_far: Option<EpochSoFar>,
    /// For a model trained on a table: its columns, classes and standardisation, to read new rows the same way.
    pub table: Option<Table>,
    /// How its pixels were normalised (`--normalize`), to read new pictures the same way; `None`: u / 255.
    pub normalize: Option<Normalize>,
}

/// What differs between the model a checkpoint holds and the one requested, naming the flag that sets it, or
/// `None` if they are the same.
pub fn model_mismatch(saved: &ModelConfig, requested: &ModelConfig) -> Option<String> {
    let widths = |m: &ModelConfig| m.hidden.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(",");
    if saved.inputs != requested.inputs {
        return Some(format!(
            "the checkpoint's model takes {} inputs, but the data has {} pixels per image",
            saved.inputs, requested.inputs
        ));
    }
    if saved.classes != requested.classes {
        return Some(format!(
            "the checkpoint's model has {} classes, but the data has {}",
            saved.classes, requested.classes
        ));
    }
    if saved.hidden != requested.hidden {
        return Some(format!(
            "--hidden \"{}\" differs from the checkpoint's hidden layers \"{}\"",
            widths(requested),
            widths(saved)
        ));
    }
    if saved.activation != requested.activation {
        return Some(format!(
            "--activation {} differs from the checkpoint's {}",
            requested.activation.name(),
            saved.activation.name()
        ));
    }
    if saved.activation == Activation::LeakyRelu && saved.leaky_slope != requested.leaky_slope {
        return Some(format!(
            "--leaky-slope {} differs from the checkpoint's {}",
            requested.leaky_slope, saved.leaky_slope
        ));
    }
    if saved.loss != requested.loss {
        return Some(format!("--loss {} differs from the checkpoint's {}", requested.loss.name(), saved.loss.name()));
    }
    if saved.output_units != requested.output_units {
        return Some(format!(
            "--output-units {} differs from the checkpoint's {}",
            requested.output_units.name(),
            saved.output_units.name()
        ));
    }
    None
}

impl Checkpoint {
    /// Captures the state of `trainer` (parameters, optimizer state, step counter, epoch, settings).
    pub fn capture<B: Backend>(trainer: &mut Trainer<B>) -> Result<Self> {
        let params = trainer.backend.read_params()?;
        let packed = trainer
            .layout
            .state_buffers()
            .into_iter()
            .map(|id| trainer.backend.read_buffer(id))
            .collect::<Result<_>>()?;
        let steps_done = trainer.backend.steps_done()?;
        let epoch_so_far = trainer.epoch_so_far_now()?;
        Ok(Self::of_trainer(trainer, params, packed, steps_done, epoch_so_far))
    }

    /// The checkpoint of `trainer` from what was read of its backend: the parameters, each state buffer of
    /// [`Layout::state_buffers`](crate::plan::Layout::state_buffers) in order, the device's step count, and what the
    /// current epoch's steps measured (`None` at an epoch boundary) — [`Checkpoint::capture`]'s reads, or a
    /// browser's awaited ones.
    pub fn of_trainer<B: Backend>(
        trainer: &Trainer<B>,
        params: Params,
        packed_state: Vec<Vec<f32>>,
        steps_done: u64,
        epoch_so_far: Option<EpochSoFar>,
    ) -> Self {
        // Each packed state buffer holds the rule's n tensors one after the other: one checkpoint tensor each.
        let n = trainer.layout.optimizer.state_tensors();
        let state =
            packed_state.iter().flat_map(|packed| packed.chunks_exact(packed.len() / n.max(1)).map(<[f32]>::to_vec));
        let state = state.collect();
        Checkpoint {
            model: trainer.layout.model.clone(),
            optimizer: trainer.layout.optimizer,
            params,
            state,
            epoch: trainer.epoch,
            steps_done,
            seed: trainer.config.seed,
            batch_size: trainer.config.batch_size,
            dataset: trainer.data().name.clone(),
            data_digest: Some(trainer.data().digest.clone()),
            train_samples: trainer.data().train.len(),
            lr_schedule: trainer.config.lr_schedule,
            dropout: trainer.config.dropout,
            input_dropout: trainer.config.input_dropout,
            shuffle: trainer.config.shuffle,
            epoch_so_far,
            table: trainer.data().table.clone(),
            normalize: trainer.data().normalize,
        }
    }

    /// Loads this checkpoint into `trainer`: parameters, optimizer state, step counter and completed epochs, so
    /// that the next [`Trainer::epoch`] continues the run. The trainer's model and optimizer kind must be the
    /// checkpoint's; its optimizer hyper-parameters may differ (e.g. a lower learning rate to fine-tune), and its
    /// seed and batch size should be the checkpoint's for the continuation to be exact ([`Checkpoint::train_config`]).
    pub fn restore<B: Backend>(&self, trainer: &mut Trainer<B>) -> Result<()> {
        if let Some(m) = model_mismatch(&self.model, &trainer.layout.model) {
            return Err(Error::Config(format!("cannot restore the checkpoint: {m}")));
        }
        if self.optimizer.name() != trainer.layout.optimizer.name() {
            return Err(Error::Config(format!(
                "cannot restore the checkpoint: it holds {} state, the trainer uses {}",
                self.optimizer.name(),
                trainer.layout.optimizer.name()
            )));
        }
        let ids = trainer.layout.state_buffers();
        let n = trainer.layout.optimizer.state_tensors();
        if ids.len() * n != self.state.len() {
            return Err(Error::Config(format!(
                "cannot restore the checkpoint: it holds {} optimizer state tensors, the trainer needs {}",
                self.state.len(),
                ids.len() * n
            )));
        }
        trainer.backend.write_params(&self.params)?;
        // The rule's n tensors of each parameter, packed into its state buffer.
        for (id, tensors) in ids.into_iter().zip(self.state.chunks(n.max(1))) {
            trainer.backend.write_buffer(id, &tensors.concat())?;
        }
        let epoch_start = self.epoch_start_steps()?;
        let into_epoch = self.steps_done - epoch_start;
        if into_epoch > 0 && trainer.data().train.len() != self.train_samples {
            return Err(Error::Config(format!(
                "the checkpoint stopped {into_epoch} steps into epoch {} of a run over {} training samples; this run has \
                 {}, so that epoch cannot be finished: resume with the same training data (the same --limit), or from \
                 a checkpoint saved at the end of an epoch",
                self.epoch + 1,
                self.train_samples,
                trainer.data().train.len()
            )));
        }
        let batch = self.batch_size.min(self.train_samples) as u64;
        let so_far = match self.epoch_so_far {
            Some(so_far) if into_epoch > 0 => {
                if u64::from(so_far.stats.samples) > into_epoch.saturating_mul(batch) {
                    return Err(Error::Config(format!(
                        "the checkpoint says {} samples were trained in the {into_epoch} steps of batch {batch} of its                          last epoch; the file is damaged or was edited",
                        so_far.stats.samples
                    )));
                }
                so_far
            }
            _ => EpochSoFar::default(),
        };
        trainer.backend.set_steps_done(self.steps_done)?;
        trainer.continue_at(self.epoch, epoch_start)?;
        trainer.epoch_so_far = so_far;
        Ok(())
    }

    /// The step count at the start of the epoch this checkpoint is in: its completed epochs × its steps per epoch
    /// (⌈train_samples / batch⌉). An error, naming the numbers, unless `steps_done` lies within that epoch (at most
    /// one epoch's steps further: a run interrupted after its last step but before its evaluation has them all): a
    /// step count beyond it, or one that overflows, is a damaged or edited checkpoint.
    pub fn epoch_start_steps(&self) -> Result<u64> {
        let batch = self.batch_size.min(self.train_samples).max(1);
        let per_epoch = self.train_samples.div_ceil(batch) as u64;
        let start = (self.epoch as u64).checked_mul(per_epoch);
        let end = start.and_then(|s| s.checked_add(per_epoch));
        match (start, end) {
            (Some(start), Some(end)) if (start..=end).contains(&self.steps_done) => Ok(start),
            _ => Err(Error::Config(format!(
                "the checkpoint says {} steps after {} epochs of {per_epoch} steps ({} samples in batches of {}): the \
                 step count must lie within the epoch that follows them; the file is damaged or was edited",
                self.steps_done,
                self.epoch,
                self.train_samples,
                crate::train::batch_size_name(self.batch_size)
            ))),
        }
    }

    /// The known data set this checkpoint was trained on: by its data digest, or by its data set's name for a
    /// checkpoint without one. `None` for any other data.
    pub fn known_data(&self) -> Option<&'static Known> {
        match &self.data_digest {
            Some(digest) => identity::known(digest),
            None => identity::known_by_name(&self.dataset),
        }
    }

    /// Whether `data` is the data set this checkpoint was trained on (whole: `--limit` does not count): the same
    /// digest, or the same name for a checkpoint without a digest.
    pub fn trained_on(&self, data: &Dataset) -> bool {
        match &self.data_digest {
            Some(digest) => *digest == data.digest,
            None => self.dataset == data.name,
        }
    }

    /// How messages name the data set this checkpoint was trained on ([`identity::describe`]).
    pub fn describe_data(&self) -> String {
        identity::describe(&self.dataset, self.data_digest.as_deref())
    }

    /// The name of the data set this checkpoint was trained on, as far as it is known: a known data set's own name
    /// ([`Checkpoint::known_data`]), or else the name it was saved with.
    pub fn data_name(&self) -> &str {
        self.known_data().map_or(self.dataset.as_str(), |k| k.name)
    }

    /// The names of the classes this checkpoint's model tells apart, label 0 first, or `None` where the number is
    /// the name: those of the data set it was trained on ([`Checkpoint::data_name`]).
    pub fn class_names(&self) -> Option<Vec<&str>> {
        match &self.table {
            Some(table) => Some(table.classes.iter().map(String::as_str).collect()),
            None => crate::data::class_names(self.data_name()).map(<[&str]>::to_vec),
        }
    }

    /// The training settings of the run this checkpoint continues: its seed, shuffle and batch size, `epochs` in
    /// total.
    pub fn train_config(&self, epochs: usize, eval_batch: usize) -> TrainConfig {
        TrainConfig {
            chunk_rows: None,
            epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            eval_batch,
            lr_schedule: self.lr_schedule,
            // A resumed run's weights come from the checkpoint.
            init: None,
            dropout: self.dropout,
            input_dropout: self.input_dropout,
            shuffle: self.shuffle,
        }
    }

    /// Writes the checkpoint to `path` atomically: the previous file at `path`, if any, stays whole until the new
    /// one is complete on disk.
    pub fn save(&self, path: &Path) -> Result<()> {
        // Refuse what `load` would refuse, so a saved checkpoint always loads back.
        if let Some((h, v)) = self.optimizer.hypers().find(|&(h, v)| !h.range().contains(v)) {
            return Err(Error::Checkpoint {
                path: path.to_owned(),
                msg: format!(
                    "cannot save {}: {} = {v} must be {}",
                    self.optimizer.describe(),
                    h.key(),
                    h.range().describe()
                ),
            });
        }
        let bytes = self.to_bytes()?;
        write_atomically(path, |f| f.write_all(&bytes))
    }

    /// Reads and checks a checkpoint: the safetensors structure, the metadata, every tensor's presence, dtype
    /// (F32), shape and values (finite). Errors are [`Error::Checkpoint`]s naming the file and the problem, or
    /// [`Error::Io`] if it cannot be read.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_input(path, MAX_CHECKPOINT_BYTES)?;
        Self::load_bytes(path, &bytes)
    }

    /// [`Checkpoint::load`] for a file already in memory: the same checks, and every error an
    /// [`Error::Checkpoint`]; `path` only names the bytes in its messages.
    pub fn load_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        Self::from_bytes(bytes).map_err(|msg| Error::Checkpoint { path: path.to_owned(), msg })
    }

    /// Checks that this checkpoint holds `model` trained with `optimizer`'s rule; the error names the flag that
    /// differs. `path` is the file it came from, for the message.
    pub fn check_compatible(&self, path: &Path, model: &ModelConfig, optimizer: &Optimizer) -> Result<()> {
        let fail = |msg: String| Err(Error::Checkpoint { path: path.to_owned(), msg });
        if let Some(m) = model_mismatch(&self.model, model) {
            return fail(format!("architecture mismatch: {m} ({})", self.model.describe()));
        }
        if optimizer.name() != self.optimizer.name() {
            return fail(format!(
                "optimizer mismatch: --optimizer {} differs from the checkpoint's {} (its state cannot be reused)",
                optimizer.name(),
                self.optimizer.name()
            ));
        }
        Ok(())
    }
}
