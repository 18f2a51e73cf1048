//! What a page's run is made of: the form's [`Settings`] (names as on the command line, parsed by the library's
//! one parser), and the [`RunParts`] — model, optimizer, settings, data — they or a checkpoint give.

use std::collections::BTreeMap;
use std::sync::Arc;

use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::data::Dataset;
use gpu_mnist::model::{ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::names;
use gpu_mnist::optim::{Hyper, Optimizer, Rule};
use gpu_mnist::plan::Layout;
use gpu_mnist::train::TrainConfig;

use crate::session::text;

/// What the page's form sends: a preset (Keras's MLP, a small Adam network, Nielsen's network), possibly edited.
/// Names are the command line's (`relu`, `xent`, `rmsprop`, `glorot-uniform`…), parsed by the same parser.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct Settings {
    pub hidden: Vec<usize>,
    pub activation: String,
    pub loss: String,
    pub optimizer: String,
    /// Optimizer hyper-parameters by their command-line names (`lr`, `momentum`, `alpha`, `eps`…); the rest default.
    pub hypers: BTreeMap<String, f32>,
    pub init: Option<String>,
    pub lr_schedule: String,
    pub batch_size: usize,
    pub epochs: usize,
    pub seed: u64,
    pub dropout: f32,
    /// Dropout of the input pixels (`--input-dropout`; 0 when the form leaves it out).
    #[serde(default)]
    pub input_dropout: f32,
    /// Train on the first this many training digits (0: all 60000); the test set is always all of it.
    pub train_samples: usize,
}

impl Settings {
    /// The model, optimizer and run these settings describe, checked as the command line checks them.
    pub fn parse(&self) -> Result<(ModelConfig, Optimizer, TrainConfig), String> {
        let model = ModelConfig {
            inputs: 784,
            hidden: self.hidden.clone(),
            classes: 10,
            activation: names::parse(&self.activation)?,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
            loss: names::parse(&self.loss)?,
            output_units: OutputUnits::Classes,
        };
        model.validate().map_err(|e| e.to_string())?;
        let rule: Rule = names::parse(&self.optimizer)?;
        let mut values = Vec::new();
        for (name, &value) in &self.hypers {
            let hyper = Hyper::ALL.iter().copied().find(|h| h.name() == name).ok_or_else(|| {
                let known: Vec<&str> = Hyper::ALL.iter().map(|h| h.name()).collect();
                format!("no optimizer setting \"{name}\" (known: {})", known.join(", "))
            })?;
            values.push((hyper, value));
        }
        let optimizer = Optimizer::of(rule, &values).map_err(|e| e.to_string())?;
        let init = self.init.as_deref().map(names::parse).transpose()?;
        if self.batch_size == 0 || self.epochs == 0 {
            return Err(format!("batch size {} and epochs {} must be at least 1", self.batch_size, self.epochs));
        }
        let config = TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            eval_batch: 1000,
            lr_schedule: names::parse(&self.lr_schedule)?,
            init,
            dropout: self.dropout,
            input_dropout: self.input_dropout,
            chunk_rows: None,
            shuffle: Default::default(),
        };
        Ok((model, optimizer, config))
    }
}

/// What a run is made of: its model, optimizer, settings and data, from the page's settings or a checkpoint.
pub struct RunParts {
    pub model: ModelConfig,
    pub optimizer: Optimizer,
    pub config: TrainConfig,
    pub data: Arc<Dataset>,
}

impl RunParts {
    /// The run `settings` describe on `data` (its training split cut to `settings.train_samples`).
    pub fn from_settings(settings: &Settings, data: &Dataset) -> Result<Self, String> {
        let (model, optimizer, config) = settings.parse()?;
        let mut data = data.clone();
        if settings.train_samples > 0 {
            data.train.truncate(settings.train_samples);
        }
        Ok(RunParts { model, optimizer, config, data: Arc::new(data) })
    }

    /// The run `ck` was saved from, on `data` cut as it was, continued to `epochs` epochs in all.
    pub fn from_checkpoint(ck: &Checkpoint, epochs: usize, data: &Dataset) -> Result<Self, String> {
        if ck.model.inputs != 784 || ck.table.is_some() {
            return Err(format!("the checkpoint's model takes {} inputs, not 28×28 digits", ck.model.inputs));
        }
        let mut data = data.clone();
        data.train.truncate(ck.train_samples);
        let config = ck.train_config(epochs.max(ck.epoch), 1000);
        Ok(RunParts { model: ck.model.clone(), optimizer: ck.optimizer, config, data: Arc::new(data) })
    }

    /// The buffers of the run (what a GPU device is opened for).
    pub fn layout(&self) -> Result<Layout, String> {
        self.config.layout_for(&self.model, self.optimizer, &self.data).map_err(text)
    }
}
