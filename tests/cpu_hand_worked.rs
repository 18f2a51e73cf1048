//! Every CPU op on a few numbers, worked out by hand as in a textbook exercise: the expected values are written out
//! (with the arithmetic in the comments), not produced by the code under test. These are the oracle's oracle: the
//! GPU kernels are checked against these functions, so they must be right on their own.

use gpu_mnist::cpu::ops::{self, BatchStats};
use gpu_mnist::data::{pixel_inputs, Features, Normalize};
use gpu_mnist::model::{Act, Activation};
use gpu_mnist::optim::{Hyper, Optimizer, Rule};

/// Equal up to f32 rounding of a few operations.
fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-6 + 1e-6 * w.abs(), "[{i}]: got {g}, want {w} (all: {got:?})");
    }
}

#[test]
fn activations_and_their_derivatives() {
    use Activation::*;
    let a = |z, act: Activation| ops::activate(z, act.into());
    close(
        &[a(-1.5, Relu), a(2.0, Relu), a(0.0, Sigmoid), a(0.0, Tanh), a(-3.0, Identity)],
        &[0.0, 2.0, 0.5, 0.0, -3.0],
    );
    // σ(0.5) = 1/(1 + e^−0.5) = 1/1.6065307 = 0.6224593; tanh(0.5) = 0.4621172.
    close(&[a(0.5, Sigmoid), a(0.5, Tanh)], &[0.622_459_3, 0.462_117_16]);
    // Derivatives from the output a: relu 1 if a > 0 else 0; σ′ = a(1 − a) = 0.25·0.75; tanh′ = 1 − a² = 1 − 0.25.
    let d = |a, act: Activation| ops::activation_grad(a, act.into());
    close(
        &[d(2.0, Relu), d(0.0, Relu), d(0.25, Sigmoid), d(0.5, Tanh), d(7.0, Identity)],
        &[1.0, 0.0, 0.1875, 0.75, 1.0],
    );
    // Leaky ReLU with the slope it is given: 0.2·(−2) = −0.4 below 0, 3 above; its derivative from a: the slope where
    // a ≤ 0, else 1. With the default slope 0.01: 0.01·(−2) = −0.02.
    let leaky = Act::new(LeakyRelu, 0.2);
    close(&[ops::activate(-2.0, leaky), ops::activate(3.0, leaky), a(-2.0, LeakyRelu)], &[-0.4, 3.0, -0.02]);
    close(
        &[ops::activation_grad(-0.4, leaky), ops::activation_grad(3.0, leaky), d(-0.02, LeakyRelu)],
        &[0.2, 1.0, 0.01],
    );
}

#[test]
fn gather_divides_pixels_by_255_in_the_given_order() {
    // Three images of two pixels; order [2, 0] picks image 2 then image 0.
    let (images, labels) = (Features::Pixels(vec![0u8, 255, 51, 102, 204, 17]), [3u8, 1, 4]);
    let (mut x, mut batch_labels) = (vec![f32::NAN; 4], vec![99u32; 2]);
    ops::gather(&mut x, &mut batch_labels, &images, &pixel_inputs(None), &labels, &[2, 0], 2, 2).unwrap();
    // 204/255 = 0.8, 17/255 = 0.0666…, 0/255 = 0, 255/255 = 1.
    close(&x, &[0.8, 0.066_666_67, 0.0, 1.0]);
    assert_eq!(batch_labels, [4, 3]);
}

#[test]
fn gather_normalises_pixels_as_pytorch_normalize() {
    // MNIST's constants: (u/255 − 0.1307) / 0.3081; 0 → −0.4242…, 255 → 2.8215…
    let n = Normalize { mean: 0.1307, std: 0.3081 };
    let (images, labels) = (Features::Pixels(vec![0u8, 255]), [5u8]);
    let (mut x, mut batch_labels) = (vec![f32::NAN; 2], vec![99u32; 1]);
    ops::gather(&mut x, &mut batch_labels, &images, &pixel_inputs(Some(n)), &labels, &[0], 1, 2).unwrap();
    close(&x, &[-0.424_212_9, 2.821_487]);
    // The statistics of a split: pixels 0 and 255 in equal numbers have mean ½ and deviation ½.
    assert_eq!(Normalize::of(&[0, 255, 255, 0]), Some(Normalize { mean: 0.5, std: 0.5 }));
    assert_eq!(Normalize::of(&[7, 7]), None, "all alike: nothing to divide by");
}

