//! The buffers of a step: which split is read, what each buffer holds, and [`Layout`], every buffer an MLP needs
//! with its allocation.

use crate::error::{Error, Result};
use crate::model::{Act, ModelConfig};
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
    /// A layer's pre-activation z = x·wᵀ + b, kept only where the activation's derivative needs it
    /// ([`crate::model::Activation::needs_pre_activation`]).
    PreActivation,
    /// ∂loss/∂z of a layer (the "delta").
    Delta,
    /// A hidden layer's dropout factors of the last training step (0 or 1/(1 − p)), kept for the input gradient; or
    /// the input's ([`Layout::with_input_dropout`]), which nothing reads back.
    Mask,
    /// A weight or bias.
    Param,
    /// The gradient of a weight or bias.
    Grad,
    /// A weight's or bias's gradient summed over the chunks of a step run in chunks ([`Layout::with_chunks`]).
    GradSum,
    /// Optimizer state: a parameter's state tensors, packed (see [`crate::optim::RuleRow::states`]).
    State,
    /// Per-row statistics of the last batch, `[rows, 2]`: each row's loss and 1.0 if its prediction was right
    /// (written by a [`LossHead`](super::LossHead), summed into the split's statistics by
    /// [`Op::Advance`](super::Op::Advance)).
    RowStats,
}

/// One f32 buffer of the layout.
#[derive(Clone, Debug, PartialEq)]
pub struct BufDesc {
    /// A readable name, `layers.0.weight`, `a1`, `z1`, `d2`, `layers.1.bias.grad`…
    pub name: String,
    /// Number of f32 elements.
    pub len: usize,
    /// What it holds.
    pub role: Role,
}

/// The buffers of one linear layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerBufs {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// The activation applied to this layer's output, with its parameter.
    pub act: Act,
    /// x: [rows, inputs] — the input batch or the previous layer's output.
    pub x: BufId,
    /// a: [rows, outputs] — this layer's output.
    pub a: BufId,
    /// z: [rows, outputs] — this layer's pre-activation x·wᵀ + b, only where `act` needs it
    /// ([`crate::model::Activation::needs_pre_activation`]).
    pub z: Option<BufId>,
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
    /// Optimizer state for w: [n, outputs, inputs], the rule's n state tensors packed one after the other (none for
    /// plain SGD).
    pub sw: Option<BufId>,
    /// Optimizer state for b: [n, outputs].
    pub sb: Option<BufId>,
    /// m: [rows, outputs] — this layer's dropout factors while training, only for a hidden layer when the layout
    /// drops units ([`Layout::with_dropout`]).
    pub mask: Option<BufId>,
    /// The step's ∂loss/∂w: [outputs, inputs] and ∂loss/∂b: \[outputs\] summed over its chunks, only when the
    /// layout runs its training steps in chunks ([`Layout::with_chunks`]).
    pub sums: Option<(BufId, BufId)>,
}

/// Dropout of a layout's hidden layers (or of its input) while training: its probability and the seed that keys its
/// draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayoutDropout {
    /// p and 1/(1 − p).
    pub dropout: crate::dropout::Dropout,
    /// The run's seed.
    pub seed: u64,
}

