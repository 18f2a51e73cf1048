//! The GPU backend: every buffer of the [`Layout`] and the data set live on the GPU; each stage of a plan becomes one
//! dispatch of a WGSL kernel, prepared once; running a plan only re-encodes those dispatches.
//!
//! The layout's buffers share one GPU buffer (the "arena"), each at its own 256-byte-aligned offset: the fused
//! kernel reaches any of them through a single binding (a stage of two jobs would otherwise bind more storage
//! buffers than WebGPU's 8 per stage), and the one-op kernels bind ranges of it.

use std::sync::Arc;
use std::time::Duration;

use bytemuck::Pod;

use std::time::Instant;

use crate::backend::{Backend, PlanId, Stats, WorkCounts};
use crate::data::{Dataset, LabeledImages};
use crate::error::{Error, Result};
use crate::gpu::arena::bytes;
use crate::gpu::context::{BackendChoice, ContextOptions, GpuContext};
use crate::gpu::counters::{self, COUNTER_WORDS};
use crate::gpu::kernels::{Kernel, Kernels};

use crate::gpu::params::{
    AdvanceParams, BiasGradParams, FusedJob, FusedParams, GatherParams, LargeParams, LossParams, MatmulParams,
    OptimParams,
};
use crate::gpu::readback::StatsRing;
use crate::gpu::tiles::{MatmulChoice, Tile, TileRule, LARGE_TILE};
use crate::model::Loss;
use crate::optim::Optimizer;
use crate::plan::{BufId, Layout, Op, Plan, Split};

// The arena's arithmetic at its paths from before it moved to its own module.
pub use crate::gpu::arena::{arena_offsets, split_words, ARENA_ALIGN};
// At its path from before it moved to the tile choice.
pub use crate::gpu::tiles::MatmulVariant;

/// Steps the training loop runs between two looks at the statistics: enough to keep the GPU busy, few enough to
/// notice divergence and show progress.
const STEPS_PER_CHECK: usize = 50;
/// Steps encoded into one submission at most, so a long `run` does not build one huge command buffer.
const STEPS_PER_SUBMIT: usize = 64;

/// One split of the data set, resident on the GPU.
struct SplitBuffers {
    /// Labels then packed pixels (see `gather.wgsl`).
    data: wgpu::Buffer,
    /// The epoch's sample order; room for every sample.
    order: wgpu::Buffer,
    samples: usize,
    features: usize,
}

/// One op, ready to encode: its pipeline, its bind group (which holds its uniform) and its grid.
struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
}