#[test]
fn gather_takes_a_tables_values_as_they_are() {
    let (values, labels) = (Features::Values(vec![-7.5, 0.25, 3.0, -0.0, 1e-3, 42.0]), [0u8, 1, 0]);
    let (mut x, mut batch_labels) = (vec![f32::NAN; 4], vec![99u32; 2]);
    ops::gather(&mut x, &mut batch_labels, &values, &pixel_inputs(None), &labels, &[1, 2], 2, 2).unwrap();
    assert_eq!(x, [3.0, -0.0, 1e-3, 42.0]);
    assert_eq!(batch_labels, [1, 0]);
    // An index past the samples is an error, not a panic.
    assert!(ops::gather(&mut x, &mut batch_labels, &values, &pixel_inputs(None), &labels, &[1, 3], 2, 2).is_err());
}

// The layer of the next three tests: x: [2, 3], w: [2, 3] (PyTorch's [out, in]), b: [2].
const X: [f32; 6] = [1.0, 2.0, 3.0, 0.0, -1.0, 1.0];
const W: [f32; 6] = [1.0, 0.0, -1.0, 2.0, 1.0, 0.0];
const B: [f32; 2] = [0.5, -1.0];

#[test]
fn linear_is_x_times_w_transposed_plus_b() {
    // Row 0: w0·x0 = 1 + 0 − 3 = −2, + 0.5 = −1.5;  w1·x0 = 2 + 2 + 0 = 4, − 1 = 3.
    // Row 1: w0·x1 = 0 + 0 − 1 = −1, + 0.5 = −0.5;  w1·x1 = 0 − 1 + 0 = −1, − 1 = −2.
    let mut y = vec![f32::NAN; 4];
    ops::linear(&mut y, None, &X, &W, &B, Activation::Identity.into(), 2, 3, 2).unwrap();
    close(&y, &[-1.5, 3.0, -0.5, -2.0]);
    // The pre-activation, where asked for, is z before the activation.
    let mut z = vec![f32::NAN; 4];
    ops::linear(&mut y, Some(&mut z), &X, &W, &B, Activation::Relu.into(), 2, 3, 2).unwrap();
    close(&y, &[0.0, 3.0, 0.0, 0.0]);
    close(&z, &[-1.5, 3.0, -0.5, -2.0]);
}

#[test]
fn weight_and_bias_gradients_sum_over_the_batch() {
    // dz: [2, 2]. dw = dzᵀ·x: dw0 = 1·x0 + 0.5·x1 = [1, 2, 3] + [0, −0.5, 0.5] = [1, 1.5, 3.5];
    //                         dw1 = −1·x0 + 2·x1 = [−1, −2, −3] + [0, −2, 2] = [−1, −4, −1].
    let dz = [1.0, -1.0, 0.5, 2.0];
    let mut dw = vec![f32::NAN; 6];
    ops::weight_grad(&mut dw, &dz, &X, 2, 3, 2).unwrap();
    close(&dw, &[1.0, 1.5, 3.5, -1.0, -4.0, -1.0]);
    // db = Σ_rows dz = [1 + 0.5, −1 + 2].
    let mut db = vec![f32::NAN; 2];
    ops::bias_grad(&mut db, &dz, 2, 2).unwrap();
    close(&db, &[1.5, 1.0]);
}

#[test]
fn input_gradient_is_dz_times_w_masked_by_the_activation_below() {
    // dz·w: row 0 = 1·w0 − 1·w1 = [1, 0, −1] − [2, 1, 0] = [−1, −1, −1];
    //       row 1 = 0.5·w0 + 2·w1 = [0.5, 0, −0.5] + [4, 2, 0] = [4.5, 2, −0.5].
    let dz = [1.0, -1.0, 0.5, 2.0];
    // The layer below was a ReLU with outputs [[1, 0, 3], [0, 2, 1]]: its derivative masks the zeros.
    let below = [1.0, 0.0, 3.0, 0.0, 2.0, 1.0];
    let mut dx = vec![f32::NAN; 6];
    ops::input_grad(&mut dx, &dz, &W, &below, None, Activation::Relu.into(), 2, 3, 2).unwrap();
    close(&dx, &[-1.0, 0.0, -1.0, 0.0, 2.0, -0.5]);
    // A tanh below with outputs 0.5 everywhere: each element times 1 − 0.25.
    ops::input_grad(&mut dx, &dz, &W, &[0.5; 6], None, Activation::Tanh.into(), 2, 3, 2).unwrap();
    close(&dx, &[-0.75, -0.75, -0.75, 3.375, 1.5, -0.375]);
}

