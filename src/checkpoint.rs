//! Checkpoints: a training run's parameters, optimizer state and progress in one [safetensors] file.
//!
//! Tensors (all F32, little-endian, row-major), named as PyTorch names them:
//!
//! - `layers.{l}.weight` `[out, in]` and `layers.{l}.bias` `[out]`: the state dict of a module that keeps its
//!   `nn.Linear`s in an `nn.ModuleList` called `layers`;
//! - the optimizer state, under `optimizer.`: `optimizer.layers.{l}.weight.momentum_buffer` (SGD with momentum) or
//!   `optimizer.layers.{l}.weight.exp_avg` and `.exp_avg_sq` (Adam), and the same for `.bias`.
//!
//! A PyTorch user reads one with `safetensors.torch.load_file(path)` and keeps the keys without the `optimizer.`
//! prefix for `load_state_dict`. The string metadata holds everything else needed to rebuild the model and to
//! continue the run exactly: `format_version`, `architecture` (`784,512,512,10`), `activation`, `loss`,
//! `optimizer` and its hyper-parameters (`lr`, `momentum`, `beta1`, `beta2`, `eps`), `epoch` (completed),
//! `steps_done` (Adam's t), `seed`, `batch_size`, `dataset`, `classes`, `train_samples`.
//!
//! [`Checkpoint::save`] writes atomically (a temporary file in the same directory, fsync, rename, fsync of the
//! directory), so a crash or a full disk never leaves a partial file where the previous checkpoint was.
//! [`Checkpoint::load`] checks everything and says what is wrong in an [`Error::Checkpoint`].
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::model::{Activation, Layer, Loss, ModelConfig, Params};
use crate::optim::{LrSchedule, Optimizer};
use crate::train::{TrainConfig, Trainer};

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
    /// The name of the data set it was trained on (`mnist`, or the data directory's name).
    pub dataset: String,
    /// The number of training samples (after `--limit`).
    pub train_samples: usize,
    /// How the learning rate changes over the run (the decay's length follows from `--epochs`).
    pub lr_schedule: LrSchedule,
}

/// The names PyTorch gives the optimizer's per-parameter state: `momentum_buffer` for SGD with momentum,
/// `exp_avg` and `exp_avg_sq` for Adam (none for plain SGD).
pub fn state_suffixes(optimizer: &Optimizer) -> &'static [&'static str] {
    match optimizer {
        Optimizer::Sgd { .. } => &[],
        Optimizer::Momentum { .. } => &["momentum_buffer"],
        Optimizer::Adam { .. } => &["exp_avg", "exp_avg_sq"],
    }
}

/// Name and shape of every parameter tensor, in [`Params::tensors`] order.
pub fn param_tensors(model: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (l, (inputs, outputs)) in model.layer_shapes().into_iter().enumerate() {
        out.push((format!("layers.{l}.weight"), vec![outputs, inputs]));
        out.push((format!("layers.{l}.bias"), vec![outputs]));
    }
    out
}

/// Name and shape of every optimizer state tensor, in [`crate::plan::Layout::state_buffers`] order
/// (per layer: weight state 0, bias state 0, weight state 1, bias state 1).
pub fn state_tensors(model: &ModelConfig, optimizer: &Optimizer) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (l, (inputs, outputs)) in model.layer_shapes().into_iter().enumerate() {
        for suffix in state_suffixes(optimizer) {
            out.push((format!("optimizer.layers.{l}.weight.{suffix}"), vec![outputs, inputs]));
            out.push((format!("optimizer.layers.{l}.bias.{suffix}"), vec![outputs]));
        }
    }
    out
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
    if saved.loss != requested.loss {
        return Some(format!("--loss {} differs from the checkpoint's {}", requested.loss.name(), saved.loss.name()));
    }
    None
}

