//! The optimizer table: every update rule ([`Rule`]) with its row ([`Rule::row`]: name, PyTorch class, state
//! tensors, hyper-parameters and defaults), every hyper-parameter ([`Hyper`]) with its name and [`Range`], and the
//! WGSL declarations generated from them.

/// An update rule: the rows of the optimizer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Rule {
    /// Plain SGD: `p -= lr·g`.
    Sgd,
    /// SGD with momentum, PyTorch's form: `v = μ·v + g; p -= lr·v`.
    Momentum,
    /// Adam (Kingma & Ba) with bias correction; `weight_decay` is L2 (added to the gradient).
    Adam,
    /// AdamW (Loshchilov & Hutter): Adam with decoupled weight decay `p -= lr·λ·p`.
    Adamw,
    /// RMSprop as PyTorch's: `s = α·s + (1 − α)·g²; p -= lr·g / (√s + ε)`, optionally centered, with momentum, and
    /// with Keras's ε placement `√(s + ε)`.
    Rmsprop,
}

listed_exhaustively!(Rule {
    /// Every rule, in the order of the table.
    ALL: [Sgd, Momentum, Adam, Adamw, Rmsprop]
});

/// A hyper-parameter of an update rule. Its `name` is both the command-line flag (`--weight-decay`) and, with `_`
/// for `-`, the checkpoint's metadata key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hyper {
    /// The learning rate.
    Lr,
    /// μ, the momentum factor (SGD with momentum, RMSprop).
    Momentum,
    /// Adam's β1.
    Beta1,
    /// Adam's β2.
    Beta2,
    /// RMSprop's smoothing constant α (Keras calls it rho).
    Alpha,
    /// ε, added to the denominator (Adam, RMSprop).
    Eps,
    /// λ: L2 penalty added to the gradient (SGD, Adam, RMSprop), or AdamW's decoupled decay.
    WeightDecay,
    /// RMSprop's `centered`: 1 normalises by the gradient's estimated variance instead of its second moment.
    Centered,
    /// RMSprop's ε placement: 0 is PyTorch's `√s + ε`, 1 is Keras's and TensorFlow's `√(s + ε)`.
    EpsInSqrt,
}

listed_exhaustively!(Hyper {
    /// Every hyper-parameter, in the order of [`Optimizer`]'s values and of WGSL's `Hypers` struct.
    ALL: [Lr, Momentum, Beta1, Beta2, Alpha, Eps, WeightDecay, Centered, EpsInSqrt]
});

/// The values a hyper-parameter may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// A normal positive f32 below `f32::MAX` (rates and ε).
    Positive,
    /// [0, 1) (momentum and decay factors).
    Fraction,
    /// A finite value ≥ 0 (weight decay).
    NonNegative,
    /// 0 or 1 (a switch).
    Switch,
}

impl Range {
    /// Whether `v` is in the range.
    pub fn contains(self, v: f32) -> bool {
        match self {
            Range::Positive => (f32::MIN_POSITIVE..f32::MAX).contains(&v),
            Range::Fraction => (0.0..1.0).contains(&v),
            Range::NonNegative => v.is_finite() && v >= 0.0,
            Range::Switch => v == 0.0 || v == 1.0,
        }
    }

    /// The range in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Range::Positive => "a positive number (a normal f32)",
            Range::Fraction => "in [0, 1)",
            Range::NonNegative => "a finite number ≥ 0",
            Range::Switch => "0 or 1",
        }
    }
}

impl Hyper {
    /// The command-line name (`--weight-decay`, without the dashes).
    pub fn name(self) -> &'static str {
        match self {
            Hyper::Lr => "lr",
            Hyper::Momentum => "momentum",
            Hyper::Beta1 => "beta1",
            Hyper::Beta2 => "beta2",
            Hyper::Alpha => "alpha",
            Hyper::Eps => "eps",
            Hyper::WeightDecay => "weight-decay",
            Hyper::Centered => "centered",
            Hyper::EpsInSqrt => "eps-in-sqrt",
        }
    }

    /// The checkpoint metadata key, the WGSL field and PyTorch's argument: the name with `_` for `-`.
    pub fn key(self) -> String {
        self.name().replace('-', "_")
    }

    /// The values it may take.
    pub fn range(self) -> Range {
        match self {
            Hyper::Lr | Hyper::Eps => Range::Positive,
            Hyper::Momentum | Hyper::Beta1 | Hyper::Beta2 | Hyper::Alpha => Range::Fraction,
            Hyper::WeightDecay => Range::NonNegative,
            Hyper::Centered | Hyper::EpsInSqrt => Range::Switch,
        }
    }

    /// Its index in [`Optimizer`]'s values (and WGSL's `Hypers`): its place in [`Hyper::ALL`], which lists the
    /// variants in declaration order (a test checks it).
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// One row of the optimizer table.
#[derive(Clone, Copy, Debug)]
pub struct RuleRow {
    /// The name on the command line and in checkpoints.
    pub name: &'static str,
    /// The PyTorch class it matches.
    pub pytorch: &'static str,
    /// Its per-parameter state tensors, PyTorch's names, in the order they are packed in a parameter's state buffer.
    pub states: &'static [&'static str],
    /// The hyper-parameters it reads, with their defaults (PyTorch's, except the learning rates of SGD and momentum,
    /// which PyTorch requires and this project sets to what trains MNIST well).
    pub hypers: &'static [(Hyper, f32)],
}

