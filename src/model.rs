//! The model: an MLP's sizes, activation and loss, its parameters, and their seeded initialisation.

use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};

pub use crate::activation::{Act, Activation, DEFAULT_LEAKY_SLOPE, LEAKY_SLOPES};
use crate::error::{Error, Result};
pub use crate::loss::{heads, Loss, OutputUnits};

/// The one portable, seeded random generator used for everything random (init, shuffling):
/// ChaCha8 gives the same stream on every platform, so a seed means the same run everywhere.
pub type Rng = rand::rngs::ChaCha8Rng;

/// A generator for `seed`.
pub fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// The shape of an MLP: `inputs → hidden[0] → … → outputs`, where the outputs are one unit per class or one unit for
/// two classes ([`ModelConfig::output_width`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Input features (784 for 28×28 images).
    pub inputs: usize,
    /// Hidden layer widths; empty means softmax regression.
    pub hidden: Vec<usize>,
    /// Output classes.
    pub classes: usize,
    /// Hidden-layer activation.
    pub activation: Activation,
    /// The slope of [`Activation::LeakyRelu`] below 0 (`--leaky-slope`, PyTorch's `negative_slope`; default
    /// [`DEFAULT_LEAKY_SLOPE`]), within [`LEAKY_SLOPES`]; unused by the other activations.
    pub leaky_slope: f32,
    /// Cost function.
    pub loss: Loss,
    /// One output unit per class, or one for two classes (binary cross-entropy always; the quadratic cost with
    /// `--output-units 1`); [`Loss::takes`] says which a loss allows.
    pub output_units: OutputUnits,
}

/// The widest layer a model may have (inputs and classes included): 2²⁴, far above any MNIST model, low enough that no
/// buffer size computed from widths and batch sizes overflows.
pub const MAX_WIDTH: usize = 1 << 24;

impl ModelConfig {
    /// Checks the sizes, the hidden activation and leaky ReLU's slope.
    pub fn validate(&self) -> Result<()> {
        if self.inputs == 0 || self.classes < 2 {
            return Err(Error::Config(format!(
                "a model needs at least 1 input and 2 classes, got {} inputs and {} classes",
                self.inputs, self.classes
            )));
        }
        if let Some(i) = self.hidden.iter().position(|&h| h == 0) {
            return Err(Error::Config(format!("hidden layer {i} has width 0; give widths ≥ 1, e.g. --hidden 512,512")));
        }
        if let Some(&w) = self.widths().iter().find(|&&w| w > MAX_WIDTH) {
            return Err(Error::Config(format!(
                "a layer of width {w} is over the limit of {MAX_WIDTH}; give narrower layers, e.g. --hidden 512,512"
            )));
        }
        if self.activation == Activation::Identity {
            let names: Vec<&str> = <Activation as clap::ValueEnum>::value_variants().iter().map(|a| a.name()).collect();
            return Err(Error::Config(format!("the hidden activation must be one of {}", names.join(", "))));
        }
        if !self.loss.takes(self.output_units) {
            let fix = match self.loss {
                Loss::Bce => "binary cross-entropy has one output unit: drop --output-units classes",
                _ => "one output unit takes --loss bce or --loss mse; drop --output-units 1 for softmax cross-entropy",
            };
            return Err(Error::Config(format!(
                "--loss {} does not take --output-units {}: {fix}",
                self.loss.name(),
                self.output_units.name()
            )));
        }
        if self.output_units == OutputUnits::One && self.classes != 2 {
            return Err(Error::Config(format!(
                "one output unit (--loss bce, or --output-units 1) separates 2 classes, but the data has {}; use \
                 --loss xent or mse with one unit per class",
                self.classes
            )));
        }
        if !LEAKY_SLOPES.contains(&self.leaky_slope) {
            return Err(Error::Config(format!(
                "--leaky-slope must be a number from {} to {} (leaky ReLU's slope below 0), got {}",
                LEAKY_SLOPES.start(),
                LEAKY_SLOPES.end(),
                self.leaky_slope
            )));
        }
        Ok(())
    }

    /// The width of the output layer: `classes`, or 1 with [`OutputUnits::One`]. Every size derived from the output
    /// layer (layout buffers, parameters, checkpoints, predictions) comes from here.
    pub fn output_width(&self) -> usize {
        self.output_units.width(self.classes)
    }

