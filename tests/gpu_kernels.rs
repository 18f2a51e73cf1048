//! Every WGSL kernel against its CPU twin (`cpu::ops`), through `gpu::check` — the same code as `gpu-mnist check`.
//! Outputs are pre-filled with NaN; shapes include 1, 7, 63, 65, 784 and 10. Skips loudly without a GPU adapter
//! (fails instead with GPU_MNIST_REQUIRE_GPU=1).

mod common;

use gpu_mnist::gpu::check::{self, CheckFamily};
use gpu_mnist::model::{Activation, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Rule;

fn run(family: CheckFamily) {
    let Some(ctx) = common::gpu() else { return };
    let rows = check::run_blocking(&ctx, family).unwrap();
    common::assert_pass(&rows);
}

#[test]
fn matmul_linear_should_match_reference() {
    run(CheckFamily::Linear);
}

#[test]
fn weight_grad_should_match_reference() {
    run(CheckFamily::WeightGrad);
}

#[test]
fn input_grad_should_match_reference() {
    run(CheckFamily::InputGrad);
}

/// An activation's family: every row passes, every row is of that activation (linear and input gradient, also
/// through dropout), and the wide rows reach z = ±100.
fn activation(act: Activation) {
    let Some(ctx) = common::gpu() else { return };
    let rows = check::run_blocking(&ctx, CheckFamily::Activation(act)).unwrap();
    common::assert_pass(&rows);
    assert!(rows.iter().all(|r| r.shape.split(' ').any(|w| w == act.name())), "rows of another activation");
    let wide = rows.iter().filter(|r| r.shape.contains("z∈[-100,100]"));
    // The input gradient twice: as is, and through dropout's factors.
    let kernels: Vec<&str> = wide.map(|r| r.kernel.split(' ').next().unwrap()).collect();
    assert_eq!(kernels, ["linear", "input_grad", "input_grad"]);
}

/// Every activation, the output layer's identity included (`Activation::ALL`: a new one is checked here without a
/// test of its own).
#[test]
fn every_activation_should_match_reference() {
    for &a in Activation::ALL {
        activation(a);
    }
}

#[test]
fn softmax_xent_should_match_reference() {
    run(CheckFamily::SoftmaxXent);
}

/// The one-unit shapes a loss family must cover: one row, both sides of 64, more rows than the kernel's 256
/// invocations, each with and without dz.
fn covers_one_unit(rows: &[check::CheckRow]) {
    for r in [1, 63, 65, 300] {
        let shape = format!("rows={r} classes=1");
        let n = rows.iter().filter(|row| row.shape == shape).count();
        assert!(n >= 4, "{n} rows of {shape}: dz, Σloss and the count, then Σloss and the count without dz");
    }
}

#[test]
fn quadratic_cost_should_match_reference() {
    let Some(ctx) = common::gpu() else { return };
    let rows = check::run_blocking(&ctx, CheckFamily::QuadraticCost).unwrap();
    common::assert_pass(&rows);
    covers_one_unit(&rows);
}

#[test]
fn binary_xent_should_match_reference() {
    let Some(ctx) = common::gpu() else { return };
    let rows = check::run_blocking(&ctx, CheckFamily::BinaryXent).unwrap();
    common::assert_pass(&rows);
    covers_one_unit(&rows);
    assert!(rows.iter().all(|r| r.kernel.starts_with("binary_xent")), "rows of another kernel");
}

/// The perceptron criterion on one unit per class and on one unit, every awkward shape, with scores exactly at 0
/// among its inputs (`check::loss`'s every fifth value): a tie is a mistake that updates, on both backends.
#[test]
fn perceptron_should_match_reference() {
    let Some(ctx) = common::gpu() else { return };
    let rows = check::run_blocking(&ctx, CheckFamily::Perceptron).unwrap();
    common::assert_pass(&rows);
    covers_one_unit(&rows);
    for &(r, classes) in &check::LOSS_SHAPES {
        let shape = format!("rows={r} classes={classes}");
        assert!(rows.iter().any(|row| row.shape == shape && row.kernel == "perceptron dz"), "no dz row of {shape}");
    }
    assert!(rows.iter().all(|r| r.kernel.starts_with("perceptron")), "rows of another kernel");
}

#[test]
fn argmax_accuracy_should_match_reference() {
    run(CheckFamily::Argmax);
}

#[test]
fn accumulate_should_match_reference() {
    run(CheckFamily::Accumulate);
}

#[test]
fn bias_grad_should_match_reference() {
    run(CheckFamily::BiasGrad);
}

fn update(rule: Rule) -> Vec<check::CheckRow> {
    let Some(ctx) = common::gpu() else { return vec![] };
    let rows = check::run_blocking(&ctx, CheckFamily::Update(rule)).unwrap();
    common::assert_pass(&rows);
    rows
}

#[test]
fn sgd_should_match_reference() {
    update(Rule::Sgd);
}

#[test]
fn momentum_should_match_reference() {
    update(Rule::Momentum);
}

#[test]
fn rmsprop_should_match_reference() {
    update(Rule::Rmsprop);
}

/// Also checks that t runs across 2³² (the carry into the step counter's high word) and past it.
#[test]
fn adam_and_adamw_should_match_reference() {
    for rule in [Rule::Adam, Rule::Adamw] {
        let rows = update(rule);
        if rows.is_empty() {
            return;
        }
        for t in ["t=4294967295..=4294967297 ", "t=4294967301..=4294967303 "] {
            assert!(
                rows.iter().any(|r| r.shape.starts_with(&format!("len=7 {t}")) || r.shape.contains(t)),
                "{rule:?}: no check at {t}"
            );
        }
    }
}

/// Every rule of the optimizer table has its test above: a new one is a compile error here until it is added.
#[allow(dead_code)]
fn every_rule_is_tested(rule: Rule) {
    match rule {
        Rule::Sgd | Rule::Momentum | Rule::Rmsprop | Rule::Adam | Rule::Adamw => {}
    }
}

/// The factors equal the CPU's exactly, at step counts across 2³².
#[test]
fn dropout_should_match_reference() {
    run(CheckFamily::Dropout);
}

#[test]
fn gather_should_match_reference() {
    run(CheckFamily::Gather);
}

#[test]
fn fused_linear_should_match_reference() {
    run(CheckFamily::FusedLinear);
}

#[test]
fn grad_update_should_match_reference() {
    run(CheckFamily::GradUpdate);
}

#[test]
fn fused_stages_should_match_reference() {
    run(CheckFamily::FusedStages);
}

#[test]
fn linear_large_should_match_reference() {
    run(CheckFamily::LinearLarge);
}

/// The large kernel runs only shapes its indices fit: forced on any other, preparing the plan is an error naming
/// the rule, not a dispatch that reads out of range.
#[test]
fn linear_large_refuses_shapes_it_does_not_fit() {
    use gpu_mnist::backend::Backend;
    use gpu_mnist::gpu::{GpuBackend, MatmulVariant};
    use gpu_mnist::plan::{Layout, Op, Plan, Split};
    let Some(ctx) = common::gpu() else { return };
    for (rows, inputs, outputs) in [(100, 8, 128), (128, 12, 128), (128, 8, 130), (64, 784, 512)] {
        let model = gpu_mnist::model::ModelConfig {
            output_units: OutputUnits::Classes,
            inputs,
            hidden: vec![],
            classes: outputs,
            activation: Activation::Relu,
            loss: gpu_mnist::model::Loss::Xent,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
        };
        let layout = Layout::new(&model, gpu_mnist::optim::Optimizer::sgd(0.1).unwrap(), rows);
        let l = layout.layers[0];
        let data = std::sync::Arc::new(gpu_mnist::data::Dataset::empty(inputs, outputs));
        let mut gpu = GpuBackend::new(&ctx, &layout, data).unwrap();
        gpu.set_matmul_variant(Some(MatmulVariant::Large));
        let op =
            Op::Linear { y: l.a, z: None, x: l.x, w: l.w, b: l.b, act: Activation::Relu.into(), rows, inputs, outputs };
        let err = gpu.prepare(&Plan::one_op_per_stage(rows, Split::Train, vec![op])).unwrap_err().to_string();
        assert!(err.contains("multiples of 128"), "{rows}x{inputs}x{outputs}: {err}");
    }
}

/// The reductions both ways: `fused_stages_should_match_reference` runs them with subgroup operations where the
/// adapter has them; here a context with subgroups turned off runs the tree fallback against the CPU.
#[test]
fn fused_stages_without_subgroups_should_match_reference() {
    use gpu_mnist::gpu::{ContextOptions, GpuContext};
    let Some(default) = common::gpu() else { return };
    println!("the default context uses subgroup operations: {}", default.has_subgroups());
    let ctx = GpuContext::new(&ContextOptions { subgroups: false, ..common::context_options() }).unwrap();
    assert!(!ctx.has_subgroups());
    common::assert_pass(&check::run_blocking(&ctx, CheckFamily::FusedStages).unwrap());
}