impl Checkpoint {
    /// Captures the state of `trainer` (parameters, optimizer state, step counter, epoch, settings).
    pub fn capture<B: Backend>(trainer: &mut Trainer<B>) -> Result<Self> {
        let params = trainer.backend.read_params()?;
        let state = trainer
            .layout
            .state_buffers()
            .into_iter()
            .map(|id| trainer.backend.read_buffer(id))
            .collect::<Result<Vec<_>>>()?;
        let steps_done = trainer.backend.steps_done()?;
        Ok(Checkpoint {
            model: trainer.layout.model.clone(),
            optimizer: trainer.layout.optimizer,
            params,
            state,
            epoch: trainer.epoch,
            steps_done,
            seed: trainer.config.seed,
            batch_size: trainer.config.batch_size,
            dataset: trainer.data().name.clone(),
            train_samples: trainer.data().train.len(),
            lr_schedule: trainer.config.lr_schedule,
        })
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
        if ids.len() != self.state.len() {
            return Err(Error::Config(format!(
                "cannot restore the checkpoint: it holds {} optimizer state tensors, the trainer needs {}",
                self.state.len(),
                ids.len()
            )));
        }
        trainer.backend.write_params(&self.params)?;
        for (id, data) in ids.into_iter().zip(&self.state) {
            trainer.backend.write_buffer(id, data)?;
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
        trainer.backend.set_steps_done(self.steps_done)?;
        trainer.continue_at(self.epoch, epoch_start)
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
                self.steps_done, self.epoch, self.train_samples, self.batch_size
            ))),
        }
    }

    /// The training settings of the run this checkpoint continues: its seed and batch size, `epochs` in total.
    pub fn train_config(&self, epochs: usize, eval_batch: usize) -> TrainConfig {
        TrainConfig { epochs, batch_size: self.batch_size, seed: self.seed, eval_batch, lr_schedule: self.lr_schedule }
    }

    /// The string metadata written to the file.
    pub fn metadata(&self) -> HashMap<String, String> {
        let widths: Vec<String> = self.model.widths().iter().map(|w| w.to_string()).collect();
        let mut m = HashMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_owned(), v);
        };
        put("format", FORMAT.into());
        put("format_version", FORMAT_VERSION.to_string());
        put("architecture", widths.join(","));
        put("activation", self.model.activation.name().into());
        put("loss", self.model.loss.name().into());
        put("optimizer", self.optimizer.name().into());
        // `{}` of an f32 is the shortest text that parses back to the same value.
        match self.optimizer {
            Optimizer::Sgd { lr } => put("lr", lr.to_string()),
            Optimizer::Momentum { lr, momentum } => {
                put("lr", lr.to_string());
                put("momentum", momentum.to_string());
            }
            Optimizer::Adam { lr, beta1, beta2, eps } => {
                put("lr", lr.to_string());
                put("beta1", beta1.to_string());
                put("beta2", beta2.to_string());
                put("eps", eps.to_string());
            }
        }
        put("epoch", self.epoch.to_string());
        put("steps_done", self.steps_done.to_string());
        put("seed", self.seed.to_string());
        put("batch_size", self.batch_size.to_string());
        put("dataset", self.dataset.clone());
        put("classes", self.model.classes.to_string());
        put("train_samples", self.train_samples.to_string());
        put("lr_schedule", self.lr_schedule.name().to_owned());
        m
    }

    /// The file's bytes: the tensors and the metadata in the safetensors format. Refuses tensors whose size does
    /// not fit the model and non-finite values (so a diverged run never replaces a good checkpoint).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let names = param_tensors(&self.model).into_iter().chain(state_tensors(&self.model, &self.optimizer));
        let names: Vec<(String, Vec<usize>)> = names.collect();
        let values: Vec<&[f32]> =
            self.params.tensors().into_iter().chain(self.state.iter().map(Vec::as_slice)).collect();
        if names.len() != values.len() {
            return Err(Error::Config(format!(
                "a {} checkpoint with {} needs {} tensors, got {}",
                self.model.describe(),
                self.optimizer.name(),
                names.len(),
                values.len()
            )));
        }
        let mut bytes = Vec::with_capacity(names.len());
        for ((name, shape), v) in names.iter().zip(&values) {
            let expected: usize = shape.iter().product();
            if v.len() != expected {
                return Err(Error::Config(format!(
                    "tensor {name} has {} values, its shape {shape:?} needs {expected}",
                    v.len()
                )));
            }
            if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                return Err(Error::Config(format!(
                    "tensor {name} holds {x} at index {i}; a checkpoint must be finite"
                )));
            }
            bytes.push(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        }
        let mut views = Vec::with_capacity(names.len());
        for ((name, shape), data) in names.iter().zip(&bytes) {
            let view = TensorView::new(Dtype::F32, shape.clone(), data)
                .map_err(|e| Error::Config(format!("tensor {name}: {e}")))?;
            views.push((name.clone(), view));
        }
        let bytes = safetensors::serialize(views, Some(self.metadata()))
            .map_err(|e| Error::Config(format!("cannot serialise the checkpoint: {e}")))?;
        sort_header(&bytes).map_err(|e| Error::Config(format!("cannot serialise the checkpoint: {e}")))
    }

    /// Writes the checkpoint to `path` atomically: the previous file at `path`, if any, stays whole until the new
    /// one is complete on disk.
    pub fn save(&self, path: &Path) -> Result<()> {
        // Refuse what `load` would refuse, so a saved checkpoint always loads back.
        let (lr, eps, fractions) = match self.optimizer {
            Optimizer::Sgd { lr } => (lr, 1.0, vec![]),
            Optimizer::Momentum { lr, momentum } => (lr, 1.0, vec![momentum]),
            Optimizer::Adam { lr, beta1, beta2, eps } => (lr, eps, vec![beta1, beta2]),
        };
        if !RATES.contains(&lr) || !RATES.contains(&eps) || !fractions.iter().all(|f| (0.0..1.0).contains(f)) {
            return Err(Error::Checkpoint {
                path: path.to_owned(),
                msg: format!("cannot save {}: lr and eps must be normal positive numbers", self.optimizer.describe()),
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

    fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| describe_format_error(&e, bytes.len()))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| describe_format_error(&e, bytes.len()))?;
        let meta = header.metadata().as_ref().ok_or(
            "no metadata: not a gpu-mnist checkpoint (a bare safetensors file of weights cannot say which model it is)",
        )?;
        let meta = Meta(meta);
        let format = meta.get("format")?;
        if format != FORMAT {
            return Err(format!("metadata `format` is \"{format}\", expected \"{FORMAT}\""));
        }
        let version: u32 = meta.parse("format_version")?;
        if version != FORMAT_VERSION {
            return Err(format!(
                "format version {version}; this build of gpu-mnist reads version {FORMAT_VERSION} only"
            ));
        }
        let model = meta.model()?;
        let optimizer = meta.optimizer()?;

        let mut expected: Vec<(String, Vec<usize>)> = param_tensors(&model);
        let n_params = expected.len();
        expected.extend(state_tensors(&model, &optimizer));
        let arch = meta.get("architecture")?;
        let mut tensors = Vec::with_capacity(expected.len());
        for (name, shape) in &expected {
            let view = st.tensor(name).map_err(|_| {
                format!("missing tensor `{name}` (architecture {arch}, optimizer {})", optimizer.name())
            })?;
            if view.dtype() != Dtype::F32 {
                return Err(format!("tensor `{name}` has dtype {}; gpu-mnist checkpoints hold F32 only", view.dtype()));
            }
            if view.shape() != shape.as_slice() {
                return Err(format!(
                    "tensor `{name}` has shape {:?}, but architecture {arch} needs {shape:?}",
                    view.shape()
                ));
            }
            let values: Vec<f32> =
                view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(format!("tensor `{name}` holds {v} at index {i} (a diverged run?)"));
            }
            tensors.push(values);
        }
        if let Some(extra) = st.names().into_iter().find(|n| !expected.iter().any(|(e, _)| e == n)) {
            return Err(format!(
                "unexpected tensor `{extra}` for architecture {arch} with optimizer {}",
                optimizer.name()
            ));
        }
        let state = tensors.split_off(n_params);
        let mut it = tensors.into_iter();
        let mut layers = Vec::new();
        for (inputs, outputs) in model.layer_shapes() {
            let (Some(weight), Some(bias)) = (it.next(), it.next()) else {
                return Err("internal: parameter tensors out of step with the architecture".into());
            };
            layers.push(Layer { weight, bias, inputs, outputs });
        }
        let classes: usize = meta.parse("classes")?;
        if classes != model.classes {
            return Err(format!(
                "metadata `classes` = {classes} but architecture {arch} has {} outputs",
                model.classes
            ));
        }
        Ok(Checkpoint {
            model,
            optimizer,
            params: Params { layers },
            state,
            epoch: meta.parse("epoch")?,
            steps_done: meta.parse("steps_done")?,
            seed: meta.parse("seed")?,
            batch_size: meta.parse::<usize>("batch_size").and_then(|b| match b {
                0 => Err("metadata `batch_size` is 0".to_owned()),
                b => Ok(b),
            })?,
            dataset: meta.get("dataset")?.to_owned(),
            train_samples: meta.parse("train_samples")?,
            lr_schedule: match meta.get("lr_schedule")? {
                "linear" => LrSchedule::Linear,
                "constant" => LrSchedule::Constant,
                other => return Err(format!("metadata `lr_schedule` is `{other}`; expected linear or constant")),
            },
        })
    }
}