#[test]
fn input_gradient_through_dropout_worked_by_hand() {
    // The same tanh layer below (outputs 0.5) with dropout p = 0.5: factors 2 (kept) or 0 (dropped), so the saved
    // outputs are 1.0 or 0. A kept unit passes dz·w times tanh′ at 1.0 / 2 = 0.5 (1 − 0.25) times 2, i.e. × 1.5; a
    // dropped one passes nothing.
    let dz = [1.0, -1.0, 0.5, 2.0];
    let mask = [2.0, 0.0, 2.0, 2.0, 0.0, 2.0];
    let saved = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
    let mut dx = vec![f32::NAN; 6];
    ops::input_grad(&mut dx, &dz, &W, &saved, Some(&mask), Activation::Tanh.into(), 2, 3, 2).unwrap();
    close(&dx, &[-1.5, 0.0, -1.5, 6.75, 0.0, -0.75]);
}

#[test]
fn softmax_cross_entropy_worked_by_hand() {
    // Row 0: z = [1, 2, 3], label 2. Σ e^(z − 3) = e^−2 + e^−1 + 1 = 0.1353353 + 0.3678794 + 1 = 1.5032147;
    // softmax = [0.0900306, 0.2447285, 0.6652410]; loss = ln 1.5032147 − (3 − 3) = 0.4076060; argmax 2 = label.
    // Row 1: z = [0, 0, 0], label 1. softmax = [1/3, 1/3, 1/3]; loss = ln 3 = 1.0986123; argmax: the first of the
    // ties, 0 ≠ label 1.
    // dz = (softmax − onehot) / rows, rows = 2.
    let logits = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
    let mut dz = vec![f32::NAN; 6];
    let stats = ops::softmax_xent(Some(&mut dz), &logits, &[2, 1], 2, 3).unwrap();
    assert_eq!(stats.correct, 1);
    close(&[stats.loss_sum], &[0.407_606 + 1.098_612_3]);
    let third = 1.0 / 3.0;
    close(
        &dz,
        &[
            0.090_030_57 / 2.0,
            0.244_728_47 / 2.0,
            (0.665_241 - 1.0) / 2.0,
            third / 2.0,
            (third - 1.0) / 2.0,
            third / 2.0,
        ],
    );
    // Without dz (evaluation) the statistics are the same.
    assert_eq!(ops::softmax_xent(None, &logits, &[2, 1], 2, 3).unwrap(), stats);
    // Large logits do not overflow: z = [1000, 0], label 0 → loss = ln(1 + e^−1000) = 0.
    let big = ops::softmax_xent(None, &[1000.0, 0.0], &[0], 1, 2).unwrap();
    assert_eq!(big, BatchStats { loss_sum: 0.0, correct: 1 });
}

#[test]
fn quadratic_cost_worked_by_hand() {
    // a = [0.2, 0.9], label 1 (onehot [0, 1]): cost = ½((0.2 − 0)² + (0.9 − 1)²) = ½(0.04 + 0.01) = 0.025.
    // dz = (a − y) ⊙ a(1 − a) / rows = [0.2·0.16, −0.1·0.09] / 1 = [0.032, −0.009]; argmax 1 = label.
    let mut dz = vec![f32::NAN; 2];
    let stats = ops::quadratic_cost(Some(&mut dz), &[0.2, 0.9], &[1], 1, 2).unwrap();
    close(&[stats.loss_sum], &[0.025]);
    assert_eq!(stats.correct, 1);
    close(&dz, &[0.032, -0.009]);
    // Two rows halve each gradient; the second row a = [0.5, 0.5], label 0: cost ½(0.25 + 0.25) = 0.25, and
    // dz = [−0.5·0.25, 0.5·0.25] / 2; argmax 0 (first of the ties) = label.
    let mut dz = vec![f32::NAN; 4];
    let stats = ops::quadratic_cost(Some(&mut dz), &[0.2, 0.9, 0.5, 0.5], &[1, 0], 2, 2).unwrap();
    close(&[stats.loss_sum], &[0.275]);
    assert_eq!(stats.correct, 2);
    close(&dz, &[0.016, -0.0045, -0.0625, 0.0625]);
}

