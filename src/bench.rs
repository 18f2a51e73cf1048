//! Benchmark runs: the same model and data on a backend, with a warm-up, measured per epoch, reported with the figures
//! that let backends (and PyTorch) be compared: median epoch time, steps/s, samples/s, achieved GFLOP/s and the share
//! of the hardware's peak where it is known, and the training time needed to reach a target test accuracy.

use std::time::{Duration, Instant};

use crate::backend::{Backend, WorkCounts};
use crate::error::{Error, Result};
use crate::model::{Activation, Loss, ModelConfig};
use crate::optim::Optimizer;
use crate::plan::{Layout, Op, Plan, PlanForm, Split};
use crate::train::Trainer;

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct BenchSettings {
    /// Training steps run and then undone before measuring (pipelines, caches, thread pools warm up).
    pub warmup_steps: usize,
    /// Test accuracy whose time-to-reach is reported (0..1).
    pub target_acc: f32,
    /// Training steps timed op by op after the measured epochs (0: no breakdown); see [`profile`].
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

/// Where a training step's time goes: per kernel family and per op, from [`Backend::profile`] (the CPU backend times
/// each op with the host clock; the GPU backend with timestamp queries, one compute pass per kernel).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Profile {
    /// Steps timed.
    pub steps: usize,
    /// The sum of the ops' times per step (ms).
    pub ms_per_step: f64,
    /// Per kernel family ([`Op::family`]; a stage of several ops is the family `a+b`), slowest first.
    pub families: Vec<FamilyTime>,
    /// Per stage of the step (one op in a reference plan; a GPU dispatch), in plan order.
    pub ops: Vec<OpTime>,
}

/// One kernel family's time in a step.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FamilyTime {
    /// [`Op::family`] (`a+b` for a stage of two ops).
    pub family: String,
    /// Stages of this family in a step.
    pub ops: usize,
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Share of the step's summed op time (0..1).
    pub share: f64,
}

/// One stage's time in a step.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OpTime {
    /// [`Op::label`] of its ops, joined by ` + `.
    pub op: String,
    /// Milliseconds per step.
    pub ms_per_step: f64,
}

impl Profile {
    /// Groups per-stage times (summed over `steps`, one per stage of `plan`) by kernel family.
    pub fn new(plan: &Plan, times: &[Duration], steps: usize) -> Self {
        let per_step = |d: Duration| d.as_secs_f64() * 1e3 / steps.max(1) as f64;
        let stages: Vec<(String, String, f64)> = plan
            .stage_ops()
            .zip(times)
            .map(|(ops, &t)| {
                let family: Vec<&str> = ops.iter().map(Op::family).collect();
                let label: Vec<String> = ops.iter().map(Op::label).collect();
                (family.join("+"), label.join(" + "), per_step(t))
            })
            .collect();
        let total: f64 = stages.iter().map(|(_, _, ms)| ms).sum();
        let mut families: Vec<FamilyTime> = Vec::new();
        for (family, _, ms) in &stages {
            match families.iter_mut().find(|f| &f.family == family) {
                Some(f) => {
                    f.ops += 1;
                    f.ms_per_step += ms;
                }
                None => families.push(FamilyTime { family: family.clone(), ops: 1, ms_per_step: *ms, share: 0.0 }),
            }
        }
        for f in &mut families {
            f.share = if total > 0.0 { f.ms_per_step / total } else { 0.0 };
        }
        families.sort_by(|a, b| b.ms_per_step.total_cmp(&a.ms_per_step));
        Profile {
            steps,
            ms_per_step: total,
            families,
            ops: stages.into_iter().map(|(_, op, ms_per_step)| OpTime { op, ms_per_step }).collect(),
        }
    }
}