/// The learning rates and Adam ε a checkpoint holds: normal positive f32s below `f32::MAX` (`--lr`/`--eps` accept
/// the same).
pub const RATES: std::ops::Range<f32> = f32::MIN_POSITIVE..f32::MAX;

/// Typed access to the string metadata, with messages naming the key.
struct Meta<'a>(&'a HashMap<String, String>);

impl Meta<'_> {
    fn get(&self, key: &str) -> std::result::Result<&str, String> {
        self.0.get(key).map(String::as_str).ok_or_else(|| format!("metadata `{key}` is missing"))
    }

    fn parse<T: std::str::FromStr>(&self, key: &str) -> std::result::Result<T, String> {
        let v = self.get(key)?;
        v.trim().parse().map_err(|_| format!("metadata `{key}` = \"{v}\" cannot be parsed"))
    }

    /// A hyper-parameter: finite, within `range`.
    fn hyper(&self, key: &str, range: std::ops::Range<f32>) -> std::result::Result<f32, String> {
        let v: f32 = self.parse(key)?;
        if !v.is_finite() || !range.contains(&v) {
            return Err(format!("metadata `{key}` = {v} is out of range ({range:?})"));
        }
        Ok(v)
    }

    fn model(&self) -> std::result::Result<ModelConfig, String> {
        let arch = self.get("architecture")?;
        let widths = arch
            .split(',')
            .map(|w| w.trim().parse::<usize>().ok().filter(|&w| w > 0))
            .collect::<Option<Vec<usize>>>()
            .filter(|w| w.len() >= 2)
            .ok_or_else(|| {
                format!("metadata `architecture` = \"{arch}\" is not a list of layer widths like 784,512,512,10")
            })?;
        let activation = match self.get("activation")? {
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            other => return Err(format!("metadata `activation` = \"{other}\" is not relu, sigmoid or tanh")),
        };
        let loss = match self.get("loss")? {
            "xent" => Loss::Xent,
            "mse" => Loss::Mse,
            other => return Err(format!("metadata `loss` = \"{other}\" is not xent or mse")),
        };
        let model = ModelConfig {
            inputs: widths[0],
            hidden: widths[1..widths.len() - 1].to_vec(),
            classes: widths[widths.len() - 1],
            activation,
            loss,
        };
        model
            .validate()
            .map_err(|e| format!("metadata `architecture` = \"{arch}\" describes an invalid model: {e}"))?;
        Ok(model)
    }

    fn optimizer(&self) -> std::result::Result<Optimizer, String> {
        let lr = self.hyper("lr", RATES)?;
        Ok(match self.get("optimizer")? {
            "sgd" => Optimizer::Sgd { lr },
            "momentum" => Optimizer::Momentum { lr, momentum: self.hyper("momentum", 0.0..1.0)? },
            "adam" => Optimizer::Adam {
                lr,
                beta1: self.hyper("beta1", 0.0..1.0)?,
                beta2: self.hyper("beta2", 0.0..1.0)?,
                eps: self.hyper("eps", RATES)?,
            },
            other => return Err(format!("metadata `optimizer` = \"{other}\" is not sgd, momentum or adam")),
        })
    }
}