impl Dispatch {
    /// Records the dispatch into a compute pass.
    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.groups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// A prepared plan: its dispatches, and what it does to the cursors (checked on the host before running).
struct Prepared {
    dispatches: Vec<Dispatch>,
    ops: Vec<Op>,
    /// Train steps one run of it counts (its train-split advances).
    train_steps: u64,
}

/// Runs plans with the WGSL kernels on a wgpu device.
pub struct GpuBackend {
    ctx: GpuContext,
    kernels: Arc<Kernels>,
    layout: Layout,
    /// Every layout buffer, each at its offset in `offsets`.
    mem: wgpu::Buffer,
    /// Where each layout buffer starts in `mem`, in f32s ([`arena_offsets`]).
    offsets: Vec<u64>,
    /// The labels of the last gathered batch: [max_rows] u32.
    batch_labels: wgpu::Buffer,
    splits: [SplitBuffers; 2],
    /// See [`counters`].
    counters: wgpu::Buffer,
    /// A persistent mappable copy of the counters, so `stats` allocates nothing.
    counters_staging: wgpu::Buffer,
    /// Bound as dz by the loss kernels of evaluation steps, which write no gradient.
    no_gradient: wgpu::Buffer,
    plans: Vec<Prepared>,
    /// The matmul kernel and tile of each product of the plans prepared from now on.
    matmul: MatmulChoice,
    /// Host mirror of the order lengths and cursors, only to reject a run that would read past the order.
    order_len: [usize; 2],
    cursor: [usize; 2],
    /// Host mirror of the step count: what the GPU's counter will hold once the queue has run.
    queued_steps: u64,
    /// What `run_collect` copied: mappable buffers and the bytes each holds, until `take_collected`.
    collected: Vec<(wgpu::Buffer, u64)>,
    /// Statistics on their way back (see [`StatsRing`]).
    ring: StatsRing,
    counts: WorkCounts,
}

/// The 2-D grid of an elementwise kernel over `len` elements: x capped at the per-dimension limit, y for the rest
/// (the shaders rebuild the index as `gid.x + gid.y · num_workgroups.x · WG`).
pub fn elementwise_grid(len: usize, wg: u32, max_per_dim: u32) -> [u32; 3] {
    let groups = len.div_ceil(wg as usize).max(1);
    let x = groups.min(max_per_dim.max(1) as usize);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

impl GpuBackend {
    /// Allocates the layout's buffers (zeroed, as the CPU backend) and uploads the data set once.
    ///
    /// Errors if a buffer exceeds the device's limits, or if the data set does not fit the model (pixel count,
    /// labels not below the number of classes).
    pub fn new(ctx: &GpuContext, layout: &Layout, data: Arc<Dataset>) -> Result<Self> {
        let device = ctx.device();
        let kernels = ctx.kernels()?;
        let limits = device.limits();

        // Data checks: the kernels cannot report a bad label or size, so reject them here with a clear message.
        for (split, images) in [(Split::Train, &data.train), (Split::Test, &data.test)] {
            check_split(split, images, layout)?;
        }

        ctx.scoped("allocating the model's GPU buffers", || {
            // Layout buffers: one arena, storage for the kernels, copy source/destination for read_buffer and
            // write_buffer.
            let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
            let (offsets, arena_len) = arena_offsets(layout);
            let arena_bytes = arena_len.saturating_mul(4);
            let max = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
            if arena_bytes > max || arena_len > u64::from(u32::MAX) {
                return Err(Error::Gpu(format!(
                    "the model's buffers need {arena_bytes} bytes together, over the device's \
                     max_storage_buffer_binding_size of {max}; use a smaller --batch-size or narrower layers, or \
                     build the context with ContextOptions::for_run"
                )));
            }
            let mem = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("layout buffers"),
                size: arena_bytes,
                usage,
                mapped_at_creation: false,
            });
            let batch_labels = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("batch labels"),
                size: bytes(layout.max_rows.max(1)),
                usage,
                mapped_at_creation: false,
            });

            // Data set: uploaded once, labels and u8 pixels packed into u32 words (see gather.wgsl).
            let splits = [
                upload_split(device, ctx.queue(), "train", &data.train, limits.max_storage_buffer_binding_size)?,
                upload_split(device, ctx.queue(), "test", &data.test, limits.max_storage_buffer_binding_size)?,
            ];

            // Counters: cursors, step count and statistics, all zero.
            let counters = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("counters"),
                size: bytes(COUNTER_WORDS),
                usage,
                mapped_at_creation: false,
            });
            let counters_staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("counters read-back"),
                size: bytes(COUNTER_WORDS),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let no_gradient = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("unused dz"),
                size: 4,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            Ok(GpuBackend {
                ctx: ctx.clone(),
                kernels,
                layout: layout.clone(),
                mem,
                offsets,
                batch_labels,
                splits,
                counters,
                counters_staging,
                no_gradient,
                plans: Vec::new(),
                matmul: MatmulChoice { variant: None, rule: TileRule::new(ctx.is_software(), &limits) },
                order_len: [0; 2],
                cursor: [0; 2],
                queued_steps: 0,
                collected: Vec::new(),
                ring: StatsRing::new(ctx),
                counts: WorkCounts::default(),
            })
        })?
    }

    /// Opens a context on `choice` with the limits this run needs, then builds the backend on it: the one-call way
    /// for a command line. Errors (see [`GpuContext::new`]) say what to do, e.g. use `--backend cpu`.
    pub fn open(choice: BackendChoice, layout: &Layout, data: Arc<Dataset>) -> Result<Self> {
        let ctx = GpuContext::new(&ContextOptions::new(choice).for_run(layout, &data))?;
        GpuBackend::new(&ctx, layout, data)
    }

    /// Forces the matmul tile of the plans prepared from now on (`None`: chosen per dispatch by [`TileRule`]). For
    /// the checks, which run every shape on every tile, and for benchmarks.
    pub fn set_matmul_tile(&mut self, tile: Option<Tile>) {
        self.matmul.variant = tile.map(MatmulVariant::Tiled);
    }

    /// Forces the matmul kernel of the plans prepared from now on. [`MatmulVariant::Large`] applies to
    /// [`Op::Linear`] (an error for a shape it does not fit); other products then get the rule's tile.
    pub fn set_matmul_variant(&mut self, variant: Option<MatmulVariant>) {
        self.matmul.variant = variant;
    }

    /// The labels of the last gathered batch (for tests): `[max_rows]`.
    pub fn read_batch_labels(&mut self) -> Result<Vec<u32>> {
        self.counts.blocking_waits += 1;
        let raw =
            self.ctx.read_bytes(&self.batch_labels, bytes(self.layout.max_rows.max(1)), "reading the batch labels")?;
        Ok(bytemuck::pod_collect_to_vec(&raw))
    }

    /// Reads the whole counter buffer (waits for queued work).
    fn read_counters(&mut self) -> Result<[u32; COUNTER_WORDS]> {
        self.counts.blocking_waits += 1;
        let raw = self.ctx.read_back(
            &self.counters,
            &self.counters_staging,
            bytes(COUNTER_WORDS),
            "reading the step counters and statistics",
        )?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&raw);
        words
            .try_into()
            .map_err(|w: Vec<u32>| Error::Gpu(format!("read {} counter words back, expected {COUNTER_WORDS}", w.len())))
    }

    /// The range of the arena holding buffer `id`, or a configuration error naming the op that refers to it.
    fn buffer(&self, id: BufId, need: usize, what: &str) -> Result<wgpu::BufferBinding<'_>> {
        let (Some(desc), Some(&offset)) = (self.layout.buffers.get(id), self.offsets.get(id)) else {
            return Err(Error::Config(format!("{what}: no buffer {id} in a layout of {}", self.layout.buffers.len())));
        };
        if desc.len < need {
            return Err(Error::Config(format!(
                "{what}: buffer {} holds {} values but the op needs {need}",
                desc.name, desc.len
            )));
        }
        Ok(wgpu::BufferBinding {
            buffer: &self.mem,
            offset: offset * 4,
            size: wgpu::BufferSize::new(bytes(desc.len.max(1))),
        })
    }

    /// The offset of buffer `id` in the arena, in f32s, for the fused kernel (the plan was validated against the
    /// layout, so `id` exists and is large enough).
    fn offset(&self, id: BufId) -> Result<u32> {
        let at = self.offsets.get(id).ok_or_else(|| Error::Config(format!("no buffer {id} in the layout")))?;
        u32::try_from(*at).map_err(|_| Error::Gpu(format!("buffer {id} starts past the fused kernel's 32-bit offsets")))
    }

    /// [`Self::offset`] of an optional buffer (0 where there is none: the kernel does not read it).
    fn offset_or_zero(&self, id: Option<BufId>) -> Result<u32> {
        id.map_or(Ok(0), |id| self.offset(id))
    }

    /// One dispatch of `kernel` over `storage` (in [`Kernel::bindings`] order) with `params` as its uniform.
    fn dispatch<P: Pod>(
        &self,
        kernel: Kernel,
        storage: &[wgpu::BufferBinding<'_>],
        params: &P,
        groups: [u32; 3],
    ) -> Result<Dispatch> {
        let device = self.ctx.device();
        let max = device.limits().max_compute_workgroups_per_dimension;
        if let Some(&g) = groups.iter().find(|&&g| g > max) {
            return Err(Error::Config(format!(
                "{kernel:?} needs {g} workgroups in one dimension, over the device's limit of {max}; use a smaller \
                 batch"
            )));
        }
        // Uniform: the op's sizes, written once here, never per step. Created empty and then written through the
        // queue (not `create_buffer_init`, which panics inside wgpu if the device is lost in between).
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(kernel.entry()),
            size: std::mem::size_of::<P>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.ctx.queue().write_buffer(&uniform, 0, bytemuck::bytes_of(params));
        // Bind group: the storage buffers in the kernel's binding order, then the uniform.
        let bindings = kernel.bindings();
        let mut resources: Vec<wgpu::BufferBinding<'_>> = storage.to_vec();
        resources.push(uniform.as_entire_buffer_binding());
        if resources.len() != bindings.len() {
            return Err(Error::Gpu(format!("{kernel:?} binds {} buffers, {} given", bindings.len(), resources.len())));
        }
        let entries: Vec<wgpu::BindGroupEntry> = bindings
            .iter()
            .zip(resources)
            .map(|(&(binding, _), buffer)| wgpu::BindGroupEntry {
                binding,
                resource: wgpu::BindingResource::Buffer(buffer),
            })
            .collect();
        let pipeline = self.kernels.get(kernel)?;
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.entry()),
            layout: &pipeline.layout,
            entries: &entries,
        });
        Ok(Dispatch { pipeline: pipeline.pipeline.clone(), bind_group, groups })
    }

    /// One dispatch of a matmul kernel: its tile and grid follow from the `[m, n]` output that `params` describes.
    fn dispatch_matmul(
        &self,
        kernel: fn(Tile) -> Kernel,
        storage: &[wgpu::BufferBinding<'_>],
        params: &MatmulParams,
    ) -> Result<Dispatch> {
        let (m, n) = (params.m as usize, params.n as usize);
        let tile = self.matmul.tile(&[(m, n)], 0)?;
        self.dispatch(kernel(tile), storage, params, matmul_grid(m, n, tile))
    }

    /// Turns one op into its dispatch, checking every buffer against the sizes the op names.
    fn prepare_op(&self, op: &Op) -> Result<Dispatch> {
        let max_dim = self.ctx.device().limits().max_compute_workgroups_per_dimension;
        let u = |v: usize| v as u32;
        match *op {
            Op::Gather { x, split, rows, features } => {
                let what = "gather";
                let data = &self.splits[split.index()];
                if data.samples > 0 && data.features != features {
                    return Err(Error::Config(format!(
                        "gather of {features} features from {split:?} images of {} pixels",
                        data.features
                    )));
                }
                if rows > self.layout.max_rows {
                    return Err(Error::Config(format!(
                        "gather of {rows} rows into a layout of {} rows",
                        self.layout.max_rows
                    )));
                }
                let params = GatherParams::new(u(rows), u(features), u(split.index()), u(data.samples));
                self.dispatch(
                    Kernel::Gather,
                    &[
                        self.buffer(x, rows * features, what)?,
                        self.batch_labels.as_entire_buffer_binding(),
                        data.data.as_entire_buffer_binding(),
                        data.order.as_entire_buffer_binding(),
                        self.counters.as_entire_buffer_binding(),
                    ],
                    &params,
                    elementwise_grid(rows * features, Kernel::Gather.workgroup_size()[0], max_dim),
                )
            }
            Op::Linear { y, x, w, b, act, rows, inputs, outputs }
                if self.matmul.use_large(rows, outputs, inputs)? =>
            {
                let what = "linear (large)";
                let params = LargeParams { m: u(rows), n: u(outputs), k: u(inputs), act: act.code() };
                let side = LARGE_TILE;
                self.dispatch(
                    Kernel::LinearLarge,
                    &[
                        self.buffer(y, rows * outputs, what)?,
                        self.buffer(x, rows * inputs, what)?,
                        self.buffer(w, outputs * inputs, what)?,
                        self.buffer(b, outputs, what)?,
                    ],
                    &params,
                    [u(outputs / side), u(rows / side), 1],
                )
            }
            Op::Linear { y, x, w, b, act, rows, inputs, outputs } => {
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
                };
                self.dispatch_matmul(
                    Kernel::Linear,
                    &[
                        self.buffer(y, rows * outputs, what)?,
                        self.buffer(x, rows * inputs, what)?,
                        self.buffer(w, outputs * inputs, what)?,
                        self.buffer(b, outputs, what)?,
                    ],
                    &params,
                )
            }
            Op::WeightGrad { dw, dz, x, rows, inputs, outputs } => {
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
            Op::InputGrad { dx, dz, w, x, act, rows, inputs, outputs } => {
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
                };
                self.dispatch_matmul(
                    Kernel::InputGrad,
                    &[
                        self.buffer(dx, rows * inputs, what)?,
                        self.buffer(dz, rows * outputs, what)?,
                        self.buffer(w, outputs * inputs, what)?,
                        self.buffer(x, rows * inputs, what)?,
                    ],
                    &params,
                )
            }
            Op::SoftmaxXent { dz, logits, split, rows, classes } => {
                self.prepare_loss(Kernel::SoftmaxXent, dz, logits, split, rows, classes)
            }
            Op::QuadraticCost { dz, a, split, rows, classes } => {
                self.prepare_loss(Kernel::QuadraticCost, dz, a, split, rows, classes)
            }
            Op::BiasGrad { db, dz, rows, outputs } => {
                let what = "bias gradient";
                let params = BiasGradParams { rows: u(rows), outputs: u(outputs), pad: [0; 2] };
                self.dispatch(
                    Kernel::BiasGrad,
                    &[self.buffer(db, outputs, what)?, self.buffer(dz, rows * outputs, what)?],
                    &params,
                    [u(outputs.div_ceil(Kernel::BiasGrad.workgroup_size()[0] as usize).max(1)), 1, 1],
                )
            }
            Op::Update { param, state, grad, optimizer, len, decay_steps } => {
                let what = "update";
                let missing =
                    || Error::Config(format!("{} needs {} state buffers", optimizer.name(), optimizer.state_tensors()));
                let p = self.buffer(param, len, what)?;
                let g = self.buffer(grad, len, what)?;
                let counters = self.counters.as_entire_buffer_binding();
                let grid = |kernel: Kernel| elementwise_grid(len, kernel.workgroup_size()[0], max_dim);
                let decay_steps = u32::try_from(decay_steps).map_err(|_| {
                    Error::Config(format!(
                        "a learning-rate decay over {decay_steps} steps exceeds the GPU's 32-bit count"
                    ))
                })?;
                let lr = optimizer.lr();
                let mut params =
                    OptimParams { len: u(len), lr, beta1: 0.0, beta2: 0.0, eps: 0.0, decay_steps, pad: [0; 2] };
                match optimizer {
                    Optimizer::Sgd { .. } => self.dispatch(Kernel::Sgd, &[p, g, counters], &params, grid(Kernel::Sgd)),
                    Optimizer::Momentum { momentum, .. } => {
                        params.beta1 = momentum;
                        let v = self.buffer(state[0].ok_or_else(missing)?, len, what)?;
                        self.dispatch(Kernel::Momentum, &[p, v, g, counters], &params, grid(Kernel::Momentum))
                    }
                    Optimizer::Adam { beta1, beta2, eps, .. } => {
                        (params.beta1, params.beta2, params.eps) = (beta1, beta2, eps);
                        let m = self.buffer(state[0].ok_or_else(missing)?, len, what)?;
                        let v = self.buffer(state[1].ok_or_else(missing)?, len, what)?;
                        self.dispatch(Kernel::Adam, &[p, m, v, g, counters], &params, grid(Kernel::Adam))
                    }
                }
            }
            Op::Advance { split, rows, row_stats: None } => self.dispatch(
                Kernel::Advance,
                &[self.counters.as_entire_buffer_binding()],
                &AdvanceParams { split: u(split.index()), rows: u(rows), pad: [0; 2] },
                [1, 1, 1],
            ),
            Op::FusedLinear { .. } | Op::GradUpdate { .. } | Op::Advance { row_stats: Some(_), .. } => {
                Err(Error::Config(format!("{} runs in the fused kernel, not a kernel of its own", op.label())))
            }
        }
    }

    /// Turns one stage into its dispatch: a one-op kernel where the stage is one op that has one, else the fused
    /// kernel with one job per op.
    fn prepare_stage(&self, split: Split, stage: &[Op]) -> Result<Dispatch> {
        match stage {
            [op] if !needs_fused_kernel(op) => self.prepare_op(op),
            _ => self.prepare_fused(split, stage),
        }
    }

    /// One dispatch of `fused.wgsl` running the ops of `stage` (at most two) as its jobs.
    fn prepare_fused(&self, split: Split, stage: &[Op]) -> Result<Dispatch> {
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
        let data = &self.splits[split.index()];
        let u = |v: usize| v as u32;
        let mut params = FusedParams::new(u(split.index()), u(data.samples), u(data.features));
        for (slot, op) in stage.iter().enumerate() {
            params.jobs[slot] = self.fused_job(op, tile, data)?;
        }
        let total = params.jobs.iter().map(|j| j.groups as usize).sum::<usize>();
        let max_dim = self.ctx.device().limits().max_compute_workgroups_per_dimension;
        let [x, y, _] = elementwise_grid(total, 1, max_dim);
        self.dispatch(
            Kernel::Fused(tile),
            &[
                self.mem.as_entire_buffer_binding(),
                self.batch_labels.as_entire_buffer_binding(),
                data.data.as_entire_buffer_binding(),
                data.order.as_entire_buffer_binding(),
                self.counters.as_entire_buffer_binding(),
            ],
            &params,
            [x, y, 1],
        )
    }

    /// The job of `fused.wgsl` that runs `op` with `tile`.
    fn fused_job(&self, op: &Op, tile: Tile, data: &SplitBuffers) -> Result<FusedJob> {
        let u = |v: usize| v as u32;
        let side = tile.side();
        let tiles =
            |m: usize, n: usize| (u(m.div_ceil(side).max(1) * n.div_ceil(side).max(1)), u(n.div_ceil(side).max(1)));
        let mut job = FusedJob::default();
        match *op {
            Op::FusedLinear { y, x, w, b, act, rows, inputs, outputs, gather, head } => {
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
                (job.a_off, job.a_rs, job.a_cs) = (self.offset(x)?, u(inputs), 1);
                (job.b_off, job.b_rs, job.b_cs) = (self.offset(w)?, 1, u(inputs));
                (job.c_off, job.e_off, job.x_off) = (self.offset(y)?, self.offset(b)?, self.offset(x)?);
                if gather.is_some() {
                    job.flags |= FLAG_GATHER;
                }
                if let Some(h) = head {
                    job.flags |= FLAG_HEAD;
                    if h.dz.is_some() {
                        job.flags |= FLAG_WRITE_DZ;
                    }
                    if h.loss == Loss::Mse {
                        job.flags |= FLAG_MSE;
                    }
                    (job.dz_off, job.stats_off) = (self.offset_or_zero(h.dz)?, self.offset(h.row_stats)?);
                }
            }
            Op::GradUpdate { w, b, gw, gb, sw, sb, dz, x, optimizer, rows, inputs, outputs, decay_steps } => {
                (job.groups, job.groups_n) = tiles(outputs, inputs);
                (job.kind, job.m, job.n, job.k) = (2, u(outputs), u(inputs), u(rows));
                (job.a_off, job.a_rs, job.a_cs) = (self.offset(dz)?, 1, u(outputs));
                (job.b_off, job.b_rs, job.b_cs) = (self.offset(x)?, u(inputs), 1);
                (job.c_off, job.w_off, job.dz_off) = (self.offset(gw)?, self.offset(w)?, self.offset(dz)?);
                (job.sw0_off, job.sw1_off) = (self.offset_or_zero(sw[0])?, self.offset_or_zero(sw[1])?);
                (job.bias_off, job.gb_off) = (self.offset(b)?, self.offset(gb)?);
                (job.sb0_off, job.sb1_off) = (self.offset_or_zero(sb[0])?, self.offset_or_zero(sb[1])?);
                job.decay_steps = u32::try_from(decay_steps).map_err(|_| {
                    Error::Config(format!(
                        "a learning-rate decay over {decay_steps} steps exceeds the GPU's 32-bit count"
                    ))
                })?;
                job.lr = optimizer.lr();
                match optimizer {
                    Optimizer::Sgd { .. } => job.optimizer = 0,
                    Optimizer::Momentum { momentum, .. } => (job.optimizer, job.beta1) = (1, momentum),
                    Optimizer::Adam { beta1, beta2, eps, .. } => {
                        (job.optimizer, job.beta1, job.beta2, job.eps) = (2, beta1, beta2, eps)
                    }
                }
            }
            Op::InputGrad { dx, dz, w, x, act, rows, inputs, outputs } => {
                (job.groups, job.groups_n) = tiles(rows, inputs);
                (job.kind, job.m, job.n, job.k, job.act) = (3, u(rows), u(inputs), u(outputs), act.code());
                (job.a_off, job.a_rs, job.a_cs) = (self.offset(dz)?, u(outputs), 1);
                (job.b_off, job.b_rs, job.b_cs) = (self.offset(w)?, u(inputs), 1);
                (job.c_off, job.e_off) = (self.offset(dx)?, self.offset(x)?);
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

    fn prepare_loss(
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
            None => self.no_gradient.as_entire_buffer_binding(),
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
                self.batch_labels.as_entire_buffer_binding(),
                self.counters.as_entire_buffer_binding(),
            ],
            &params,
            [1, 1, 1],
        )
    }

    /// Looks up a prepared plan for `steps` runs and follows the cursors through them on the host, failing before
    /// anything is queued if a gather would read past its split's order. The plan is then `self.plans[plan.0]`.
    fn start_run(&mut self, plan: PlanId, steps: usize) -> Result<()> {
        let prepared = self.plans.get(plan.0).ok_or_else(|| Error::Config(format!("no prepared plan {}", plan.0)))?;
        let mut cursor = self.cursor;
        for _ in 0..steps {
            for op in &prepared.ops {
                match *op {
                    Op::Gather { split, rows, .. } | Op::FusedLinear { gather: Some(split), rows, .. } => {
                        let (at, have) = (cursor[split.index()], self.order_len[split.index()]);
                        if at + rows > have {
                            return Err(Error::Config(format!(
                                "the {split:?} order has {have} samples; a step at {at} needs {rows} more (call \
                                 begin_epoch with a longer order, or run fewer steps)"
                            )));
                        }
                    }
                    Op::Advance { split, rows, .. } => cursor[split.index()] += rows,
                    _ => {}
                }
            }
        }
        self.cursor = cursor;
        Ok(())
    }
}

