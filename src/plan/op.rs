//! The ops of a step ([`Op`]) with their math and shapes, the loss head a fused linear op may end with, and what
//! each op reads, writes and names (the facts [`Plan::validate`](super::Plan::validate) checks).

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

/// Something an op reads or writes: a layout buffer, or state the backend keeps beside the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A buffer of the layout.
    Buffer(BufId),
    /// The labels of the gathered batch.
    BatchLabels,
    /// A split's read position.
    Cursor(Split),
    /// The train step count.
    Steps,
    /// A split's accumulated statistics.
    Stats(Split),
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

    /// What the op reads and what it writes (a read-modify-write is a write).
    /// [`Plan::validate`](super::Plan::validate) uses them to prove that the ops of one stage are independent.
    pub fn access(&self) -> (Vec<Resource>, Vec<Resource>) {
        use Resource::{BatchLabels, Buffer as B, Cursor, Stats, Steps};
        let opt = |ids: &[Option<BufId>]| ids.iter().flatten().map(|&id| B(id)).collect::<Vec<_>>();
        match *self {
            Op::Gather { x, split, .. } => (vec![Cursor(split)], vec![B(x), BatchLabels]),
            Op::Linear { y, z, x, w, b, .. } => {
                let mut writes = vec![B(y)];
                writes.extend(opt(&[z]));
                (vec![B(x), B(w), B(b)], writes)
            }
            Op::SoftmaxXent { dz, logits: out, split, .. }
            | Op::QuadraticCost { dz, a: out, split, .. }
            | Op::BinaryXent { dz, logits: out, split, .. }
            | Op::Perceptron { dz, z: out, split, .. } => {
                let mut writes = opt(&[dz]);
                writes.push(Stats(split));
                (vec![B(out), BatchLabels], writes)
            }
            Op::BiasGrad { db, dz, .. } => (vec![B(dz)], vec![B(db)]),
            Op::WeightGrad { dw, dz, x, .. } => (vec![B(dz), B(x)], vec![B(dw)]),
            Op::InputGrad { dx, dz, w, saved, mask, .. } => {
                let mut reads = vec![B(dz), B(w), B(saved)];
                reads.extend(opt(&[mask]));
                (reads, vec![B(dx)])
            }
            Op::Dropout { y, spec, .. } => (vec![B(y), Steps], vec![B(y), B(spec.mask)]),
            Op::Accumulate { sum, grad, first, .. } => {
                let reads = if first { vec![B(grad)] } else { vec![B(grad), B(sum)] };
                (reads, vec![B(sum)])
            }
            Op::Update { param, state, grad, .. } => {
                let mut writes = opt(&[state]);
                writes.push(B(param));
                (vec![B(grad), Steps], writes)
            }
            Op::Advance { split, row_stats, counts_step, .. } => {
                let mut writes = vec![Cursor(split)];
                if split == Split::Train && counts_step {
                    writes.push(Steps);
                }
                if row_stats.is_some() {
                    writes.push(Stats(split));
                }
                (opt(&[row_stats]), writes)
            }
            Op::FusedLinear { y, z, x, w, b, gather, head, dropout, .. } => {
                let mut reads = vec![B(w), B(b)];
                let mut writes = vec![B(y)];
                writes.extend(opt(&[z, dropout.map(|d| d.mask)]));
                if dropout.is_some() {
                    reads.push(Steps);
                }
                match gather {
                    Some(split) => {
                        reads.push(Cursor(split));
                        writes.extend([B(x), BatchLabels]);
                    }
                    None => reads.push(B(x)),
                }
                if let Some(h) = head {
                    if gather.is_none() {
                        reads.push(BatchLabels);
                    }
                    writes.extend(opt(&[h.dz, Some(h.row_stats)]));
                }
                (reads, writes)
            }
            Op::GradUpdate { w, b, gw, gb, sw, sb, dz, x, .. } => {
                let mut writes = vec![B(w), B(b), B(gw), B(gb)];
                writes.extend(opt(&[sw, sb]));
                (vec![B(dz), B(x), Steps], writes)
            }
        }
    }

    /// Every layout buffer the op names, with the number of values it uses of it (checked against the layout by
    /// [`Plan::validate`](super::Plan::validate)).
    pub fn buffers(&self) -> Vec<(BufId, usize)> {
        let mut out = Vec::new();
        match *self {
            Op::Gather { x, rows, features, .. } => out.push((x, rows * features)),
            Op::Linear { y, z, x, w, b, rows, inputs, outputs, .. } => {
                out.extend([
                    (y, rows.saturating_mul(outputs)),
                    (x, rows.saturating_mul(inputs)),
                    (w, outputs.saturating_mul(inputs)),
                    (b, outputs),
                ]);
                out.extend(z.map(|z| (z, rows.saturating_mul(outputs))));
            }
            Op::SoftmaxXent { dz, logits: out_id, rows, classes, .. }
            | Op::QuadraticCost { dz, a: out_id, rows, classes, .. }
            | Op::Perceptron { dz, z: out_id, rows, classes, .. } => {
                out.push((out_id, rows * classes));
                out.extend(dz.map(|d| (d, rows * classes)));
            }
            Op::BinaryXent { dz, logits, rows, .. } => {
                out.push((logits, rows));
                out.extend(dz.map(|d| (d, rows)));
            }
            Op::BiasGrad { db, dz, rows, outputs } => out.extend([(db, outputs), (dz, rows.saturating_mul(outputs))]),
            Op::WeightGrad { dw, dz, x, rows, inputs, outputs } => out.extend([
                (dw, outputs.saturating_mul(inputs)),
                (dz, rows.saturating_mul(outputs)),
                (x, rows.saturating_mul(inputs)),
            ]),
            Op::InputGrad { dx, dz, w, saved, mask, rows, inputs, outputs, .. } => {
                out.extend([
                    (dx, rows.saturating_mul(inputs)),
                    (dz, rows.saturating_mul(outputs)),
                    (w, outputs.saturating_mul(inputs)),
                    (saved, rows.saturating_mul(inputs)),
                ]);
                out.extend(mask.map(|m| (m, rows.saturating_mul(inputs))));
            }
            Op::Dropout { y, rows, outputs, spec } => {
                out.extend([(y, rows.saturating_mul(outputs)), (spec.mask, rows.saturating_mul(outputs))]);
            }
            Op::Accumulate { sum, grad, len, .. } => out.extend([(sum, len), (grad, len)]),
            Op::Update { param, state, grad, optimizer, len, .. } => {
                out.extend([(param, len), (grad, len)]);
                let n = optimizer.state_tensors();
                if n > 0 {
                    out.push((state.unwrap_or(usize::MAX), len.saturating_mul(n)));
                }
            }
            Op::Advance { rows, row_stats, .. } => out.extend(row_stats.map(|r| (r, rows.saturating_mul(2)))),
            Op::FusedLinear { y, z, x, w, b, rows, inputs, outputs, head, dropout, .. } => {
                out.extend([
                    (y, rows.saturating_mul(outputs)),
                    (x, rows.saturating_mul(inputs)),
                    (w, outputs.saturating_mul(inputs)),
                    (b, outputs),
                ]);
                out.extend(z.map(|z| (z, rows.saturating_mul(outputs))));
                out.extend(dropout.map(|d| (d.mask, rows.saturating_mul(outputs))));
                if let Some(h) = head {
                    out.extend(h.dz.map(|d| (d, rows.saturating_mul(outputs))));
                    out.push((h.row_stats, rows.saturating_mul(2)));
                }
            }
            Op::GradUpdate { w, b, gw, gb, sw, sb, dz, x, optimizer, rows, inputs, outputs, .. } => {
                let (wl, bl) = (outputs.saturating_mul(inputs), outputs);
                out.extend([
                    (w, wl),
                    (b, bl),
                    (gw, wl),
                    (gb, bl),
                    (dz, rows.saturating_mul(outputs)),
                    (x, rows.saturating_mul(inputs)),
                ]);
                let n = optimizer.state_tensors();
                if n > 0 {
                    out.extend([
                        (sw.unwrap_or(usize::MAX), wl.saturating_mul(n)),
                        (sb.unwrap_or(usize::MAX), bl.saturating_mul(n)),
                    ]);
                }
            }
        }
        out
    }
}