/// The f32s of WGSL's `Hypers`: every hyper-parameter, padded to a multiple of 4 ([`crate::optim::Optimizer::gpu_hypers`]).
pub const HYPER_SLOTS: usize = Hyper::ALL.len().div_ceil(4) * 4;

/// The most state tensors a rule keeps per parameter (WGSL passes them as one `vec4<f32>`).
pub const MAX_STATES: usize = 4;

impl Rule {
    /// The rule's row of the optimizer table.
    pub const fn row(self) -> RuleRow {
        use Hyper::*;
        match self {
            Rule::Sgd => RuleRow {
                name: "sgd",
                pytorch: "torch.optim.SGD",
                states: &[],
                hypers: &[(Lr, 0.1), (WeightDecay, 0.0)],
            },
            Rule::Momentum => RuleRow {
                name: "momentum",
                pytorch: "torch.optim.SGD(momentum=μ)",
                states: &["momentum_buffer"],
                hypers: &[(Lr, 0.05), (Momentum, 0.9), (WeightDecay, 0.0)],
            },
            Rule::Adam => RuleRow {
                name: "adam",
                pytorch: "torch.optim.Adam",
                states: &["exp_avg", "exp_avg_sq"],
                hypers: &[(Lr, 0.001), (Beta1, 0.9), (Beta2, 0.999), (Eps, 1e-8), (WeightDecay, 0.0)],
            },
            Rule::Adamw => RuleRow {
                name: "adamw",
                pytorch: "torch.optim.AdamW",
                states: &["exp_avg", "exp_avg_sq"],
                hypers: &[(Lr, 0.001), (Beta1, 0.9), (Beta2, 0.999), (Eps, 1e-8), (WeightDecay, 0.01)],
            },
            Rule::Rmsprop => RuleRow {
                name: "rmsprop",
                pytorch: "torch.optim.RMSprop",
                // All three are kept (zero while unused: momentum_buffer with μ = 0, grad_avg when not centered),
                // so a rule's state count never depends on its values.
                states: &["square_avg", "momentum_buffer", "grad_avg"],
                hypers: &[
                    (Lr, 0.01),
                    (Alpha, 0.99),
                    (Eps, 1e-8),
                    (WeightDecay, 0.0),
                    (Momentum, 0.0),
                    (Centered, 0.0),
                    (EpsInSqrt, 0.0),
                ],
            },
        }
    }

    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The `RULE_*` code the GPU kernels use: its index in [`Rule::ALL`].
    pub fn code(self) -> u32 {
        Rule::ALL.iter().position(|&r| r == self).unwrap_or(0) as u32
    }

    /// Whether the rule reads `hyper`.
    pub fn uses(self, hyper: Hyper) -> bool {
        self.row().hypers.iter().any(|&(h, _)| h == hyper)
    }
}

impl crate::names::Named for Rule {
    const WHAT: &'static str = "optimizer";

    fn name(self) -> &'static str {
        Rule::name(self)
    }
}

/// The WGSL declarations of the optimizer table, generated here so that the kernels' numbers and fields are this
/// module's: the `RULE_*` codes, `MAX_STATES` and the `Hypers` struct (the values of an [`Optimizer`], in
/// [`Hyper::ALL`] order). The host prepends them to `optimizer.wgsl`.
pub fn wgsl_declarations() -> String {
    let mut text = String::from("// optimizer rules and hyper-parameters, from src/optim.rs (Rule::row, Hyper::ALL)\n");
    for r in Rule::ALL {
        text.push_str(&format!("const RULE_{}: u32 = {}u;\n", r.name().to_uppercase(), r.code()));
    }
    text.push_str("struct Hypers {\n");
    for h in Hyper::ALL {
        text.push_str(&format!("    {}: f32,\n", h.key()));
    }
    // Padded to whole vec4s: a uniform struct's next member starts on a 16-byte boundary.
    for i in Hyper::ALL.len()..HYPER_SLOTS {
        text.push_str(&format!("    pad{i}: f32,\n"));
    }
    text.push_str("}\n");
    text
}