#[test]
fn perceptron_criterion_worked_by_hand() {
    // One unit for two classes, y = +1 for class 1 and −1 for class 0; z = [0, 2, −1, 0.5], labels [0, 1, 1, 0]:
    // y·z = [−0 (a tie: a mistake), 2, −1, −0.5] → loss = 0 + 0 + 1 + 0.5 = 1.5; dz = −y / 4 on the mistakes
    // (rows 0, 2, 3) = [0.25, 0, −0.25, 0.25]; predictions z > 0 = [0, 1, 0, 1] → rows 0 and 1 correct.
    let mut dz = vec![f32::NAN; 4];
    let stats = ops::perceptron(Some(&mut dz), &[0.0, 2.0, -1.0, 0.5], &[0, 1, 1, 0], 4, 1).unwrap();
    assert_eq!(stats, BatchStats { loss_sum: 1.5, correct: 2 });
    assert_eq!(dz, [0.25, 0.0, -0.25, 0.25]);
    // One unit per class (one-vs-rest): z = [1, 0, −2], label 1, y = [−1, +1, −1]: y·z = [−1, 0, 2] → units 0 and 1
    // are mistakes (the tie included): loss = 1 + 0 = 1, dz = [1, −1, 0]; argmax 0 ≠ 1.
    let mut dz = vec![f32::NAN; 3];
    let stats = ops::perceptron(Some(&mut dz), &[1.0, 0.0, -2.0], &[1], 1, 3).unwrap();
    assert_eq!(stats, BatchStats { loss_sum: 1.0, correct: 0 });
    assert_eq!(dz, [1.0, -1.0, 0.0]);
    // Zero scores, as from zero weights: every unit is a tie, so every unit learns; argmax 0 (the first tie).
    let mut dz = vec![f32::NAN; 3];
    let stats = ops::perceptron(Some(&mut dz), &[0.0; 3], &[0], 1, 3).unwrap();
    assert_eq!(stats, BatchStats { loss_sum: 0.0, correct: 1 });
    assert_eq!(dz, [-1.0, 1.0, 1.0]);
}

