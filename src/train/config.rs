//! What a training run is told and what it reports: its settings ([`TrainConfig`]), each epoch's record
//! ([`EpochMetrics`]), the progress reported while an epoch runs ([`Progress`]) and what part of an epoch measured
//! before an interruption ([`EpochSoFar`]).

use crate::backend::Stats;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{Init, ModelConfig};
use crate::optim::{LrSchedule, Optimizer};
use crate::plan::{Layout, Split};

use super::Shuffle;

/// [`TrainConfig::batch_size`] of full-batch gradient descent (`--batch-size full`): one step per epoch over the whole
/// training split, whatever its size (any batch at least as large as the split is one; this one says so).
pub const FULL_BATCH: usize = usize::MAX;

/// A batch size as the command line and the checkpoint write it: `full` for [`FULL_BATCH`], else the number.
pub fn batch_size_name(batch_size: usize) -> String {
    match batch_size {
        FULL_BATCH => "full".to_string(),
        b => b.to_string(),
    }
}

/// Reads a batch size as [`batch_size_name`] writes it: `full`, or a number of samples from 1.
pub fn parse_batch_size(text: &str) -> std::result::Result<usize, String> {
    match text.trim() {
        "full" => Ok(FULL_BATCH),
        t => match t.parse::<usize>() {
            Ok(b) if b > 0 && b != FULL_BATCH => Ok(b),
            _ => Err(format!(
                "'{text}' is not a batch size: give a number of samples from 1 (1 = per-sample SGD) or `full` (one \
                 step per epoch over the whole training split)"
            )),
        },
    }
}

/// The most bytes the buffers of one pass of a training step may take: 128 MiB, WebGPU's default
/// `max_storage_buffer_binding_size`, which the GPU backend's one binding of all the layout's buffers must fit. A step
/// whose rows would need more (full-batch gradient descent on 60 000 MNIST images: 188 MB of inputs alone) runs in
/// chunks of rows on every backend, so the CPU and the GPU sum its gradient the same way.
pub const PASS_BYTES: u64 = 128 << 20;

/// How to train: everything but the model and the optimizer.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per training step (1 = per-sample SGD; [`FULL_BATCH`], or anything at least the training split's
    /// size: full-batch gradient descent, one step per epoch).
    pub batch_size: usize,
    /// Seeds the initial weights (stream 0) and each epoch's shuffle (stream epoch + 1).
    pub seed: u64,
    /// Samples per evaluation step (no gradients, so it can be large).
    pub eval_batch: usize,
    /// The learning rate's schedule: linear decay to 0 over the `epochs` of the run, or constant.
    pub lr_schedule: LrSchedule,
    /// How the weights start: one scheme for every layer, or `None` for the one suited to each layer's activation.
    pub init: Option<Init>,
    /// The probability of dropping a hidden unit while training (inverted dropout after every hidden activation, as
    /// PyTorch's `nn.Dropout(p)`; 0: none). Its draws are keyed by `seed`.
    pub dropout: f32,
    /// The probability of dropping an input pixel while training (inverted dropout before the first layer, as
    /// PyTorch's `nn.Dropout(p)` there; 0: none). Its draws are keyed by `seed`.
    pub input_dropout: f32,
    /// Rows per pass of a training step (a step of more rows runs in chunks of this many, their gradients summed
    /// before its one update); `None`: as many as fit [`PASS_BYTES`] (the hidden `--chunk-rows`, for tests).
    pub chunk_rows: Option<usize>,
    /// How each epoch's order is drawn from `seed` (gpu-mnist's own, or scikit-learn's SGD shuffle).
    pub shuffle: Shuffle,
}

