//! The measuring tools of `gpu-mnist bench` on every backend: `--profile` (each op timed on its own) must train
//! exactly like an ordinary `run` and give every op a time; `--matmul` must compute the product it times.

mod common;

use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::bench;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Dataset;
use gpu_mnist::gpu::GpuBackend;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::{Layout, Op, PlanForm, Split};
use gpu_mnist::train::initial_params;

/// The CPU backend, and the GPU backend when there is an adapter (else a printed skip, or a failure under
/// `GPU_MNIST_REQUIRE_GPU=1`), both built for `layout` with the same initial parameters.
fn backends(layout: &Layout, data: &Arc<Dataset>) -> Vec<Box<dyn Backend>> {
    let mut all: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend::new(layout, Arc::clone(data)).unwrap())];
    if let Some(ctx) = common::gpu() {
        all.push(Box::new(GpuBackend::new(&ctx, layout, Arc::clone(data)).expect("GPU backend")));
    }
    all
}

fn model() -> ModelConfig {
    ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 784,
        hidden: vec![63],
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    }
}

#[test]
fn profiled_steps_should_match_unprofiled_steps() {
    let data = common::mnist_subset(200, 10);
    let layout = Layout::new(&model(), Optimizer::momentum(0.05, 0.9).unwrap(), 33);
    let plan = layout.train_step(33).unwrap();
    let order: Vec<u32> = (0..200).rev().collect();
    let init = initial_params(&layout.model, 3).unwrap();
    // The same backend kind twice: one runs the steps, the other profiles them.
    for (mut plain, mut profiled) in backends(&layout, &data).into_iter().zip(backends(&layout, &data)) {
        let name = plain.describe();
        for b in [&mut plain, &mut profiled] {
            b.write_params(&init).unwrap();
            b.begin_epoch(Split::Train, &order).unwrap();
        }
        let (p, q) = (plain.prepare(&plan).unwrap(), profiled.prepare(&plan).unwrap());
        plain.run(p, 3).unwrap();
        let Some(times) = profiled.profile(q, 3).unwrap() else {
            // Only a GPU without timestamp queries may decline; it must then have run nothing.
            assert!(!name.starts_with("cpu"), "the CPU backend can always time its ops");
            println!("{name}: no timestamp queries, profile declined");
            assert_eq!(profiled.steps_done().unwrap(), 0, "{name}: a declined profile must not train");
            continue;
        };
        // Same kernels, same order, only timed: bit-identical results.
        assert_eq!(plain.steps_done().unwrap(), 3, "{name}");
        assert_eq!(profiled.steps_done().unwrap(), 3, "{name}");
        assert_eq!(plain.read_params().unwrap(), profiled.read_params().unwrap(), "{name}: weights differ");
        assert_eq!(plain.stats(Split::Train).unwrap(), profiled.stats(Split::Train).unwrap(), "{name}: stats");
        // Times: one per stage; the stages with matrix products take measurable time.
        assert_eq!(times.len(), plan.stages.len(), "{name}");
        for (stage, t) in plan.stage_ops().zip(&times) {
            let labels: Vec<String> = stage.iter().map(|op| op.label()).collect();
            println!("{name}: {:<60} {t:?}", labels.join(" + "));
            if stage.iter().any(|op| matches!(op, Op::FusedLinear { .. } | Op::GradUpdate { .. })) {
                assert!(!t.is_zero(), "{name}: {labels:?} timed at zero");
            }
        }
    }
}

#[test]
fn profile_report_should_cover_every_stage_of_the_step() {
    let data = common::mnist_subset(300, 10);
    let layout = Layout::new(&model(), Optimizer::sgd(0.1).unwrap(), 64);
    let plan = layout.train_step(64).unwrap();
    for mut backend in backends(&layout, &data) {
        let name = backend.describe();
        let Some(report) = bench::profile(&mut backend, &layout, PlanForm::Fused, 64, 2).unwrap() else {
            assert!(!name.starts_with("cpu"), "the CPU backend can always time its ops");
            continue;
        };
        assert_eq!(report.steps, 2);
        let labels: Vec<String> =
            plan.stage_ops().map(|s| s.iter().map(Op::label).collect::<Vec<_>>().join(" + ")).collect();
        let got: Vec<String> = report.ops.iter().map(|o| o.op.clone()).collect();
        assert_eq!(got, labels, "{name}");
        let family_ops: usize = report.families.iter().map(|f| f.ops).sum();
        assert_eq!(family_ops, plan.stages.len(), "{name}");
        let family_ms: f64 = report.families.iter().map(|f| f.ms_per_step).sum();
        assert!((family_ms - report.ms_per_step).abs() <= 1e-9 * report.ms_per_step.max(1.0), "{name}");
        assert!(report.ms_per_step > 0.0, "{name}");
    }
}

#[test]
fn matmul_probe_should_match_reference() {
    // 1 and 64: every entry checked by the probe itself; 65: its sample of corners and seeded entries.
    for n in [1, 64, 65] {
        let (layout, _) = bench::matmul_plan(n).unwrap();
        let data = Arc::new(Dataset::empty(n, n));
        for mut backend in backends(&layout, &data) {
            let name = backend.describe();
            let report = bench::matmul(&mut backend, n, 2).unwrap_or_else(|e| panic!("{name} n={n}: {e}"));
            assert_eq!((report.size, report.seconds.len()), (n, 2), "{name}");
            assert!(report.gflops.is_finite() && report.gflops > 0.0, "{name}: {} GFLOP/s", report.gflops);
            assert_eq!(report.checked, if n <= 64 { n * n } else { 260 }, "{name} n={n}");
            assert!(report.max_error < 1e-5, "{name} n={n}: the probe's largest error {:e}", report.max_error);
            // The inputs are what the probe says it multiplies (not read back from the backend, so unwritten or
            // misplaced inputs cannot agree with themselves): x[r, k], w[c, k], b[c] from bench::matmul_input.
            let l = layout.layers[0];
            let x = |r: usize, k: usize| f64::from(bench::matmul_input(1, r, k));
            let w = |c: usize, k: usize| f64::from(bench::matmul_input(2, c, k));
            let b = |c: usize| f64::from(bench::matmul_input(3, 0, c));
            let written = backend.read_buffer(l.x).unwrap();
            assert!(written.iter().enumerate().all(|(i, &v)| f64::from(v) == x(i / n, i % n)), "{name}: x not written");
            // y = x·wᵀ + b, every entry against a plain triple loop in f64, within the probe's tolerance.
            let y = backend.read_buffer(l.a).unwrap();
            let mut worst = 0.0f64;
            for r in 0..n {
                for c in 0..n {
                    let want: f64 = b(c) + (0..n).map(|k| x(r, k) * w(c, k)).sum::<f64>();
                    let size: f64 = b(c).abs() + (0..n).map(|k| (x(r, k) * w(c, k)).abs()).sum::<f64>();
                    let got = f64::from(y[r * n + c]);
                    assert!((got - want).abs() <= 1e-6 + 1e-4 * size, "{name} n={n} [{r},{c}]: {got} vs {want}");
                    worst = worst.max((got - want).abs());
                }
            }
            println!("{name} n={n}: largest error {worst:e}, the probe's {:e}", report.max_error);
        }
    }
}