    /// Layer widths including input and output: `[inputs, hidden…, outputs]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.inputs];
        w.extend(&self.hidden);
        w.push(self.output_width());
        w
    }

    /// `(inputs, outputs)` of each linear layer.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        self.widths().windows(2).map(|p| (p[0], p[1])).collect()
    }

    /// The activation applied after layer `l`.
    pub fn layer_activation(&self, l: usize) -> Activation {
        if l == self.hidden.len() {
            self.loss.output_activation()
        } else {
            self.activation
        }
    }

    /// The activation applied after layer `l`, with its parameter (the model's leaky slope).
    pub fn layer_act(&self, l: usize) -> Act {
        Act::new(self.layer_activation(l), self.leaky_slope)
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.layer_shapes().iter().map(|(i, o)| i * o + o).sum()
    }

    /// Multiply-adds of one sample's forward pass (backward is about twice this).
    pub fn forward_macs(&self) -> usize {
        self.layer_shapes().iter().map(|(i, o)| i * o).sum()
    }

    /// `784-512-512-10 relu xent` style summary (`leaky-relu (slope 0.01)` with its slope).
    pub fn describe(&self) -> String {
        let w: Vec<String> = self.widths().iter().map(|w| w.to_string()).collect();
        // The hidden activation only where there are hidden layers: "784-10 relu" would name one nothing uses.
        let act = match self.activation {
            _ if self.hidden.is_empty() => "no hidden layer".to_string(),
            Activation::LeakyRelu => format!("leaky-relu (slope {})", self.leaky_slope),
            other => other.name().to_string(),
        };
        format!("{} {act} {} ({} parameters)", w.join("-"), self.loss.name(), self.parameter_count())
    }
}

/// One linear layer's parameters, PyTorch's layout: `weight: [out, in]`, `bias: [out]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// weight: [out, in], row-major.
    pub weight: Vec<f32>,
    /// bias: \[out\]
    pub bias: Vec<f32>,
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
}

/// How the weights start (biases start at 0): the scheme of every layer, or by default the one suited to the
/// activation after each layer — He before a ReLU, Glorot uniform otherwise. Keras's `Dense` uses Glorot uniform
/// everywhere; PyTorch's `nn.Linear` draws from U(±1/√in), which is none of these (He uniform with gain 1/√3).
/// Zeros is the perceptron's start (scikit-learn's `coef_` and `intercept_` begin at 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Init {
    /// He (Kaiming) normal: N(0, 2/in), PyTorch's `kaiming_normal_(nonlinearity="relu")`.
    He,
    /// Glorot (Xavier) uniform: U(±√(6/(in+out))), Keras's default.
    GlorotUniform,
    /// Glorot (Xavier) normal: N(0, 2/(in+out)).
    GlorotNormal,
    /// Every weight 0, PyTorch's `nn.init.zeros_` (scikit-learn's perceptron starts there). A hidden layer started at
    /// zero never breaks its symmetry: every unit of it stays the same.
    Zeros,
}

impl Init {
    /// The scheme suited to a layer followed by `activation`: He before a ReLU or one of its smooth kin (leaky ReLU,
    /// GELU, SiLU), Glorot uniform otherwise.
    pub fn suited_to(activation: Activation) -> Init {
        match activation {
            Activation::Relu | Activation::LeakyRelu | Activation::Gelu | Activation::GeluTanh | Activation::Silu => {
                Init::He
            }
            Activation::Identity | Activation::Sigmoid | Activation::Tanh => Init::GlorotUniform,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Init::He => "he",
            Init::GlorotUniform => "glorot-uniform",
            Init::GlorotNormal => "glorot-normal",
            Init::Zeros => "zeros",
        }
    }

