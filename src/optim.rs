//! Optimizers, with PyTorch's update rules so results compare one to one with `torch.optim`.

/// Which update rule, and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// `p -= lr·g`
    Sgd {
        /// Learning rate.
        lr: f32,
    },
    /// PyTorch's SGD with momentum: `v = μ·v + g; p -= lr·v`.
    Momentum {
        /// Learning rate.
        lr: f32,
        /// μ
        momentum: f32,
    },
    /// Adam (Kingma & Ba) with bias correction: `m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
    /// p -= lr·m̂ / (√v̂ + ε)` with `m̂ = m/(1−β1ᵗ)`, `v̂ = v/(1−β2ᵗ)`.
    Adam {
        /// Learning rate.
        lr: f32,
        /// β1
        beta1: f32,
        /// β2
        beta2: f32,
        /// ε
        eps: f32,
    },
}

impl Optimizer {
    /// How many state tensors of each parameter's size the rule keeps (velocity; or m and v).
    pub fn state_tensors(&self) -> usize {
        match self {
            Optimizer::Sgd { .. } => 0,
            Optimizer::Momentum { .. } => 1,
            Optimizer::Adam { .. } => 2,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr } | Optimizer::Momentum { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }

    /// The name used on the command line and in checkpoints.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Momentum { .. } => "momentum",
            Optimizer::Adam { .. } => "adam",
        }
    }

    /// `sgd lr=0.1` style summary.
    pub fn describe(&self) -> String {
        match *self {
            Optimizer::Sgd { lr } => format!("sgd lr={lr}"),
            Optimizer::Momentum { lr, momentum } => format!("momentum lr={lr} momentum={momentum}"),
            // ε as PyTorch prints it (1e-08), not 0.00000001.
            Optimizer::Adam { lr, beta1, beta2, eps } => format!("adam lr={lr} betas=({beta1}, {beta2}) eps={eps:e}"),
        }
    }
}

/// How the learning rate changes over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LrSchedule {
    /// Linear decay from `--lr` at the first step to 0 after the last: step t of T uses lr·(1 − (t − 1)/T) (the
    /// default of Hugging Face's Trainer; PyTorch's `LambdaLR`/`LinearLR` stepped per batch). The end-of-run snapshot
    /// then sits in a minimum instead of bouncing around it.
    #[default]
    Linear,
    /// The same rate for every step.
    Constant,
}

impl crate::names::Named for LrSchedule {
    const WHAT: &'static str = "learning-rate schedule";

    fn name(self) -> &'static str {
        LrSchedule::name(self)
    }
}

impl LrSchedule {
    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            LrSchedule::Linear => "linear",
            LrSchedule::Constant => "constant",
        }
    }

    /// What the schedule does, for the run's header: `lr linear decay to 0 over 9380 steps` or `lr constant`.
    pub fn describe(self, steps: u64) -> String {
        match self {
            LrSchedule::Linear => format!("lr linear decay to 0 over {steps} steps"),
            LrSchedule::Constant => "lr constant".into(),
        }
    }
}
