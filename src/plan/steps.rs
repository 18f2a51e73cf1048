//! The builders of a step's plan: the reference plans (one op per stage, the definition) and the fused plans (at
//! most 2L + 1 stages, what training runs), and [`PlanForm`], the choice between them.

use crate::error::{Error, Result};
use crate::model::Loss;
use crate::plan::layout::{BufId, Layout, Split};
use crate::plan::op::{DropoutSpec, LossHead, Op, HEAD_MAX_CLASSES};
use crate::plan::validate::Plan;

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

impl Layout {
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
            Loss::Bce => Op::BinaryXent { dz, logits: last.a, split, rows },
            Loss::Perceptron => Op::Perceptron { dz, z: last.a, split, rows, classes },
        }
    }

    /// The input gradient of layer `i` (> 0): the delta of layer `i − 1`, through the derivative of its activation
    /// written in terms of its output (layer `i`'s input) or, where it keeps one, its pre-activation.
    fn input_grad(&self, i: usize, rows: usize) -> Op {
        let (l, below) = (self.layers[i], self.layers[i - 1]);
        Op::InputGrad {
            dx: below.d,
            dz: l.d,
            w: l.w,
            saved: below.z.unwrap_or(l.x),
            mask: below.mask,
            act: below.act,
            rows,
            inputs: l.inputs,
            outputs: l.outputs,
        }
    }

    /// The dropout of layer `l`'s output in a training step, if the layout drops units there (hidden layers only).
    fn dropout_spec(&self, l: usize) -> Option<DropoutSpec> {
        Some(self.dropout?.spec(self.layers[l].mask?, l as u32))
    }

    /// The gather of `rows` samples of `split` into the first layer's input x.
    fn gather(&self, split: Split, rows: usize) -> Op {
        Op::Gather { x: self.layers[0].x, split, rows, features: self.model.inputs }
    }

    /// The dropout of the gathered input x (the first layer's x) in a training step, if the layout drops pixels.
    fn input_dropout_op(&self, rows: usize, train: bool) -> Option<Op> {
        let (d, mask) = self.input_dropout.filter(|_| train)?;
        let spec = d.spec(mask, crate::dropout::INPUT_LAYER);
        Some(Op::Dropout { y: self.layers[0].x, rows, outputs: self.model.inputs, spec })
    }

    /// The reference step: one op per job, each its own stage. The forward pass (keeping the pre-activations the
    /// backward pass reads, when training) and the loss; with `train`, also backward (weight, bias and input
    /// gradients, last layer first), every update, and the step counter.
    fn reference_step(&self, split: Split, rows: usize, train: bool) -> Result<Plan> {
        self.check_rows(rows)?;
        let mut ops = vec![self.gather(split, rows)];
        // Dropout of the input pixels, while training.
        ops.extend(self.input_dropout_op(rows, train));
        // Forward: each layer's output feeds the next.
        for (i, l) in self.layers.iter().enumerate() {
            let (y, x, w, b, act, inputs, outputs) = (l.a, l.x, l.w, l.b, l.act, l.inputs, l.outputs);
            let z = l.z.filter(|_| train);
            ops.push(Op::Linear { y, z, x, w, b, act, rows, inputs, outputs });
            // Dropout of a hidden layer's output, while training.
            if let Some(spec) = self.dropout_spec(i).filter(|_| train) {
                ops.push(Op::Dropout { y, rows, outputs, spec });
            }
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
        ops.push(Op::Advance { counts_step: true, split, rows, row_stats: None });
        Ok(Plan::one_op_per_stage(rows, split, ops))
    }

    /// The fused step: the same work as [`Layout::reference_step`] in at most 2L + 1 stages (2L for L ≥ 2), two more
    /// with input dropout:
    ///
    /// 0. with input dropout (when training), the gather and the input's dropout, a stage each;
    /// 1. L forward stages: `FusedLinear` per layer, the first gathering its input, the last computing the loss
    ///    (a [`LossHead`], if the classes fit one; otherwise the loss is a stage of its own), each keeping its
    ///    pre-activation where its activation's derivative needs it and dropping units of the hidden layers' outputs
    ///    where the layout says so (when training);
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
        // Input dropout: the gather is a stage of its own, so that the first layer reads the dropped pixels.
        let input_dropout = self.input_dropout_op(rows, train);
        if let Some(op) = input_dropout {
            stages.push(vec![self.gather(split, rows)]);
            stages.push(vec![op]);
        }
        for (i, l) in self.layers.iter().enumerate() {
            let head = (i == n - 1 && head_fits).then_some(LossHead {
                loss: self.model.loss,
                dz: train.then_some(l.d),
                row_stats: self.row_stats,
            });
            let (y, x, w, b, act, inputs, outputs) = (l.a, l.x, l.w, l.b, l.act, l.inputs, l.outputs);
            let (z, gather) = (l.z.filter(|_| train), (i == 0 && input_dropout.is_none()).then_some(split));
            let dropout = self.dropout_spec(i).filter(|_| train);
            stages.push(vec![Op::FusedLinear { y, z, x, w, b, act, rows, inputs, outputs, gather, head, dropout }]);
        }
        if !head_fits {
            stages.push(vec![self.loss_op(split, rows, train.then_some(last.d))]);
        }
        let advance = Op::Advance { counts_step: true, split, rows, row_stats: head_fits.then_some(self.row_stats) };
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

    /// One chunk of `rows` rows of a training step of `total` rows too large for one pass (full-batch gradient descent
    /// where the batch's buffers exceed what a GPU binds; [`Layout::with_chunks`]): the reference plan's gather,
    /// forward pass, loss and gradients over the chunk's rows, then each gradient (the mean over the chunk) added into
    /// the step's sum with weight rows / total (`first`: the sum starts there), so the sum is the mean over the step;
    /// the `last` chunk then updates every parameter from its sum, once, and counts the step. Every chunk's advance
    /// moves the cursor and adds the chunk's loss statistics. One op per stage, on every backend.
    pub fn chunk_step(&self, rows: usize, total: usize, first: bool, last: bool) -> Result<Plan> {
        self.check_rows(rows)?;
        if self.dropout.is_some() || self.input_dropout.is_some() {
            return Err(Error::Config(
                "dropout draws its factors per step, not per chunk: a step run in chunks cannot drop units; use \
                 --dropout 0 and --input-dropout 0, or a --batch-size whose step fits in one pass"
                    .into(),
            ));
        }
        if total < rows || (last && first && total != rows) {
            return Err(Error::Config(format!("a chunk of {rows} rows of a step of {total} rows")));
        }
        let mut ops = vec![self.gather(Split::Train, rows)];
        for l in &self.layers {
            let (y, z, x, w, b, act, inputs, outputs) = (l.a, l.z, l.x, l.w, l.b, l.act, l.inputs, l.outputs);
            ops.push(Op::Linear { y, z, x, w, b, act, rows, inputs, outputs });
        }
        let top = self.layers[self.layers.len() - 1];
        ops.push(self.loss_op(Split::Train, rows, Some(top.d)));
        let scale = rows as f32 / total as f32;
        for (i, l) in self.layers.iter().enumerate().rev() {
            let (inputs, outputs) = (l.inputs, l.outputs);
            let Some((sw, sb)) = l.sums else {
                return Err(Error::Config("a chunked step needs a layout made with_chunks".into()));
            };
            ops.push(Op::WeightGrad { dw: l.gw, dz: l.d, x: l.x, rows, inputs, outputs });
            ops.push(Op::BiasGrad { db: l.gb, dz: l.d, rows, outputs });
            if i > 0 {
                ops.push(self.input_grad(i, rows));
            }
            ops.push(Op::Accumulate { sum: sw, grad: l.gw, len: inputs * outputs, scale, first });
            ops.push(Op::Accumulate { sum: sb, grad: l.gb, len: outputs, scale, first });
        }
        if last {
            let (optimizer, decay_steps) = (self.optimizer, self.decay_steps);
            for l in &self.layers {
                let Some((sw, sb)) = l.sums else { continue };
                let len = l.inputs * l.outputs;
                ops.push(Op::Update { param: l.w, state: l.sw, grad: sw, optimizer, len, decay_steps });
                ops.push(Op::Update { param: l.b, state: l.sb, grad: sb, optimizer, len: l.outputs, decay_steps });
            }
        }
        ops.push(Op::Advance { split: Split::Train, rows, row_stats: None, counts_step: last });
        Ok(Plan::one_op_per_stage(rows, Split::Train, ops))
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
}
