//! The GPU backend: every buffer of the [`Layout`] and the data set live on the GPU; each stage of a plan becomes one
//! dispatch of a WGSL kernel, prepared once; running a plan only re-encodes those dispatches.
//!
//! The layout's buffers share one GPU buffer (the "arena"), each at its own 256-byte-aligned offset: the fused
//! kernel reaches any of them through a single binding (a stage of two jobs would otherwise bind more storage
//! buffers than WebGPU's 8 per stage), and the one-op kernels bind ranges of it.

use std::sync::Arc;
use std::time::Duration;

use web_time::Instant;

use crate::backend::{Backend, PlanId, Stats, WorkCounts};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::arena::bytes;
use crate::gpu::collect::Collected;
use crate::gpu::compile::{self, Prepared};
use crate::gpu::context::{BackendChoice, ContextOptions, GpuContext};
use crate::gpu::counters::{self, COUNTER_WORDS};
use crate::gpu::dispatch::Builder;
use crate::gpu::kernels::Kernels;
use crate::gpu::profile::KernelTimer;
use crate::gpu::readback::StatsRing;
use crate::gpu::tiles::{MatmulChoice, Tile, TileRule};
use crate::gpu::upload::{check_split, Resident};
use crate::plan::{BufId, Layout, Op, Plan, Split};

// The arena's arithmetic at its paths from before it moved to its own module.
pub use crate::gpu::arena::{arena_offsets, split_words, ARENA_ALIGN};
// At its path from before it moved to the tile choice.
pub use crate::gpu::tiles::MatmulVariant;
// At its path from before it moved to the making of dispatches.
pub use crate::gpu::dispatch::elementwise_grid;

/// Steps the training loop runs between two looks at the statistics: enough to keep the GPU busy, few enough to
/// notice divergence and show progress.
const STEPS_PER_CHECK: usize = 50;
/// Steps encoded into one submission at most, so a long `run` does not build one huge command buffer.
const STEPS_PER_SUBMIT: usize = 64;

/// What a read of the batch labels is called in its errors (the blocking read's and the awaited one's).
pub(super) const BATCH_LABELS_WHAT: &str = "reading the batch labels";