/// Times `steps` training steps of `rows` samples op by op on `backend` (after two untimed ones, so first-use costs
/// stay out). It trains: call it after the measured epochs. `None` where the backend cannot time its ops.
pub fn profile<B: Backend>(
    backend: &mut B,
    layout: &Layout,
    form: PlanForm,
    rows: usize,
    steps: usize,
) -> Result<Option<Profile>> {
    const UNTIMED: usize = 2;
    let plan = form.train_step(layout, rows)?;
    let id = backend.prepare(&plan)?;
    // Order: the first samples of the training split, as many as the steps read.
    let samples = (steps + UNTIMED) * rows;
    let order: Vec<u32> = (0..samples as u32).collect();
    backend.begin_epoch(Split::Train, &order)?;
    if backend.profile(id, UNTIMED)?.is_none() {
        return Ok(None);
    }
    Ok(backend.profile(id, steps)?.map(|times| Profile::new(&plan, &times, steps)))
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

/// This machine's CPU FP32 peak: physical cores × MHz × FP32 FLOPs per cycle of one core ([`fp32_flops_per_cycle`]).
/// Linux only; `None` where `/proc/cpuinfo` does not say or the CPU is not one this table knows ("-" in `bench`).
pub fn cpu_peak_gflops() -> Option<f64> {
    let mhz: f64 = cpuinfo("cpu MHz")?.parse().ok()?;
    let cpu = CpuId {
        vendor: cpuinfo("vendor_id")?,
        family: cpuinfo("cpu family")?.parse().ok()?,
        model: cpuinfo("model")?.parse().ok()?,
        name: cpuinfo("model name").unwrap_or_default(),
        flags: cpuinfo("flags")?,
    };
    let per_cycle = fp32_flops_per_cycle(&cpu)?;
    // Logical CPUs this process may use, less SMT siblings: two threads of one core share its FMA units.
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let threads_per_core = match (cpuinfo("siblings"), cpuinfo("cpu cores")) {
        (Some(s), Some(c)) => s.parse::<f64>().ok().zip(c.parse::<f64>().ok()).map_or(1.0, |(s, c)| (s / c).max(1.0)),
        _ => 1.0,
    };
    Some((logical / threads_per_core).max(1.0) * mhz * per_cycle / 1000.0)
}

/// What `/proc/cpuinfo` says of a CPU: enough to know its vector units.
#[derive(Clone, Debug, Default)]
pub struct CpuId {
    /// `vendor_id`: `AuthenticAMD`, `GenuineIntel`.
    pub vendor: String,
    /// `cpu family` (decimal).
    pub family: u32,
    /// `model` (decimal).
    pub model: u32,
    /// `model name`.
    pub name: String,
    /// `flags`, space-separated.
    pub flags: String,
}

/// FP32 FLOPs one core retires per cycle at most (FMA units × lanes × 2), for the CPUs whose vector units are known;
/// `None` for the others, rather than a guess from the instruction set: AVX-512 alone does not say whether a core
/// has one or two 512-bit FMA units (Intel's parts differ by SKU) or runs it on 256-bit halves (AMD Zen 4).
pub fn fp32_flops_per_cycle(cpu: &CpuId) -> Option<f64> {
    let has = |f: &str| cpu.flags.split_whitespace().any(|x| x == f);
    match (cpu.vendor.as_str(), cpu.family) {
        // Zen and Zen+ (models 0x00–0x2f): two 128-bit FMA pipes; Zen 2: two 256-bit.
        ("AuthenticAMD", 23) => Some(if cpu.model < 0x30 { 16.0 } else { 32.0 }),
        // Zen 3 and Zen 4: two 256-bit FMA pipes (Zen 4 runs AVX-512 on them in two halves).
        ("AuthenticAMD", 25) => Some(32.0),
        // Zen 5 EPYC (Turin): two full 512-bit FMA pipes; the laptop parts have 256-bit ones.
        ("AuthenticAMD", 26) if cpu.name.contains("EPYC") && has("avx512f") => Some(64.0),
        // Intel from Haswell on without AVX-512: two 256-bit FMA units.
        ("GenuineIntel", 6) if has("avx2") && has("fma") && !has("avx512f") => Some(32.0),
        _ => None,
    }
}

/// The value of the first `name` line of `/proc/cpuinfo` (Linux; `None` elsewhere or if there is none).
pub fn cpuinfo(name: &str) -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with(name))?;
    Some(line.split(':').nth(1)?.trim().to_owned())
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

