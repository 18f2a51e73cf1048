//! One description of the training step, executed by every backend.
//!
//! A [`Layout`] names every buffer an MLP needs (batch, activations, deltas, parameters, gradients, optimizer
//! state); a [`Plan`] is the short, fixed list of [`Op`]s of one step over those buffers. The CPU backend interprets
//! the ops one by one (the reference); the GPU backend compiles each op once into a pipeline, a bind group and a
//! workgroup count, then only re-encodes the list per step. The model's math is therefore written once, here, and
//! every GPU kernel has exactly one CPU twin in [`crate::cpu::ops`].
//!
//! Shapes are row-major; a "row" is a sample. Weights follow PyTorch: `w: [out, in]`.

use crate::error::{Error, Result};
use crate::model::{Activation, ModelConfig};
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
    /// The split's cursor += rows; for [`Split::Train`] the step counter += 1. Always the last op of a step.
    Advance { split: Split, rows: usize },
}

impl Op {
    /// The kernel family the op belongs to, for time breakdowns: `gather`, `linear`, `loss`, `weight_grad`,
    /// `bias_grad`, `input_grad`, `update` or `advance`.
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
            Op::Advance { rows, .. } => format!("advance_{rows}"),
        }
    }
}

/// A step: the ops of one training or evaluation step at a fixed batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Samples per step.
    pub rows: usize,
    /// Which split it reads.
    pub split: Split,
    /// The ops, in order.
    pub ops: Vec<Op>,
}

impl Layout {
    /// Lays out the buffers of `model` trained with `optimizer` in steps of at most `max_rows` samples.
    pub fn new(model: &ModelConfig, optimizer: Optimizer, max_rows: usize) -> Self {
        let mut buffers = Vec::new();
        let mut add = |name: String, len: usize, role: Role| {
            buffers.push(BufDesc { name, len, role });
            buffers.len() - 1
        };
        let mut x = add("x".into(), max_rows * model.inputs, Role::Input);
        let mut layers = Vec::new();
        for (l, (inputs, outputs)) in model.layer_shapes().into_iter().enumerate() {
            let a = add(format!("a{}", l + 1), max_rows * outputs, Role::Activation);
            let d = add(format!("d{}", l + 1), max_rows * outputs, Role::Delta);
            let w = add(format!("layers.{l}.weight"), outputs * inputs, Role::Param);
            let b = add(format!("layers.{l}.bias"), outputs, Role::Param);
            let gw = add(format!("layers.{l}.weight.grad"), outputs * inputs, Role::Grad);
            let gb = add(format!("layers.{l}.bias.grad"), outputs, Role::Grad);
            let mut sw = [None, None];
            let mut sb = [None, None];
            for s in 0..optimizer.state_tensors() {
                let state = ["state0", "state1"][s];
                sw[s] = Some(add(format!("layers.{l}.weight.{state}"), outputs * inputs, Role::State));
                sb[s] = Some(add(format!("layers.{l}.bias.{state}"), outputs, Role::State));
            }
            let act = model.layer_activation(l);
            layers.push(LayerBufs { inputs, outputs, act, x, a, d, w, b, gw, gb, sw, sb });
            x = a;
        }
        Layout { model: model.clone(), optimizer, max_rows, decay_steps: 0, buffers, layers }
    }

    /// Bytes of all the buffers together (f32 each).
    pub fn bytes(&self) -> u64 {
        self.buffers.iter().map(|b| b.len as u64 * 4).sum()
    }

    /// The buffer holding the network's output (logits, or sigmoid outputs with the quadratic cost).
    pub fn output(&self) -> BufId {
        self.layers.last().map_or(0, |l| l.a)
    }

    /// The forward pass and the loss; with `train`, also backward, update and the step counter.
    fn step(&self, split: Split, rows: usize, train: bool) -> Result<Plan> {
        if rows == 0 || rows > self.max_rows {
            return Err(Error::Config(format!(
                "a step of {rows} rows does not fit a layout of 1..={} rows",
                self.max_rows
            )));
        }
        let mut ops = vec![Op::Gather { x: 0, split, rows, features: self.model.inputs }];
        // Forward: each layer's output feeds the next.
        for l in &self.layers {
            ops.push(Op::Linear {
                y: l.a,
                x: l.x,
                w: l.w,
                b: l.b,
                act: l.act,
                rows,
                inputs: l.inputs,
                outputs: l.outputs,
            });
        }
        // Loss: statistics always, the output delta only when training.
        let last = self.layers[self.layers.len() - 1];
        let (classes, dz) = (last.outputs, train.then_some(last.d));
        ops.push(match self.model.loss {
            crate::model::Loss::Xent => Op::SoftmaxXent { dz, logits: last.a, split, rows, classes },
            crate::model::Loss::Mse => Op::QuadraticCost { dz, a: last.a, split, rows, classes },
        });
        if train {
            // Backward, last layer first: gradients of w and b, then the delta of the layer below.
            for (i, l) in self.layers.iter().enumerate().rev() {
                let (rows, inputs, outputs) = (rows, l.inputs, l.outputs);
                ops.push(Op::WeightGrad { dw: l.gw, dz: l.d, x: l.x, rows, inputs, outputs });
                ops.push(Op::BiasGrad { db: l.gb, dz: l.d, rows, outputs });
                if i > 0 {
                    let below = self.layers[i - 1];
                    ops.push(Op::InputGrad {
                        dx: below.d,
                        dz: l.d,
                        w: l.w,
                        x: l.x,
                        act: below.act,
                        rows,
                        inputs,
                        outputs,
                    });
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
        ops.push(Op::Advance { split, rows });
        Ok(Plan { rows, split, ops })
    }

    /// One training step of `rows` samples: gather, forward, loss, backward, update, advance.
    pub fn train_step(&self, rows: usize) -> Result<Plan> {
        self.step(Split::Train, rows, true)
    }

    /// One evaluation step of `rows` samples of `split`: gather, forward, loss statistics, advance.
    pub fn eval_step(&self, split: Split, rows: usize) -> Result<Plan> {
        self.step(split, rows, false)
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