/// Runs plans with the WGSL kernels on a wgpu device.
pub struct GpuBackend {
    pub(super) ctx: GpuContext,
    kernels: Arc<Kernels>,
    pub(super) layout: Layout,
    /// The layout's buffers (the arena), the data set and the counters.
    pub(super) res: Resident,
    plans: Vec<Prepared>,
    /// The matmul kernel and tile of each product of the plans prepared from now on.
    matmul: MatmulChoice,
    /// Host mirror of the order lengths and cursors, only to reject a run that would read past the order.
    order_len: [usize; 2],
    cursor: [usize; 2],
    /// Host mirror of the step count: what the GPU's counter will hold once the queue has run.
    queued_steps: u64,
    /// What `run_collect` copied, until `take_collected`.
    collected: Collected,
    /// Statistics on their way back (see [`StatsRing`]).
    ring: StatsRing,
    counts: WorkCounts,
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
            // Buffers: the layout's arena, the data set uploaded once, the counters (see upload.rs).
            let res = Resident::allocate(device, ctx.queue(), layout, &data)?;
            Ok(GpuBackend {
                ctx: ctx.clone(),
                kernels,
                layout: layout.clone(),
                res,
                plans: Vec::new(),
                matmul: MatmulChoice { variant: None, rule: TileRule::new(ctx.is_software(), &limits) },
                order_len: [0; 2],
                cursor: [0; 2],
                queued_steps: 0,
                collected: Collected::default(),
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
        let raw = self.ctx.read_bytes(&self.res.batch_labels, self.batch_labels_bytes(), BATCH_LABELS_WHAT)?;
        Ok(bytemuck::pod_collect_to_vec(&raw))
    }

    /// The bytes of the batch labels buffer, one label per row (the blocking read's and the awaited one's).
    pub(super) fn batch_labels_bytes(&self) -> u64 {
        bytes(self.layout.max_rows.max(1))
    }

    /// Reads the whole counter buffer (waits for queued work).
    fn read_counters(&mut self) -> Result<[u32; COUNTER_WORDS]> {
        self.counts.blocking_waits += 1;
        let (src, staging) = (&self.res.counters, &self.res.counters_staging);
        counters::words(&self.ctx.read_back(src, staging, bytes(COUNTER_WORDS), counters::READ_WHAT)?)
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

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        self.ctx.describe()
    }

    fn prepare(&mut self, plan: &Plan) -> Result<PlanId> {
        // Compile: each stage of the plan becomes one dispatch, built once here (see compile.rs).
        let builder = Builder {
            ctx: &self.ctx,
            kernels: &self.kernels,
            layout: &self.layout,
            res: &self.res,
            matmul: self.matmul,
        };
        let prepared = compile::compile(&builder, plan)?;
        self.plans.push(prepared);
        Ok(PlanId(self.plans.len() - 1))
    }

    fn begin_epoch(&mut self, split: Split, order: &[u32]) -> Result<()> {
        let s = split.index();
        let n = self.res.splits[s].samples;
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
            queue.write_buffer(&self.res.splits[s].order, 0, bytemuck::cast_slice(order));
        }
        // Counters: this split's cursor and statistics back to zero (the step count is kept).
        queue.write_buffer(&self.res.counters, bytes(counters::CURSOR + s), bytemuck::bytes_of(&0u32));
        let at = counters::STATS + s * counters::STATS_WORDS;
        queue.write_buffer(&self.res.counters, bytes(at), bytemuck::cast_slice(&[0u32; counters::STATS_WORDS]));
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
        let dest = Collected::allocate(&self.ctx, total)?;
        // Encode: each step in its own pass, then the copy of its outputs (copies happen between passes); one
        // submission for all, nothing waited for.
        let prepared = &self.plans[plan.0];
        let started = Instant::now();
        let mut encoder =
            self.ctx.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("collect") });
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
                    &self.res.mem,
                    self.res.offsets[id] * 4,
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
        self.collected.push(dest, total);
        self.ctx.check("running and collecting the step plan")
    }

    fn take_collected(&mut self) -> Result<Vec<f32>> {
        // Read: every buffer mapped, then one wait for all of them (see collect.rs).
        self.counts.blocking_waits += 1;
        self.collected.take(&self.ctx)
    }

    fn request_stats(&mut self, split: Split) -> Result<()> {
        if self.ring.request(&self.ctx, &self.res.counters, split)? {
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
        let dispatches = &self.plans[plan.0].dispatches;
        // Queries: a start and an end timestamp per dispatch (see profile.rs).
        let timer = KernelTimer::new(&self.ctx, dispatches.len(), steps)?;
        self.queued_steps += steps as u64 * self.plans[plan.0].train_steps;
        // Time: each dispatch in a pass of its own, its ticks summed over the steps.
        timer.time(&self.ctx, dispatches, steps).map(Some)
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn read_buffer(&mut self, id: BufId) -> Result<Vec<f32>> {
        self.layout.check_buffer(id, None)?;
        self.counts.blocking_waits += 1;
        let desc = &self.layout.buffers[id];
        let what = format!("reading buffer {}", desc.name);
        let raw = self.ctx.read_bytes_at(&self.res.mem, self.res.offsets[id] * 4, bytes(desc.len), &what)?;
        Ok(bytemuck::pod_collect_to_vec(&raw))
    }

    fn write_buffer(&mut self, id: BufId, data: &[f32]) -> Result<()> {
        self.layout.check_buffer(id, Some(data.len()))?;
        if !data.is_empty() {
            self.ctx.queue().write_buffer(&self.res.mem, self.res.offsets[id] * 4, bytemuck::cast_slice(data));
        }
        self.ctx.check(&format!("writing buffer {}", self.layout.buffers[id].name))
    }

    fn steps_done(&mut self) -> Result<u64> {
        Ok(counters::steps_done(&self.read_counters()?))
    }

    fn set_steps_done(&mut self, steps: u64) -> Result<()> {
        self.queued_steps = steps;
        self.ctx.queue().write_buffer(
            &self.res.counters,
            bytes(counters::STEPS_LO),
            bytemuck::cast_slice(&counters::steps_words(steps)),
        );
        self.ctx.check("setting the step count")
    }

    fn steps_per_check(&self) -> usize {
        STEPS_PER_CHECK
    }
}