#[test]
fn learning_rate_factor_at_the_first_a_middle_and_the_last_step() {
    // T = 4 steps: step t uses (T − (t − 1))/T = 1, 3/4, 1/2, 1/4; after the last step 0; T = 0 is constant.
    let f: Vec<f32> = (1..=6).map(|t| ops::lr_factor(4, t)).collect();
    close(&f, &[1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
    close(&[ops::lr_factor(0, 1), ops::lr_factor(0, 1_000_000)], &[1.0, 1.0]);
    // A long run: step 1 of 60 000 is the full rate, step 30 001 half of it.
    close(&[ops::lr_factor(60_000, 1), ops::lr_factor(60_000, 30_001)], &[1.0, 0.5]);
}

/// One update of a single parameter 1.0 with gradient `g` from the rule's `states`, at step `t` of a constant
/// rate: the new parameter, then the new states.
fn step(optimizer: Optimizer, g: f32, states: &[f32], t: u64) -> Vec<f32> {
    let (mut p, mut s) = ([1.0], states.to_vec());
    ops::update(&mut p, &mut s, &[g], optimizer, t, 0).unwrap();
    [&p[..], &s].concat()
}

#[test]
fn sgd_and_momentum_updates_worked_by_hand() {
    // SGD: p = 1 − 0.1·0.5 = 0.95.
    close(&step(Optimizer::sgd(0.1).unwrap(), 0.5, &[], 1), &[0.95]);
    // Momentum (PyTorch): v = 0.9·0.2 + 0.5 = 0.68; p = 1 − 0.1·0.68 = 0.932.
    close(&step(Optimizer::momentum(0.1, 0.9).unwrap(), 0.5, &[0.2], 1), &[0.932, 0.68]);
    // With the linear decay over T = 4 at step t = 3 the rate is 0.1·1/2: p = 1 − 0.05·0.5 = 0.975.
    let mut p = [1.0];
    ops::update(&mut p, &mut [], &[0.5], Optimizer::sgd(0.1).unwrap(), 3, 4).unwrap();
    close(&p, &[0.975]);
}

#[test]
fn weight_decay_worked_by_hand() {
    let decayed = |rule| Optimizer::new(rule).with(Hyper::Lr, 0.01).unwrap().with(Hyper::WeightDecay, 0.1).unwrap();
    // SGD (L2, PyTorch's weight_decay): g = 0.5 + 0.1·1 = 0.6; p = 1 − 0.1·0.6 = 0.94.
    let sgd = Optimizer::sgd(0.1).unwrap().with(Hyper::WeightDecay, 0.1).unwrap();
    close(&step(sgd, 0.5, &[], 1), &[0.94]);
    // Momentum: v = 0.9·0 + 0.6 = 0.6; p = 1 − 0.01·0.6 = 0.994.
    close(&step(decayed(Rule::Momentum), 0.5, &[0.0], 1), &[0.994, 0.6]);
    // Adam (L2): g = 0.6; m = 0.06, v = 0.001·0.36 = 0.00036; m̂ = 0.6, √v̂ = 0.6: p = 1 − 0.01 = 0.99.
    close(&step(decayed(Rule::Adam), 0.5, &[0.0, 0.0], 1), &[0.99, 0.06, 0.000_36]);
    // AdamW (decoupled): p = 1·(1 − 0.01·0.1) = 0.999, then Adam's step of g = 0.5: m̂ = 0.5, √v̂ = 0.5, so
    // p = 0.999 − 0.01 = 0.989, and the moments are those of 0.5.
    close(&step(decayed(Rule::Adamw), 0.5, &[0.0, 0.0], 1), &[0.989, 0.05, 0.000_25]);
}

#[test]
fn rmsprop_update_worked_by_hand() {
    let rmsprop = Optimizer::of(Rule::Rmsprop, &[(Hyper::Lr, 0.01), (Hyper::Alpha, 0.9)]).unwrap();
    // s = 0.9·0 + 0.1·0.25 = 0.025; √s = 0.15811388; p = 1 − 0.01·0.5/0.15811388 = 0.96837722.
    close(&step(rmsprop, 0.5, &[0.0, 0.0, 0.0], 1), &[0.968_377_2, 0.025, 0.0, 0.0]);
    // Centered with momentum 0.9: ḡ = 0.1·0.5 = 0.05, √(0.025 − 0.0025) = 0.15; b = 0.5/0.15 = 3.3333333;
    // p = 1 − 0.01·3.3333333 = 0.96666667.
    let centered = rmsprop.with(Hyper::Centered, 1.0).unwrap().with(Hyper::Momentum, 0.9).unwrap();
    close(&step(centered, 0.5, &[0.0, 0.0, 0.0], 1), &[0.966_666_7, 0.025, 3.333_333_3, 0.05]);
    // Keras's ε placement with ε = 0.0975: √(0.025 + 0.0975) = 0.35; p = 1 − 0.01·0.5/0.35 = 0.98571429 (PyTorch's
    // √0.025 + 0.0975 = 0.25561388 would give 0.98043930).
    let keras = rmsprop.with(Hyper::Eps, 0.0975).unwrap().with(Hyper::EpsInSqrt, 1.0).unwrap();
    close(&step(keras, 0.5, &[0.0, 0.0, 0.0], 1), &[0.985_714_3, 0.025, 0.0, 0.0]);
}

#[test]
fn adam_update_worked_by_hand() {
    let adam =
        Optimizer::of(Rule::Adam, &[(Hyper::Lr, 0.01), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)])
            .unwrap();
    // First step from zero state, g = 0.5: m = 0.1·0.5 = 0.05, v = 0.001·0.25 = 0.00025; the bias corrections
    // 1 − 0.9¹ = 0.1 and 1 − 0.999¹ = 0.001 give m̂ = 0.5, v̂ = 0.25, so p = 1 − 0.01·0.5/(0.5 + 1e-8) = 0.99.
    close(&step(adam, 0.5, &[0.0, 0.0], 1), &[0.99, 0.05, 0.000_25]);
    // Step 3 from m = 0.1, v = 0.04, g = −0.3: m = 0.09 − 0.03 = 0.06; v = 0.03996 + 0.00009 = 0.04005;
    // 1 − 0.9³ = 0.271, 1 − 0.999³ = 0.002997001; m̂ = 0.2214022, v̂ = 13.363359, √v̂ = 3.6555928;
    // p = 1 − 0.01·0.2214022/3.6555928 = 1 − 0.00060565 = 0.99939435.
    close(&step(adam, -0.3, &[0.1, 0.04], 3), &[0.999_394_35, 0.06, 0.040_05]);
}
