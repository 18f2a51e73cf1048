//! The checkpoint's string metadata: what is written (every hyper-parameter as the shortest text that parses back
//! to the same value) and typed access to what is read, with messages naming the key.

use std::collections::HashMap;

use super::{Checkpoint, FORMAT, FORMAT_VERSION};
use crate::backend::Stats;
use crate::data::csv::Table;
use crate::data::{identity, Normalize};
use crate::model::{ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE, LEAKY_SLOPES};
use crate::optim::{Hyper, Optimizer, Rule};
use crate::train::EpochSoFar;

impl Checkpoint {
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
        put("leaky_slope", self.model.leaky_slope.to_string());
        put("loss", self.model.loss.name().into());
        put("output_units", self.model.output_units.name().into());
        put("optimizer", self.optimizer.name().into());
        // Every hyper-parameter the rule reads; `{}` of an f32 is the shortest text that parses back to the same value.
        for (h, v) in self.optimizer.hypers() {
            put(&h.key(), v.to_string());
        }
        put("epoch", self.epoch.to_string());
        put("steps_done", self.steps_done.to_string());
        put("seed", self.seed.to_string());
        put("batch_size", crate::train::batch_size_name(self.batch_size));
        put("dataset", self.dataset.clone());
        if let Some(digest) = &self.data_digest {
            put("data_digest", digest.clone());
        }
        put("classes", self.model.classes.to_string());
        put("train_samples", self.train_samples.to_string());
        put("lr_schedule", self.lr_schedule.name().to_owned());
        put("dropout", self.dropout.to_string());
        if self.input_dropout > 0.0 {
            put("input_dropout", self.input_dropout.to_string());
        }
        put("shuffle", self.shuffle.name().to_owned());
        if let Some(table) = &self.table {
            // Strings and finite f32s: serialising cannot fail.
            put("table", serde_json::to_string(table).unwrap_or_default());
        }
        if let Some(n) = self.normalize {
            put("input_mean", n.mean.to_string());
            put("input_std", n.std.to_string());
        }
        if let Some(so_far) = &self.epoch_so_far {
            put("epoch_loss_sum", so_far.stats.loss_sum.to_string());
            put("epoch_correct", so_far.stats.correct.to_string());
            put("epoch_samples", so_far.stats.samples.to_string());
            put("epoch_seconds", so_far.seconds.to_string());
        }
        m
    }
}

/// Typed access to the string metadata, with messages naming the key.
pub(super) struct Meta<'a>(pub(super) &'a HashMap<String, String>);

