//! One description of the training step, executed by every backend.
//!
//! A [`Layout`] names every buffer an MLP needs (batch, activations, deltas, parameters, gradients, optimizer
//! state); a [`Plan`] is the short, fixed list of [`Op`]s of one step over those buffers. The CPU backend interprets
//! the ops one by one (the reference); the GPU backend compiles each op once into a pipeline, a bind group and a
//! workgroup count, then only re-encodes the list per step. The model's math is therefore written once, here, and
//! every GPU kernel has exactly one CPU twin in [`crate::cpu::ops`].
//!
//! A plan comes in two forms over the same layout. The **reference** plans ([`Layout::reference_train_step`]) have
//! one small op per job (gather, linear, loss, weight gradient, bias gradient, input gradient, update, advance):
//! the readable definition of a step. The **fused** plans ([`Layout::train_step`], what training runs) do the same
//! work in at most 2L + 1 *stages* for L layers: the gather is folded into the first linear
//! ([`Op::FusedLinear`] reads the pixels itself), the loss into the last one (a [`LossHead`]), the bias gradient and
//! the optimizer update into the weight gradient ([`Op::GradUpdate`]), and independent ops share a stage. A stage is
//! what a GPU runs as one dispatch; [`Plan::validate`] proves that no op of a stage writes anything another op of
//! the same stage reads or writes (a GPU orders nothing between the workgroups of one dispatch). The CPU runs both
//! forms with the same reference functions, and a test checks that K fused steps equal K reference steps.
//!
//! Shapes are row-major; a "row" is a sample. Weights follow PyTorch: `w: [out, in]`.

use crate::error::{Error, Result};
use crate::model::{Activation, Loss, ModelConfig};
use crate::optim::Optimizer;

/// Index of a buffer in [`Layout::buffers`].
pub type BufId = usize;

/// Which part of the data set an op reads and which counters it advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training images, in the epoch's shuffled order.
    Train,
    /// The test images, in file order.
    Test,
}

impl Split {
    /// 0 for train, 1 for test (an index into per-split tables).
    pub fn index(self) -> usize {
        match self {
            Split::Train => 0,
            Split::Test => 1,
        }
    }
}

/// What a buffer holds (used for naming, checkpoints and reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The normalised input batch.
    Input,
    /// A layer's output (after its activation).
    Activation,
    /// ∂loss/∂z of a layer (the "delta").
    Delta,
    /// A weight or bias.
    Param,
    /// The gradient of a weight or bias.
    Grad,
    /// Optimizer state (momentum velocity; Adam m or v).
    State,
    /// Per-row statistics of the last batch, `[rows, 2]`: each row's loss and 1.0 if its prediction was right
    /// (written by a [`LossHead`], summed into the split's statistics by [`Op::Advance`]).
    RowStats,
}

/// One f32 buffer of the layout.
#[derive(Clone, Debug, PartialEq)]
pub struct BufDesc {
    /// A readable name, `layers.0.weight`, `a1`, `d2`, `layers.1.bias.grad`…
    pub name: String,
    /// Number of f32 elements.
    pub len: usize,
    /// What it holds.
    pub role: Role,
}

/// The buffers of one linear layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerBufs {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// The activation applied to this layer's output.
    pub act: Activation,
    /// x: [rows, inputs] — the input batch or the previous layer's output.
    pub x: BufId,
    /// a: [rows, outputs] — this layer's output.
    pub a: BufId,
    /// d: [rows, outputs] — ∂loss/∂z for this layer.
    pub d: BufId,
    /// w: [outputs, inputs]
    pub w: BufId,
    /// b: \[outputs\]
    pub b: BufId,
    /// ∂loss/∂w: [outputs, inputs]
    pub gw: BufId,
    /// ∂loss/∂b: \[outputs\]
    pub gb: BufId,
    /// Optimizer state for w (velocity, or Adam's m and v).
    pub sw: [Option<BufId>; 2],
    /// Optimizer state for b.
    pub sb: [Option<BufId>; 2],
}

