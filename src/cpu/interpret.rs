//! How the CPU backend runs one op: with the reference functions of [`super::ops`]; a fused op as the reference
//! functions of the ops it fuses, in order (its "CPU twin").

use super::{ops, CpuBackend, LossFn};
use crate::error::{Error, Result};
use crate::plan::{BufId, DropoutSpec, Op, Split};

impl CpuBackend {
    /// Executes one op with its reference function.
    pub(super) fn execute(&mut self, op: &Op) -> Result<()> {
        match *op {
            Op::Gather { x, split, rows, features } => self.gather(x, split, rows, features),
            Op::Linear { y, z, x, w, b, act, rows, inputs, outputs } => {
                let mut out = self.take(y);
                let mut pre = z.map(|z| self.take(z));
                let r = ops::linear(
                    &mut out,
                    pre.as_deref_mut(),
                    &self.buffers[x],
                    &self.buffers[w],
                    &self.buffers[b],
                    act,
                    rows,
                    inputs,
                    outputs,
                );
                self.put(y, out);
                if let (Some(z), Some(pre)) = (z, pre) {
                    self.put(z, pre);
                }
                r
            }
            Op::SoftmaxXent { dz, logits: out, split, rows, classes }
            | Op::QuadraticCost { dz, a: out, split, rows, classes }
            | Op::Perceptron { dz, z: out, split, rows, classes } => {
                let loss: LossFn = match op {
                    Op::SoftmaxXent { .. } => ops::softmax_xent,
                    Op::Perceptron { .. } => ops::perceptron,
                    _ => ops::quadratic_cost,
                };
                let mut grad = dz.map(|d| self.take(d));
                let r = loss(grad.as_deref_mut(), &self.buffers[out], &self.labels, rows, classes);
                if let (Some(d), Some(g)) = (dz, grad) {
                    self.put(d, g);
                }
                self.add_stats(split, rows, r?);
                Ok(())
            }
            Op::BinaryXent { dz, logits, split, rows } => {
                let mut grad = dz.map(|d| self.take(d));
                let r = ops::binary_xent(grad.as_deref_mut(), &self.buffers[logits], &self.labels, rows);
                if let (Some(d), Some(g)) = (dz, grad) {
                    self.put(d, g);
                }
                self.add_stats(split, rows, r?);
                Ok(())
            }
            Op::BiasGrad { db, dz, rows, outputs } => {
                let mut out = self.take(db);
                let r = ops::bias_grad(&mut out, &self.buffers[dz], rows, outputs);
                self.put(db, out);
                r
            }
            Op::WeightGrad { dw, dz, x, rows, inputs, outputs } => {
                let mut out = self.take(dw);
                let r = ops::weight_grad(&mut out, &self.buffers[dz], &self.buffers[x], rows, inputs, outputs);
                self.put(dw, out);
                r
            }
            Op::InputGrad { dx, dz, w, saved, mask, act, rows, inputs, outputs } => {
                let mut out = self.take(dx);
                let r = ops::input_grad(
                    &mut out,
                    &self.buffers[dz],
                    &self.buffers[w],
                    &self.buffers[saved],
                    mask.map(|m| self.buffers[m].as_slice()),
                    act,
                    rows,
                    inputs,
                    outputs,
                );
                self.put(dx, out);
                r
            }
            Op::Update { param, state, grad, optimizer, len, decay_steps } => {
                self.update(param, state, grad, optimizer, len, self.steps_done + 1, decay_steps)
            }
            Op::Dropout { y, rows, outputs, spec } => self.dropout(y, rows * outputs, spec),
            Op::Accumulate { sum, grad, len, scale, first } => {
                let mut out = self.take(sum);
                let r = ops::accumulate(&mut out, &self.buffers[grad], scale, first, len);
                self.put(sum, out);
                r
            }
            Op::FusedLinear { .. } => self.fused_linear(op),
            Op::GradUpdate { .. } => self.grad_update(op),
            Op::Advance { split, rows, row_stats, counts_step } => {
                if let Some(id) = row_stats {
                    let batch = ops::sum_row_stats(&self.buffers[id], rows)?;
                    self.add_stats(split, rows, batch);
                }
                self.cursors[split.index()].position += rows;
                if split == Split::Train && counts_step {
                    self.steps_done += 1;
                }
                Ok(())
            }
        }
    }