/// `FLAG_*` of fused.wgsl.
const FLAG_GATHER: u32 = 1;
const FLAG_HEAD: u32 = 2;
const FLAG_WRITE_DZ: u32 = 4;
const FLAG_MSE: u32 = 8;
const FLAG_STATS: u32 = 16;

/// Whether `op` runs only in the fused kernel (a fused op, or an advance that sums row statistics).
fn needs_fused_kernel(op: &Op) -> bool {
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

/// Grid of the matmul kernel for an `[m, n]` output: one workgroup per tile.
fn matmul_grid(m: usize, n: usize, tile: Tile) -> [u32; 3] {
    let side = tile.side();
    [n.div_ceil(side).max(1) as u32, m.div_ceil(side).max(1) as u32, 1]
}

/// Rejects a split the kernels could not read correctly: wrong image size, labels past the model's classes,
/// or more bytes than 32-bit indices reach.
fn check_split(split: Split, images: &LabeledImages, layout: &Layout) -> Result<()> {
    if images.is_empty() {
        return Ok(());
    }
    let (features, classes) = (images.pixels(), layout.model.classes);
    if features != layout.model.inputs {
        return Err(Error::Config(format!(
            "the {split:?} images have {features} pixels but the model takes {} inputs",
            layout.model.inputs
        )));
    }
    if let Some((i, l)) = images.labels.iter().enumerate().find(|(_, &l)| usize::from(l) >= classes) {
        return Err(Error::Config(format!(
            "{split:?} label {l} at index {i} is not below the model's {classes} classes"
        )));
    }
    if images.images.len() != images.len() * features {
        return Err(Error::Config(format!(
            "the {split:?} split has {} labels of {features}-pixel images but {} pixel bytes",
            images.len(),
            images.images.len()
        )));
    }
    if images.len().checked_mul(features).is_none_or(|b| b > u32::MAX as usize) {
        return Err(Error::Config(format!(
            "the {split:?} split has {} samples of {features} pixels: more bytes than the GPU kernels index \
             (4 GiB)",
            images.len()
        )));
    }
    Ok(())
}

/// Uploads one split: a buffer of labels then packed pixels, and an order buffer with room for every sample.
fn upload_split(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    name: &str,
    images: &LabeledImages,
    max_binding: u64,
) -> Result<SplitBuffers> {
    let (samples, features) = (images.len(), images.pixels());
    let words = split_words(samples, features);
    if bytes(words) > max_binding {
        return Err(Error::Gpu(format!(
            "the {name} split needs {} bytes on the GPU, over the device's max_storage_buffer_binding_size of \
             {max_binding}; limit the data set (--limit) or build the context with ContextOptions::for_run",
            bytes(words)
        )));
    }
    // Pack: labels as whole words, then four pixels per little-endian word.
    let mut packed: Vec<u32> = Vec::with_capacity(words);
    packed.extend(images.labels.iter().map(|&l| u32::from(l)));
    packed.extend(images.images.chunks(4).map(|c| {
        let mut b = [0u8; 4];
        b[..c.len()].copy_from_slice(c);
        u32::from_le_bytes(b)
    }));
    packed.resize(words, 0);
    // Created empty, then written through the queue (see `dispatch` on why not `create_buffer_init`).
    let data = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(&format!("{name} data")),
        size: bytes(words),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    queue.write_buffer(&data, 0, bytemuck::cast_slice(&packed));
    let order = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(&format!("{name} order")),
        size: bytes(samples.max(1)),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    Ok(SplitBuffers { data, order, samples, features })
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        self.ctx.describe()
    }

    fn prepare(&mut self, plan: &Plan) -> Result<PlanId> {
        // Check: the stages are independent and every buffer is large enough, before anything reaches the GPU.
        plan.validate(&self.layout)?;
        // Dispatches: each stage's pipeline, bind group, uniform and grid, built once here, inside an error scope
        // so that a binding the device rejects is reported against this plan.
        let dispatches = self.ctx.scoped("preparing a step plan", || {
            plan.stage_ops().map(|stage| self.prepare_stage(plan.split, stage)).collect::<Result<Vec<_>>>()
        })??;
        let train_steps =
            plan.ops.iter().filter(|op| matches!(op, Op::Advance { split: Split::Train, .. })).count() as u64;
        self.plans.push(Prepared { dispatches, ops: plan.ops.clone(), train_steps });
        Ok(PlanId(self.plans.len() - 1))
    }

    fn begin_epoch(&mut self, split: Split, order: &[u32]) -> Result<()> {
        let s = split.index();
        let n = self.splits[s].samples;
        if let Some(&bad) = order.iter().find(|&&i| i as usize >= n) {
            return Err(Error::Config(format!("{split:?} order names sample {bad}, but the split has {n}")));
        }
        if order.len() > n {
            return Err(Error::Config(format!(
                "{split:?} order has {} entries, more than the split's {n} samples",
                order.len()
            )));
        }
        // Order: uploaded once per epoch; the gathers index it with the GPU-side cursor.
        let queue = self.ctx.queue();
        if !order.is_empty() {
            queue.write_buffer(&self.splits[s].order, 0, bytemuck::cast_slice(order));
        }
        // Counters: this split's cursor and statistics back to zero (the step count is kept).
        queue.write_buffer(&self.counters, bytes(counters::CURSOR + s), bytemuck::bytes_of(&0u32));
        let at = counters::STATS + s * counters::STATS_WORDS;
        queue.write_buffer(&self.counters, bytes(at), bytemuck::cast_slice(&[0u32; counters::STATS_WORDS]));
        self.order_len[s] = order.len();
        self.cursor[s] = 0;
        self.ctx.check("starting an epoch")
    }

    fn run(&mut self, plan: PlanId, steps: usize) -> Result<()> {
        self.start_run(plan, steps)?;
        let prepared = &self.plans[plan.0];
        let mut left = steps;
        while left > 0 {
            let chunk = left.min(STEPS_PER_SUBMIT);
            left -= chunk;
            let started = Instant::now();
            // Encode: the prepared dispatches, step after step, in one compute pass; wgpu orders the dispatches
            // that share buffers. Nothing is allocated or read back here.
            let mut encoder =
                self.ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("steps") });
            {
                let mut pass = encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("steps"), timestamp_writes: None });
                for _ in 0..chunk {
                    for d in &prepared.dispatches {
                        d.encode(&mut pass);
                    }
                }
            }
            let commands = encoder.finish();
            self.counts.encode_ns += started.elapsed().as_nanos() as u64;
            // Submit: the GPU runs while the host encodes the next chunk or returns to the training loop.
            self.ctx.queue().submit([commands]);
            self.counts.submits += 1;
            self.counts.passes += 1;
            self.counts.steps += chunk as u64;
            self.counts.dispatches += (chunk * prepared.dispatches.len()) as u64;
        }
        self.queued_steps += steps as u64 * prepared.train_steps;
        // Check: polls without blocking (so finished submissions release their resources) and reports any failure.
        self.ctx.check("running the step plan")
    }

    fn stats(&mut self, split: Split) -> Result<Stats> {
        Ok(counters::stats(&self.read_counters()?, split))
    }

    fn run_collect(&mut self, plan: PlanId, steps: usize, id: BufId, len: usize) -> Result<()> {
        self.layout.check_buffer(id, None)?;
        if len > self.layout.buffers[id].len {
            return Err(Error::Config(format!(
                "collecting {len} values of a buffer of {}",
                self.layout.buffers[id].len
            )));
        }
        self.start_run(plan, steps)?;
        // Destination: one mappable buffer for all the copies of this call.
        let bytes_per_step = bytes(len);
        let total = bytes_per_step * steps as u64;
        let device = self.ctx.device();
        let dest = self.ctx.scoped("allocating the evaluation read-back", || {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("collected outputs"),
                size: total.max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        // Encode: each step in its own pass, then the copy of its outputs (copies happen between passes); one
        // submission for all, nothing waited for.
        let prepared = &self.plans[plan.0];
        let started = Instant::now();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("collect") });
        for step in 0..steps as u64 {
            {
                let mut pass = encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("step"), timestamp_writes: None });
                for d in &prepared.dispatches {
                    d.encode(&mut pass);
                }
            }
            if len > 0 {
                encoder.copy_buffer_to_buffer(
                    &self.mem,
                    self.offsets[id] * 4,
                    &dest,
                    step * bytes_per_step,
                    bytes_per_step,
                );
            }
        }
        let commands = encoder.finish();
        self.counts.encode_ns += started.elapsed().as_nanos() as u64;
        self.ctx.queue().submit([commands]);
        self.counts.submits += 1;
        self.counts.passes += steps as u64;
        self.counts.steps += steps as u64;
        self.counts.dispatches += (steps * prepared.dispatches.len()) as u64;
        self.queued_steps += steps as u64 * prepared.train_steps;
        self.collected.push((dest, total));
        self.ctx.check("running and collecting the step plan")
    }

    fn take_collected(&mut self) -> Result<Vec<f32>> {
        let collected = std::mem::take(&mut self.collected);
        // Map every buffer, then one wait for all of them.
        let (tx, rx) = std::sync::mpsc::channel();
        for (i, (buffer, total)) in collected.iter().enumerate() {
            let tx = tx.clone();
            buffer.map_async(wgpu::MapMode::Read, 0..(*total).max(4), move |r| {
                let _ = tx.send((i, r));
            });
        }
        drop(tx);
        self.counts.blocking_waits += 1;
        let wait = wgpu::PollType::Wait { submission_index: None, timeout: None };
        self.ctx.device().poll(wait).map_err(|e| Error::Gpu(format!("waiting for the evaluation failed: {e}")))?;
        for (i, r) in rx.iter() {
            r.map_err(|e| Error::Gpu(format!("mapping the evaluation's outputs (part {i}) failed: {e}")))?;
        }
        self.ctx.check("reading the evaluation's outputs")?;
        let mut values = Vec::new();
        for (buffer, total) in &collected {
            if *total > 0 {
                let view = buffer
                    .get_mapped_range(0..*total)
                    .map_err(|e| Error::Gpu(format!("reading the evaluation's outputs failed: {e}")))?;
                values.extend(bytemuck::pod_collect_to_vec::<u8, f32>(&view));
            }
            buffer.unmap();
        }
        Ok(values)
    }

    fn request_stats(&mut self, split: Split) -> Result<()> {
        if self.ring.request(&self.ctx, &self.counters, split)? {
            self.counts.throttle_waits += 1;
        }
        self.counts.submits += 1;
        Ok(())
    }

    fn poll_stats(&mut self) -> Result<Option<(Split, Stats)>> {
        self.ring.poll(&self.ctx)
    }

    fn queued_steps(&self) -> u64 {
        self.queued_steps
    }

    fn work_counts(&self) -> WorkCounts {
        self.counts
    }

    fn workgroups(&self, plan: PlanId) -> Result<Option<Vec<u64>>> {
        let prepared = self.plans.get(plan.0).ok_or_else(|| Error::Config(format!("no prepared plan {}", plan.0)))?;
        Ok(Some(prepared.dispatches.iter().map(|d| d.groups.iter().map(|&g| u64::from(g)).product()).collect()))
    }

    fn finish(&mut self) -> Result<()> {
        self.counts.blocking_waits += 1;
        let wait = wgpu::PollType::Wait { submission_index: None, timeout: None };
        self.ctx.device().poll(wait).map_err(|e| Error::Gpu(format!("waiting for the GPU failed: {e}")))?;
        self.ctx.check("waiting for the queued steps")
    }

    fn profile(&mut self, plan: PlanId, steps: usize) -> Result<Option<Vec<Duration>>> {
        if !self.ctx.has_timestamps() {
            return Ok(None);
        }
        self.start_run(plan, steps)?;
        let device = self.ctx.device();
        let dispatches = &self.plans[plan.0].dispatches;
        let per_step = dispatches.len().max(1);
        // Queries: a start and an end timestamp per dispatch, as many steps per submission as one query set holds.
        let steps_per_submit = (wgpu::QUERY_SET_MAX_QUERIES as usize / (2 * per_step)).max(1);
        let queries = 2 * per_step * steps_per_submit.min(steps.max(1));
        let (query_set, resolved, staging) = self.ctx.scoped("creating the timestamp queries", || {
            let query_set = device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kernel timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: queries as u32,
            });
            let size = (queries * 8) as u64;
            let resolved = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("resolved timestamps"),
                size,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps read-back"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (query_set, resolved, staging)
        })?;
        self.queued_steps += steps as u64 * self.plans[plan.0].train_steps;
        let mut ticks = vec![0u64; per_step];
        let mut left = steps;
        while left > 0 {
            let chunk = left.min(steps_per_submit);
            left -= chunk;
            // Encode: one compute pass per dispatch, so that each gets its own start and end timestamps.
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("profile") });
            for step in 0..chunk {
                for (i, d) in dispatches.iter().enumerate() {
                    let at = (2 * (step * per_step + i)) as u32;
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("profiled op"),
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &query_set,
                            beginning_of_pass_write_index: Some(at),
                            end_of_pass_write_index: Some(at + 1),
                        }),
                    });
                    d.encode(&mut pass);
                }
            }
            let used = (2 * chunk * per_step) as u32;
            encoder.resolve_query_set(&query_set, 0..used, &resolved, 0);
            self.ctx.queue().submit([encoder.finish()]);
            // Read back: the timestamps of this chunk, in ticks; end − start per dispatch.
            let raw = self.ctx.read_back(&resolved, &staging, u64::from(used) * 8, "reading the kernel timestamps")?;
            let stamps: Vec<u64> = bytemuck::pod_collect_to_vec(&raw);
            for (i, pair) in stamps.chunks_exact(2).enumerate() {
                ticks[i % per_step] += pair[1].saturating_sub(pair[0]);
            }
        }
        // Ticks to time: the queue's period is in nanoseconds per tick.
        let period = f64::from(self.ctx.queue().get_timestamp_period());
        Ok(Some(ticks.into_iter().map(|t| Duration::from_nanos((t as f64 * period).round() as u64)).collect()))
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn read_buffer(&mut self, id: BufId) -> Result<Vec<f32>> {
        self.layout.check_buffer(id, None)?;
        self.counts.blocking_waits += 1;
        let desc = &self.layout.buffers[id];
        let what = format!("reading buffer {}", desc.name);
        let raw = self.ctx.read_bytes_at(&self.mem, self.offsets[id] * 4, bytes(desc.len), &what)?;
        Ok(bytemuck::pod_collect_to_vec(&raw))
    }

    fn write_buffer(&mut self, id: BufId, data: &[f32]) -> Result<()> {
        self.layout.check_buffer(id, Some(data.len()))?;
        if !data.is_empty() {
            self.ctx.queue().write_buffer(&self.mem, self.offsets[id] * 4, bytemuck::cast_slice(data));
        }
        self.ctx.check(&format!("writing buffer {}", self.layout.buffers[id].name))
    }

    fn steps_done(&mut self) -> Result<u64> {
        Ok(counters::steps_done(&self.read_counters()?))
    }

    fn set_steps_done(&mut self, steps: u64) -> Result<()> {
        self.queued_steps = steps;
        self.ctx.queue().write_buffer(
            &self.counters,
            bytes(counters::STEPS_LO),
            bytemuck::cast_slice(&counters::steps_words(steps)),
        );
        self.ctx.check("setting the step count")
    }

    fn steps_per_check(&self) -> usize {
        STEPS_PER_CHECK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elementwise_grid_covers_every_element_within_the_dimension_limit() {
        for (len, max) in [(1, 65535), (256, 65535), (257, 65535), (100_000, 300), (1 << 25, 65535)] {
            let [x, y, z] = elementwise_grid(len, 256, max);
            assert!(x <= max && y <= max && z == 1);
            assert!(x as usize * y as usize * 256 >= len, "{len} {max}");
            assert!((x as usize * (y as usize - 1)) * 256 < len.max(1), "{len} {max}: a row of idle groups");
        }
    }
}