/// One entry of a safetensors header: the `__metadata__` string map, or a tensor's dtype, shape and offsets.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum HeaderEntry {
    Metadata(BTreeMap<String, String>),
    Tensor(serde_json::Value),
}

/// The safetensors crate writes the metadata map in hash order, which changes from run to run; this rewrites the
/// header with every key sorted (the data and its offsets are unchanged), so that a checkpoint's bytes depend only
/// on its contents: a resumed run's file is byte-identical to the uninterrupted run's.
fn sort_header(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let len = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes);
    let end = len.and_then(|n| usize::try_from(n).ok()).and_then(|n| n.checked_add(8));
    let Some(end) = end.filter(|&e| e <= bytes.len()) else {
        return Err("malformed header length".into());
    };
    let header: BTreeMap<String, HeaderEntry> = serde_json::from_slice(&bytes[8..end]).map_err(|e| e.to_string())?;
    let mut json = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - end);
    out.extend((json.len() as u64).to_le_bytes());
    out.extend(json);
    out.extend(&bytes[end..]);
    Ok(out)
}

/// What a safetensors parse error means for a user: a truncated file, or not a safetensors file at all.
fn describe_format_error(e: &SafeTensorError, len: usize) -> String {
    match e {
        SafeTensorError::HeaderTooSmall
        | SafeTensorError::InvalidHeaderLength
        | SafeTensorError::MetadataIncompleteBuffer => {
            format!("truncated or incomplete file ({len} bytes): {e}")
        }
        _ => format!("not a safetensors file ({e})"),
    }
}

