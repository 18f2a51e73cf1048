//! Benchmark runs: the same model and data on a backend, with a warm-up, measured per epoch, reported with the figures
//! that let backends (and PyTorch) be compared: median epoch time, steps/s, samples/s, achieved GFLOP/s and the share
//! of the hardware's peak where it is known, and the training time needed to reach a target test accuracy.

mod matmul;
mod peak;
mod profile;

pub use matmul::{matmul, matmul_input, matmul_plan, MatmulReport};
pub use peak::{cpu_peak_gflops, cpuinfo, fp32_flops_per_cycle, peak_gflops, CpuId};
pub use profile::{profile, FamilyTime, OpTime, Profile};

use crate::backend::{Backend, WorkCounts};
use crate::error::Result;
use crate::model::ModelConfig;
use crate::plan::PlanForm;
use crate::train::Trainer;

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct BenchSettings {
    /// Training steps run and then undone before measuring (pipelines, caches, thread pools warm up).
    pub warmup_steps: usize,
    /// Test accuracy whose time-to-reach is reported (0..1).
    pub target_acc: f32,
    /// Training steps timed op by op after the measured epochs (0: no breakdown); see [`profile()`].
    pub profile_steps: usize,
    /// The plans measured: the fused ones training runs, or the reference ones (to see what fusing saves).
    pub plan: PlanForm,
}

/// One backend's figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    /// The backend and its hardware, as [`Backend::describe`] says.
    pub backend: String,
    /// Samples per training step.
    pub batch_size: usize,
    /// Training samples per epoch.
    pub samples_per_epoch: usize,
    /// Seconds of each measured epoch (training only).
    pub epoch_seconds: Vec<f64>,
    /// Median of `epoch_seconds`.
    pub median_epoch_seconds: f64,
    /// Training steps per second at the median.
    pub steps_per_sec: f64,
    /// Training samples per second at the median.
    pub samples_per_sec: f64,
    /// Achieved GFLOP/s of the training arithmetic (matrix products and element-wise work counted as in
    /// [`training_flops_per_sample`]).
    pub gflops: f64,
    /// The hardware's FP32 peak, where known.
    pub peak_gflops: Option<f64>,
    /// `gflops / peak_gflops`.
    pub peak_share: Option<f64>,
    /// The target test accuracy.
    pub target_acc: f32,
    /// Training seconds (evaluation excluded) until the test accuracy after an epoch first reached the target.
    pub seconds_to_target: Option<f64>,
    /// Test accuracy after the last epoch.
    pub final_test_acc: f32,
    /// What a step and an epoch cost in dispatches, passes, submissions and waits, as the backend counted them in
    /// the last measured epoch.
    pub work: StepWork,
    /// The plans measured.
    pub plan: PlanForm,
    /// Where a training step's time goes, if asked for and the backend can time its ops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

/// What one training step and one epoch cost, counted by the backend from what it really encoded, submitted and
/// waited for (not from the plan's length).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StepWork {
    /// Dispatches encoded per training step (the CPU: stages executed).
    pub dispatches_per_step: f64,
    /// Compute passes per training step (steps share a pass within a submission).
    pub passes_per_step: f64,
    /// Command buffers submitted per epoch, training and evaluation.
    pub submits_per_epoch: u64,
    /// Times the host blocked until the GPU had run everything queued, per epoch, training and evaluation.
    pub blocking_waits_per_epoch: u64,
    /// Times the host waited for an older chunk while later ones kept the GPU busy, per epoch (the throttle that
    /// keeps a Ctrl-C prompt).
    pub throttle_waits_per_epoch: u64,
    /// Host time spent encoding per training step, microseconds.
    pub host_encode_us_per_step: f64,
    /// Workgroups each dispatch of a full training step launches, in order (empty on the CPU).
    pub workgroups_per_dispatch: Vec<u64>,
}

impl StepWork {
    /// The figures of an epoch whose training did `train` and whose evaluation did `eval`.
    pub fn new(train: &WorkCounts, eval: &WorkCounts, workgroups: Option<Vec<u64>>) -> Self {
        let steps = train.steps.max(1) as f64;
        StepWork {
            dispatches_per_step: train.dispatches as f64 / steps,
            passes_per_step: train.passes as f64 / steps,
            submits_per_epoch: train.submits + eval.submits,
            blocking_waits_per_epoch: train.blocking_waits + eval.blocking_waits,
            throttle_waits_per_epoch: train.throttle_waits + eval.throttle_waits,
            host_encode_us_per_step: train.encode_ns as f64 / steps / 1e3,
            workgroups_per_dispatch: workgroups.unwrap_or_default(),
        }
    }
}

/// FLOPs of one training sample: forward `2·in·out` per layer, backward `2·in·out` for each weight gradient and
/// each input gradient except the first layer's (nothing needs ∂loss/∂pixels). Element-wise work is left out.
pub fn training_flops_per_sample(model: &ModelConfig) -> f64 {
    let macs = model.forward_macs();
    let first = model.layer_shapes().first().map_or(0, |(i, o)| i * o);
    2.0 * (3 * macs - first) as f64
}

/// The median of `v` (mean of the middle two for an even count); 0 for none.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Measures the trainer's `config.epochs` epochs (each followed by a test-set evaluation, not timed) after a warm-up
/// that is undone (weights, optimizer state and step counter back to their initial values, so the measured run is the
/// run a user gets).
pub fn run<B: Backend>(trainer: &mut Trainer<B>, settings: &BenchSettings) -> Result<BenchReport> {
    trainer.use_plans(settings.plan)?;
    trainer.warm_up(settings.warmup_steps)?;
    let mut epoch_seconds = Vec::new();
    let (mut trained, mut seconds_to_target, mut final_test_acc) = (0.0, None, 0.0);
    for _ in 0..trainer.config.epochs {
        let m = trainer.epoch(&mut |_| {})?;
        trained += m.seconds;
        if seconds_to_target.is_none() && m.test_acc >= settings.target_acc {
            seconds_to_target = Some(trained);
        }
        epoch_seconds.push(m.seconds);
        final_test_acc = m.test_acc;
    }
    let samples_per_epoch = trainer.samples_per_epoch();
    let batch_size = trainer.batch_size();
    let median_epoch_seconds = median(&epoch_seconds).max(1e-9);
    let samples_per_sec = samples_per_epoch as f64 / median_epoch_seconds;
    let gflops = training_flops_per_sample(&trainer.layout.model) * samples_per_sec / 1e9;
    // Breakdown: after the measured epochs, so timing single ops cannot slow them.
    let profile_steps = settings.profile_steps.min((samples_per_epoch / batch_size.max(1)).saturating_sub(2));
    let profile = match profile_steps {
        0 => None,
        steps => profile(&mut trainer.backend, &trainer.layout, settings.plan, batch_size, steps)?,
    };
    let (train, eval) = trainer.last_epoch_work;
    let work = StepWork::new(&train, &eval, trainer.backend.workgroups(trainer.train_plan())?);
    let backend = trainer.backend.describe();
    let peak = peak_gflops(&backend);
    Ok(BenchReport {
        backend,
        batch_size,
        samples_per_epoch,
        median_epoch_seconds,
        steps_per_sec: samples_per_epoch.div_ceil(batch_size) as f64 / median_epoch_seconds,
        samples_per_sec,
        gflops,
        peak_gflops: peak,
        peak_share: peak.map(|p| gflops / p),
        target_acc: settings.target_acc,
        seconds_to_target,
        final_test_acc,
        epoch_seconds,
        work,
        plan: settings.plan,
        profile,
    })
}