/// One backend's large-matmul figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MatmulReport {
    /// The backend and its hardware.
    pub backend: String,
    /// n of the n × n × n product.
    pub size: usize,
    /// Which kernel computed it: `auto` (the backend's own choice), `tile 64`, `tile 32`, `tile 16` or
    /// `large 128` on a GPU; `sgemm` on the CPU.
    pub variant: String,
    /// Seconds per product, one per sample.
    pub seconds: Vec<f64>,
    /// Median of `seconds`.
    pub median_seconds: f64,
    /// 2n³ / median.
    pub gflops: f64,
    /// The hardware's FP32 peak, where known.
    pub peak_gflops: Option<f64>,
    /// `gflops / peak_gflops`.
    pub peak_share: Option<f64>,
    /// Entries of y checked against the host's product after timing (all of them up to n = 64).
    pub checked: usize,
    /// The largest `|got − want|` over those entries.
    pub max_error: f64,
}

/// The large-matmul probe: a layout of one `n → n` linear layer and the plan `y: [n, n] = x: [n, n] · w: [n, n]ᵀ + b`
/// (the training step's `linear` kernel, no activation), so the figure is that of the kernel training uses.
pub fn matmul_plan(n: usize) -> Result<(Layout, Plan)> {
    if n == 0 {
        return Err(Error::Config("a matmul of size 0; give --matmul a size of at least 1".into()));
    }
    let model = ModelConfig { inputs: n, hidden: vec![], classes: n, activation: Activation::Relu, loss: Loss::Xent };
    let layout = Layout::new(&model, Optimizer::Sgd { lr: 0.1 }, n);
    let l = layout.layers[0];
    let op = Op::Linear { y: l.a, x: l.x, w: l.w, b: l.b, act: Activation::Identity, rows: n, inputs: n, outputs: n };
    Ok((layout, Plan::one_op_per_stage(n, Split::Train, vec![op])))
}

/// The value the matmul probe writes at `(row, col)` of input `salt` (1: x, 2: w, 3: b): one of 16 values ±0.005 …
/// ±0.075 picked by a hash of all three — never 0, not symmetric in (row, col) and different per input, so a product of
/// unwritten (zero) inputs, a transposed or a swapped operand gives other numbers. Small, so no sum overflows or turns
/// subnormal.
pub fn matmul_input(salt: u64, row: usize, col: usize) -> f32 {
    let h = mix(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ mix(row as u64 ^ mix(col as u64)));
    ((h % 16) as f32 - 7.5) * 0.01
}

/// The splitmix64 finaliser: every bit of the output depends on every bit of the input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The entries of the `n × n` product that [`matmul`] checks: all of them up to n = 64, else the four corners and 256
/// pseudo-random (fixed-seed) ones.
fn matmul_sample(n: usize) -> Vec<(usize, usize)> {
    if n <= 64 {
        return (0..n).flat_map(|i| (0..n).map(move |j| (i, j))).collect();
    }
    let corners = [(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)];
    let seeded = (0..256u64).map(|t| ((mix(2 * t) % n as u64) as usize, (mix(2 * t + 1) % n as u64) as usize));
    corners.into_iter().chain(seeded).collect()
}

