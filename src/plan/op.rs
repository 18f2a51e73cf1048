//! The ops of a step ([`Op`]) with their math and shapes, and the loss head a fused linear op may end with; what each
//! op reads, writes and names is in [`super::access`].

use crate::dropout::Dropout;
use crate::model::{Act, Loss};
use crate::optim::Optimizer;
use crate::plan::layout::{BufId, Split};

/// The most classes a [`LossHead`] takes: the whole row of outputs must fit in one workgroup's tile of the GPU's
/// fused kernel (its smallest tile is 32 wide). A wider last layer gets its own loss op instead.
pub const HEAD_MAX_CLASSES: usize = 32;

/// The loss computed at the end of a fused last layer ([`Op::FusedLinear`]), from the rows it has just produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossHead {
    /// Which loss (softmax cross-entropy of logits, the quadratic cost of sigmoid outputs, binary cross-entropy of
    /// one logit, or the perceptron criterion of scores); an output of one unit stands for two classes, as in
    /// [`Op::QuadraticCost`], [`Op::BinaryXent`] and [`Op::Perceptron`].
    pub loss: Loss,
    /// Where the gradient of the batch's mean loss goes, `[rows, classes]`; `None` in evaluation.
    pub dz: Option<BufId>,
    /// `[rows, 2]`: each row's loss and whether its predicted class equals its label (1.0 or 0.0;
    /// [`crate::cpu::ops::predicted_class`]).
    pub row_stats: BufId,
}

/// Dropout of a hidden layer's output while training ([`crate::dropout`]): where its factors go and what keys their
/// draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutSpec {
    /// The factors, [rows, outputs]: 0 (dropped) or 1/(1 − p) (kept), read by the input gradient of the layer above.
    pub mask: BufId,
    /// p and 1/(1 − p).
    pub dropout: Dropout,
    /// The layer's index, part of the draws' key.
    pub layer: u32,
    /// The run's seed, part of the draws' key.
    pub seed: u64,
}

