//! `gpu-mnist bench`: the same model and data on each requested backend, side by side.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use gpu_mnist::backend::Backend;
use gpu_mnist::bench::{self, BenchReport, BenchSettings};
use gpu_mnist::data::Dataset;
use gpu_mnist::gpu::kernels::{large_linear_fits, Tile, LARGE_TILE};
use gpu_mnist::gpu::{GpuBackend, MatmulVariant};
use gpu_mnist::plan::PlanForm;
use gpu_mnist::train::{TrainConfig, Trainer};

use super::{load_data, make_backend, BackendArg, DataArgs, ModelArgs, OptimArgs, EVAL_BATCH};

#[derive(Args)]
pub struct BenchArgs {
    /// Backends to compare, comma-separated [default: every one available here].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub backends: Vec<BackendArg>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub optim: OptimArgs,
    /// Measured epochs per backend (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Seed (the same on every backend, so every backend trains the same run).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Report the training time needed to reach this test accuracy.
    #[arg(long, default_value_t = 0.98)]
    pub target_acc: f32,
    /// Training steps run (and undone) before measuring.
    #[arg(long, default_value_t = 20)]
    pub warmup_steps: usize,
    /// Also write the reports as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// After the measured epochs, time --profile-steps training steps kernel by kernel and print where a step's time
    /// goes (GPU: timestamp queries, where the adapter has them; CPU: the host clock).
    #[arg(long)]
    pub profile: bool,
    /// The step plans to measure: `fused` (what training runs) or `reference` (one dispatch per op: what fusing
    /// saves).
    #[arg(long, value_enum, default_value_t = PlanForm::Fused)]
    pub plan: PlanForm,
    /// Steps timed by --profile.
    #[arg(long, default_value_t = 20, value_name = "STEPS")]
    pub profile_steps: usize,
    /// Instead of training, time an N × N × N matrix product (the training step's linear kernel) on each backend
    /// and report its GFLOP/s and share of the hardware's FP32 peak.
    #[arg(long, value_name = "N")]
    pub matmul: Option<usize>,
}

/// Runs `gpu-mnist bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    anyhow::ensure!(
        args.target_acc > 0.0 && args.target_acc <= 1.0,
        "--target-acc {} is a fraction of 1: give 0.98 for 98%",
        args.target_acc
    );
    // Where the report goes, checked before the benchmark rather than after it.
    if let Some(path) = &args.json {
        gpu_mnist::files::ensure_writable(path).context("--json: cannot write the report there")?;
    }
    let optimizer = args.optim.optimizer()?;
    let backends = if args.backends.is_empty() { BackendArg::available() } else { args.backends.clone() };
    if let Some(n) = args.matmul {
        // The probe trains nothing: no data set to load, no model to build.
        return run_matmul(&backends, n, args.json.as_deref());
    }
    let data = Arc::new(load_data(&args.data)?);
    let model = args.model.model(&data);
    let config = TrainConfig {
        chunk_rows: None,
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        eval_batch: EVAL_BATCH,
        lr_schedule: args.optim.lr_schedule,
        init: args.model.init,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let layout = config.layout_for(&model, optimizer, &data)?;
    let settings = BenchSettings {
        warmup_steps: args.warmup_steps,
        target_acc: args.target_acc,
        profile_steps: if args.profile { args.profile_steps.max(1) } else { 0 },
        plan: args.plan,
    };
    outln!("model:   {}", model.describe());
    outln!(
        "optim:   {}, batch {}, {} measured epochs after {} warm-up steps, seed {}",
        optimizer.describe(),
        config.batch_size,
        args.epochs,
        args.warmup_steps,
        args.seed
    );
    outln!("data:    {}: {} train, {} test samples", data.name, data.train.len(), data.test.len());
    outln!("plans:   {:?}", args.plan);
    let mut reports = Vec::new();
    for arg in backends {
        let backend = make_backend(arg, &layout, data.clone())?;
        errln!("benchmarking {} …", backend.describe());
        let mut trainer = Trainer::new(backend, layout.clone(), data.clone(), config.clone())?;
        reports.push(bench::run(&mut trainer, &settings).with_context(|| format!("benchmark of {arg:?}"))?);
    }
    out!("{}", table(&reports));
    if args.profile {
        for r in &reports {
            out!("{}", profile_table(r));
        }
    }
    write_json(args.json.as_deref(), &reports)
}

