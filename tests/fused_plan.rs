//! The fused step (what training runs) against the reference step (the definition), on the CPU.
//!
//! The CPU runs both plans with the same reference functions, so CPU/GPU parity alone could never catch a fusion
//! bug: a wrong order would give the same wrong answer on both. Here K steps of each plan, from the same weights and
//! the same sample order, must leave bit-identical buffers (inputs, activations, deltas, gradients, weights,
//! optimizer state), statistics and step counts — for every activation × loss × optimizer × schedule, with one, two
//! and three layers, a last layer narrow enough for the fused loss head and one too wide for it (and, for the losses
//! that take it, one output unit for two classes), and a short last batch. Then the plans' shapes: at most 2L + 1 stages, and every stage free of races.

mod common;

use std::sync::Arc;

use clap::ValueEnum;
use gpu_mnist::backend::Backend;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Dataset;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{Hyper, Optimizer, Rule};
use gpu_mnist::plan::{BufDesc, Layout, Op, Plan, Role, Split, HEAD_MAX_CLASSES};

/// Every rule of the optimizer table with its defaults, and with weight decay (RMSprop also centered and with
/// momentum, and with Keras's ε placement).
fn optimizers() -> Vec<Optimizer> {
    let mut out = Vec::new();
    for &rule in Rule::ALL {
        out.push(Optimizer::new(rule));
        let mut decayed = Optimizer::new(rule).with(Hyper::WeightDecay, 0.05).unwrap();
        if rule == Rule::Rmsprop {
            decayed = decayed.with(Hyper::Momentum, 0.9).unwrap().with(Hyper::Centered, 1.0).unwrap();
            out.push(Optimizer::new(rule).with(Hyper::EpsInSqrt, 1.0).unwrap());
        }
        out.push(decayed);
    }
    out
}

fn model(hidden: &[usize], classes: usize, activation: Activation, loss: Loss) -> ModelConfig {
    ModelConfig {
        // One output unit stands for 2 classes.
        output_units: if classes == 2 { OutputUnits::One } else { OutputUnits::Classes },
        inputs: 784,
        hidden: hidden.to_vec(),
        classes,
        activation,
        loss,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    }
}

/// A CPU backend over `layout` with seeded weights and the order `0..n` reversed for both splits.
fn backend(layout: &Layout, data: &Arc<Dataset>) -> CpuBackend {
    let mut cpu = CpuBackend::new(layout, Arc::clone(data)).unwrap();
    cpu.write_params(&gpu_mnist::train::initial_params(&layout.model, 5).unwrap()).unwrap();
    let train: Vec<u32> = (0..data.train.len() as u32).rev().collect();
    let test: Vec<u32> = (0..data.test.len() as u32).rev().collect();
    cpu.begin_epoch(Split::Train, &train).unwrap();
    cpu.begin_epoch(Split::Test, &test).unwrap();
    cpu
}

/// Runs `steps` (plan, times) on `cpu` in order.
fn run(cpu: &mut CpuBackend, plans: &[(&Plan, usize)]) {
    for (plan, times) in plans {
        let id = cpu.prepare(plan).unwrap();
        cpu.run(id, *times).unwrap();
    }
}

/// Every buffer but the row statistics (which only the fused plan writes) is bit-identical, and so are both splits'
/// statistics and the step count.
fn assert_same(what: &str, layout: &Layout, reference: &mut CpuBackend, fused: &mut CpuBackend) {
    for (id, desc) in layout.buffers.iter().enumerate() {
        if desc.role == Role::RowStats {
            continue;
        }
        let (want, got) = (reference.read_buffer(id).unwrap(), fused.read_buffer(id).unwrap());
        if let Some(i) = (0..want.len()).find(|&i| want[i].to_bits() != got[i].to_bits()) {
            panic!("{what}: buffer {} differs first at [{i}]: reference {:e}, fused {:e}", desc.name, want[i], got[i]);
        }
    }
    for split in [Split::Train, Split::Test] {
        assert_eq!(reference.stats(split).unwrap(), fused.stats(split).unwrap(), "{what}: {split:?} statistics");
    }
    assert_eq!(reference.steps_done().unwrap(), fused.steps_done().unwrap(), "{what}: step count");
}

