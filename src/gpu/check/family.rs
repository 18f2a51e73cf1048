//! The families of checks: what `gpu-mnist check` runs, in order.

use crate::model::Activation;

/// Declares [`CheckFamily::ALL`] from a list of families, and from the same list a `match` over a family that fails
/// to compile where the list misses one (non-exhaustive patterns: an activation too) or names one twice
/// (unreachable pattern, denied): `gpu-mnist check` cannot skip a family silently.
macro_rules! in_order {
    ($($family:ident $(($value:path))?),+ $(,)?) => {
        impl CheckFamily {
            /// Every family, in the order the `check` command runs them.
            pub const ALL: &'static [CheckFamily] = &[$(CheckFamily::$family $(($value))?),+];
        }

        #[deny(unreachable_patterns)]
        const _: fn(CheckFamily) = |family| match family {
            $(CheckFamily::$family $(($value))? => {})+
        };
    };
}

/// A family of kernel checks: the comparisons of one entry point (or of one activation, or of one use of the fused
/// kernel) with its CPU twin, run together by [`super::run`]. Not [`crate::plan::Op::family`], which groups the ops
/// of a plan for benchmark reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFamily {
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
    /// `fused` running `Op::FusedLinear`: gathering, with a loss head, both.
    FusedLinear,
    /// `fused` running `Op::GradUpdate`: gradients and the update in the epilogue, every optimizer.
    GradUpdate,
    /// `fused` running every stage of a fused train step, two-job stages included.
    FusedStages,
}

// The order `gpu-mnist check` runs them in; a family left out of this list, or named twice, does not compile.
in_order![
    Linear,
    WeightGrad,
    InputGrad,
    Activation(Activation::Identity),
    Activation(Activation::Relu),
    Activation(Activation::Sigmoid),
    Activation(Activation::Tanh),
    SoftmaxXent,
    QuadraticCost,
    Argmax,
    BiasGrad,
    Sgd,
    Momentum,
    Adam,
    Gather,
    LinearLarge,
    FusedLinear,
    GradUpdate,
    FusedStages,
];