    /// `inputs × outputs` weights drawn from this scheme (none drawn for [`Init::Zeros`]: the generator is left as
    /// it was).
    fn sample(self, inputs: usize, outputs: usize, rng: &mut Rng) -> Result<Vec<f32>> {
        let n = inputs * outputs;
        let mut normal = |std: f64| {
            let normal =
                Normal::new(0.0f32, std as f32).map_err(|e| Error::Config(format!("{} init: {e}", self.name())))?;
            Ok((0..n).map(|_| normal.sample(&mut *rng)).collect())
        };
        match self {
            Init::He => normal((2.0 / inputs as f64).sqrt()),
            Init::GlorotNormal => normal((2.0 / (inputs + outputs) as f64).sqrt()),
            Init::GlorotUniform => {
                let bound = (6.0 / (inputs + outputs) as f64).sqrt() as f32;
                let uniform = Uniform::new_inclusive(-bound, bound)
                    .map_err(|e| Error::Config(format!("{} init: {e}", self.name())))?;
                Ok((0..n).map(|_| uniform.sample(&mut *rng)).collect())
            }
            Init::Zeros => Ok(vec![0.0; n]),
        }
    }
}

impl crate::names::Named for Init {
    const WHAT: &'static str = "init";

    fn name(self) -> &'static str {
        Init::name(self)
    }
}

/// All trainable parameters of an MLP, first layer first.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The linear layers.
    pub layers: Vec<Layer>,
}

impl Params {
    /// Seeded initialisation suited to the activation that follows each layer ([`Init::suited_to`]): He normal
    /// (std √(2/in)) before a ReLU, Glorot/Xavier uniform (±√(6/(in+out))) otherwise; biases 0.
    pub fn init(model: &ModelConfig, rng: &mut Rng) -> Result<Self> {
        Params::init_with(model, None, rng)
    }

    /// Seeded initialisation with `init` for every layer, or the scheme suited to each layer's activation (`None`).
    pub fn init_with(model: &ModelConfig, init: Option<Init>, rng: &mut Rng) -> Result<Self> {
        model.validate()?;
        let shapes = model.layer_shapes();
        let mut layers = Vec::with_capacity(shapes.len());
        for (l, &(inputs, outputs)) in shapes.iter().enumerate() {
            let scheme = init.unwrap_or_else(|| Init::suited_to(model.layer_activation(l)));
            let weight = scheme.sample(inputs, outputs, rng)?;
            layers.push(Layer { weight, bias: vec![0.0; outputs], inputs, outputs });
        }
        Ok(Params { layers })
    }

    /// Every parameter tensor in order (w0, b0, w1, b1, …), the order used by plans and checkpoints.
    pub fn tensors(&self) -> Vec<&[f32]> {
        self.layers.iter().flat_map(|l| [l.weight.as_slice(), l.bias.as_slice()]).collect()
    }

    /// Mutable twin of [`Params::tensors`].
    pub fn tensors_mut(&mut self) -> Vec<&mut Vec<f32>> {
        self.layers.iter_mut().flat_map(|l| [&mut l.weight, &mut l.bias]).collect()
    }
}