/// Three full steps of 13 rows and a short one of 6, then an evaluation of 2 × 9 test rows, on both plans.
/// With `decay` 3 the hidden layers also drop units (p = 0.3) and the input pixels (p = 0.2): the dropout op of the
/// reference plan and the fused linear's epilogue must draw the same factors, and the fused plan's gather and input
/// dropout stages must leave what the reference's ops do.
fn fused_equals_reference(hidden: &[usize], classes: usize, act: Activation, loss: Loss, opt: Optimizer, decay: u64) {
    let data = common::mnist_for(classes, 45, 18);
    let p = if decay > 0 { 0.3 } else { 0.0 };
    let mut layout = Layout::new(&model(hidden, classes, act, loss), opt, 13)
        .with_dropout(p, 11)
        .with_input_dropout(p * 2.0 / 3.0, 11);
    layout.decay_steps = decay;
    let what = format!("{hidden:?}→{classes} {act:?} {loss:?} {} decay {decay} dropout {p}", opt.name());
    let (mut reference, mut fused) = (backend(&layout, &data), backend(&layout, &data));
    let (r13, r6) = (layout.reference_train_step(13).unwrap(), layout.reference_train_step(6).unwrap());
    let (f13, f6) = (layout.train_step(13).unwrap(), layout.train_step(6).unwrap());
    run(&mut reference, &[(&r13, 3), (&r6, 1)]);
    run(&mut fused, &[(&f13, 3), (&f6, 1)]);
    assert_same(&format!("{what}, 4 train steps"), &layout, &mut reference, &mut fused);
    let (re, fe) = (layout.reference_eval_step(Split::Test, 9).unwrap(), layout.eval_step(Split::Test, 9).unwrap());
    run(&mut reference, &[(&re, 2)]);
    run(&mut fused, &[(&fe, 2)]);
    assert_same(&format!("{what}, then 2 eval steps"), &layout, &mut reference, &mut fused);
}

/// One test per activation × loss: every optimizer, both schedules, 1–3 layers, a head-sized and a too-wide last
/// layer, and one unit for 2 classes where the loss takes it (the model has one unit exactly when it has 2 classes).
fn all_shapes(act: Activation, loss: Loss) {
    let mut widths = vec![];
    if loss.takes(OutputUnits::Classes) {
        widths.extend([10, HEAD_MAX_CLASSES + 1]);
    }
    if loss.takes(OutputUnits::One) {
        widths.push(2);
    }
    for opt in optimizers() {
        for decay in [0, 3] {
            for hidden in [&[][..], &[7], &[9, 5]] {
                for &classes in &widths {
                    fused_equals_reference(hidden, classes, act, loss, opt, decay);
                }
            }
        }
    }
}

macro_rules! fused_tests {
    ($($name:ident: $act:ident $loss:ident;)*) => {
        $(
            #[test]
            fn $name() {
                all_shapes(Activation::$act, Loss::$loss);
            }
        )*
        /// Every activation × loss of the CLI has a test above.
        #[test]
        fn every_activation_and_loss_is_covered() {
            let listed: Vec<(Activation, Loss)> = vec![$((Activation::$act, Loss::$loss)),*];
            for act in Activation::value_variants().iter().filter(|a| **a != Activation::Identity) {
                for loss in Loss::value_variants() {
                    assert!(listed.contains(&(*act, *loss)), "no fused-plan test for {act:?} {loss:?}");
                }
            }
        }
    };
}

fused_tests! {
    relu_xent_fused_should_match_reference: Relu Xent;
    relu_mse_fused_should_match_reference: Relu Mse;
    sigmoid_xent_fused_should_match_reference: Sigmoid Xent;
    sigmoid_mse_fused_should_match_reference: Sigmoid Mse;
    tanh_xent_fused_should_match_reference: Tanh Xent;
    tanh_mse_fused_should_match_reference: Tanh Mse;
    leaky_relu_xent_fused_should_match_reference: LeakyRelu Xent;
    leaky_relu_mse_fused_should_match_reference: LeakyRelu Mse;
    gelu_xent_fused_should_match_reference: Gelu Xent;
    gelu_mse_fused_should_match_reference: Gelu Mse;
    gelu_tanh_xent_fused_should_match_reference: GeluTanh Xent;
    gelu_tanh_mse_fused_should_match_reference: GeluTanh Mse;
    silu_xent_fused_should_match_reference: Silu Xent;
    silu_mse_fused_should_match_reference: Silu Mse;
    relu_bce_fused_should_match_reference: Relu Bce;
    sigmoid_bce_fused_should_match_reference: Sigmoid Bce;
    tanh_bce_fused_should_match_reference: Tanh Bce;
    leaky_relu_bce_fused_should_match_reference: LeakyRelu Bce;
    gelu_bce_fused_should_match_reference: Gelu Bce;
    gelu_tanh_bce_fused_should_match_reference: GeluTanh Bce;
    silu_bce_fused_should_match_reference: Silu Bce;
    relu_perceptron_fused_should_match_reference: Relu Perceptron;
    sigmoid_perceptron_fused_should_match_reference: Sigmoid Perceptron;
    tanh_perceptron_fused_should_match_reference: Tanh Perceptron;
    leaky_relu_perceptron_fused_should_match_reference: LeakyRelu Perceptron;
    gelu_perceptron_fused_should_match_reference: Gelu Perceptron;
    gelu_tanh_perceptron_fused_should_match_reference: GeluTanh Perceptron;
    silu_perceptron_fused_should_match_reference: Silu Perceptron;
}

