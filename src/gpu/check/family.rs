//! The families of checks: what `gpu-mnist check` runs, in order.

use crate::model::Activation;

/// A group of checks, one per kernel family (and one per activation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `linear`: y = act(x·wᵀ + b).
    Linear,
    /// `weight_grad`: dw = dzᵀ·x.
    WeightGrad,
    /// `input_grad`: dx = (dz·w) ⊙ act′(x).
    InputGrad,
    /// One activation through `linear` and `input_grad` over a wide range of z (stability for large |z|).
    Activation(Activation),
    /// `softmax_xent`: dz and the statistics.
    SoftmaxXent,
    /// `quadratic_cost`: dz and the statistics.
    QuadraticCost,
    /// The argmax of both losses on rows full of ties: the first maximum wins, as on the CPU.
    Argmax,
    /// `bias_grad`: db = Σ_rows dz.
    BiasGrad,
    /// `sgd`.
    Sgd,
    /// `momentum`.
    Momentum,
    /// `adam`, with t read from the GPU step counter.
    Adam,
    /// `gather` then `advance`, several steps: the rows at the GPU cursor and their labels.
    Gather,
    /// `linear_large`: y = act(x·wᵀ + b) in 128 × 128 tiles, for the shapes it takes.
    LinearLarge,
    /// `fused` running `Op::FusedLinear`: gathering, with a loss head, both (see [`super::fused`]).
    FusedLinear,
    /// `fused` running `Op::GradUpdate`: gradients and the update in the epilogue, every optimizer.
    GradUpdate,
    /// `fused` running every stage of a fused train step, two-job stages included.
    FusedStages,
}

impl Family {
    /// Every family, in the order the `check` command runs them.
    pub const ALL: [Family; 19] = [
        Family::Linear,
        Family::WeightGrad,
        Family::InputGrad,
        Family::Activation(Activation::Identity),
        Family::Activation(Activation::Relu),
        Family::Activation(Activation::Sigmoid),
        Family::Activation(Activation::Tanh),
        Family::SoftmaxXent,
        Family::QuadraticCost,
        Family::Argmax,
        Family::BiasGrad,
        Family::Sgd,
        Family::Momentum,
        Family::Adam,
        Family::Gather,
        Family::LinearLarge,
        Family::FusedLinear,
        Family::GradUpdate,
        Family::FusedStages,
    ];
}