impl TrainConfig {
    /// The layout that fits both the training and the evaluation steps.
    pub fn layout(&self, model: &ModelConfig, optimizer: Optimizer) -> Result<Layout> {
        model.validate()?;
        if self.batch_size == 0 || self.eval_batch == 0 {
            return Err(Error::Config("--batch-size must be at least 1".into()));
        }
        if !self.shuffle.takes_seed(self.seed) {
            return Err(Error::Config(format!(
                "--seed {} with --shuffle {}: numpy's RandomState takes seeds below 2^32; give a smaller --seed",
                self.seed,
                self.shuffle.name()
            )));
        }
        for (flag, p) in self.dropouts() {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::Config(format!("--{flag} {p} must be a probability in [0, 1), e.g. --{flag} 0.2")));
            }
        }
        let pass = self.pass_rows(model, optimizer)?;
        let chunked = self.batch_size > pass;
        for (flag, p) in self.dropouts() {
            if chunked && p > 0.0 {
                return Err(Error::Config(format!(
                    "--{flag} {p} with a step of {} rows, which runs in chunks of {pass}: dropout draws its factors \
                     per step, not per chunk; use --{flag} 0 or a --batch-size of at most {pass}",
                    batch_size_name(self.batch_size)
                )));
            }
        }
        let rows = self.batch_size.min(pass).max(self.eval_batch);
        let layout = self.unchunked_layout(model, optimizer, rows);
        Ok(if chunked { layout.with_chunks(pass) } else { layout })
    }

    /// Each dropout's flag and probability: the hidden layers', the input's.
    fn dropouts(&self) -> [(&'static str, f32); 2] {
        [("dropout", self.dropout), ("input-dropout", self.input_dropout)]
    }

    /// The layout of `rows` rows with this run's dropouts, before any chunks.
    fn unchunked_layout(&self, model: &ModelConfig, optimizer: Optimizer, rows: usize) -> Layout {
        Layout::new(model, optimizer, rows)
            .with_dropout(self.dropout, self.seed)
            .with_input_dropout(self.input_dropout, self.seed)
    }

    /// Rows per pass of a training step: [`TrainConfig::chunk_rows`] if given, else the most rows whose buffers (the
    /// layout's, the gradient sums of a chunked step and each buffer's alignment in the GPU's arena) fit
    /// [`PASS_BYTES`]; `usize::MAX` (no chunks) when not even one row fits.
    pub fn pass_rows(&self, model: &ModelConfig, optimizer: Optimizer) -> Result<usize> {
        match self.chunk_rows {
            Some(0) => return Err(Error::Config("--chunk-rows must be at least 1".into())),
            Some(rows) => return Ok(rows),
            None => {}
        }
        // The layout's size is affine in its rows: what does not grow with them, and what one more row adds.
        let size = |rows: usize| {
            let layout = self.unchunked_layout(model, optimizer, rows).with_chunks(rows);
            let alignment = 256 * layout.buffers.len() as u64;
            layout.bytes().saturating_add(alignment)
        };
        let per_row = size(2).saturating_sub(size(1)).max(1);
        let fixed = size(1).saturating_sub(per_row);
        if fixed.saturating_add(per_row) > PASS_BYTES {
            // Not even one row fits a pass: chunks cannot make the step fit a GPU, so it is not chunked (and the
            // backend says whether its rows fit, naming --batch-size).
            return Ok(usize::MAX);
        }
        Ok(((PASS_BYTES - fixed) / per_row) as usize)
    }

    /// The layout for training on `data`: sized by the rows a step can really have — a batch larger than the
    /// training split, or an evaluation batch larger than the test split, gets buffers for the samples that exist,
    /// not for the request (`--limit 2000 --batch-size 1000000` needs 2000 rows, not a million).
    pub fn layout_for(&self, model: &ModelConfig, optimizer: Optimizer, data: &Dataset) -> Result<Layout> {
        let fitted = TrainConfig {
            batch_size: self.batch_size.min(data.train.len().max(1)),
            eval_batch: self.eval_batch.min(data.test.len().max(1)),
            ..self.clone()
        };
        fitted.layout(model, optimizer)
    }
}

/// What one epoch measured; the fields of `--metrics`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean loss over the epoch's training samples (running, as Keras and PyTorch loops report it).
    pub train_loss: f32,
    /// Training accuracy over the epoch, 0..1.
    pub train_acc: f32,
    /// Mean loss on the test set after the epoch.
    pub test_loss: f32,
    /// Test accuracy after the epoch, 0..1.
    pub test_acc: f32,
    /// Seconds spent training this epoch (evaluation excluded).
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_sec: f64,
}

/// What the steps of the current epoch trained so far measured, when they were trained before the run was stopped:
/// a resumed run adds them to its own, so the epoch's record covers the whole epoch, not just its resumed part.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochSoFar {
    /// Training statistics of those steps.
    pub stats: Stats,
    /// Seconds spent training them.
    pub seconds: f64,
}

/// What the loop reports while an epoch runs: its training, then its evaluation on the test set.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// `Train` while the epoch trains, `Test` while it is evaluated.
    pub split: Split,
    /// Samples of that split done so far this epoch.
    pub samples: usize,
    /// Samples in the split.
    pub total: usize,
    /// Statistics so far (running loss and accuracy).
    pub stats: Stats,
}
