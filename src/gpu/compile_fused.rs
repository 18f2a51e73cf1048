//! The stages of a fused plan, each as one dispatch of `fused.wgsl`: one job per op (at most two), every buffer
//! named by its offset in the arena, on one tile chosen for the stage's products together.

use crate::error::{Error, Result};
use crate::gpu::dispatch::{elementwise_grid, Builder, Dispatch};
use crate::gpu::kernels::Kernel;
use crate::gpu::params::{FusedJob, FusedParams};
use crate::gpu::tiles::Tile;
use crate::gpu::upload::SplitBuffers;
use crate::model::Loss;
use crate::optim::Optimizer;
use crate::plan::{LossHead, Op, Split};

/// `FLAG_*` of fused.wgsl.
const FLAG_GATHER: u32 = 1;
const FLAG_HEAD: u32 = 2;
const FLAG_WRITE_DZ: u32 = 4;
const FLAG_MSE: u32 = 8;
const FLAG_STATS: u32 = 16;
const FLAG_SAVE_Z: u32 = 32;
const FLAG_DROPOUT: u32 = 64;
const FLAG_MASK: u32 = 128;
const FLAG_MASK_OUTPUT: u32 = 256;
const FLAG_BCE: u32 = 512;
const FLAG_PERCEPTRON: u32 = 1024;

/// An index or size as the kernel's `u32`.
fn u(v: usize) -> u32 {
    v as u32
}

/// Whether `op` runs only in the fused kernel (a fused op, or an advance that sums row statistics).
pub(crate) fn needs_fused_kernel(op: &Op) -> bool {
    matches!(op, Op::FusedLinear { .. } | Op::GradUpdate { .. } | Op::Advance { row_stats: Some(_), .. })
}

/// The `[m, n]` output of the product an op of the fused kernel computes, if it computes one.
fn product_shape(op: &Op) -> Option<(usize, usize)> {
    match *op {
        Op::FusedLinear { rows, outputs, .. } => Some((rows, outputs)),
        Op::GradUpdate { inputs, outputs, .. } => Some((outputs, inputs)),
        Op::InputGrad { rows, inputs, .. } => Some((rows, inputs)),
        _ => None,
    }
}

