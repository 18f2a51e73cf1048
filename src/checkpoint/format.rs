//! The checkpoint's file format: which tensors a model and optimizer have, and the safetensors bytes of a
//! [`Checkpoint`] — written with sorted metadata (so the bytes depend only on the contents) and read back with every
//! tensor's presence, dtype, shape and values checked.

use std::collections::BTreeMap;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use super::metadata::Meta;
use super::{Checkpoint, FORMAT, FORMAT_VERSION};
use crate::error::{Error, Result};
use crate::model::{Layer, ModelConfig, Params};
use crate::optim::Optimizer;

/// The names PyTorch gives the optimizer's per-parameter state (the optimizer table's): `momentum_buffer` for SGD
/// with momentum, `exp_avg` and `exp_avg_sq` for Adam, none for plain SGD…
pub fn state_suffixes(optimizer: &Optimizer) -> &'static [&'static str] {
    optimizer.rule().row().states
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

/// Name and shape of every optimizer state tensor, in the order of [`crate::plan::Layout::state_buffers`] with each
/// packed buffer's tensors in the table's order (per layer: the weight's states, then the bias's).
pub fn state_tensors(model: &ModelConfig, optimizer: &Optimizer) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for (l, (inputs, outputs)) in model.layer_shapes().into_iter().enumerate() {
        for suffix in state_suffixes(optimizer) {
            out.push((format!("optimizer.layers.{l}.weight.{suffix}"), vec![outputs, inputs]));
        }
        for suffix in state_suffixes(optimizer) {
            out.push((format!("optimizer.layers.{l}.bias.{suffix}"), vec![outputs]));
        }
    }
    out
}

impl Checkpoint {
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

    pub(super) fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
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
        let table = meta.table(&model)?;
        Ok(Checkpoint {
            model,
            optimizer,
            params: Params { layers },
            state,
            epoch: meta.parse("epoch")?,
            steps_done: meta.parse("steps_done")?,
            seed: meta.parse("seed")?,
            batch_size: crate::train::parse_batch_size(meta.get("batch_size")?)
                .map_err(|e| format!("metadata `batch_size`: {e}"))?,
            dataset: meta.get("dataset")?.to_owned(),
            data_digest: meta.digest()?,
            train_samples: meta.parse("train_samples")?,
            lr_schedule: meta.named("lr_schedule")?,
            dropout: meta.dropout("dropout")?,
            input_dropout: meta.dropout("input_dropout")?,
            shuffle: if meta.0.contains_key("shuffle") {
                meta.named("shuffle")?
            } else {
                crate::train::Shuffle::Chacha8
            },
            epoch_so_far: meta.epoch_so_far()?,
            table,
            normalize: meta.normalize()?,
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
