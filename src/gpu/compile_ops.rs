//! The ops of a reference plan, each as one dispatch of its own kernel (`matmul.wgsl`, `matmul_large.wgsl`,
//! `loss.wgsl`, `bias_grad.wgsl`, `optim.wgsl`, `gather.wgsl`, `counters.wgsl`): its buffers checked against the
//! sizes the op names, its uniform, its grid.

use crate::error::{Error, Result};
use crate::gpu::dispatch::{elementwise_grid, Builder, Dispatch};
use crate::gpu::kernels::Kernel;
use crate::gpu::params::{
    AccumulateParams, AdvanceParams, BiasGradParams, DropoutParams, GatherParams, LargeParams, LossParams,
    MatmulParams, OptimParams,
};
use crate::gpu::tiles::LARGE_TILE;
use crate::model::Act;
use crate::optim::Optimizer;
use crate::plan::{BufId, DropoutSpec, Op, Split};

/// An index or size as the kernels' `u32`.
fn u(v: usize) -> u32 {
    v as u32
}

impl Builder<'_> {
    /// Turns one op into its dispatch, checking every buffer against the sizes the op names.
    pub(crate) fn prepare_op(&self, op: &Op) -> Result<Dispatch> {
        match *op {
            Op::Gather { x, split, rows, features } => self.gather(x, split, rows, features),
            Op::Linear { y, z, x, w, b, act, rows, inputs, outputs } => {
                self.linear([y, x, w, b], z, act, rows, inputs, outputs)
            }
            Op::WeightGrad { dw, dz, x, rows, inputs, outputs } => self.weight_grad([dw, dz, x], rows, inputs, outputs),
            Op::InputGrad { dx, dz, w, saved, mask, act, rows, inputs, outputs } => {
                self.input_grad([dx, dz, w, saved], mask, act, rows, inputs, outputs)
            }
            Op::Dropout { y, rows, outputs, spec } => self.dropout(y, rows * outputs, spec),
            Op::Accumulate { sum, grad, len, scale, first } => self.accumulate(sum, grad, len, scale, first),
            Op::SoftmaxXent { dz, logits, split, rows, classes } => {
                self.loss(Kernel::SoftmaxXent, dz, logits, split, rows, classes)
            }
            Op::QuadraticCost { dz, a, split, rows, classes } => {
                self.loss(Kernel::QuadraticCost, dz, a, split, rows, classes)
            }
            Op::BinaryXent { dz, logits, split, rows } => self.loss(Kernel::BinaryXent, dz, logits, split, rows, 1),
            Op::Perceptron { dz, z, split, rows, classes } => {
                self.loss(Kernel::Perceptron, dz, z, split, rows, classes)
            }
            Op::BiasGrad { db, dz, rows, outputs } => self.bias_grad(db, dz, rows, outputs),
            Op::Update { param, state, grad, optimizer, len, decay_steps } => {
                self.update(param, state, grad, optimizer, len, decay_steps)
            }
            Op::Advance { split, rows, row_stats: None, counts_step } => self.dispatch(
                Kernel::Advance,
                &[self.res.counters.as_entire_buffer_binding()],
                &AdvanceParams { split: u(split.index()), rows: u(rows), counts_step: u32::from(counts_step), pad: 0 },
                [1, 1, 1],
            ),
            Op::FusedLinear { .. } | Op::GradUpdate { .. } | Op::Advance { row_stats: Some(_), .. } => {
                Err(Error::Config(format!("{} runs in the fused kernel, not a kernel of its own", op.label())))
            }
        }
    }

    /// `gather.wgsl`: the next `rows` samples of `split`'s order into `x` and the batch labels.
    fn gather(&self, x: BufId, split: Split, rows: usize, features: usize) -> Result<Dispatch> {
        let what = "gather";
        let max_dim = self.ctx.device().limits().max_compute_workgroups_per_dimension;
        let data = &self.res.splits[split.index()];
        if data.samples > 0 && data.features != features {
            return Err(Error::Config(format!(
                "gather of {features} features from {split:?} images of {} pixels",
                data.features
            )));
        }
        if rows > self.layout.max_rows {
            return Err(Error::Config(format!("gather of {rows} rows into a layout of {} rows", self.layout.max_rows)));
        }
        let params =
            GatherParams::new(u(rows), u(features), u(split.index()), u(data.samples), data.values, self.res.unit);
        self.dispatch(
            Kernel::Gather,
            &[
                self.buffer(x, rows * features, what)?,
                self.res.batch_labels.as_entire_buffer_binding(),
                data.data.as_entire_buffer_binding(),
                data.order.as_entire_buffer_binding(),
                self.res.counters.as_entire_buffer_binding(),
            ],
            &params,
            elementwise_grid(rows * features, Kernel::Gather.workgroup_size()[0], max_dim),
        )
    }

    /// A linear layer `[y, x, w, b]`, keeping its pre-activation in `z` if given: on `matmul_large.wgsl` where the
    /// matmul choice says so, else the tiled kernel. Without `z`, the spare buffer is bound in its place (never
    /// written).
    #[allow(clippy::too_many_arguments)]
    fn linear(
        &self,
        [y, x, w, b]: [BufId; 4],
        z: Option<BufId>,
        act: Act,
        rows: usize,
        inputs: usize,
        outputs: usize,
    ) -> Result<Dispatch> {
        let (save_z, leaky_slope) = (u32::from(z.is_some()), act.leaky_slope);
        // Without z, the spare buffer: binding y's range twice would alias two writable bindings, which WebGPU
        // refuses (natively it went unnoticed, since the kernel never writes z then).
        let z_binding = |what| match z {
            Some(z) => self.buffer(z, rows * outputs, what),
            None => Ok(self.res.spare.as_entire_buffer_binding()),
        };
        if self.matmul.use_large(rows, outputs, inputs)? {
            let what = "linear (large)";
            let params = LargeParams {
                m: u(rows),
                n: u(outputs),
                k: u(inputs),
                act: act.code(),
                save_z,
                leaky_slope,
                pad: [0; 2],
            };
            let side = LARGE_TILE;
            return self.dispatch(
                Kernel::LinearLarge,
                &[
                    self.buffer(y, rows * outputs, what)?,
                    self.buffer(x, rows * inputs, what)?,
                    self.buffer(w, outputs * inputs, what)?,
                    self.buffer(b, outputs, what)?,
                    z_binding(what)?,
                ],
                &params,
                [u(outputs / side), u(rows / side), 1],
            );
        }
        let what = "linear";
        let params = MatmulParams {
            m: u(rows),
            n: u(outputs),
            k: u(inputs),
            act: act.code(),
            a_rs: u(inputs),
            a_cs: 1,
            b_rs: 1,
            b_cs: u(inputs),
            save_z,
            leaky_slope,
            mask_mode: 0,
            pad: 0,
        };
        self.dispatch_matmul(
            Kernel::Linear,
            &[
                self.buffer(y, rows * outputs, what)?,
                self.buffer(x, rows * inputs, what)?,
                self.buffer(w, outputs * inputs, what)?,
                self.buffer(b, outputs, what)?,
                z_binding(what)?,
            ],
            &params,
        )
    }

    /// The weight gradient `[dw, dz, x]` on `matmul.wgsl`.
    fn weight_grad(&self, [dw, dz, x]: [BufId; 3], rows: usize, inputs: usize, outputs: usize) -> Result<Dispatch> {
        let what = "weight gradient";
        let params = MatmulParams {
            m: u(outputs),
            n: u(inputs),
            k: u(rows),
            act: 0,
            a_rs: 1,
            a_cs: u(outputs),
            b_rs: u(inputs),
            b_cs: 1,
            save_z: 0,
            leaky_slope: 0.0,
            mask_mode: 0,
            pad: 0,
        };
        self.dispatch_matmul(
            Kernel::WeightGrad,
            &[
                self.buffer(dw, outputs * inputs, what)?,
                self.buffer(dz, rows * outputs, what)?,
                self.buffer(x, rows * inputs, what)?,
            ],
            &params,
        )
    }

    /// The input gradient `[dx, dz, w, saved]` on `matmul.wgsl`.
    #[allow(clippy::too_many_arguments)]
    fn input_grad(
        &self,
        [dx, dz, w, saved]: [BufId; 4],
        mask: Option<BufId>,
        act: Act,
        rows: usize,
        inputs: usize,
        outputs: usize,
    ) -> Result<Dispatch> {
        let what = "input gradient";
        let params = MatmulParams {
            m: u(rows),
            n: u(inputs),
            k: u(outputs),
            act: act.code(),
            a_rs: u(outputs),
            a_cs: 1,
            b_rs: u(inputs),
            b_cs: 1,
            save_z: 0,
            leaky_slope: act.leaky_slope,
            // Through dropout: its factors in the z binding; saved divided by them unless it is z.
            mask_mode: match mask {
                None => 0,
                Some(_) if act.saved_is_dropped() => 2,
                Some(_) => 1,
            },
            pad: 0,
        };
        self.dispatch_matmul(
            Kernel::InputGrad,
            &[
                self.buffer(dx, rows * inputs, what)?,
                self.buffer(dz, rows * outputs, what)?,
                self.buffer(w, outputs * inputs, what)?,
                self.buffer(saved, rows * inputs, what)?,
                match mask {
                    Some(m) => self.buffer(m, rows * inputs, what)?,
                    None => self.res.spare.as_entire_buffer_binding(),
                },
            ],
            &params,
        )
    }

    /// `accumulate.wgsl`: `scale` · the first `len` values of `grad` into (`first`: as) those of `sum`.
    fn accumulate(&self, sum: BufId, grad: BufId, len: usize, scale: f32, first: bool) -> Result<Dispatch> {
        let what = "gradient sum";
        let max_dim = self.ctx.device().limits().max_compute_workgroups_per_dimension;
        let params = AccumulateParams { len: u(len), scale, first: u32::from(first), pad: 0 };
        let storage = [self.buffer(sum, len, what)?, self.buffer(grad, len, what)?];
        let grid = elementwise_grid(len, Kernel::Accumulate.workgroup_size()[0], max_dim);
        self.dispatch(Kernel::Accumulate, &storage, &params, grid)
    }

    /// `dropout.wgsl`: the first `len` values of `y` times this step's dropout factors, which go to the mask.
    fn dropout(&self, y: BufId, len: usize, spec: DropoutSpec) -> Result<Dispatch> {
        let what = "dropout";
        let max_dim = self.ctx.device().limits().max_compute_workgroups_per_dimension;
        let params = DropoutParams {
            len: u(len),
            p: spec.dropout.p,
            keep_scale: spec.dropout.keep_scale,
            layer: spec.layer,
            seed_lo: spec.seed as u32,
            seed_hi: (spec.seed >> 32) as u32,
            pad: [0; 2],
        };
        let storage = [
            self.buffer(y, len, what)?,
            self.buffer(spec.mask, len, what)?,
            self.res.counters.as_entire_buffer_binding(),
        ];
        self.dispatch(
            Kernel::Dropout,
            &storage,
            &params,
            elementwise_grid(len, Kernel::Dropout.workgroup_size()[0], max_dim),
        )
    }

    /// `loss.wgsl` (`kernel`: softmax cross-entropy, the quadratic cost, binary cross-entropy or the perceptron
    /// criterion) of `out` against the batch labels: its
    /// gradient into `dz` where given, and the split's statistics.
    fn loss(
        &self,
        kernel: Kernel,
        dz: Option<BufId>,
        out: BufId,
        split: Split,
        rows: usize,
        classes: usize,
    ) -> Result<Dispatch> {
        let what = "loss";
        if rows > self.layout.max_rows {
            return Err(Error::Config(format!("loss over {rows} rows in a layout of {} rows", self.layout.max_rows)));
        }
        let dz_buffer = match dz {
            Some(id) => self.buffer(id, rows * classes, what)?,
            None => self.res.spare.as_entire_buffer_binding(),
        };
        let params = LossParams {
            rows: rows as u32,
            classes: classes as u32,
            split: split.index() as u32,
            write_dz: u32::from(dz.is_some()),
        };
        self.dispatch(
            kernel,
            &[
                dz_buffer,
                self.buffer(out, rows * classes, what)?,
                self.res.batch_labels.as_entire_buffer_binding(),
                self.res.counters.as_entire_buffer_binding(),
            ],
            &params,
            [1, 1, 1],
        )
    }

    /// `bias_grad.wgsl`: the column sums of `dz` into `db`.
    fn bias_grad(&self, db: BufId, dz: BufId, rows: usize, outputs: usize) -> Result<Dispatch> {
        let what = "bias gradient";
        let params = BiasGradParams { rows: u(rows), outputs: u(outputs), pad: [0; 2] };
        self.dispatch(
            Kernel::BiasGrad,
            &[self.buffer(db, outputs, what)?, self.buffer(dz, rows * outputs, what)?],
            &params,
            [u(outputs.div_ceil(Kernel::BiasGrad.workgroup_size()[0] as usize).max(1)), 1, 1],
        )
    }

    /// `optim.wgsl`: one optimizer step of `param` from `grad`, with the rule's packed state buffer.
    fn update(
        &self,
        param: BufId,
        state: Option<BufId>,
        grad: BufId,
        optimizer: Optimizer,
        len: usize,
        decay_steps: u64,
    ) -> Result<Dispatch> {
        let what = "update";
        let max_dim = self.ctx.device().limits().max_compute_workgroups_per_dimension;
        let n = optimizer.state_tensors();
        let p = self.buffer(param, len, what)?;
        let g = self.buffer(grad, len, what)?;
        // A stateless rule binds the spare buffer: the kernel reads no state when the count is 0.
        let s = match state {
            Some(id) => self.buffer(id, len * n, what)?,
            None if n == 0 => self.res.spare.as_entire_buffer_binding(),
            None => return Err(Error::Config(format!("{} needs {n} state tensors", optimizer.name()))),
        };
        let counters = self.res.counters.as_entire_buffer_binding();
        let decay_steps = u32::try_from(decay_steps).map_err(|_| {
            Error::Config(format!("a learning-rate decay over {decay_steps} steps exceeds the GPU's 32-bit count"))
        })?;
        let params = OptimParams {
            hypers: optimizer.gpu_hypers(),
            len: u(len),
            rule: optimizer.rule().code(),
            states: u(n),
            decay_steps,
        };
        let grid = elementwise_grid(len, Kernel::Update.workgroup_size()[0], max_dim);
        self.dispatch(Kernel::Update, &[p, s, g, counters], &params, grid)
    }
}