    /// [`Op::Gather`]: x and the batch labels from the split's order at its cursor.
    fn gather(&mut self, x: BufId, split: Split, rows: usize, features: usize) -> Result<()> {
        let cursor = &self.cursors[split.index()];
        let range = cursor.position..cursor.position + rows;
        if range.end > cursor.order.len() {
            let (have, at) = (cursor.order.len(), cursor.position);
            return Err(Error::Config(format!(
                "the {split:?} order has {have} samples; a step at {at} needs {rows} more"
            )));
        }
        let mut out = self.take(x);
        let mut labels = std::mem::take(&mut self.labels);
        let src = self.split_data(split);
        let order = &self.cursors[split.index()].order[range];
        let result =
            ops::gather(&mut out, &mut labels, &src.features, &self.pixel_inputs, &src.labels, order, rows, features);
        self.labels = labels;
        self.put(x, out);
        result
    }

    /// [`Op::Dropout`] of the first `len` values of `y`, the draws keyed by this step t = steps done + 1.
    fn dropout(&mut self, y: BufId, len: usize, spec: DropoutSpec) -> Result<()> {
        let stream = crate::dropout::stream(spec.seed, self.steps_done + 1, spec.layer);
        let (mut out, mut mask) = (self.take(y), self.take(spec.mask));
        let r = ops::dropout(&mut out, &mut mask, spec.dropout, stream, len);
        self.put(y, out);
        self.put(spec.mask, mask);
        r
    }

    /// The CPU twin of [`Op::FusedLinear`]: gather (if asked), linear (keeping z if asked), dropout (if asked), then the loss head's
    /// per-row statistics and gradient (if any).
    fn fused_linear(&mut self, op: &Op) -> Result<()> {
        let Op::FusedLinear { y, z, x, w, b, act, rows, inputs, outputs, gather, head, dropout } = *op else {
            return Err(Error::Config(format!("fused_linear given {}", op.label())));
        };
        if let Some(split) = gather {
            self.gather(x, split, rows, inputs)?;
        }
        self.execute(&Op::Linear { y, z, x, w, b, act, rows, inputs, outputs })?;
        if let Some(spec) = dropout {
            self.dropout(y, rows * outputs, spec)?;
        }
        let Some(head) = head else { return Ok(()) };
        let mut stats = self.take(head.row_stats);
        let mut grad = head.dz.map(|d| self.take(d));
        let r =
            ops::loss_rows(&mut stats, grad.as_deref_mut(), &self.buffers[y], &self.labels, head.loss, rows, outputs);
        if let (Some(d), Some(g)) = (head.dz, grad) {
            self.put(d, g);
        }
        self.put(head.row_stats, stats);
        r.map(drop)
    }

    /// The CPU twin of [`Op::GradUpdate`]: weight gradient, bias gradient, then both updates at the step count
    /// (this step's `Advance` has already counted it: t = steps done).
    fn grad_update(&mut self, op: &Op) -> Result<()> {
        let Op::GradUpdate { w, b, gw, gb, sw, sb, dz, x, optimizer, rows, inputs, outputs, decay_steps } = *op else {
            return Err(Error::Config(format!("grad_update given {}", op.label())));
        };
        self.execute(&Op::WeightGrad { dw: gw, dz, x, rows, inputs, outputs })?;
        self.execute(&Op::BiasGrad { db: gb, dz, rows, outputs })?;
        let t = self.steps_done;
        self.update(w, sw, gw, optimizer, inputs * outputs, t, decay_steps)?;
        self.update(b, sb, gb, optimizer, outputs, t, decay_steps)
    }

    /// [`ops::update`] of buffer `param` (its first `len` values) from `grad` with its packed state buffer, at step `t`.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        param: BufId,
        state: Option<BufId>,
        grad: BufId,
        optimizer: crate::optim::Optimizer,
        len: usize,
        t: u64,
        decay_steps: u64,
    ) -> Result<()> {
        let mut p = self.take(param);
        let mut s = state.map(|s| self.take(s)).unwrap_or_default();
        let r = match p.get_mut(..len) {
            Some(p) => ops::update(p, &mut s, &self.buffers[grad], optimizer, t, decay_steps),
            None => Err(Error::Config(format!("update of {len} values in a buffer of {}", p.len()))),
        };
        self.put(param, p);
        if let Some(id) = state {
            self.put(id, s);
        }
        r
    }
}