/// Times the `n × n × n` product of [`matmul_plan`] on `backend` (built for that layout): fills x, w and b with
/// [`matmul_input`], runs it once untimed, then takes `samples` timings of `k` back-to-back products each (submitted
/// together, then waited for), with `k` chosen so that one timing lasts about 0.2 s. Then it reads y back and checks
/// entries of it (see [`matmul_sample`]) against the product computed on the host in f64, within
/// `1e-6 + 1e-4 · (|b_j| + Σ_k |x_ik · w_jk|)` (f32 sums are good to ~1e-7 of that; the absolute part stays below the
/// smallest product of two inputs, 2.5e-5, so even an unwritten 1 × 1 product fails): a backend that times a wrong
/// product is an error naming the first wrong entry.
pub fn matmul<B: Backend>(backend: &mut B, n: usize, samples: usize) -> Result<MatmulReport> {
    let (layout, plan) = matmul_plan(n)?;
    let l = layout.layers[0];
    let fill =
        |rows: usize, salt: u64| -> Vec<f32> { (0..rows * n).map(|i| matmul_input(salt, i / n, i % n)).collect() };
    backend.write_buffer(l.x, &fill(n, 1))?;
    backend.write_buffer(l.w, &fill(n, 2))?;
    backend.write_buffer(l.b, &fill(1, 3))?;
    let id = backend.prepare(&plan)?;
    let timed = |backend: &mut B, k: usize| -> Result<f64> {
        let started = Instant::now();
        backend.run(id, k)?;
        backend.finish()?;
        Ok(started.elapsed().as_secs_f64())
    };
    let first = timed(backend, 1)?;
    let k = ((0.2 / first.max(1e-6)) as usize).clamp(1, 256);
    let mut seconds = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        seconds.push(timed(backend, k)? / k as f64);
    }
    let backend_name = backend.describe();
    let y = backend.read_buffer(l.a)?;
    let sample = matmul_sample(n);
    let mut max_error = 0.0f64;
    for &(i, j) in &sample {
        let b = f64::from(matmul_input(3, 0, j));
        let (mut want, mut magnitude) = (b, b.abs());
        for k in 0..n {
            let term = f64::from(matmul_input(1, i, k)) * f64::from(matmul_input(2, j, k));
            want += term;
            magnitude += term.abs();
        }
        let got = f64::from(y[i * n + j]);
        let error = (got - want).abs();
        let tolerance = 1e-6 + 1e-4 * magnitude;
        if error.is_nan() || error > tolerance {
            return Err(Error::WrongResult(format!(
                "the {n}x{n} matmul on {backend_name} computed a wrong product: y[{i}, {j}] = {} but the host \
                 computes {want} (error {error:.2e}, tolerance {tolerance:.2e}); its timings measure a broken kernel",
                y[i * n + j]
            )));
        }
        max_error = max_error.max(error);
    }
    let median_seconds = median(&seconds).max(1e-12);
    let gflops = 2.0 * (n as f64).powi(3) / median_seconds / 1e9;
    let peak = peak_gflops(&backend_name);
    Ok(MatmulReport {
        backend: backend_name,
        size: n,
        variant: "auto".into(),
        seconds,
        median_seconds,
        gflops,
        peak_gflops: peak,
        peak_share: peak.map(|p| gflops / p),
        checked: sample.len(),
        max_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zen 4 has AVX-512 but 256-bit FMA pipes: 32 FLOPs per cycle, not the 64 that "AVX-512" would suggest; a CPU
    /// the table does not know gives no peak rather than a guess.
    #[test]
    fn flops_per_cycle_should_come_from_the_cpu_not_its_instruction_set() {
        let cpu = |vendor: &str, family, model, name: &str, flags: &str| CpuId {
            vendor: vendor.into(),
            family,
            model,
            name: name.into(),
            flags: flags.into(),
        };
        let zen4 = cpu("AuthenticAMD", 25, 17, "AMD EPYC 9654 96-Core Processor", "fma avx2 avx512f avx512bw");
        assert_eq!(fp32_flops_per_cycle(&zen4), Some(32.0));
        let zen3 = cpu("AuthenticAMD", 25, 1, "AMD EPYC 7763 64-Core Processor", "fma avx2");
        assert_eq!(fp32_flops_per_cycle(&zen3), Some(32.0));
        let zen1 = cpu("AuthenticAMD", 23, 1, "AMD EPYC 7601 32-Core Processor", "fma avx2");
        assert_eq!(fp32_flops_per_cycle(&zen1), Some(16.0));
        let turin = cpu("AuthenticAMD", 26, 2, "AMD EPYC", "fma avx2 avx512f");
        assert_eq!(fp32_flops_per_cycle(&turin), Some(64.0));
        let strix = cpu("AuthenticAMD", 26, 36, "AMD Ryzen AI 9 HX 370", "fma avx2 avx512f");
        assert_eq!(fp32_flops_per_cycle(&strix), None, "Zen 5 laptops run AVX-512 on 256-bit pipes");
        let skylake_x = cpu("GenuineIntel", 6, 85, "Intel(R) Xeon(R) Silver 4114", "fma avx2 avx512f");
        assert_eq!(fp32_flops_per_cycle(&skylake_x), None, "one or two 512-bit units, by SKU");
        let haswell = cpu("GenuineIntel", 6, 63, "Intel(R) Xeon(R) CPU E5-2680 v3", "fma avx2");
        assert_eq!(fp32_flops_per_cycle(&haswell), Some(32.0));
        assert_eq!(fp32_flops_per_cycle(&cpu("ARM", 0, 0, "", "")), None);
    }

    #[test]
    fn profile_groups_ops_by_family_slowest_first() {
        let layout = Layout::new(
            &ModelConfig { inputs: 4, hidden: vec![3], classes: 2, activation: Activation::Tanh, loss: Loss::Xent },
            Optimizer::Sgd { lr: 0.1 },
            5,
        );
        let plan = layout.reference_train_step(5).unwrap();
        let ops = plan.ops.clone();
        // Op i takes i + 1 ms over 2 steps.
        let times: Vec<Duration> = (0..ops.len()).map(|i| Duration::from_millis(i as u64 + 1)).collect();
        let p = Profile::new(&plan, &times, 2);
        let total_ms: f64 = (1..=ops.len()).map(|i| i as f64).sum::<f64>() / 2.0;
        assert!((p.ms_per_step - total_ms).abs() < 1e-9);
        assert_eq!(p.ops.len(), ops.len());
        assert_eq!(p.ops[0].op, "gather_5x4");
        assert!((p.ops[0].ms_per_step - 0.5).abs() < 1e-9);
        assert_eq!(p.families.iter().map(|f| f.ops).sum::<usize>(), ops.len());
        assert!((p.families.iter().map(|f| f.share).sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(p.families.windows(2).all(|w| w[0].ms_per_step >= w[1].ms_per_step), "not slowest first");
        let linear = p.families.iter().find(|f| f.family == "linear").unwrap();
        assert_eq!(linear.ops, 2);
        // The two linears are ops 1 and 2: (2 + 3) ms over 2 steps.
        assert!((linear.ms_per_step - 2.5).abs() < 1e-9);
    }

    #[test]
    fn profile_of_a_fused_plan_names_each_stage_by_its_ops() {
        let layout = Layout::new(
            &ModelConfig { inputs: 4, hidden: vec![3, 3], classes: 2, activation: Activation::Relu, loss: Loss::Xent },
            Optimizer::Sgd { lr: 0.1 },
            5,
        );
        let plan = layout.train_step(5).unwrap();
        let times = vec![Duration::from_millis(1); plan.stages.len()];
        let p = Profile::new(&plan, &times, 1);
        assert_eq!(p.ops.len(), plan.stages.len());
        assert_eq!(p.ops[0].op, "gather_linear_5x4x3_relu");
        assert_eq!(p.ops[2].op, "linear_5x3x2_identity_xent");
        assert_eq!(p.ops[3].op, "input_grad_5x2x3_relu + advance_5_stats");
        assert_eq!(p.ops.last().unwrap().op, "grad_update_3x3_k5_sgd + grad_update_3x4_k5_sgd");
        assert!(p.families.iter().any(|f| f.family == "grad_update+input_grad" && f.ops == 1), "{:?}", p.families);
    }

    #[test]
    fn matmul_plan_refuses_size_zero() {
        assert!(matmul_plan(0).is_err());
        let (layout, plan) = matmul_plan(3).unwrap();
        assert_eq!(plan.ops.len(), 1);
        assert_eq!(layout.buffers[layout.layers[0].w].len, 9);
    }

    #[test]
    fn matmul_inputs_are_nonzero_varied_and_asymmetric() {
        let values: Vec<f32> = (0..40).flat_map(|r| (0..40).map(move |c| matmul_input(1, r, c))).collect();
        assert!(values.iter().all(|&v| v != 0.0 && v.abs() < 0.08), "{values:?}");
        let mut distinct = values.clone();
        distinct.sort_by(f32::total_cmp);
        distinct.dedup();
        assert_eq!(distinct.len(), 16);
        // Neither symmetric nor the same for x and w.
        let differ =
            |f: &dyn Fn(usize, usize) -> bool| (0..40).flat_map(|r| (0..40).map(move |c| (r, c))).any(|(r, c)| f(r, c));
        assert!(differ(&|r, c| matmul_input(1, r, c) != matmul_input(1, c, r)));
        assert!(differ(&|r, c| matmul_input(1, r, c) != matmul_input(2, r, c)));
    }

    #[test]
    fn matmul_sample_covers_small_products_and_the_corners_of_large_ones() {
        assert_eq!(matmul_sample(1), vec![(0, 0)]);
        assert_eq!(matmul_sample(64).len(), 64 * 64);
        let s = matmul_sample(4096);
        assert_eq!(s.len(), 260);
        assert!(s.contains(&(4095, 0)) && s.contains(&(0, 4095)) && s.contains(&(4095, 4095)));
        assert!(s.iter().all(|&(i, j)| i < 4096 && j < 4096));
        assert_eq!(s, matmul_sample(4096), "the sample is fixed");
    }
}