/// One operation of a step. Field order: outputs, inputs, dims. Each variant's doc gives its math and shapes;
/// its CPU twin in [`crate::cpu::ops`] and its WGSL kernel in `shaders/` implement exactly that.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// x: [rows, features] = pixels[order[cursor + r]] / 255, and the batch labels:
    /// \[rows\] = labels[order[cursor + r]], where `order` is the split's sample order (shuffled per epoch for train)
    /// and `cursor` its position.
    Gather { x: BufId, split: Split, rows: usize, features: usize },
    /// y: [rows, outputs] = act(z), z = x: [rows, inputs] · w: [outputs, inputs]ᵀ + b: \[outputs\]; with `z`, the
    /// pre-activation is also written there ([rows, outputs]: what [`Op::InputGrad`] reads where the activation
    /// [needs it](crate::model::Activation::needs_pre_activation)).
    Linear {
        y: BufId,
        z: Option<BufId>,
        x: BufId,
        w: BufId,
        b: BufId,
        act: Act,
        rows: usize,
        inputs: usize,
        outputs: usize,
    },
    /// Softmax cross-entropy of logits: [rows, classes] against the batch labels. Adds Σ loss and the number of
    /// correct argmax predictions to the split's statistics; if `dz` is given, dz: [rows, classes] =
    /// (softmax(logits) − onehot(label)) / rows, the gradient of the batch's mean loss.
    SoftmaxXent { dz: Option<BufId>, logits: BufId, split: Split, rows: usize, classes: usize },
    /// Quadratic cost ½‖a − y‖² of a: [rows, classes] = σ(z), the sigmoid output layer, y = onehot(label); with
    /// classes = 1 (one unit for two classes) y = the label (0 or 1) and the prediction is a > 0.5. Adds Σ cost and
    /// correct predictions to the split's statistics; if `dz` is given, dz: [rows, classes] =
    /// (a − y) ⊙ a(1 − a) / rows, the gradient of the batch's mean cost with respect to z.
    QuadraticCost { dz: Option<BufId>, a: BufId, split: Split, rows: usize, classes: usize },
    /// Binary cross-entropy of one logit per row, logits: [rows, 1], against y = the label (0 or 1), from z as
    /// PyTorch's `BCEWithLogitsLoss`: max(z, 0) − z·y + log(1 + e^−|z|). Adds Σ loss and the correct predictions
    /// (z > 0 ⇔ class 1) to the split's statistics; if `dz` is given, dz: [rows, 1] = (σ(z) − y) / rows.
    BinaryXent { dz: Option<BufId>, logits: BufId, split: Split, rows: usize },
    /// The perceptron criterion of scores z: [rows, classes] (identity outputs): Σ_units max(0, −y·z), y = +1 on the
    /// label's unit and −1 on the others (classes = 1: +1 for class 1, −1 for class 0). Adds Σ loss and the correct
    /// predictions (argmax z; z > 0 on one unit) to the split's statistics; if `dz` is given, dz: [rows, classes] =
    /// −y / rows where y·z ≤ 0 (ties at 0 included), else 0.
    Perceptron { dz: Option<BufId>, z: BufId, split: Split, rows: usize, classes: usize },
    /// db: \[outputs\] = Σ_rows dz: [rows, outputs]
    BiasGrad { db: BufId, dz: BufId, rows: usize, outputs: usize },
    /// dw: [outputs, inputs] = dz: [rows, outputs]ᵀ · x: [rows, inputs]
    WeightGrad { dw: BufId, dz: BufId, x: BufId, rows: usize, inputs: usize, outputs: usize },
    /// dx: [rows, inputs] = (dz: [rows, outputs] · w: [outputs, inputs]) ⊙ act′(saved), where act′ is the derivative
    /// of the previous layer's activation and `saved`: [rows, inputs] is what act′ is written in terms of: the
    /// previous layer's output a (relu: a > 0; sigmoid: a(1 − a); tanh: 1 − a²), or its pre-activation z where the
    /// activation [needs it](crate::model::Activation::needs_pre_activation).
    /// With `mask` (the previous layer's dropout factors m: [rows, inputs]), dx = (dz · w) ⊙ act′ ⊙ m, act′ taken
    /// at the output before dropout (saved / m where m ≠ 0; saved itself when it is z).
    InputGrad {
        dx: BufId,
        dz: BufId,
        w: BufId,
        saved: BufId,
        mask: Option<BufId>,
        act: Act,
        rows: usize,
        inputs: usize,
        outputs: usize,
    },
    /// Dropout while training: y: [rows, outputs] ⊙= m and mask: [rows, outputs] = m, the factors of step t = steps + 1
    /// (each 0 with probability p, else 1/(1 − p); [`crate::dropout`]).
    Dropout { y: BufId, rows: usize, outputs: usize, spec: DropoutSpec },
    /// sum: \[len\] = scale · grad: \[len\] if `first`, else sum + scale · grad: one chunk's gradient (the mean over its
    /// rows) added into its step's, `scale` = chunk rows / step rows (see
    /// [`Layout::chunk_step`](super::Layout::chunk_step)).
    Accumulate { sum: BufId, grad: BufId, len: usize, scale: f32, first: bool },
    /// param: \[len\] updated from grad: \[len\] with `optimizer`, state buffers as [`Optimizer::state_tensors`]
    /// says; the step t is the number of train steps already taken + 1 (Adam's bias correction); with
    /// `decay_steps` T > 0 the learning rate is lr·(T − min(t − 1, T))/T (linear decay to 0), else constant.
    Update { param: BufId, state: Option<BufId>, grad: BufId, optimizer: Optimizer, len: usize, decay_steps: u64 },
    /// If `row_stats` is given, adds Σ row_stats: [rows, 2] (loss, correct) to the split's statistics; then the
    /// split's cursor += rows and, for [`Split::Train`] with `counts_step`, the step counter += 1. In a reference plan
    /// always the last op; in a fused plan it runs as soon as the loss is known, so the updates after it read t = the
    /// step count. Only the last chunk of a step run in chunks counts it ([`Layout::chunk_step`](super::Layout::chunk_step)).
    Advance { split: Split, rows: usize, row_stats: Option<BufId>, counts_step: bool },
    /// Fused forward layer: y: [rows, outputs] = act(z), z = x: [rows, inputs] · w: [outputs, inputs]ᵀ + b:
    /// \[outputs\], z also written to `z` where given (as [`Op::Linear`]).
    /// With `gather`, x is first read from the split at its cursor as [`Op::Gather`] does (the pixels straight from
    /// the resident data set; x and the batch labels are written too, for the weight gradient and the loss). With a
    /// `head`, the loss of y against the batch labels follows: its gradient (if asked) and per-row statistics.
    FusedLinear {
        y: BufId,
        z: Option<BufId>,
        x: BufId,
        w: BufId,
        b: BufId,
        act: Act,
        rows: usize,
        inputs: usize,
        outputs: usize,
        gather: Option<Split>,
        head: Option<LossHead>,
        dropout: Option<DropoutSpec>,
    },
    /// Fused backward of one layer: gw = dzᵀ·x and gb = Σ_rows dz (as [`Op::WeightGrad`] and [`Op::BiasGrad`]), then
    /// w and b updated from them as [`Op::Update`] says, with t = the step count (the step's [`Op::Advance`] has
    /// already run). Shapes: dz: [rows, outputs], x: [rows, inputs], w and gw: [outputs, inputs], b and gb: \[outputs\].
    GradUpdate {
        w: BufId,
        b: BufId,
        gw: BufId,
        gb: BufId,
        sw: Option<BufId>,
        sb: Option<BufId>,
        dz: BufId,
        x: BufId,
        optimizer: Optimizer,
        rows: usize,
        inputs: usize,
        outputs: usize,
        decay_steps: u64,
    },
}