/// Writes `reports` as pretty JSON to `path`, if given.
fn write_json<T: serde::Serialize>(path: Option<&Path>, reports: &T) -> Result<()> {
    if let Some(path) = path {
        let json = serde_json::to_string_pretty(reports)?;
        gpu_mnist::files::write_atomically(path, |f| std::io::Write::write_all(f, (json + "\n").as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `--matmul N`: the large-matmul probe on each backend.
fn run_matmul(backends: &[BackendArg], n: usize, json: Option<&Path>) -> Result<()> {
    let (layout, _) = bench::matmul_plan(n)?;
    let data = Arc::new(Dataset::empty(n, n));
    outln!("matmul:  y: [{n}, {n}] = x: [{n}, {n}] · wᵀ: [{n}, {n}] + b (the linear kernel), {:.1} GFLOP", {
        2.0 * (n as f64).powi(3) / 1e9
    });
    let mut reports = Vec::new();
    for &arg in backends {
        // A GPU: every kernel variant in the same run (the rule's own choice first), so they compare directly.
        if let Some(Ok(mut gpu)) = arg.gpu().map(|choice| GpuBackend::open(choice, &layout, data.clone())) {
            errln!("timing {} …", gpu.describe());
            let mut variants = vec![(None, "auto".to_string())];
            variants.extend(Tile::ALL.map(|t| (Some(MatmulVariant::Tiled(t)), format!("tile {}", t.side()))));
            if large_linear_fits(n, n, n) {
                variants.push((Some(MatmulVariant::Large), format!("large {LARGE_TILE}")));
            }
            for (variant, name) in variants {
                gpu.set_matmul_variant(variant);
                let mut report = bench::matmul(&mut gpu, n, 5).with_context(|| format!("matmul on {arg:?} {name}"))?;
                report.variant = name;
                reports.push(report);
            }
            continue;
        }
        let mut backend =
            make_backend(arg, &layout, data.clone()).with_context(|| format!("--matmul {n}: try a smaller N"))?;
        errln!("timing {} …", backend.describe());
        let mut report = bench::matmul(&mut backend, n, 5).with_context(|| format!("matmul on {arg:?}"))?;
        if report.backend.starts_with("cpu") {
            report.variant = "sgemm".into();
        }
        reports.push(report);
    }
    outln!(
        "{:<44} {:<10} {:>11} {:>9} {:>7} {:>9}",
        "backend",
        "kernel",
        "ms/matmul",
        "GFLOP/s",
        "% peak",
        "max error"
    );
    for r in &reports {
        let name: String = r.backend.chars().take(44).collect();
        let peak = r.peak_share.map_or("-".into(), |s| format!("{:.1}", 100.0 * s));
        outln!(
            "{name:<44} {:<10} {:>11.3} {:>9.1} {peak:>7} {:>9.1e}",
            r.variant,
            1e3 * r.median_seconds,
            r.gflops,
            r.max_error
        );
    }
    outln!("ms/matmul: median of {} timings", reports.first().map_or(0, |r| r.seconds.len()));
    if let Some(r) = reports.first() {
        outln!("max error: the largest |y − x·wᵀ − b| over {} entries of y, against the host's f64 product", r.checked);
    }
    write_json(json, &reports)
}

/// The `--profile` table of one backend: kernel families, slowest first, then every op of the step.
fn profile_table(r: &BenchReport) -> String {
    let Some(p) = &r.profile else {
        return format!(
            "\nprofile of {}: not available (the adapter has no timestamp queries, so its kernels cannot be timed one \
             by one)\n",
            r.backend
        );
    };
    let mut out = format!(
        "\nprofile of {}: {:.3} ms per step, {} steps timed, each stage (one dispatch) in a pass of its own: the \
         drains between dispatches are left out and the extra passes added, so the sum differs from the step time \
         ({:.3} ms per step in the measured epochs)\n",
        r.backend,
        p.ms_per_step,
        p.steps,
        1e3 / r.steps_per_sec.max(1e-9)
    );
    out += &format!("  {:<26} {:>6} {:>10} {:>7}\n", "kernel family", "stages", "ms/step", "share");
    for f in &p.families {
        out += &format!("  {:<26} {:>6} {:>10.4} {:>6.1}%\n", f.family, f.ops, f.ms_per_step, 100.0 * f.share);
    }
    let groups = &r.work.workgroups_per_dispatch;
    out += &format!("  {:<64} {:>10} {:>10}\n", "stage", "ms/step", "workgroups");
    for (i, op) in p.ops.iter().enumerate() {
        let g = groups.get(i).map_or("-".into(), |g| g.to_string());
        out += &format!("  {:<64} {:>10.4} {:>10}\n", op.op, op.ms_per_step, g);
    }
    if p.ops.iter().any(|o| o.op.contains("_xent") || o.op.contains("_mse")) {
        out += "  (the last layer computes its loss too, so its rows stay in one column of tiles: few workgroups, \
                one dispatch less)\n";
    }
    out
}

/// The human table: one row per backend, ratios against the CPU backend's median epoch time.
fn table(reports: &[BenchReport]) -> String {
    let cpu = reports.iter().find(|r| r.backend.starts_with("cpu")).map(|r| r.median_epoch_seconds);
    let mut out = format!(
        "{:<44} {:>9} {:>9} {:>10} {:>8} {:>7} {:>9} {:>8} {:>8}\n",
        "backend", "epoch s", "steps/s", "samples/s", "GFLOP/s", "% peak", "to target", "test acc", "vs cpu"
    );
    for r in reports {
        let peak = r.peak_share.map_or("-".into(), |s| format!("{:.1}", 100.0 * s));
        let target = r.seconds_to_target.map_or("-".into(), |s| format!("{s:.2} s"));
        let ratio = cpu.map_or("-".into(), |c| format!("{:.2}x", c / r.median_epoch_seconds));
        let name: String = r.backend.chars().take(44).collect();
        out += &format!(
            "{name:<44} {:>9.3} {:>9.1} {:>10.0} {:>8.1} {:>7} {:>9} {:>7.2}% {:>8}\n",
            r.median_epoch_seconds,
            r.steps_per_sec,
            r.samples_per_sec,
            r.gflops,
            peak,
            target,
            100.0 * r.final_test_acc,
            ratio
        );
    }
    for r in reports {
        let w = &r.work;
        out += &format!(
            "{}: {:.1} dispatches and {:.2} passes per step, {} submits and {} blocking waits per epoch, {:.1} µs of \
             host encoding per step\n",
            r.backend.chars().take(44).collect::<String>(),
            w.dispatches_per_step,
            w.passes_per_step,
            w.submits_per_epoch,
            w.blocking_waits_per_epoch,
            w.host_encode_us_per_step
        );
    }
    out += &format!(
        "epoch s: median of {} epochs (training only); to target: training seconds until test acc ≥ {:.2}%; vs cpu: \
         cpu epoch time / this epoch time\n",
        reports.first().map_or(0, |r| r.epoch_seconds.len()),
        100.0 * reports.first().map_or(0.0, |r| r.target_acc)
    );
    out
}