/// L layers train in at most 2L + 1 stages (2L once there are two), evaluation in L + 1; both plan forms validate.
#[test]
fn fused_step_takes_at_most_2l_plus_1_stages() {
    for layers in 1..=5 {
        let hidden = vec![6; layers - 1];
        for classes in [10, HEAD_MAX_CLASSES + 1] {
            for opt in optimizers() {
                let layout = Layout::new(&model(&hidden, classes, Activation::Relu, Loss::Xent), opt, 8);
                let train = layout.train_step(8).unwrap();
                let head = usize::from(classes > HEAD_MAX_CLASSES);
                let want = if layers == 1 { 3 } else { 2 * layers } + head;
                assert_eq!(train.stages.len(), want, "{layers} layers, {classes} classes: {:?}", train.stages);
                assert!(train.stages.len() <= 2 * layers + 1 + head);
                assert_eq!(layout.eval_step(Split::Test, 8).unwrap().stages.len(), layers + 1 + head);
                for plan in [train, layout.reference_train_step(8).unwrap()] {
                    plan.validate(&layout).unwrap();
                }
            }
        }
    }
}

/// Input dropout (`--input-dropout`) while training: the first layer reads the gathered pixels times factors that are
/// 0 for about p of them and 1/(1 − p) for the rest, drawn apart from the hidden layer's; evaluation reads the pixels
/// as they are. The fused plan takes two more stages for it (the gather, then the dropout).
#[test]
fn input_dropout_should_drop_pixels_while_training_only() {
    let (rows, p) = (13, 0.5f32);
    let m = model(&[9, 5], 10, Activation::Relu, Loss::Xent);
    let plain = Layout::new(&m, Optimizer::default(), rows).with_dropout(p, 3);
    let dropping = plain.clone().with_input_dropout(p, 3);
    let (x, mask) = (dropping.layers[0].x, dropping.input_dropout.unwrap().1);
    assert_eq!(dropping.train_step(rows).unwrap().stages.len(), plain.train_step(rows).unwrap().stages.len() + 2);
    let data = common::mnist_for(10, 40, 20);
    for plan_of in [Layout::train_step, Layout::reference_train_step] {
        let (mut without, mut with) = (backend(&plain, &data), backend(&dropping, &data));
        run(&mut without, &[(&plan_of(&plain, rows).unwrap(), 1)]);
        run(&mut with, &[(&plan_of(&dropping, rows).unwrap(), 1)]);
        let (pixels, dropped, m0) =
            (without.read_buffer(x).unwrap(), with.read_buffer(x).unwrap(), with.read_buffer(mask).unwrap());
        let (keep, n) = (1.0 / (1.0 - p), rows * 784);
        assert!(m0[..n].iter().all(|&f| f == 0.0 || f == keep), "factors other than 0 and {keep}");
        let zeros = m0[..n].iter().filter(|&&f| f == 0.0).count() as f32 / n as f32;
        assert!((zeros - p).abs() < 0.03, "dropped {zeros} of the pixels, not about {p}");
        for i in 0..n {
            assert_eq!(dropped[i], pixels[i] * m0[i], "x[{i}]");
        }
        // Keyed apart from the first hidden layer's factors (drawn for the same step, seed and p).
        let m1 = with.read_buffer(dropping.layers[0].mask.unwrap()).unwrap();
        let same = (0..rows * 9).filter(|&i| m0[i] == m1[i]).count() as f32 / (rows * 9) as f32;
        assert!(same < 0.75, "the input's and the hidden layer's factors agree at {same} of the places");
        // Evaluation reads the pixels undropped.
        let eval = dropping.eval_step(Split::Test, rows).unwrap();
        run(&mut with, &[(&eval, 1)]);
        run(&mut without, &[(&plain.eval_step(Split::Test, rows).unwrap(), 1)]);
        assert_eq!(with.read_buffer(x).unwrap(), without.read_buffer(x).unwrap(), "evaluation's x");
        assert_eq!(with.stats(Split::Test).unwrap().samples, rows as u32);
    }
}