impl Meta<'_> {
    pub(super) fn get(&self, key: &str) -> std::result::Result<&str, String> {
        self.0.get(key).map(String::as_str).ok_or_else(|| format!("metadata `{key}` is missing"))
    }

    pub(super) fn parse<T: std::str::FromStr>(&self, key: &str) -> std::result::Result<T, String> {
        let v = self.get(key)?;
        v.trim().parse().map_err(|_| format!("metadata `{key}` = \"{v}\" cannot be parsed"))
    }

    /// The optional `epoch_*` keys of a checkpoint saved mid-epoch: all four or none; counts that agree (no more
    /// correct than samples), a finite loss sum and seconds that are not negative.
    pub(super) fn epoch_so_far(&self) -> std::result::Result<Option<EpochSoFar>, String> {
        const KEYS: [&str; 4] = ["epoch_loss_sum", "epoch_correct", "epoch_samples", "epoch_seconds"];
        match KEYS.iter().filter(|k| self.0.contains_key(**k)).count() {
            0 => return Ok(None),
            4 => {}
            _ => return Err(format!("metadata {} must be given together or not at all", KEYS.join(", "))),
        }
        let stats = Stats {
            loss_sum: self.parse("epoch_loss_sum")?,
            correct: self.parse("epoch_correct")?,
            samples: self.parse("epoch_samples")?,
        };
        let seconds: f64 = self.parse("epoch_seconds")?;
        if !stats.loss_sum.is_finite() || stats.loss_sum < 0.0 || stats.correct > stats.samples {
            return Err(format!(
                "metadata epoch_loss_sum = {}, epoch_correct = {} of epoch_samples = {} do not describe a part of an                  epoch",
                stats.loss_sum, stats.correct, stats.samples
            ));
        }
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(format!("metadata `epoch_seconds` = {seconds} is not a duration"));
        }
        Ok(Some(EpochSoFar { stats, seconds }))
    }

    /// The optional `dropout` or `input_dropout` (`key`): absent in checkpoints written before it existed or
    /// without it (no dropout), a probability in [0, 1) otherwise.
    pub(super) fn dropout(&self, key: &str) -> std::result::Result<f32, String> {
        if !self.0.contains_key(key) {
            return Ok(0.0);
        }
        let p: f32 = self.parse(key)?;
        if !(0.0..1.0).contains(&p) {
            return Err(format!("metadata `{key}` = {p} is not a probability in [0, 1)"));
        }
        Ok(p)
    }

    /// The optional `input_mean` and `input_std` of a model trained with `--normalize`: both or neither, finite,
    /// the deviation above 0.
    pub(super) fn normalize(&self) -> std::result::Result<Option<Normalize>, String> {
        match (self.0.contains_key("input_mean"), self.0.contains_key("input_std")) {
            (false, false) => return Ok(None),
            (true, true) => {}
            _ => return Err("metadata `input_mean` and `input_std` must be given together or not at all".into()),
        }
        let (mean, std): (f32, f32) = (self.parse("input_mean")?, self.parse("input_std")?);
        if !mean.is_finite() || !std.is_finite() || std <= 0.0 {
            return Err(format!(
                "metadata `input_mean` = {mean}, `input_std` = {std}: both finite, the deviation above 0"
            ));
        }
        Ok(Some(Normalize { mean, std }))
    }

    /// The optional `table` of a model trained on a table, checked against the model.
    pub(super) fn table(&self, model: &ModelConfig) -> std::result::Result<Option<Table>, String> {
        let Some(json) = self.0.get("table") else { return Ok(None) };
        let table: Table = serde_json::from_str(json).map_err(|e| format!("metadata `table` is not a table: {e}"))?;
        table.check(model.inputs, model.classes).map_err(|e| format!("metadata `table`: {e}"))?;
        Ok(Some(table))
    }

    /// The optional `data_digest`: absent in checkpoints written before it existed, a SHA-256 in hex otherwise.
    pub(super) fn digest(&self) -> std::result::Result<Option<String>, String> {
        match self.0.get("data_digest") {
            None => Ok(None),
            Some(d) if identity::is_digest(d) => Ok(Some(d.clone())),
            Some(d) => {
                Err(format!("metadata `data_digest` = \"{d}\" is not a SHA-256 digest (64 lowercase hex digits)"))
            }
        }
    }

    /// A choice stored by its name (`activation`, `loss`, `lr_schedule`), parsed as the command line parses it.
    pub(super) fn named<T: crate::names::Named>(&self, key: &str) -> std::result::Result<T, String> {
        crate::names::parse(self.get(key)?).map_err(|e| format!("metadata `{key}`: {e}"))
    }

    pub(super) fn model(&self) -> std::result::Result<ModelConfig, String> {
        let arch = self.get("architecture")?;
        let widths = arch
            .split(',')
            .map(|w| w.trim().parse::<usize>().ok().filter(|&w| w > 0))
            .collect::<Option<Vec<usize>>>()
            .filter(|w| w.len() >= 2)
            .ok_or_else(|| {
                format!("metadata `architecture` = \"{arch}\" is not a list of layer widths like 784,512,512,10")
            })?;
        let (activation, loss) = (self.named("activation")?, self.named("loss")?);
        // Written since one output unit could stand for two classes; a file without it has one unit per class.
        let output_units = match self.0.contains_key("output_units") {
            true => self.named("output_units")?,
            false => OutputUnits::Classes,
        };
        let last = widths[widths.len() - 1];
        let model = ModelConfig {
            inputs: widths[0],
            hidden: widths[1..widths.len() - 1].to_vec(),
            // One unit stands for the two classes the `classes` key names; otherwise the last width is the classes.
            classes: match output_units {
                OutputUnits::Classes => last,
                OutputUnits::One => self.parse("classes")?,
            },
            activation,
            leaky_slope: self.leaky_slope()?,
            loss,
            output_units,
        };
        model
            .validate()
            .map_err(|e| format!("metadata `architecture` = \"{arch}\" describes an invalid model: {e}"))?;
        if model.output_width() != last {
            return Err(format!(
                "metadata `architecture` = \"{arch}\" ends in {last} outputs, but `output_units` = {} needs {}",
                output_units.name(),
                model.output_width()
            ));
        }
        Ok(model)
    }

    /// The optional `leaky_slope`: absent in checkpoints written before it was a setting (then PyTorch's default,
    /// [`DEFAULT_LEAKY_SLOPE`], the slope they were trained with), within [`LEAKY_SLOPES`] otherwise.
    fn leaky_slope(&self) -> std::result::Result<f32, String> {
        if !self.0.contains_key("leaky_slope") {
            return Ok(DEFAULT_LEAKY_SLOPE);
        }
        let v: f32 = self.parse("leaky_slope")?;
        if !LEAKY_SLOPES.contains(&v) {
            return Err(format!("metadata `leaky_slope` = {v} is out of range ({LEAKY_SLOPES:?})"));
        }
        Ok(v)
    }

    pub(super) fn optimizer(&self) -> std::result::Result<Optimizer, String> {
        let rule: Rule = self.named("optimizer")?;
        let mut optimizer = Optimizer::new(rule);
        for &(h, _) in rule.row().hypers {
            let key = h.key();
            // Weight decay and RMSprop's ε placement came after the first checkpoints: without the key, a file means
            // none and PyTorch's (as then).
            if matches!(h, Hyper::WeightDecay | Hyper::EpsInSqrt) && !self.0.contains_key(&key) {
                optimizer = optimizer.with(h, 0.0).map_err(|e| e.to_string())?;
                continue;
            }
            let v: f32 = self.parse(&key)?;
            optimizer = optimizer
                .with(h, v)
                .map_err(|_| format!("metadata `{key}` = {v} is out of range: it must be {}", h.range().describe()))?;
        }
        Ok(optimizer)
    }
}