impl LayoutDropout {
    /// The dropout op's spec for the factors written to `mask`, drawn under the key of `layer` (a linear layer's
    /// index, or [`crate::dropout::INPUT_LAYER`]).
    pub fn spec(self, mask: BufId, layer: u32) -> super::DropoutSpec {
        super::DropoutSpec { mask, dropout: self.dropout, layer, seed: self.seed }
    }
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
    /// Dropout of the hidden layers' outputs while training, if any ([`Layout::with_dropout`]).
    pub dropout: Option<LayoutDropout>,
    /// Dropout of the input pixels while training, if any, and the buffer of its factors `[max_rows, inputs]`
    /// ([`Layout::with_input_dropout`]).
    pub input_dropout: Option<(LayoutDropout, BufId)>,
    /// Rows per pass when a training step has more rows than its buffers hold: the step then runs in chunks of this
    /// many rows whose gradients are summed before its one update ([`Layout::with_chunks`],
    /// [`Layout::chunk_step`]); `None`: every step is one pass.
    pub chunk_rows: Option<usize>,
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
            let act = model.layer_act(l);
            let a = add(format!("a{}", l + 1), max_rows.saturating_mul(outputs), Role::Activation);
            let z = act
                .needs_pre_activation()
                .then(|| add(format!("z{}", l + 1), max_rows.saturating_mul(outputs), Role::PreActivation));
            let d = add(format!("d{}", l + 1), max_rows.saturating_mul(outputs), Role::Delta);
            let w = add(format!("layers.{l}.weight"), outputs.saturating_mul(inputs), Role::Param);
            let b = add(format!("layers.{l}.bias"), outputs, Role::Param);
            let gw = add(format!("layers.{l}.weight.grad"), outputs.saturating_mul(inputs), Role::Grad);
            let gb = add(format!("layers.{l}.bias.grad"), outputs, Role::Grad);
            let (mut sw, mut sb) = (None, None);
            let n = optimizer.state_tensors();
            if n > 0 {
                let w_len = outputs.saturating_mul(inputs).saturating_mul(n);
                sw = Some(add(format!("layers.{l}.weight.state"), w_len, Role::State));
                sb = Some(add(format!("layers.{l}.bias.state"), outputs.saturating_mul(n), Role::State));
            }
            layers.push(LayerBufs { inputs, outputs, act, x, a, z, d, w, b, gw, gb, sw, sb, mask: None, sums: None });
            x = a;
        }
        let row_stats = add("row_stats".into(), max_rows.saturating_mul(2), Role::RowStats);
        let (decay_steps, dropout, input_dropout, chunk_rows) = (0, None, None, None);
        Layout {
            model: model.clone(),
            optimizer,
            max_rows,
            decay_steps,
            buffers,
            layers,
            row_stats,
            dropout,
            input_dropout,
            chunk_rows,
        }
    }

    /// This layout with dropout of probability `p` on every hidden layer's output while training (inverted, as
    /// PyTorch's `nn.Dropout` after each hidden activation: kept units are scaled by 1/(1 − p); evaluation uses all
    /// of them), its draws keyed by `seed`: a mask buffer per hidden layer. `p` = 0 leaves the layout as it is.
    pub fn with_dropout(mut self, p: f32, seed: u64) -> Self {
        if p <= 0.0 || self.dropout.is_some() {
            return self;
        }
        let hidden = self.layers.len().saturating_sub(1);
        for (l, layer) in self.layers.iter_mut().enumerate().take(hidden) {
            let len = self.max_rows.saturating_mul(layer.outputs);
            self.buffers.push(BufDesc { name: format!("m{}", l + 1), len, role: Role::Mask });
            layer.mask = Some(self.buffers.len() - 1);
        }
        self.dropout = Some(LayoutDropout { dropout: crate::dropout::Dropout::new(p), seed });
        self
    }

    /// This layout with dropout of probability `p` on the input pixels while training (inverted, as PyTorch's
    /// `nn.Dropout(p)` before the first `nn.Linear`; Hinton et al. 2012 and Srivastava et al. 2014 drop 20% of
    /// MNIST's pixels), its draws keyed by `seed` and [`crate::dropout::INPUT_LAYER`]: one more mask buffer. `p` = 0
    /// leaves the layout as it is.
    pub fn with_input_dropout(mut self, p: f32, seed: u64) -> Self {
        if p <= 0.0 || self.input_dropout.is_some() {
            return self;
        }
        let len = self.max_rows.saturating_mul(self.model.inputs);
        self.buffers.push(BufDesc { name: "m0".into(), len, role: Role::Mask });
        let spec = LayoutDropout { dropout: crate::dropout::Dropout::new(p), seed };
        self.input_dropout = Some((spec, self.buffers.len() - 1));
        self
    }

    /// This layout with its training steps run in chunks of `rows` rows (at most `max_rows`): a gradient-sum buffer
    /// per parameter, which each chunk adds its share of the step's gradient to and the step's one update reads.
    pub fn with_chunks(mut self, rows: usize) -> Self {
        if self.chunk_rows.is_some() {
            return self;
        }
        for layer in &mut self.layers {
            let (w_name, b_name) = (self.buffers[layer.w].name.clone(), self.buffers[layer.b].name.clone());
            let mut add = |name: String, len: usize| {
                self.buffers.push(BufDesc { name: format!("{name}.grad_sum"), len, role: Role::GradSum });
                self.buffers.len() - 1
            };
            let w = add(w_name, layer.inputs.saturating_mul(layer.outputs));
            let b = add(b_name, layer.outputs);
            layer.sums = Some((w, b));
        }
        self.chunk_rows = Some(rows.min(self.max_rows));
        self
    }

    /// Bytes of all the buffers together (f32 each); `u64::MAX` when that does not fit in 64 bits.
    pub fn bytes(&self) -> u64 {
        self.buffers.iter().fold(0u64, |sum, b| sum.saturating_add((b.len as u64).saturating_mul(4)))
    }

    /// The buffer holding the network's output (logits, or sigmoid outputs with the quadratic cost).
    pub fn output(&self) -> BufId {
        self.layers.last().map_or(0, |l| l.a)
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

    /// The optimizer-state buffers, in a fixed order (per layer: the weight's, then the bias's), each holding the
    /// rule's state tensors packed one after the other.
    pub fn state_buffers(&self) -> Vec<BufId> {
        self.layers.iter().flat_map(|l| [l.sw, l.sb]).flatten().collect()
    }
}
