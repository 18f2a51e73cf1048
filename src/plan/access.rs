//! What each op reads, writes and names: the facts [`Plan::validate`](super::Plan::validate) checks (stages whose ops
//! are independent, buffers large enough for what the ops use).

use crate::plan::layout::{BufId, Split};
use crate::plan::op::Op;

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
