//! The model's flags ([`ModelArgs`]): its hidden layers, activation, loss, output units and initial weights, and
//! the model they describe for a data set.

use clap::Args;

use gpu_mnist::data::Dataset;
use gpu_mnist::model::{Activation, Init, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE, LEAKY_SLOPES};

#[derive(Args)]
pub struct ModelArgs {
    /// Hidden layer widths, comma-separated; "" for none (softmax regression).
    #[arg(long, default_value = "512,512", value_parser = parse_hidden, value_name = "W,W,…")]
    pub hidden: Hidden,
    /// Activation of the hidden layers.
    #[arg(long, value_enum, default_value_t = Activation::Relu)]
    pub activation: Activation,
    /// Leaky ReLU's slope below 0, from 0 to 1 (PyTorch's negative_slope; --activation leaky-relu only).
    #[arg(
        long,
        default_value_t = DEFAULT_LEAKY_SLOPE,
        value_parser = parse_leaky_slope,
        value_name = "F",
        allow_negative_numbers = true
    )]
    pub leaky_slope: f32,
    /// Cost: softmax cross-entropy, the quadratic cost on a sigmoid output layer, binary cross-entropy of one
    /// output logit (two classes; PyTorch's BCEWithLogitsLoss), or the perceptron criterion max(0, −y·z) of scores
    /// (scikit-learn's Perceptron; one unit, or one per class one-vs-rest).
    #[arg(long, value_enum, default_value_t = Loss::Xent)]
    pub loss: Loss,
    /// Output units: one per class, or 1 for a two-class problem (the unit's σ is P(class 1); the perceptron's
    /// score) [default: 1 for --loss bce, and for --loss perceptron on two classes; classes otherwise; --loss mse and
    /// perceptron take either].
    #[arg(long, value_enum, value_name = "classes|1")]
    pub output_units: Option<OutputUnits>,
    /// Initial weights of every layer: he (normal, std √(2/in)), glorot-uniform (Keras's default), glorot-normal or
    /// zeros (the perceptron's) [default: he before a ReLU, glorot-uniform before anything else].
    #[arg(long, value_enum)]
    pub init: Option<Init>,
}

/// Hidden widths (a newtype so clap takes the whole comma list as one value).
#[derive(Clone, Debug)]
pub struct Hidden(pub Vec<usize>);

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

fn parse_leaky_slope(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if LEAKY_SLOPES.contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a slope from {} to {}; give leaky ReLU's slope below 0, e.g. --leaky-slope 0.01 (PyTorch's \
             default) or 0.3 (Keras's)",
            LEAKY_SLOPES.start(),
            LEAKY_SLOPES.end()
        )),
    }
}

impl ModelArgs {
    /// The model the flags describe, sized to the data (inputs = pixels per image, outputs = classes).
    pub fn model(&self, data: &Dataset) -> ModelConfig {
        ModelConfig {
            inputs: data.train.pixels(),
            hidden: self.hidden.0.clone(),
            classes: data.classes,
            activation: self.activation,
            leaky_slope: self.leaky_slope,
            loss: self.loss,
            output_units: self.output_units(data.classes),
        }
    }

    /// The output units asked for, or the loss's own for `classes` classes ([`Loss::default_output_units`]).
    pub fn output_units(&self, classes: usize) -> OutputUnits {
        self.output_units.unwrap_or(self.loss.default_output_units(classes))
    }
}