/// Checks, before a long run, that `path` can be written later: it is not a directory and its directory accepts
/// a new file (one is created and removed).
pub fn ensure_writable(path: &Path) -> Result<()> {
    let path = &output_target(path)?;
    let tmp = temp_path(path)?;
    File::create_new(&tmp).map_err(|e| Error::io(path, e))?;
    std::fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))
}

/// The largest checkpoint read: 16 GiB (a model of 4 billion parameters with Adam's two states).
pub const MAX_CHECKPOINT_BYTES: u64 = 16 << 30;

/// Reads the input file `path` whole, if it is a regular file (through links) of at most `max` bytes. A device
/// (`/dev/zero` never ends), a FIFO (waits for a writer forever), a directory or a file over the cap is an error
/// naming it, before anything is read.
pub fn read_input(path: &Path, max: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a directory" } else { "not a regular file (a device, a FIFO or a socket)" };
        return Err(Error::io(path, std::io::Error::other(format!("is {what}; give the path of a file"))));
    }
    if meta.len() > max {
        return Err(Error::io(
            path,
            std::io::Error::other(format!("is {} bytes, over the {max} bytes this input may have", meta.len())),
        ));
    }
    let mut bytes = Vec::new();
    // Read at most one byte past the cap: a file that grew since its size was read is still caught.
    std::io::Read::read_to_end(
        &mut std::io::Read::take(File::open(path).map_err(|e| Error::io(path, e))?, max + 1),
        &mut bytes,
    )
    .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::io(path, std::io::Error::other(format!("grew past the {max} bytes this input may have"))));
    }
    Ok(bytes)
}

/// Where writing the output `path` goes, or why it cannot: a symlink is followed to its target (written through, so
/// `latest.safetensors → run-7.safetensors` updates run 7's file and keeps the link); anything else that exists must
/// be a regular file — a directory, a device (`/dev/null`, `/dev/full`), a FIFO or a socket is refused, since the
/// write (a new file renamed over the path) would replace it.
pub fn output_target(path: &Path) -> Result<PathBuf> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let link = std::fs::read_link(path).map_err(|e| Error::io(path, e))?;
            parent_dir(path).join(link)
        }
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => {
            let what = if meta.is_dir() { "a directory" } else { "not a regular file (a device, a FIFO or a socket)" };
            Err(Error::io(
                path,
                std::io::Error::other(format!(
                    "is {what}; give the path of a file to write, like out/model.safetensors"
                )),
            ))
        }
        _ => Ok(target),
    }
}

/// A fresh temporary name next to `path`: `.NAME.tmp.PID.N`.
fn temp_path(path: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name =
        path.file_name().ok_or_else(|| Error::io(path, std::io::Error::other("not a file name")))?.to_string_lossy();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(path.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id())))
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes a file atomically: `write` fills a new temporary file in `path`'s directory, which is flushed to disk
/// and renamed over `path`; the directory is then synced so the rename itself is durable. If anything fails, the
/// temporary file is removed and whatever was at `path` before is untouched. A symlinked `path` is written through
/// to its target; any other path that exists must be a regular file ([`output_target`]).
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut File) -> std::io::Result<()>) -> Result<()> {
    let path = &output_target(path)?;
    let tmp = temp_path(path)?;
    let mut file = File::create_new(&tmp).map_err(|e| Error::io(path, e))?;
    let written = write(&mut file).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    sync_dir(parent_dir(path))
}

/// Flushes a directory's entries (the rename) to disk. Only Unix can open a directory for this.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