#[cfg(test)]
mod tests {
    /// Each scheme draws with its spread (He: std √(2/in); Glorot normal: std √(2/(in+out)); Glorot uniform: within
    /// ±√(6/(in+out)) with std bound/√3), and the default is He before a ReLU and Glorot uniform otherwise.
    #[test]
    fn init_schemes_should_draw_with_their_spread() {
        let model = ModelConfig {
            output_units: OutputUnits::Classes,
            inputs: 400,
            hidden: vec![200],
            classes: 10,
            activation: Activation::Relu,
            loss: Loss::Xent,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
        };
        let std = |w: &[f32]| (w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
        let layer0 = |init| Params::init_with(&model, init, &mut rng(1)).unwrap().layers.remove(0).weight;
        let close = |got: f64, want: f64| assert!((got / want - 1.0).abs() < 0.02, "std {got} vs {want}");
        close(std(&layer0(Some(Init::He))), (2.0f64 / 400.0).sqrt());
        close(std(&layer0(Some(Init::GlorotNormal))), (2.0f64 / 600.0).sqrt());
        let bound = (6.0f64 / 600.0).sqrt();
        let uniform = layer0(Some(Init::GlorotUniform));
        close(std(&uniform), bound / 3f64.sqrt());
        assert!(uniform.iter().all(|&x| f64::from(x).abs() <= bound * 1.000001));
        // The default: He before the ReLU, Glorot uniform before the output logits (the same draws as asked for).
        let default = Params::init(&model, &mut rng(1)).unwrap();
        assert_eq!(default.layers[0].weight, layer0(Some(Init::He)));
        let mut r = rng(1);
        let _ = Init::He.sample(400, 200, &mut r).unwrap();
        assert_eq!(default.layers[1].weight, Init::GlorotUniform.sample(200, 10, &mut r).unwrap());
        // Zeros: every weight and bias 0, whatever the seed.
        let zeros = Params::init_with(&model, Some(Init::Zeros), &mut rng(5)).unwrap();
        assert!(zeros.tensors().iter().all(|t| !t.is_empty() && t.iter().all(|&v| v == 0.0)));
        assert_eq!(zeros.tensors().iter().map(|t| t.len()).sum::<usize>(), model.parameter_count());
    }

    use super::*;

    /// The default model's sizes, counted by hand: weights 784·512 + 512·512 + 512·10 = 401 408 + 262 144 + 5 120
    /// = 668 672 multiply-adds per sample; with the biases 512 + 512 + 10, 669 706 parameters.
    #[test]
    fn sizes_of_the_default_model() {
        let model = ModelConfig {
            output_units: OutputUnits::Classes,
            inputs: 784,
            hidden: vec![512, 512],
            classes: 10,
            activation: Activation::Relu,
            loss: Loss::Xent,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
        };
        assert_eq!(model.forward_macs(), 668_672);
        assert_eq!(model.parameter_count(), 669_706);
        assert_eq!(model.layer_shapes(), [(784, 512), (512, 512), (512, 10)]);
        assert_eq!(model.describe(), "784-512-512-10 relu xent (669706 parameters)");
    }

    /// Each rule of `validate` at its edge: 1 input and 2 classes pass, 0 and 1 do not; a hidden width of 0 does
    /// not; 2²⁴ is the widest layer allowed; the identity is no hidden activation; leaky ReLU's slope is from 0 to 1.
    #[test]
    fn validate_at_the_edges() {
        let model = |inputs, hidden: Vec<usize>, classes, activation| ModelConfig {
            output_units: OutputUnits::Classes,
            inputs,
            hidden,
            classes,
            activation,
            loss: Loss::Xent,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
        };
        assert!(model(1, vec![], 2, Activation::Relu).validate().is_ok());
        assert!(model(0, vec![], 2, Activation::Relu).validate().is_err());
        assert!(model(1, vec![], 1, Activation::Relu).validate().is_err());
        assert!(model(1, vec![3, 0], 2, Activation::Relu).validate().is_err());
        assert!(model(1, vec![MAX_WIDTH], 2, Activation::Tanh).validate().is_ok());
        let err = model(1, vec![MAX_WIDTH + 1], 2, Activation::Tanh).validate().unwrap_err().to_string();
        assert!(err.contains("a layer of width 16777217 is over the limit of 16777216"), "{err}");
        assert!(model(MAX_WIDTH + 1, vec![], 2, Activation::Relu).validate().is_err());
        let err = model(1, vec![4], 2, Activation::Identity).validate().unwrap_err().to_string();
        assert!(err.contains("must be one of relu, sigmoid, tanh, leaky-relu"), "{err}");
        // Leaky ReLU's slope: from 0 to 1, both ends included; never NaN or infinite.
        let leaky = |leaky_slope| ModelConfig { leaky_slope, ..model(1, vec![4], 2, Activation::LeakyRelu) };
        for ok in [0.0, 0.01, 1.0] {
            assert!(leaky(ok).validate().is_ok(), "{ok}");
        }
        for bad in [-0.01, 1.01, f32::NAN, f32::INFINITY] {
            let err = leaky(bad).validate().unwrap_err().to_string();
            assert!(err.contains("--leaky-slope must be a number from 0 to 1"), "{bad}: {err}");
        }
        // The description names the slope of a leaky ReLU (and of no other activation).
        assert_eq!(leaky(0.2).describe(), "1-4-2 leaky-relu (slope 0.2) xent (18 parameters)");
        assert_eq!(
            ModelConfig { leaky_slope: 0.2, ..model(1, vec![4], 2, Activation::Tanh) }.describe(),
            "1-4-2 tanh xent (18 parameters)"
        );
        assert_eq!(leaky(0.2).layer_act(0), Act::new(Activation::LeakyRelu, 0.2));
        assert_eq!(leaky(0.2).layer_act(1), Act::new(Activation::Identity, 0.2));
    }
}
