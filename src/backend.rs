//! The interface every backend implements: run the [`Plan`]s of a [`Layout`] over a resident data set.
//!
//! A backend is built from a layout and the data set (which it may upload once), then driven by the training loop:
//! `begin_epoch` (sample order, counters), `run` (many steps of a prepared plan, no read-back), `request_stats` and
//! `poll_stats` (progress that arrives when it arrives: the core never waits for the GPU inside an epoch), `stats`
//! (the waits, at the edges: the end of an epoch, an evaluation). Parameters and optimizer state move in and out only
//! for initialisation, checkpoints and tests.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::{Layer, Params};
use crate::plan::{BufId, Layout, Plan, Split};

/// A prepared plan, as returned by [`Backend::prepare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanId(pub usize);

/// Accumulated loss statistics of a split since its last [`Backend::begin_epoch`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Σ per-sample loss.
    pub loss_sum: f32,
    /// Correct predictions.
    pub correct: u32,
    /// Samples seen.
    pub samples: u32,
}

impl std::ops::Add for Stats {
    type Output = Stats;

    /// The statistics of both sets of samples together.
    fn add(self, other: Stats) -> Stats {
        Stats {
            loss_sum: self.loss_sum + other.loss_sum,
            correct: self.correct.saturating_add(other.correct),
            samples: self.samples.saturating_add(other.samples),
        }
    }
}

impl Stats {
    /// Mean loss per sample (NaN before any sample).
    pub fn loss(&self) -> f32 {
        self.loss_sum / self.samples as f32
    }

    /// Fraction of correct predictions.
    pub fn accuracy(&self) -> f32 {
        self.correct as f32 / self.samples.max(1) as f32
    }
}

/// What a backend has done since it was built, counted where it happens (what was really encoded, submitted and
/// waited for, not what the plans say): the figures `bench --json` reports per step and per epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkCounts {
    /// Steps run (of any plan).
    pub steps: u64,
    /// Dispatches encoded (on the CPU: stages executed).
    pub dispatches: u64,
    /// Compute passes encoded (0 on the CPU).
    pub passes: u64,
    /// Command buffers submitted to the GPU queue (0 on the CPU).
    pub submits: u64,
    /// Times the host blocked until the GPU had finished all queued work (0 on the CPU, which never queues).
    pub blocking_waits: u64,
    /// Times the host waited for an older chunk to finish while later ones stayed queued: a throttle that keeps the
    /// host at most a few chunks ahead (so a Ctrl-C takes effect soon) without leaving the GPU idle.
    pub throttle_waits: u64,
    /// Nanoseconds the host spent encoding steps into command buffers.
    pub encode_ns: u64,
}

impl WorkCounts {
    /// The counts of what happened between `before` and `self`.
    pub fn since(&self, before: &WorkCounts) -> WorkCounts {
        WorkCounts {
            steps: self.steps - before.steps,
            dispatches: self.dispatches - before.dispatches,
            passes: self.passes - before.passes,
            submits: self.submits - before.submits,
            blocking_waits: self.blocking_waits - before.blocking_waits,
            throttle_waits: self.throttle_waits - before.throttle_waits,
            encode_ns: self.encode_ns - before.encode_ns,
        }
    }
}

/// A device that executes plans: the CPU reference, or a GPU through wgpu.
pub trait Backend {
    /// One line naming the backend and the hardware, e.g. `cpu (2 threads)` or `vulkan: NVIDIA H100 (discrete GPU)`.
    fn describe(&self) -> String;

    /// Compiles `plan` once (pipelines, bind groups…), for any number of later [`Backend::run`]s.
    fn prepare(&mut self, plan: &Plan) -> Result<PlanId>;

    /// Sets the order in which `split` is read (a permutation of its sample indices, or a prefix of one) and resets
    /// its cursor and statistics.
    fn begin_epoch(&mut self, split: Split, order: &[u32]) -> Result<()>;

    /// Runs a prepared plan `steps` times in a row. Nothing is read back.
    fn run(&mut self, plan: PlanId, steps: usize) -> Result<()>;

    /// Reads back the split's statistics since `begin_epoch` (waits for queued work).
    fn stats(&mut self, split: Split) -> Result<Stats>;

    /// Runs a prepared plan `steps` times like [`Backend::run`] and keeps, after each step, a copy of the first
    /// `len` values of buffer `id` (an evaluation's outputs, batch after batch), without reading anything back yet:
    /// [`Backend::take_collected`] returns every copy kept so far, in order, with a single wait.
    fn run_collect(&mut self, plan: PlanId, steps: usize, id: BufId, len: usize) -> Result<()>;

    /// The values kept by [`Backend::run_collect`] since the last call, in order (waits for queued work).
    fn take_collected(&mut self) -> Result<Vec<f32>>;

    /// Starts reading back the split's statistics as they will be once the work queued so far has run; they arrive
    /// through [`Backend::poll_stats`]. It never waits for the queue to empty; when a few requests are already in
    /// flight it waits for the oldest (a throttle: the host stays a few chunks ahead, the GPU stays busy).
    fn request_stats(&mut self, split: Split) -> Result<()>;

    /// The newest requested statistics that have arrived since the last call, never waiting; `None` if none has.
    fn poll_stats(&mut self) -> Result<Option<(Split, Stats)>>;