/// The default model: 7 stages would be the budget; the fused plan takes 6, the reference 20.
#[test]
fn default_model_trains_in_six_stages() {
    let layout =
        Layout::new(&model(&[512, 512], 10, Activation::Relu, Loss::Xent), Optimizer::momentum(0.05, 0.9).unwrap(), 64);
    assert_eq!(layout.train_step(64).unwrap().stages.len(), 6);
    assert_eq!(layout.reference_train_step(64).unwrap().stages.len(), 20);
}

/// A stage in which one op writes what another reads is refused, naming both: the weight update of a layer beside
/// the input gradient that reads the same weights, an advance beside an update that reads the step count, two
/// gathers of one batch.
#[test]
fn a_stage_with_a_race_is_refused() {
    let layout = Layout::new(&model(&[6], 10, Activation::Relu, Loss::Xent), Optimizer::adam(1e-3).unwrap(), 8);
    let plan = layout.train_step(8).unwrap();
    let find = |f: &dyn Fn(&Op) -> bool| *plan.ops.iter().find(|op| f(op)).unwrap();
    let update_1 = find(&|op| matches!(op, Op::GradUpdate { w, .. } if *w == layout.layers[1].w));
    let input_grad_1 = find(&|op| matches!(op, Op::InputGrad { .. }));
    let advance = find(&|op| matches!(op, Op::Advance { .. }));
    let gather = find(&|op| matches!(op, Op::FusedLinear { gather: Some(_), .. }));
    for (pair, clash) in
        [([update_1, input_grad_1], "Buffer"), ([update_1, advance], "Steps"), ([gather, gather], "Buffer")]
    {
        let racy = Plan::from_stages(8, Split::Train, vec![pair.to_vec()]);
        let err = racy.validate(&layout).unwrap_err().to_string();
        assert!(err.contains(clash) && err.contains("share a stage"), "{err}");
        let data = common::mnist_subset(8, 8);
        let mut cpu = CpuBackend::new(&layout, data).unwrap();
        assert!(cpu.prepare(&racy).is_err(), "the CPU backend ran a racy plan");
    }
}

/// A plan naming a buffer the layout does not have, or one too small, is an error on the CPU too (not a panic).
#[test]
fn a_plan_with_a_bad_buffer_is_refused() {
    let layout = Layout::new(&model(&[6], 10, Activation::Relu, Loss::Xent), Optimizer::default(), 8);
    let data = common::mnist_subset(8, 8);
    let mut cpu = CpuBackend::new(&layout, data).unwrap();
    let act = Activation::Relu.into();
    let linear = |y, z| Op::Linear { y, z, x: 0, w: 3, b: 4, act, rows: 8, inputs: 784, outputs: 6 };
    let (bad_id, too_big) = (linear(999, None), linear(4, None));
    let (bad_z, small_z) = (linear(1, Some(999)), linear(1, Some(4)));
    for op in [bad_id, too_big, bad_z, small_z] {
        let err = cpu.prepare(&Plan::one_op_per_stage(8, Split::Train, vec![op])).unwrap_err().to_string();
        assert!(err.contains("buffer"), "{err}");
    }
}

/// An input gradient reads what its activation's derivative is written in terms of: the layer's output, or its
/// pre-activation where the activation needs it; a plan naming the other is refused (the CPU and the GPU would
/// agree on the wrong derivative).
#[test]
fn an_input_gradient_reading_the_wrong_saved_buffer_is_refused() {
    let mut layout = Layout::new(&model(&[6], 10, Activation::Relu, Loss::Xent), Optimizer::default(), 8);
    let plan = layout.train_step(8).unwrap();
    plan.validate(&layout).unwrap();
    let Some(&Op::InputGrad { saved, .. }) = plan.ops.iter().find(|op| matches!(op, Op::InputGrad { .. })) else {
        panic!("no input gradient in {plan:?}");
    };
    assert_eq!((saved, layout.buffers[saved].role), (layout.layers[0].a, Role::Activation));
    // A pre-activation buffer read by a ReLU's derivative (written in terms of the output a).
    let len = layout.buffers[saved].len;
    layout.buffers.push(BufDesc { name: "z1".into(), len, role: Role::PreActivation });
    let z = layout.buffers.len() - 1;
    let mut wrong = plan.clone();
    for op in &mut wrong.ops {
        if let Op::InputGrad { saved, .. } = op {
            *saved = z;
        }
    }
    let err = wrong.validate(&layout).unwrap_err().to_string();
    assert!(err.contains("the relu derivative is written in terms of the layer's output, not z1"), "{err}");
}