/// Every buffer an MLP's training and evaluation need, sized for `max_rows` samples per step.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The model this layout was built for.
    pub model: ModelConfig,
    /// The optimizer whose state it holds.
    pub optimizer: Optimizer,
    /// The largest batch any plan over this layout may use.
    pub max_rows: usize,
    /// Training steps over which the learning rate decays linearly to 0 (0 = a constant rate); set by the training
    /// loop, which knows the run's length.
    pub decay_steps: u64,
    /// All buffers; ops refer to them by index.
    pub buffers: Vec<BufDesc>,
    /// Per linear layer, first first.
    pub layers: Vec<LayerBufs>,
    /// `[max_rows, 2]`: see [`Role::RowStats`].
    pub row_stats: BufId,
}

/// Which form of the step plans a run uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanForm {
    /// The fused plans, at most 2L + 1 stages per training step (what training runs).
    #[default]
    Fused,
    /// The reference plans, one op per stage (the definition; `bench --plan reference` measures what fusing saves).
    Reference,
}

impl PlanForm {
    /// A training step of `rows` samples over `layout` in this form.
    pub fn train_step(self, layout: &Layout, rows: usize) -> Result<Plan> {
        match self {
            PlanForm::Fused => layout.train_step(rows),
            PlanForm::Reference => layout.reference_train_step(rows),
        }
    }

    /// An evaluation step of `rows` samples of `split` in this form.
    pub fn eval_step(self, layout: &Layout, split: Split, rows: usize) -> Result<Plan> {
        match self {
            PlanForm::Fused => layout.eval_step(split, rows),
            PlanForm::Reference => layout.reference_eval_step(split, rows),
        }
    }
}

/// The most classes a [`LossHead`] takes: the whole row of outputs must fit in one workgroup's tile of the GPU's
/// fused kernel (its smallest tile is 32 wide). A wider last layer gets its own loss op instead.
pub const HEAD_MAX_CLASSES: usize = 32;

/// The loss computed at the end of a fused last layer ([`Op::FusedLinear`]), from the rows it has just produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossHead {
    /// Which loss (softmax cross-entropy of logits, or the quadratic cost of sigmoid outputs).
    pub loss: Loss,
    /// Where the gradient of the batch's mean loss goes, `[rows, classes]`; `None` in evaluation.
    pub dz: Option<BufId>,
    /// `[rows, 2]`: each row's loss and whether its argmax equals its label (1.0 or 0.0).
    pub row_stats: BufId,
}