impl Builder<'_> {
    /// One dispatch of `fused.wgsl` running the ops of `stage` (at most two) as its jobs.
    pub(crate) fn prepare_fused(&self, split: Split, stage: &[Op]) -> Result<Dispatch> {
        if stage.is_empty() || stage.len() > 2 {
            return Err(Error::Config(format!("the fused kernel runs stages of 1 or 2 ops, not {}", stage.len())));
        }
        // Tile: by the rule, over all the products of the stage together; a loss head keeps its row in one tile.
        let products: Vec<(usize, usize)> = stage.iter().filter_map(product_shape).collect();
        let min_side = stage
            .iter()
            .map(|op| match op {
                Op::FusedLinear { head: Some(_), outputs, .. } => *outputs,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let tile = self.matmul.tile(&products, min_side)?;
        let data = &self.res.splits[split.index()];
        let mut params =
            FusedParams::new(u(split.index()), u(data.samples), u(data.features), data.values, self.res.unit);
        for (slot, op) in stage.iter().enumerate() {
            params.jobs[slot] = self.fused_job(op, tile, data)?;
        }
        let total = params.jobs.iter().map(|j| j.groups as usize).sum::<usize>();
        let max_dim = self.ctx.device().limits().max_compute_workgroups_per_dimension;
        let [x, y, _] = elementwise_grid(total, 1, max_dim);
        self.dispatch(
            Kernel::Fused(tile),
            &[
                self.res.mem.as_entire_buffer_binding(),
                self.res.batch_labels.as_entire_buffer_binding(),
                data.data.as_entire_buffer_binding(),
                data.order.as_entire_buffer_binding(),
                self.res.counters.as_entire_buffer_binding(),
            ],
            &params,
            [x, y, 1],
        )
    }

    /// The job of `fused.wgsl` that runs `op` with `tile`.
    fn fused_job(&self, op: &Op, tile: Tile, data: &SplitBuffers) -> Result<FusedJob> {
        let side = tile.side();
        let tiles =
            |m: usize, n: usize| (u(m.div_ceil(side).max(1) * n.div_ceil(side).max(1)), u(n.div_ceil(side).max(1)));
        let mut job = FusedJob::default();
        match *op {
            Op::FusedLinear { y, z, x, w, b, act, rows, inputs, outputs, gather, head, dropout } => {
                if gather.is_some() && data.samples > 0 && data.features != inputs {
                    return Err(Error::Config(format!(
                        "a gather of {inputs} features from images of {} pixels",
                        data.features
                    )));
                }
                if head.is_some() && outputs > side {
                    return Err(Error::Config(format!(
                        "a loss head over {outputs} classes needs them in one {side}-wide tile"
                    )));
                }
                (job.groups, job.groups_n) = tiles(rows, outputs);
                (job.kind, job.m, job.n, job.k, job.act) = (1, u(rows), u(outputs), u(inputs), act.code());
                job.leaky_slope = act.leaky_slope;
                (job.a_off, job.a_rs, job.a_cs) = (self.offset(x)?, u(inputs), 1);
                (job.b_off, job.b_rs, job.b_cs) = (self.offset(w)?, 1, u(inputs));
                (job.c_off, job.e_off, job.x_off) = (self.offset(y)?, self.offset(b)?, self.offset(x)?);
                if gather.is_some() {
                    job.flags |= FLAG_GATHER;
                }
                if let Some(z) = z {
                    (job.flags, job.z_off) = (job.flags | FLAG_SAVE_Z, self.offset(z)?);
                }
                if let Some(d) = dropout {
                    (job.flags, job.mask_off) = (job.flags | FLAG_DROPOUT, self.offset(d.mask)?);
                    (job.drop_p, job.keep_scale, job.drop_layer) = (d.dropout.p, d.dropout.keep_scale, d.layer);
                    (job.seed_lo, job.seed_hi) = (d.seed as u32, (d.seed >> 32) as u32);
                }
                if let Some(h) = head {
                    self.loss_head(&mut job, h)?;
                }
            }
            Op::GradUpdate { w, b, gw, gb, sw, sb, dz, x, optimizer, rows, inputs, outputs, decay_steps } => {
                (job.groups, job.groups_n) = tiles(outputs, inputs);
                (job.kind, job.m, job.n, job.k) = (2, u(outputs), u(inputs), u(rows));
                (job.a_off, job.a_rs, job.a_cs) = (self.offset(dz)?, 1, u(outputs));
                (job.b_off, job.b_rs, job.b_cs) = (self.offset(x)?, u(inputs), 1);
                (job.c_off, job.w_off, job.dz_off) = (self.offset(gw)?, self.offset(w)?, self.offset(dz)?);
                (job.bias_off, job.gb_off) = (self.offset(b)?, self.offset(gb)?);
                (job.sw_off, job.sb_off) = (self.offset_or_zero(sw)?, self.offset_or_zero(sb)?);
                set_optimizer(&mut job, optimizer, decay_steps)?;
            }
            Op::InputGrad { dx, dz, w, saved, mask, act, rows, inputs, outputs } => {
                (job.groups, job.groups_n) = tiles(rows, inputs);
                (job.kind, job.m, job.n, job.k, job.act) = (3, u(rows), u(inputs), u(outputs), act.code());
                job.leaky_slope = act.leaky_slope;
                (job.a_off, job.a_rs, job.a_cs) = (self.offset(dz)?, u(outputs), 1);
                (job.b_off, job.b_rs, job.b_cs) = (self.offset(w)?, u(inputs), 1);
                (job.c_off, job.e_off) = (self.offset(dx)?, self.offset(saved)?);
                if let Some(m) = mask {
                    (job.flags, job.mask_off) = (FLAG_MASK, self.offset(m)?);
                    if act.saved_is_dropped() {
                        job.flags |= FLAG_MASK_OUTPUT;
                    }
                }
            }
            Op::Advance { counts_step: false, .. } => {
                return Err(Error::Config(format!(
                    "{}: a chunk's advance, which counts no step, runs in its own kernel (counters.wgsl)",
                    op.label()
                )))
            }
            Op::Advance { rows, row_stats, .. } => {
                (job.kind, job.groups, job.rows) = (4, 1, u(rows));
                if let Some(id) = row_stats {
                    (job.flags, job.stats_off) = (FLAG_STATS, self.offset(id)?);
                }
            }
            _ => {
                return Err(Error::Config(format!(
                    "{} cannot share a stage: it has a kernel of its own (a reference-plan op)",
                    op.label()
                )))
            }
        }
        Ok(job)
    }

    /// The loss-head epilogue of a linear job: its flags, where the gradient (if any) and the row statistics go.
    fn loss_head(&self, job: &mut FusedJob, h: LossHead) -> Result<()> {
        job.flags |= FLAG_HEAD;
        if h.dz.is_some() {
            job.flags |= FLAG_WRITE_DZ;
        }
        job.flags |= match h.loss {
            Loss::Xent => 0,
            Loss::Mse => FLAG_MSE,
            Loss::Bce => FLAG_BCE,
            Loss::Perceptron => FLAG_PERCEPTRON,
        };
        (job.dz_off, job.stats_off) = (self.offset_or_zero(h.dz)?, self.offset(h.row_stats)?);
        Ok(())
    }
}

/// The optimizer of a grad-update job: its `RULE_*` code, state count and hyper-parameters, and the learning-rate
/// decay.
fn set_optimizer(job: &mut FusedJob, optimizer: Optimizer, decay_steps: u64) -> Result<()> {
    job.decay_steps = u32::try_from(decay_steps).map_err(|_| {
        Error::Config(format!("a learning-rate decay over {decay_steps} steps exceeds the GPU's 32-bit count"))
    })?;
    (job.hypers, job.rule, job.states) =
        (optimizer.gpu_hypers(), optimizer.rule().code(), optimizer.state_tensors() as u32);
    Ok(())
}