    /// Training steps taken once everything queued has run: counted on the host, so it never waits (the same
    /// number as [`Backend::steps_done`] after a [`Backend::finish`]).
    fn queued_steps(&self) -> u64;

    /// What the backend has encoded, submitted and waited for since it was built.
    fn work_counts(&self) -> WorkCounts;

    /// The workgroups each dispatch of a prepared plan launches, in order; `None` for a backend without dispatches
    /// (the CPU).
    fn workgroups(&self, plan: PlanId) -> Result<Option<Vec<u64>>>;

    /// Waits until every queued step has finished (the CPU backend runs synchronously: nothing to wait for). What a
    /// benchmark calls after `run` so that it times the work, not only its submission.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    /// Runs a prepared plan `steps` times like [`Backend::run`], timing each stage: returns, per stage of the plan in
    /// order ([`Plan::stages`]; one op each in a reference plan), its time summed over the steps. `None` where the
    /// backend cannot time single stages (a GPU adapter without timestamp queries). Slower than `run` (each stage is
    /// timed on its own), so for breakdowns only.
    fn profile(&mut self, plan: PlanId, steps: usize) -> Result<Option<Vec<Duration>>>;

    /// The layout this backend was built for.
    fn layout(&self) -> &Layout;

    /// Replaces the parameters (each tensor into its buffer of the layout).
    fn write_params(&mut self, params: &Params) -> Result<()> {
        let ids = self.layout().param_buffers();
        let tensors = params.tensors();
        if tensors.len() != ids.len() {
            return Err(Error::Config(format!("the model has {} parameter tensors, got {}", ids.len(), tensors.len())));
        }
        for (id, t) in ids.into_iter().zip(tensors) {
            self.write_buffer(id, t)?;
        }
        Ok(())
    }

    /// Reads the parameters back.
    fn read_params(&mut self) -> Result<Params> {
        let mut layers = Vec::with_capacity(self.layout().layers.len());
        for l in self.layout().layers.clone() {
            let (weight, bias) = (self.read_buffer(l.w)?, self.read_buffer(l.b)?);
            layers.push(Layer { weight, bias, inputs: l.inputs, outputs: l.outputs });
        }
        Ok(Params { layers })
    }

    /// Reads any buffer of the layout (activations, gradients, optimizer state).
    fn read_buffer(&mut self, id: BufId) -> Result<Vec<f32>>;

    /// Overwrites any buffer of the layout.
    fn write_buffer(&mut self, id: BufId, data: &[f32]) -> Result<()>;

    /// Training steps taken so far (Adam's t); settable for resuming.
    fn steps_done(&mut self) -> Result<u64>;

    /// Sets the number of training steps taken (when resuming from a checkpoint).
    fn set_steps_done(&mut self, steps: u64) -> Result<()>;

    /// How many steps the training loop should run between two looks at the statistics (progress, divergence).
    fn steps_per_check(&self) -> usize;
}

/// A boxed backend is a backend, so the CLI can pick one at run time and hand it to the generic training loop.
impl<B: Backend + ?Sized> Backend for Box<B> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn prepare(&mut self, plan: &Plan) -> Result<PlanId> {
        (**self).prepare(plan)
    }
    fn begin_epoch(&mut self, split: Split, order: &[u32]) -> Result<()> {
        (**self).begin_epoch(split, order)
    }
    fn run(&mut self, plan: PlanId, steps: usize) -> Result<()> {
        (**self).run(plan, steps)
    }
    fn stats(&mut self, split: Split) -> Result<Stats> {
        (**self).stats(split)
    }
    fn run_collect(&mut self, plan: PlanId, steps: usize, id: BufId, len: usize) -> Result<()> {
        (**self).run_collect(plan, steps, id, len)
    }
    fn take_collected(&mut self) -> Result<Vec<f32>> {
        (**self).take_collected()
    }
    fn request_stats(&mut self, split: Split) -> Result<()> {
        (**self).request_stats(split)
    }
    fn poll_stats(&mut self) -> Result<Option<(Split, Stats)>> {
        (**self).poll_stats()
    }
    fn queued_steps(&self) -> u64 {
        (**self).queued_steps()
    }
    fn work_counts(&self) -> WorkCounts {
        (**self).work_counts()
    }
    fn workgroups(&self, plan: PlanId) -> Result<Option<Vec<u64>>> {
        (**self).workgroups(plan)
    }
    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }
    fn profile(&mut self, plan: PlanId, steps: usize) -> Result<Option<Vec<Duration>>> {
        (**self).profile(plan, steps)
    }
    fn layout(&self) -> &Layout {
        (**self).layout()
    }
    fn write_params(&mut self, params: &Params) -> Result<()> {
        (**self).write_params(params)
    }
    fn read_params(&mut self) -> Result<Params> {
        (**self).read_params()
    }
    fn read_buffer(&mut self, id: BufId) -> Result<Vec<f32>> {
        (**self).read_buffer(id)
    }
    fn write_buffer(&mut self, id: BufId, data: &[f32]) -> Result<()> {
        (**self).write_buffer(id, data)
    }
    fn steps_done(&mut self) -> Result<u64> {
        (**self).steps_done()
    }
    fn set_steps_done(&mut self, steps: u64) -> Result<()> {
        (**self).set_steps_done(steps)
    }
    fn steps_per_check(&self) -> usize {
        (**self).steps_per_check()
    }
}
