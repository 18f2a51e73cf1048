//! Benchmark runs: the same model and data on a backend, with a warm-up, measured per epoch, reported with the figures
//! that let backends (and PyTorch) be compared: median epoch time, steps/s, samples/s, achieved GFLOP/s and the share
//! of the hardware's peak where it is known, and the training time needed to reach a target test accuracy.

use crate::backend::Backend;
use crate::error::Result;
use crate::model::ModelConfig;
use crate::train::Trainer;

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct BenchSettings {
    /// Measured epochs (each followed by a test-set evaluation, not timed).
    pub epochs: usize,
    /// Training steps run and then undone before measuring (pipelines, caches, thread pools warm up).
    pub warmup_steps: usize,
    /// Test accuracy whose time-to-reach is reported (0..1).
    pub target_acc: f32,
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
}

/// FLOPs of one training sample: forward `2·in·out` per layer, backward `2·in·out` for each weight gradient and
/// each input gradient except the first layer's (nothing needs ∂loss/∂pixels). Element-wise work is left out.
pub fn training_flops_per_sample(model: &ModelConfig) -> f64 {
    let shapes = model.layer_shapes();
    let macs: usize = shapes.iter().map(|(i, o)| i * o).sum();
    let first = shapes.first().map_or(0, |(i, o)| i * o);
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

/// FP32 peak GFLOP/s of the hardware a backend description names, where this table knows it: the CPU from
/// `/proc/cpuinfo` (cores × clock × FLOPs per cycle of its widest FMA units), and a few GPUs by name
/// (vendor figures for dense FP32, no tensor cores).
pub fn peak_gflops(description: &str) -> Option<f64> {
    const GPUS: [(&str, f64); 6] = [
        ("H200", 66_900.0),
        ("H100 PCIe", 51_200.0),
        ("H100", 66_900.0),
        ("A100", 19_500.0),
        ("RTX 4090", 82_600.0),
        ("RTX 3090", 35_600.0),
    ];
    if let Some((_, peak)) = GPUS.iter().find(|(name, _)| description.contains(name)) {
        return Some(*peak);
    }
    if description.starts_with("cpu") {
        return cpu_peak_gflops();
    }
    None
}

/// This machine's CPU FP32 peak: logical cores × MHz × FLOPs/cycle (2 FMA units × 8 lanes × 2 with AVX2+FMA,
/// × 16 lanes with AVX-512). Linux only; `None` where `/proc/cpuinfo` does not say.
pub fn cpu_peak_gflops() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let field = |name: &str| {
        info.lines().find(|l| l.starts_with(name)).and_then(|l| l.split(':').nth(1)).map(|v| v.trim().to_owned())
    };
    let mhz: f64 = field("cpu MHz")?.parse().ok()?;
    let flags = field("flags")?;
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let per_cycle = if has("avx512f") {
        64.0
    } else if has("avx2") && has("fma") {
        32.0
    } else if has("avx") {
        16.0
    } else {
        8.0
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    Some(cores * mhz * per_cycle / 1000.0)
}

/// Measures `settings.epochs` epochs of `trainer` after a warm-up that is undone (weights, optimizer state and
/// step counter back to their initial values, so the measured run is the run a user gets).
pub fn run<B: Backend>(trainer: &mut Trainer<B>, settings: &BenchSettings) -> Result<BenchReport> {
    trainer.warm_up(settings.warmup_steps)?;
    let mut epoch_seconds = Vec::new();
    let (mut trained, mut seconds_to_target, mut final_test_acc) = (0.0, None, 0.0);
    for _ in 0..settings.epochs {
        let m = trainer.epoch(&mut |_| {})?;
        trained += m.seconds;
        if seconds_to_target.is_none() && m.test_acc >= settings.target_acc {
            seconds_to_target = Some(trained);
        }
        epoch_seconds.push(m.seconds);
        final_test_acc = m.test_acc;
    }
    let samples_per_epoch = trainer.samples_per_epoch();
    let batch_size = trainer.config.batch_size.min(samples_per_epoch);
    let median_epoch_seconds = median(&epoch_seconds).max(1e-9);
    let samples_per_sec = samples_per_epoch as f64 / median_epoch_seconds;
    let gflops = training_flops_per_sample(&trainer.layout.model) * samples_per_sec / 1e9;
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
    })
}
