//! Finite-difference check of the CPU reference's backward pass: for every parameter of every layer, with every
//! activation and every loss head (each loss with one output unit per class and with one unit for two classes,
//! as it takes them), the analytic gradient that the training step computes equals the central difference
//! (L(θ+ε) − L(θ−ε)) / 2ε of the mean batch loss. The perceptron's loss has kinks (a margin y·z at 0), where no
//! derivative exists: it is compared away from them, and most parameters must be.

use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::cpu::{ops, CpuBackend};
use gpu_mnist::data::{Dataset, LabeledImages};
use gpu_mnist::model::{self, Activation, Loss, ModelConfig, OutputUnits, Params, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::{Layout, Split};
use rand::RngExt;

/// A tiny data set: `n` random 2×3 "images" over `classes` classes; train and test are the same samples, so the
/// test-set loss measured by an evaluation step is the loss of the training batch.
fn tiny_dataset(n: usize, seed: u64, classes: u8) -> Dataset {
    let mut rng = model::rng(seed);
    let images: Vec<u8> = (0..n * 6).map(|_| rng.random_range(0..=255u8)).collect();
    let labels: Vec<u8> = (0..n).map(|_| rng.random_range(0..classes)).collect();
    let split = || LabeledImages::from_pixels(images.clone(), labels.clone(), 2, 3);
    Dataset::new("tiny", split(), split(), usize::from(classes))
}

/// What [`gradient_errors`] found.
struct Outcome {
    /// Parameters compared (or found at a kink).
    checked: usize,
    /// A line per mismatch.
    failures: Vec<String>,
    /// The perceptron's parameters within ε of a kink, left out.
    at_kinks: Vec<String>,
    /// Analytic gradients that are not 0 (a loss whose every gradient is 0 would pass any comparison).
    nonzero: usize,
}

/// Compares every analytic gradient of a 6-5-4-3 model (6-5-4-1 with one output unit for 2 classes), after `corrupt`
/// has had a chance to spoil them, with central differences.
/// With `dropout` = (p of the hidden units, p of the input pixels) not (0, 0), units drop: the loss compared is the
/// training step's (the same masks at every evaluation: the step count is reset to 0 before each, so the draws are
/// those of step 1).
fn gradient_errors(
    activation: Activation,
    (loss, output_units): (Loss, OutputUnits),
    dropout: (f32, f32),
    corrupt: impl Fn(&str, &mut [f32]),
) -> Outcome {
    let n = 5;
    let classes = if output_units == OutputUnits::One { 2 } else { 3 };
    let model = ModelConfig {
        output_units,
        inputs: 6,
        hidden: vec![5, 4],
        classes,
        activation,
        loss,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    // The training step computes the gradients (and updates the parameters, which are written back below).
    let layout =
        Layout::new(&model, Optimizer::default(), n).with_dropout(dropout.0, 5).with_input_dropout(dropout.1, 5);
    let data = tiny_dataset(n, 7, classes as u8);
    let labels: Vec<u32> = data.train.labels.iter().map(|&l| u32::from(l)).collect();
    let mut cpu = CpuBackend::new(&layout, Arc::new(data)).unwrap();
    // Bigger-than-usual weights and non-zero biases so every layer matters and ReLU units are not all on.
    let mut params = Params::init(&model, &mut model::rng(3)).unwrap();
    let mut rng = model::rng(11);
    for t in params.tensors_mut() {
        t.iter_mut().for_each(|v| *v = *v * 2.0 + rng.random_range(-0.3..0.3f32));
    }
    cpu.write_params(&params).unwrap();
    let order: Vec<u32> = (0..n as u32).collect();
    let train = cpu.prepare(&layout.train_step(n).unwrap()).unwrap();
    let eval = cpu.prepare(&layout.eval_step(Split::Test, n).unwrap()).unwrap();
    cpu.begin_epoch(Split::Train, &order).unwrap();
    cpu.run(train, 1).unwrap();
    cpu.write_params(&params).unwrap();

    // The mean loss of the batch at the current parameters: the evaluation's, or with dropout the first training
    // step's (its statistics are measured before its update, which is undone).
    let loss_at = |cpu: &mut CpuBackend| -> f64 {
        if dropout == (0.0, 0.0) {
            cpu.begin_epoch(Split::Test, &order).unwrap();
            cpu.run(eval, 1).unwrap();
            return f64::from(cpu.stats(Split::Test).unwrap().loss_sum) / n as f64;
        }
        let before = cpu.read_params().unwrap();
        cpu.set_steps_done(0).unwrap();
        cpu.begin_epoch(Split::Train, &order).unwrap();
        cpu.run(train, 1).unwrap();
        cpu.write_params(&before).unwrap();
        f64::from(cpu.stats(Split::Train).unwrap().loss_sum) / n as f64
    };

    // Every analytic gradient, read before any difference is taken: with dropout, `loss_at` runs the training step,
    // which overwrites the gradient buffers with those at the perturbed parameters.
    let pairs: Vec<_> = layout.layers.iter().flat_map(|l| [(l.w, l.gw), (l.b, l.gb)]).collect();
    let analytic: Vec<Vec<f32>> = pairs.iter().map(|&(_, grad)| cpu.read_buffer(grad).unwrap()).collect();

    // Which output units of the batch are perceptron mistakes (y·z ≤ 0) at the scores the last loss evaluation left:
    // those whose gradient ops::perceptron makes not 0.
    let last = layout.layers[layout.layers.len() - 1];
    let mistakes = |cpu: &mut CpuBackend| -> Vec<bool> {
        let scores = cpu.read_buffer(last.a).unwrap();
        let mut dz = vec![0.0; n * last.outputs];
        ops::perceptron(Some(&mut dz), &scores[..n * last.outputs], &labels, n, last.outputs).unwrap();
        dz.iter().map(|&d| d != 0.0).collect()
    };

    // The perceptron's loss is linear in the scores between kinks, so a smaller step loses nothing to curvature and
    // straddles fewer kinks.
    let eps = if loss == Loss::Perceptron { 1e-3f32 } else { 1e-2 };
    let (mut failures, mut at_kinks) = (Vec::new(), Vec::new());
    let mut checked = 0;
    let nonzero = analytic.iter().flatten().filter(|&&g| g != 0.0).count();
    for (&(param, _), mut analytic) in pairs.iter().zip(analytic) {
        let name = &layout.buffers[param].name;
        corrupt(name, &mut analytic);
        let original = cpu.read_buffer(param).unwrap();
        for i in 0..original.len() {
            let mut p = original.clone();
            p[i] = original[i] + eps;
            cpu.write_buffer(param, &p).unwrap();
            let up = loss_at(&mut cpu);
            let mistakes_up = mistakes(&mut cpu);
            p[i] = original[i] - eps;
            cpu.write_buffer(param, &p).unwrap();
            let down = loss_at(&mut cpu);
            cpu.write_buffer(param, &original).unwrap();
            let numeric = (up - down) / (2.0 * f64::from(eps));
            let want = f64::from(analytic[i]);
            checked += 1;
            // The perceptron's loss bends where a margin y·z crosses 0: a parameter whose ±ε changes which units are
            // mistakes straddles such a kink, where there is no derivative to compare; it is left out (and counted).
            if loss == Loss::Perceptron && mistakes_up != mistakes(&mut cpu) {
                at_kinks.push(format!("{name}[{i}]"));
                continue;
            }
            // f32 forward passes: the difference quotient carries ~1e-5/ε of rounding, hence the absolute term;
            // the relative term keeps large gradients honest.
            if (numeric - want).abs() > 2e-3 + 2e-2 * want.abs() {
                failures.push(format!("{name}[{i}]: analytic {want:.6} numeric {numeric:.6}"));
            }
        }
    }
    assert_eq!(checked, model.parameter_count(), "every parameter must be checked");
    Outcome { checked, failures, at_kinks, nonzero }
}

/// The check for one activation and loss head, with the gradients as the backward pass computed them.
fn check(activation: Activation, head: (Loss, OutputUnits), dropout: (f32, f32)) {
    let Outcome { checked, failures, at_kinks, nonzero } = gradient_errors(activation, head, dropout, |_, _| {});
    assert!(
        failures.is_empty(),
        "{activation:?}/{head:?} dropout {dropout:?}: {} of {checked} gradients differ, first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(8)]
    );
    if !at_kinks.is_empty() {
        println!("  {} of {checked} parameters straddle a kink: left out", at_kinks.len());
    }
    // Away from the kinks means most parameters: a check that left out many would prove little.
    assert!(
        at_kinks.len() * 10 <= checked,
        "{activation:?}/{head:?}: {} of {checked} at a kink: {at_kinks:#?}",
        at_kinks.len()
    );
    assert!(nonzero * 2 >= checked, "{activation:?}/{head:?}: only {nonzero} of {checked} gradients are not 0");
}

/// Every hidden-layer activation the command line offers, with every loss head, without and through dropout of the
/// hidden units or of the input pixels (a new
/// activation or loss is checked without a test of its own: the lists are clap's and [`model::heads`]).
#[test]
fn every_activation_and_loss_should_match_finite_differences() {
    use clap::ValueEnum;
    for &activation in Activation::value_variants() {
        for head in model::heads() {
            println!("{} {} {}", activation.name(), head.0.name(), head.1.name());
            check(activation, head, (0.0, 0.0));
            check(activation, head, (0.4, 0.0));
            check(activation, head, (0.0, 0.3));
        }
    }
}

/// The check must be able to fail: a wrong gradient (the first layer's bias gradient doubled) is caught.
#[test]
fn a_wrong_gradient_is_detected() {
    let Outcome { failures, .. } =
        gradient_errors(Activation::Tanh, (Loss::Xent, OutputUnits::Classes), (0.0, 0.0), |name, g| {
            if name == "layers.0.bias" {
                g.iter_mut().for_each(|v| *v *= 2.0);
            }
        });
    assert!(!failures.is_empty(), "a doubled gradient passed the finite-difference tolerance");
    assert!(failures.iter().all(|f| f.starts_with("layers.0.bias")), "{failures:?}");
}