/// One operation of a step. Field order: outputs, inputs, dims. Each variant's doc gives its math and shapes;
/// its CPU twin in [`crate::cpu::ops`] and its WGSL kernel in `shaders/` implement exactly that.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// x: [rows, features] = pixels[order[cursor + r]] / 255, and the batch labels:
    /// \[rows\] = labels[order[cursor + r]], where `order` is the split's sample order (shuffled per epoch for train)
    /// and `cursor` its position.
    Gather { x: BufId, split: Split, rows: usize, features: usize },
    /// y: [rows, outputs] = act(x: [rows, inputs] · w: [outputs, inputs]ᵀ + b: \[outputs\])
    Linear { y: BufId, x: BufId, w: BufId, b: BufId, act: Activation, rows: usize, inputs: usize, outputs: usize },
    /// Softmax cross-entropy of logits: [rows, classes] against the batch labels. Adds Σ loss and the number of
    /// correct argmax predictions to the split's statistics; if `dz` is given, dz: [rows, classes] =
    /// (softmax(logits) − onehot(label)) / rows, the gradient of the batch's mean loss.
    SoftmaxXent { dz: Option<BufId>, logits: BufId, split: Split, rows: usize, classes: usize },
    /// Quadratic cost ½‖a − onehot(label)‖² of a: [rows, classes] = σ(z), the sigmoid output layer. Adds Σ cost and
    /// correct argmax predictions to the split's statistics; if `dz` is given, dz: [rows, classes] =
    /// (a − onehot) ⊙ a(1 − a) / rows, the gradient of the batch's mean cost with respect to z.
    QuadraticCost { dz: Option<BufId>, a: BufId, split: Split, rows: usize, classes: usize },
    /// db: \[outputs\] = Σ_rows dz: [rows, outputs]
    BiasGrad { db: BufId, dz: BufId, rows: usize, outputs: usize },
    /// dw: [outputs, inputs] = dz: [rows, outputs]ᵀ · x: [rows, inputs]
    WeightGrad { dw: BufId, dz: BufId, x: BufId, rows: usize, inputs: usize, outputs: usize },
    /// dx: [rows, inputs] = (dz: [rows, outputs] · w: [outputs, inputs]) ⊙ act′, where act′ is the derivative of
    /// the previous layer's activation written in terms of its output x: [rows, inputs]
    /// (relu: x > 0; sigmoid: x(1 − x); tanh: 1 − x²).
    InputGrad { dx: BufId, dz: BufId, w: BufId, x: BufId, act: Activation, rows: usize, inputs: usize, outputs: usize },
    /// param: \[len\] updated from grad: \[len\] with `optimizer`, state buffers as [`Optimizer::state_tensors`]
    /// says; the step t is the number of train steps already taken + 1 (Adam's bias correction); with
    /// `decay_steps` T > 0 the learning rate is lr·(T − min(t − 1, T))/T (linear decay to 0), else constant.
    Update { param: BufId, state: [Option<BufId>; 2], grad: BufId, optimizer: Optimizer, len: usize, decay_steps: u64 },
    /// If `row_stats` is given, adds Σ row_stats: [rows, 2] (loss, correct) to the split's statistics; then the
    /// split's cursor += rows and, for [`Split::Train`], the step counter += 1. In a reference plan always the last
    /// op; in a fused plan it runs as soon as the loss is known, so the updates after it read t = the step count.
    Advance { split: Split, rows: usize, row_stats: Option<BufId> },
    /// Fused forward layer: y: [rows, outputs] = act(x: [rows, inputs] · w: [outputs, inputs]ᵀ + b: \[outputs\]).
    /// With `gather`, x is first read from the split at its cursor as [`Op::Gather`] does (the pixels straight from
    /// the resident data set; x and the batch labels are written too, for the weight gradient and the loss). With a
    /// `head`, the loss of y against the batch labels follows: its gradient (if asked) and per-row statistics.
    FusedLinear {
        y: BufId,
        x: BufId,
        w: BufId,
        b: BufId,
        act: Activation,
        rows: usize,
        inputs: usize,
        outputs: usize,
        gather: Option<Split>,
        head: Option<LossHead>,
    },
    /// Fused backward of one layer: gw = dzᵀ·x and gb = Σ_rows dz (as [`Op::WeightGrad`] and [`Op::BiasGrad`]), then
    /// w and b updated from them as [`Op::Update`] says, with t = the step count (the step's [`Op::Advance`] has
    /// already run). Shapes: dz: [rows, outputs], x: [rows, inputs], w and gw: [outputs, inputs], b and gb: \[outputs\].
    GradUpdate {
        w: BufId,
        b: BufId,
        gw: BufId,
        gb: BufId,
        sw: [Option<BufId>; 2],
        sb: [Option<BufId>; 2],
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
            Op::SoftmaxXent { .. } | Op::QuadraticCost { .. } => "loss",
            Op::WeightGrad { .. } => "weight_grad",
            Op::BiasGrad { .. } => "bias_grad",
            Op::InputGrad { .. } => "input_grad",
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
            Op::WeightGrad { rows, inputs, outputs, .. } => format!("weight_grad_{outputs}x{inputs}_k{rows}"),
            Op::BiasGrad { rows, outputs, .. } => format!("bias_grad_{rows}x{outputs}"),
            Op::InputGrad { act, rows, inputs, outputs, .. } => {
                format!("input_grad_{rows}x{outputs}x{inputs}_{}", act.name())
            }
            Op::Update { optimizer, len, .. } => format!("update_{}_{len}", optimizer.name()),
            Op::Advance { rows, row_stats, .. } => {
                format!("advance_{rows}{}", if row_stats.is_some() { "_stats" } else { "" })
            }
            Op::FusedLinear { act, rows, inputs, outputs, gather, head, .. } => {
                let mut label = format!("linear_{rows}x{inputs}x{outputs}_{}", act.name());
                if gather.is_some() {
                    label = format!("gather_{label}");
                }
                if let Some(h) = head {
                    label += &format!("_{}{}", h.loss.name(), if h.dz.is_some() { "" } else { "_eval" });
                }
                label
            }
            Op::GradUpdate { optimizer, rows, inputs, outputs, .. } => {
                format!("grad_update_{outputs}x{inputs}_k{rows}_{}", optimizer.name())
            }
        }
    }

    /// What the op reads and what it writes (a read-modify-write is a write). [`Plan::validate`] uses them to prove
    /// that the ops of one stage are independent.
    pub fn access(&self) -> (Vec<Resource>, Vec<Resource>) {
        use Resource::{BatchLabels, Buffer as B, Cursor, Stats, Steps};
        let opt = |ids: &[Option<BufId>]| ids.iter().flatten().map(|&id| B(id)).collect::<Vec<_>>();
        match *self {
            Op::Gather { x, split, .. } => (vec![Cursor(split)], vec![B(x), BatchLabels]),
            Op::Linear { y, x, w, b, .. } => (vec![B(x), B(w), B(b)], vec![B(y)]),
            Op::SoftmaxXent { dz, logits: out, split, .. } | Op::QuadraticCost { dz, a: out, split, .. } => {
                let mut writes = opt(&[dz]);
                writes.push(Stats(split));
                (vec![B(out), BatchLabels], writes)
            }
            Op::BiasGrad { db, dz, .. } => (vec![B(dz)], vec![B(db)]),
            Op::WeightGrad { dw, dz, x, .. } => (vec![B(dz), B(x)], vec![B(dw)]),
            Op::InputGrad { dx, dz, w, x, .. } => (vec![B(dz), B(w), B(x)], vec![B(dx)]),
            Op::Update { param, state, grad, .. } => {
                let mut writes = opt(&state);
                writes.push(B(param));
                (vec![B(grad), Steps], writes)
            }
            Op::Advance { split, row_stats, .. } => {
                let mut writes = vec![Cursor(split)];
                if split == Split::Train {
                    writes.push(Steps);
                }
                if row_stats.is_some() {
                    writes.push(Stats(split));
                }
                (opt(&[row_stats]), writes)
            }
            Op::FusedLinear { y, x, w, b, gather, head, .. } => {
                let mut reads = vec![B(w), B(b)];
                let mut writes = vec![B(y)];
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
                writes.extend(opt(&[sw[0], sw[1], sb[0], sb[1]]));
                (vec![B(dz), B(x), Steps], writes)
            }
        }
    }

    /// Every layout buffer the op names, with the number of values it uses of it (checked against the layout by
    /// [`Plan::validate`]).
    pub fn buffers(&self) -> Vec<(BufId, usize)> {
        let mut out = Vec::new();
        match *self {
            Op::Gather { x, rows, features, .. } => out.push((x, rows * features)),
            Op::Linear { y, x, w, b, rows, inputs, outputs, .. } => out.extend([
                (y, rows.saturating_mul(outputs)),
                (x, rows.saturating_mul(inputs)),
                (w, outputs.saturating_mul(inputs)),
                (b, outputs),
            ]),
            Op::SoftmaxXent { dz, logits: out_id, rows, classes, .. }
            | Op::QuadraticCost { dz, a: out_id, rows, classes, .. } => {
                out.push((out_id, rows * classes));
                out.extend(dz.map(|d| (d, rows * classes)));
            }
            Op::BiasGrad { db, dz, rows, outputs } => out.extend([(db, outputs), (dz, rows.saturating_mul(outputs))]),
            Op::WeightGrad { dw, dz, x, rows, inputs, outputs } => out.extend([
                (dw, outputs.saturating_mul(inputs)),
                (dz, rows.saturating_mul(outputs)),
                (x, rows.saturating_mul(inputs)),
            ]),
            Op::InputGrad { dx, dz, w, x, rows, inputs, outputs, .. } => out.extend([
                (dx, rows.saturating_mul(inputs)),
                (dz, rows.saturating_mul(outputs)),
                (w, outputs.saturating_mul(inputs)),
                (x, rows.saturating_mul(inputs)),
            ]),
            Op::Update { param, state, grad, optimizer, len, .. } => {
                out.extend([(param, len), (grad, len)]);
                out.extend(state.iter().take(optimizer.state_tensors()).map(|s| (s.unwrap_or(usize::MAX), len)));
            }
            Op::Advance { rows, row_stats, .. } => out.extend(row_stats.map(|r| (r, rows.saturating_mul(2)))),
            Op::FusedLinear { y, x, w, b, rows, inputs, outputs, head, .. } => {
                out.extend([
                    (y, rows.saturating_mul(outputs)),
                    (x, rows.saturating_mul(inputs)),
                    (w, outputs.saturating_mul(inputs)),
                    (b, outputs),
                ]);
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
                for s in 0..optimizer.state_tensors() {
                    out.extend([(sw[s].unwrap_or(usize::MAX), wl), (sb[s].unwrap_or(usize::MAX), bl)]);
                }
            }
        }
        out
    }
}