impl Op {
    /// The kernel family the op belongs to, for time breakdowns: `gather`, `linear`, `loss`, `weight_grad`,
    /// `bias_grad`, `input_grad`, `update` or `advance` (not [`crate::gpu::check::CheckFamily`], the groups of
    /// kernel checks).
    pub fn family(&self) -> &'static str {
        match self {
            Op::Gather { .. } => "gather",
            Op::Linear { .. } => "linear",
            Op::SoftmaxXent { .. } | Op::QuadraticCost { .. } | Op::BinaryXent { .. } | Op::Perceptron { .. } => "loss",
            Op::WeightGrad { .. } => "weight_grad",
            Op::BiasGrad { .. } => "bias_grad",
            Op::InputGrad { .. } => "input_grad",
            Op::Dropout { .. } => "dropout",
            Op::Accumulate { .. } => "accumulate",
            Op::Update { .. } => "update",
            Op::Advance { .. } => "advance",
            Op::FusedLinear { gather: Some(_), .. } => "gather_linear",
            Op::FusedLinear { head: Some(_), .. } => "linear_loss",
            Op::FusedLinear { .. } => "linear",
            Op::GradUpdate { .. } => "grad_update",
        }
    }

    /// The family and the shape, one token for benchmark ids and reports: `linear_64x784x512_relu` (rows × inputs ×
    /// outputs), `weight_grad_512x784_k64`, `update_momentum_401408`…
    pub fn label(&self) -> String {
        match *self {
            Op::Gather { rows, features, .. } => format!("gather_{rows}x{features}"),
            Op::Linear { act, rows, inputs, outputs, .. } => {
                format!("linear_{rows}x{inputs}x{outputs}_{}", act.name())
            }
            Op::SoftmaxXent { rows, classes, dz, .. } => {
                format!("loss_softmax_xent_{rows}x{classes}{}", if dz.is_some() { "" } else { "_eval" })
            }
            Op::QuadraticCost { rows, classes, dz, .. } => {
                format!("loss_quadratic_{rows}x{classes}{}", if dz.is_some() { "" } else { "_eval" })
            }
            Op::Perceptron { rows, classes, dz, .. } => {
                format!("loss_perceptron_{rows}x{classes}{}", if dz.is_some() { "" } else { "_eval" })
            }
            Op::BinaryXent { rows, dz, .. } => {
                format!("loss_binary_xent_{rows}x1{}", if dz.is_some() { "" } else { "_eval" })
            }
            Op::WeightGrad { rows, inputs, outputs, .. } => format!("weight_grad_{outputs}x{inputs}_k{rows}"),
            Op::BiasGrad { rows, outputs, .. } => format!("bias_grad_{rows}x{outputs}"),
            Op::Dropout { rows, outputs, .. } => format!("dropout_{rows}x{outputs}"),
            Op::InputGrad { act, rows, inputs, outputs, .. } => {
                format!("input_grad_{rows}x{outputs}x{inputs}_{}", act.name())
            }
            Op::Accumulate { len, first, .. } => format!("accumulate_{len}{}", if first { "_first" } else { "" }),
            Op::Update { optimizer, len, .. } => format!("update_{}_{len}", optimizer.name()),
            Op::Advance { rows, row_stats, .. } => {
                format!("advance_{rows}{}", if row_stats.is_some() { "_stats" } else { "" })
            }
            Op::FusedLinear { act, rows, inputs, outputs, gather, head, dropout, .. } => {
                let mut label = format!("linear_{rows}x{inputs}x{outputs}_{}", act.name());
                if gather.is_some() {
                    label = format!("gather_{label}");
                }
                if let Some(h) = head {
                    label += &format!("_{}{}", h.loss.name(), if h.dz.is_some() { "" } else { "_eval" });
                }
                if dropout.is_some() {
                    label += "_dropout";
                }
                label
            }
            Op::GradUpdate { optimizer, rows, inputs, outputs, .. } => {
                format!("grad_update_{outputs}x{inputs}_k{rows}_{}", optimizer.name())
            }
        }
    }
}
