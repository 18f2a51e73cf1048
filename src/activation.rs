//! The activations: which one a layer applies ([`Activation`], the command line's and the checkpoints' names, the
//! kernels' codes) and [`Act`], an activation with its parameter (leaky ReLU's slope) as the plan applies it.

/// The non-linearity of the hidden layers (and, with the quadratic cost, of the output layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// a = z (the output layer with softmax cross-entropy: softmax lives in the loss).
    #[value(skip)]
    Identity,
    /// a = max(z, 0)
    Relu,
    /// a = 1 / (1 + e^-z)
    Sigmoid,
    /// a = tanh(z)
    Tanh,
    /// a = z if z > 0, else s·z, s the slope below 0 (`--leaky-slope`, [`Act::leaky_slope`]; by default 0.01 as
    /// PyTorch's `nn.LeakyReLU()`, Keras's `LeakyReLU(0.01)`)
    LeakyRelu,
    /// a = z·Φ(z), Φ the standard normal CDF ½(1 + erf(z/√2)) (PyTorch's `nn.GELU()`; erf approximated, see
    /// `cpu::ops::normal_cdf`)
    Gelu,
    /// a = ½z(1 + tanh(√(2/π)(z + 0.044715z³))) (PyTorch's `nn.GELU(approximate='tanh')`)
    GeluTanh,
    /// a = z·σ(z), σ(z) = 1 / (1 + e^−z) (PyTorch's `nn.SiLU()`, also called swish)
    Silu,
}

/// The default slope of [`Activation::LeakyRelu`] below 0: PyTorch's default `negative_slope` (Keras's default is
/// 0.3).
pub const DEFAULT_LEAKY_SLOPE: f32 = 0.01;

/// The slopes `--leaky-slope` accepts: from 0 (a ReLU) to 1 (the identity). Within them a > 0 exactly where z > 0,
/// which is what lets leaky ReLU's derivative be written in terms of its output.
pub const LEAKY_SLOPES: std::ops::RangeInclusive<f32> = 0.0..=1.0;

listed_exhaustively!(Activation {
    /// Every activation, the output layer's identity included.
    ALL: [Identity, Relu, Sigmoid, Tanh, LeakyRelu, Gelu, GeluTanh, Silu]
});

impl crate::names::Named for Activation {
    const WHAT: &'static str = "activation";

    fn name(self) -> &'static str {
        Activation::name(self)
    }
}

impl Activation {
    /// The number the GPU kernels use for this activation (see `shaders/activation.wgsl`).
    pub fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Sigmoid => 2,
            Activation::Tanh => 3,
            Activation::LeakyRelu => 4,
            Activation::Gelu => 5,
            Activation::GeluTanh => 6,
            Activation::Silu => 7,
        }
    }

    /// The WGSL constants of the activation codes (`const ACT_RELU: u32 = 1u;` …), generated here so that the
    /// kernels' numbers are [`Activation::code`]'s: the host prepends them to `activation.wgsl`.
    pub fn wgsl_constants() -> String {
        let mut text = String::from("// activation codes, from src/activation.rs (Activation::code)\n");
        for a in Activation::ALL {
            let name = a.name().to_uppercase().replace('-', "_");
            text.push_str(&format!("const ACT_{name}: u32 = {}u;\n", a.code()));
        }
        text
    }

    /// Whether act′ needs the pre-activation z: GELU's and SiLU's derivatives cannot be written in terms of the
    /// output a = act(z), so a layer followed by such an activation keeps z (a buffer `z{l}` of the layout, written
    /// by the forward pass, read by the input gradient). The others' derivatives are written in terms of a.
    pub fn needs_pre_activation(self) -> bool {
        match self {
            Activation::Identity
            | Activation::Relu
            | Activation::Sigmoid
            | Activation::Tanh
            | Activation::LeakyRelu => false,
            Activation::Gelu | Activation::GeluTanh | Activation::Silu => true,
        }
    }

    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::LeakyRelu => "leaky-relu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu-tanh",
            Activation::Silu => "silu",
        }
    }
}

/// An activation as a layer applies it: which one, with its parameter (leaky ReLU's slope; the others have none).
/// What the plan's ops, the CPU functions and the kernels take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Act {
    /// Which activation.
    pub activation: Activation,
    /// The slope of [`Activation::LeakyRelu`] below 0 (within [`LEAKY_SLOPES`]); unused by the others.
    pub leaky_slope: f32,
}

impl Act {
    /// `activation` with leaky ReLU's slope `leaky_slope`.
    pub fn new(activation: Activation, leaky_slope: f32) -> Self {
        Act { activation, leaky_slope }
    }

    /// [`Activation::code`].
    pub fn code(self) -> u32 {
        self.activation.code()
    }

    /// [`Activation::name`].
    pub fn name(self) -> &'static str {
        self.activation.name()
    }

    /// [`Activation::needs_pre_activation`].
    pub fn needs_pre_activation(self) -> bool {
        self.activation.needs_pre_activation()
    }

    /// Whether the input gradient through this layer's dropout finds `saved` scaled by the dropout factors m: it is
    /// then the output after dropout, and act′ is taken at saved / m. Not so where `saved` is z, which dropout leaves.
    pub fn saved_is_dropped(self) -> bool {
        !self.needs_pre_activation()
    }
}

impl From<Activation> for Act {
    /// The activation with the default slope ([`DEFAULT_LEAKY_SLOPE`]).
    fn from(activation: Activation) -> Self {
        Act::new(activation, DEFAULT_LEAKY_SLOPE)
    }
}