/// A step: the ops of one training or evaluation step at a fixed batch size, grouped into stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Samples per step.
    pub rows: usize,
    /// Which split it reads.
    pub split: Split,
    /// The ops, in order.
    pub ops: Vec<Op>,
    /// How many consecutive ops of `ops` form each stage (sums to `ops.len()`). The ops of a stage are independent
    /// ([`Plan::validate`]); a GPU runs each stage as one dispatch.
    pub stages: Vec<usize>,
}

impl Plan {
    /// A plan whose every op is a stage of its own.
    pub fn one_op_per_stage(rows: usize, split: Split, ops: Vec<Op>) -> Plan {
        let stages = vec![1; ops.len()];
        Plan { rows, split, ops, stages }
    }

    /// A plan from its stages, in order.
    pub fn from_stages(rows: usize, split: Split, stages: Vec<Vec<Op>>) -> Plan {
        let sizes = stages.iter().map(Vec::len).collect();
        Plan { rows, split, ops: stages.into_iter().flatten().collect(), stages: sizes }
    }

    /// The ops of each stage, in order.
    pub fn stage_ops(&self) -> impl Iterator<Item = &[Op]> + '_ {
        let mut at = 0;
        self.stages.iter().map(move |&n| {
            let stage = &self.ops[at.min(self.ops.len())..(at + n).min(self.ops.len())];
            at += n;
            stage
        })
    }

    /// Checks the plan against `layout` before any backend runs it: the stages cover the ops, every buffer an op
    /// names exists and is large enough, every op reads the plan's split, and no op of a stage writes what
    /// another op of the same stage reads or writes. The last rule is what makes a stage safe to run as one GPU
    /// dispatch, whose workgroups run in no defined order.
    pub fn validate(&self, layout: &Layout) -> Result<()> {
        if self.stages.iter().sum::<usize>() != self.ops.len() || self.stages.contains(&0) {
            return Err(Error::Config(format!(
                "a plan of {} ops has stages of sizes {:?}",
                self.ops.len(),
                self.stages
            )));
        }
        for op in &self.ops {
            for (id, need) in op.buffers() {
                let Some(desc) = layout.buffers.get(id) else {
                    return Err(Error::Config(format!(
                        "{}: no buffer {id} in a layout of {}",
                        op.label(),
                        layout.buffers.len()
                    )));
                };
                if desc.len < need {
                    return Err(Error::Config(format!(
                        "{}: buffer {} holds {} values but the op needs {need}",
                        op.label(),
                        desc.name,
                        desc.len
                    )));
                }
            }
            let (reads, writes) = op.access();
            let other = [Split::Train, Split::Test].into_iter().find(|&s| s != self.split);
            let names_other = reads
                .iter()
                .chain(&writes)
                .any(|r| matches!(r, Resource::Cursor(s) | Resource::Stats(s) if Some(*s) == other));
            if names_other {
                return Err(Error::Config(format!(
                    "{}: the op reads another split than its {:?} plan",
                    op.label(),
                    self.split
                )));
            }
        }
        for stage in self.stage_ops() {
            for (i, a) in stage.iter().enumerate() {
                let (a_reads, a_writes) = a.access();
                for b in stage.iter().skip(i + 1) {
                    let (b_reads, b_writes) = b.access();
                    let clash = a_writes
                        .iter()
                        .find(|r| b_reads.contains(r) || b_writes.contains(r))
                        .or_else(|| b_writes.iter().find(|r| a_reads.contains(r)));
                    if let Some(r) = clash {
                        return Err(Error::Config(format!(
                            "{} and {} share a stage but both touch {r:?} and one writes it: a GPU dispatch does \
                             not order its workgroups",
                            a.label(),
                            b.label()
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Layout {
    /// Lays out the buffers of `model` trained with `optimizer` in steps of at most `max_rows` samples. Sizes
    /// saturate at `usize::MAX` rather than wrap: a layout too large for any machine says so through
    /// [`Layout::bytes`] (and the backends refuse it), never as a small wrapped size.
    pub fn new(model: &ModelConfig, optimizer: Optimizer, max_rows: usize) -> Self {
        let mut buffers = Vec::new();
        let mut add = |name: String, len: usize, role: Role| {
            buffers.push(BufDesc { name, len, role });
            buffers.len() - 1
        };
        let mut x = add("x".into(), max_rows.saturating_mul(model.inputs), Role::Input);
        let mut layers = Vec::new();
        for (l, (inputs, outputs)) in model.layer_shapes().into_iter().enumerate() {
            let a = add(format!("a{}", l + 1), max_rows.saturating_mul(outputs), Role::Activation);
            let d = add(format!("d{}", l + 1), max_rows.saturating_mul(outputs), Role::Delta);
            let w = add(format!("layers.{l}.weight"), outputs.saturating_mul(inputs), Role::Param);
            let b = add(format!("layers.{l}.bias"), outputs, Role::Param);
            let gw = add(format!("layers.{l}.weight.grad"), outputs.saturating_mul(inputs), Role::Grad);
            let gb = add(format!("layers.{l}.bias.grad"), outputs, Role::Grad);
            let mut sw = [None, None];
            let mut sb = [None, None];
            for s in 0..optimizer.state_tensors() {
                let state = ["state0", "state1"][s];
                sw[s] = Some(add(format!("layers.{l}.weight.{state}"), outputs.saturating_mul(inputs), Role::State));
                sb[s] = Some(add(format!("layers.{l}.bias.{state}"), outputs, Role::State));
            }
            let act = model.layer_activation(l);
            layers.push(LayerBufs { inputs, outputs, act, x, a, d, w, b, gw, gb, sw, sb });
            x = a;
        }
        let row_stats = add("row_stats".into(), max_rows.saturating_mul(2), Role::RowStats);
        Layout { model: model.clone(), optimizer, max_rows, decay_steps: 0, buffers, layers, row_stats }
    }

    /// Bytes of all the buffers together (f32 each); `u64::MAX` when that does not fit in 64 bits.
    pub fn bytes(&self) -> u64 {
        self.buffers.iter().fold(0u64, |sum, b| sum.saturating_add((b.len as u64).saturating_mul(4)))
    }

    /// The buffer holding the network's output (logits, or sigmoid outputs with the quadratic cost).
    pub fn output(&self) -> BufId {
        self.layers.last().map_or(0, |l| l.a)
    }

    /// Fails unless a step of `rows` fits the layout.
    fn check_rows(&self, rows: usize) -> Result<()> {
        if rows == 0 || rows > self.max_rows {
            return Err(Error::Config(format!(
                "a step of {rows} rows does not fit a layout of 1..={} rows",
                self.max_rows
            )));
        }
        Ok(())
    }

    /// The loss op of the reference plan (statistics straight into the split's).
    fn loss_op(&self, split: Split, rows: usize, dz: Option<BufId>) -> Op {
        let last = self.layers[self.layers.len() - 1];
        let classes = last.outputs;
        match self.model.loss {
            Loss::Xent => Op::SoftmaxXent { dz, logits: last.a, split, rows, classes },
            Loss::Mse => Op::QuadraticCost { dz, a: last.a, split, rows, classes },
        }
    }

    /// The input gradient of layer `i` (> 0): the delta of layer `i − 1`.
    fn input_grad(&self, i: usize, rows: usize) -> Op {
        let (l, below) = (self.layers[i], self.layers[i - 1]);
        Op::InputGrad {
            dx: below.d,
            dz: l.d,
            w: l.w,
            x: l.x,
            act: below.act,
            rows,
            inputs: l.inputs,
            outputs: l.outputs,
        }
    }

    /// The reference step: one op per job, each its own stage. The forward pass and the loss; with `train`, also
    /// backward (weight, bias and input gradients, last layer first), every update, and the step counter.
    fn reference_step(&self, split: Split, rows: usize, train: bool) -> Result<Plan> {
        self.check_rows(rows)?;
        let mut ops = vec![Op::Gather { x: 0, split, rows, features: self.model.inputs }];
        // Forward: each layer's output feeds the next.
        for l in &self.layers {
            let (y, x, w, b, act, inputs, outputs) = (l.a, l.x, l.w, l.b, l.act, l.inputs, l.outputs);
            ops.push(Op::Linear { y, x, w, b, act, rows, inputs, outputs });
        }
        // Loss: statistics always, the output delta only when training.
        let last = self.layers[self.layers.len() - 1];
        ops.push(self.loss_op(split, rows, train.then_some(last.d)));
        if train {
            // Backward, last layer first: gradients of w and b, then the delta of the layer below.
            for (i, l) in self.layers.iter().enumerate().rev() {
                let (rows, inputs, outputs) = (rows, l.inputs, l.outputs);
                ops.push(Op::WeightGrad { dw: l.gw, dz: l.d, x: l.x, rows, inputs, outputs });
                ops.push(Op::BiasGrad { db: l.gb, dz: l.d, rows, outputs });
                if i > 0 {
                    ops.push(self.input_grad(i, rows));
                }
            }
            // Update every parameter from its gradient.
            let (optimizer, decay_steps) = (self.optimizer, self.decay_steps);
            for l in &self.layers {
                let w_len = l.inputs * l.outputs;
                ops.push(Op::Update { param: l.w, state: l.sw, grad: l.gw, optimizer, len: w_len, decay_steps });
                ops.push(Op::Update { param: l.b, state: l.sb, grad: l.gb, optimizer, len: l.outputs, decay_steps });
            }
        }
        ops.push(Op::Advance { split, rows, row_stats: None });
        Ok(Plan::one_op_per_stage(rows, split, ops))
    }

    /// The fused step: the same work as [`Layout::reference_step`] in at most 2L + 1 stages (2L for L ≥ 2):
    ///
    /// 1. L forward stages: `FusedLinear` per layer, the first gathering its input, the last computing the loss
    ///    (a [`LossHead`], if the classes fit one; otherwise the loss is a stage of its own);
    /// 2. the last layer's input gradient with the `Advance` (statistics, cursor, step count);
    /// 3. for each layer l from the last down to the third: the update of l with the input gradient of l − 1 (the
    ///    update writes l's weights, the input gradient reads those of l − 1: nothing is shared);
    /// 4. the updates of the first two layers together.
    ///
    /// Evaluation stops after the forward stages and the `Advance`.
    fn fused_step(&self, split: Split, rows: usize, train: bool) -> Result<Plan> {
        self.check_rows(rows)?;
        let n = self.layers.len();
        let last = self.layers[n - 1];
        let head_fits = last.outputs <= HEAD_MAX_CLASSES;
        let mut stages: Vec<Vec<Op>> = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let head = (i == n - 1 && head_fits).then_some(LossHead {
                loss: self.model.loss,
                dz: train.then_some(l.d),
                row_stats: self.row_stats,
            });
            let (y, x, w, b, act, inputs, outputs) = (l.a, l.x, l.w, l.b, l.act, l.inputs, l.outputs);
            let gather = (i == 0).then_some(split);
            stages.push(vec![Op::FusedLinear { y, x, w, b, act, rows, inputs, outputs, gather, head }]);
        }
        if !head_fits {
            stages.push(vec![self.loss_op(split, rows, train.then_some(last.d))]);
        }
        let advance = Op::Advance { split, rows, row_stats: head_fits.then_some(self.row_stats) };
        if !train {
            stages.push(vec![advance]);
            return Ok(Plan::from_stages(rows, split, stages));
        }
        let (optimizer, decay_steps) = (self.optimizer, self.decay_steps);
        let update = |i: usize| {
            let l = self.layers[i];
            let (w, b, gw, gb, sw, sb, dz, x) = (l.w, l.b, l.gw, l.gb, l.sw, l.sb, l.d, l.x);
            let (inputs, outputs) = (l.inputs, l.outputs);
            Op::GradUpdate { w, b, gw, gb, sw, sb, dz, x, optimizer, rows, inputs, outputs, decay_steps }
        };
        if n == 1 {
            stages.push(vec![advance]);
            stages.push(vec![update(0)]);
        } else {
            stages.push(vec![self.input_grad(n - 1, rows), advance]);
            for i in (1..n - 1).rev() {
                stages.push(vec![update(i + 1), self.input_grad(i, rows)]);
            }
            stages.push(vec![update(1), update(0)]);
        }
        Ok(Plan::from_stages(rows, split, stages))
    }

    /// One training step of `rows` samples as training runs it: the fused plan (see [`Layout::fused_step`]).
    pub fn train_step(&self, rows: usize) -> Result<Plan> {
        self.fused_step(Split::Train, rows, true)
    }

    /// One evaluation step of `rows` samples of `split` as training runs it: the fused forward pass and the
    /// statistics.
    pub fn eval_step(&self, split: Split, rows: usize) -> Result<Plan> {
        self.fused_step(split, rows, false)
    }

    /// The reference training step: gather, forward, loss, backward, update, advance, one op per stage — the
    /// definition the fused plan is tested against.
    pub fn reference_train_step(&self, rows: usize) -> Result<Plan> {
        self.reference_step(Split::Train, rows, true)
    }

    /// The reference evaluation step: gather, forward, loss statistics, advance.
    pub fn reference_eval_step(&self, split: Split, rows: usize) -> Result<Plan> {
        self.reference_step(split, rows, false)
    }

    /// Fails unless `id` names a buffer of this layout and, if `len` is given, the buffer holds exactly `len` values
    /// (what every backend checks before reading or writing a buffer for its caller).
    pub fn check_buffer(&self, id: BufId, len: Option<usize>) -> Result<()> {
        let Some(desc) = self.buffers.get(id) else {
            return Err(Error::Config(format!("no buffer {id} in a layout of {}", self.buffers.len())));
        };
        match len {
            Some(len) if len != desc.len => {
                Err(Error::Config(format!("buffer {} holds {} values, got {len}", desc.name, desc.len)))
            }
            _ => Ok(()),
        }
    }

    /// The buffers of the parameters, in [`crate::model::Params::tensors`] order.
    pub fn param_buffers(&self) -> Vec<BufId> {
        self.layers.iter().flat_map(|l| [l.w, l.b]).collect()
    }

    /// The optimizer-state buffers, in a fixed order (per layer: w state0, b state0, w state1, b state1).
    pub fn state_buffers(&self) -> Vec<BufId> {
        self.layers.iter().flat_map(|l| [l.sw[0], l.sb[0], l.sw[1], l.sb[1]]).flatten().collect()
    }
}
