//! A few full training steps from the same seed on the CPU reference and on the GPU: same initial weights (from the
//! host), same shuffled order (uploaded per epoch), so the weights, the optimizer state and the loss statistics
//! must agree up to float rounding. One test per optimizer rule, over every activation × loss, and leaky ReLU with
//! other slopes (which the kernels take at run time), on a 784-16-10 model and the first 170 MNIST training images
//! (5 steps of 32 and a last step of 10, so both prepared train plans run); with one output unit (binary
//! cross-entropy, the quadratic cost with `--output-units 1`), a 784-16-1 model of digits 5–9 against 0–4.

mod common;

use std::sync::Arc;

use gpu_mnist::backend::{Backend, Stats};
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Dataset;
use gpu_mnist::gpu::GpuBackend;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{Hyper, Optimizer, Rule};
use gpu_mnist::train::{TrainConfig, Trainer};

/// Weights (and optimizer state) after 6 steps agree within `ATOL + RTOL·|cpu|`. The two backends sum in different
/// orders (a tiled matmul and a tree reduction against sgemm and sequential loops) and the driver's exp/log/sqrt
/// differ from Rust's by an ulp or two, so each step starts from weights a few roundings apart. Measured on lavapipe:
/// at most 5.5e-7 over all 18 combinations (Adam included), so 1e-5 leaves a margin for other drivers while still
/// catching real errors, which move weights by orders of magnitude more.
const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-4;

/// The run: `dropout` = (the hidden layers', the input's).
fn config(dropout: (f32, f32)) -> TrainConfig {
    TrainConfig {
        chunk_rows: None,
        epochs: 1,
        batch_size: 32,
        seed: 7,
        eval_batch: 64,
        lr_schedule: Default::default(),
        init: None,
        dropout: dropout.0,
        input_dropout: dropout.1,
        shuffle: Default::default(),
    }
}

/// One epoch on `backend`: the metrics, then the parameters, optimizer state and step count it ends with.
fn train<B: Backend>(
    backend: B,
    model: &ModelConfig,
    optimizer: Optimizer,
    data: &Arc<Dataset>,
    dropout: (f32, f32),
) -> (Stats, Stats, Vec<Vec<f32>>, u64) {
    let layout = config(dropout).layout(model, optimizer).unwrap();
    let mut trainer = Trainer::new(backend, layout.clone(), Arc::clone(data), config(dropout)).unwrap();
    let train = trainer.train_epoch(&mut |_| {}).unwrap();
    let test = trainer.evaluate().unwrap();
    let mut tensors: Vec<Vec<f32>> =
        trainer.backend.read_params().unwrap().tensors().iter().map(|t| t.to_vec()).collect();
    for id in layout.state_buffers() {
        tensors.push(trainer.backend.read_buffer(id).unwrap());
    }
    let steps = trainer.backend.steps_done().unwrap();
    (train, test, tensors, steps)
}

fn parity(activation: Activation, loss: Loss, optimizer: Optimizer, leaky_slope: f32) {
    parity_with(activation, (loss, OutputUnits::Classes), optimizer, leaky_slope, 0.0);
}

/// [`parity`] of a loss head (a loss with its output units) with dropout `p` on the hidden layer.
fn parity_with(activation: Activation, head: (Loss, OutputUnits), optimizer: Optimizer, leaky_slope: f32, p: f32) {
    parity_dropping(activation, head, optimizer, leaky_slope, (p, 0.0));
}

/// [`parity_with`] with dropout `p` = (on the hidden layer, on the input pixels).
fn parity_dropping(
    activation: Activation,
    head: (Loss, OutputUnits),
    optimizer: Optimizer,
    leaky_slope: f32,
    p: (f32, f32),
) {
    let Some(ctx) = common::gpu() else { return };
    let (loss, output_units) = head;
    let classes = if output_units == OutputUnits::One { 2 } else { 10 };
    let data = common::mnist_for(classes, 170, 100);
    let model = ModelConfig { output_units, inputs: 784, hidden: vec![16], classes, activation, loss, leaky_slope };
    let layout = config(p).layout(&model, optimizer).unwrap();
    let cpu = train(CpuBackend::new(&layout, Arc::clone(&data)).unwrap(), &model, optimizer, &data, p);
    let gpu_backend = GpuBackend::new(&ctx, &layout, Arc::clone(&data)).unwrap();
    let gpu = train(gpu_backend, &model, optimizer, &data, p);

    assert_eq!(cpu.3, 6, "cpu steps");
    assert_eq!(gpu.3, 6, "gpu steps");
    let (mut worst, mut worst_rel) = (0.0f32, 0.0f32);
    for (t, (c, g)) in cpu.2.iter().zip(&gpu.2).enumerate() {
        assert_eq!(c.len(), g.len());
        for (i, (&c, &g)) in c.iter().zip(g).enumerate() {
            let diff = (c - g).abs();
            worst = worst.max(diff);
            if c != 0.0 {
                worst_rel = worst_rel.max(diff / c.abs());
            }
            assert!(diff <= ATOL + RTOL * c.abs(), "tensor {t} element {i}: cpu {c:e}, gpu {g:e} (|diff| {diff:e})");
        }
    }
    println!(
        "{activation:?} {head:?} {} dropout {p:?}: max |cpu - gpu| {worst:.2e}, max rel {worst_rel:.2e}; train loss {} vs {}, \
         test loss {} vs {}",
        optimizer.name(),
        cpu.0.loss(),
        gpu.0.loss(),
        cpu.1.loss(),
        gpu.1.loss()
    );
    for (what, c, g) in [("train", cpu.0, gpu.0), ("test", cpu.1, gpu.1)] {
        assert_eq!(c.samples, g.samples, "{what} samples");
        assert_eq!(c.correct, g.correct, "{what} correct predictions");
        let tol = 1e-4 * c.loss_sum.abs().max(1.0);
        assert!((c.loss_sum - g.loss_sum).abs() <= tol, "{what} Σloss: cpu {}, gpu {}", c.loss_sum, g.loss_sum);
    }
}

/// The rule with its defaults moved where a mistake would hide: weight decay on every rule, RMSprop centered and
/// with momentum. ε is large where the rule has one: with PyTorch's 10⁻⁸, a weight whose gradient is a rounding
/// error away from 0 moves by ±lr whatever that error's size (m/√v ≈ ±1), so the two backends' summation orders
/// alone would put such weights 10⁻⁵ apart; a large ε keeps the step proportional to the gradient. RMSprop's
/// momentum buffer holds g/(√s + ε) itself, so a gradient's rounding (≈ 4·10⁻⁸ here) is magnified 1/ε times: 10⁻²
/// keeps that under the tolerance.
fn optimizer(rule: Rule) -> Optimizer {
    let o = Optimizer::new(rule).with(Hyper::WeightDecay, 0.01).unwrap();
    match rule {
        Rule::Rmsprop => {
            o.with(Hyper::Centered, 1.0).unwrap().with(Hyper::Momentum, 0.5).unwrap().with(Hyper::Eps, 1e-2).unwrap()
        }
        Rule::Adam | Rule::Adamw => o.with(Hyper::Eps, 1e-3).unwrap(),
        Rule::Sgd | Rule::Momentum => o,
    }
}

/// Parity of `rule` for every hidden-layer activation and every loss head.
fn parity_of(rule: Rule) {
    for &act in Activation::ALL.iter().filter(|&&a| a != Activation::Identity) {
        for head in gpu_mnist::model::heads() {
            parity_with(act, head, optimizer(rule), DEFAULT_LEAKY_SLOPE, 0.0);
        }
    }
}

macro_rules! parity_tests {
    ($($name:ident: $rule:ident;)*) => {
        $(
            #[test]
            fn $name() {
                parity_of(Rule::$rule);
            }
        )*

        /// Every rule has its test: a new one is a compile error here until it is listed.
        #[allow(dead_code)]
        fn every_rule_is_listed(rule: Rule) {
            match rule {
                $(Rule::$rule => {})*
            }
        }
    };
}

parity_tests! {
    sgd_steps_should_match_cpu: Sgd;
    momentum_steps_should_match_cpu: Momentum;
    adam_steps_should_match_cpu: Adam;
    adamw_steps_should_match_cpu: Adamw;
    rmsprop_steps_should_match_cpu: Rmsprop;
}

/// Leaky ReLU with slopes other than the default, which the kernels take at run time.
#[test]
fn leaky_relu_slopes_should_match_cpu() {
    parity(Activation::LeakyRelu, Loss::Xent, optimizer(Rule::Sgd), 0.2);
    parity(Activation::LeakyRelu, Loss::Mse, optimizer(Rule::Adam), 0.3);
}

/// Dropout on the hidden layer: the GPU draws the CPU's masks (the fused epilogue's and the input gradient's use of
/// them), for an activation whose derivative reads the output and one that reads z where one exists.
#[test]
fn dropout_steps_should_match_cpu() {
    for act in [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Gelu, Activation::Silu] {
        parity_with(act, (Loss::Xent, OutputUnits::Classes), optimizer(Rule::Momentum), DEFAULT_LEAKY_SLOPE, 0.3);
    }
    parity_with(Activation::Relu, (Loss::Mse, OutputUnits::Classes), optimizer(Rule::Adam), DEFAULT_LEAKY_SLOPE, 0.5);
    parity_with(Activation::Tanh, (Loss::Bce, OutputUnits::One), optimizer(Rule::Adam), DEFAULT_LEAKY_SLOPE, 0.3);
}

/// Dropout of the input pixels (`--input-dropout`), alone and with the hidden layer's: the GPU's gather-then-drop
/// stages draw the CPU's masks, keyed apart from the hidden layer's.
#[test]
fn input_dropout_steps_should_match_cpu() {
    let xent = (Loss::Xent, OutputUnits::Classes);
    parity_dropping(Activation::Relu, xent, optimizer(Rule::Momentum), DEFAULT_LEAKY_SLOPE, (0.0, 0.2));
    parity_dropping(Activation::Gelu, xent, optimizer(Rule::Rmsprop), DEFAULT_LEAKY_SLOPE, (0.3, 0.2));
}

/// Full-batch gradient descent in chunks (300 rows in chunks of 64: 4 × 64 + 44; 3 epochs of one step): the GPU runs
/// the chunk plans (gather, forward, loss, gradients, `accumulate`, then the one update and the step's advance) as the
/// CPU does, for softmax cross-entropy and one output unit, with momentum and Adam.
#[test]
fn chunked_full_batch_steps_should_match_cpu() {
    let Some(ctx) = common::gpu() else { return };
    for (head, rule) in
        [((Loss::Xent, OutputUnits::Classes), Rule::Momentum), ((Loss::Bce, OutputUnits::One), Rule::Adam)]
    {
        let (loss, output_units) = head;
        let classes = if output_units == OutputUnits::One { 2 } else { 10 };
        let data = common::mnist_for(classes, 300, 100);
        let model = ModelConfig {
            output_units,
            inputs: 784,
            hidden: vec![16],
            classes,
            activation: Activation::Tanh,
            loss,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
        };
        let config = TrainConfig {
            epochs: 3,
            batch_size: gpu_mnist::train::FULL_BATCH,
            chunk_rows: Some(64),
            ..config((0.0, 0.0))
        };
        let optimizer = optimizer(rule);
        let layout = config.layout_for(&model, optimizer, &data).unwrap();
        assert_eq!(layout.chunk_rows, Some(64));
        let run = |backend: Box<dyn Backend>| {
            let mut t = Trainer::new(backend, layout.clone(), Arc::clone(&data), config.clone()).unwrap();
            let m: Vec<_> = (0..3).map(|_| t.epoch(&mut |_| {}).unwrap()).collect();
            let params: Vec<f32> = t.backend.read_params().unwrap().tensors().concat();
            (m, params, t.backend.steps_done().unwrap())
        };
        let cpu = run(Box::new(CpuBackend::new(&layout, Arc::clone(&data)).unwrap()));
        let gpu = run(Box::new(GpuBackend::new(&ctx, &layout, Arc::clone(&data)).unwrap()));
        assert_eq!((cpu.2, gpu.2), (3, 3), "one step per epoch");
        for (c, g) in cpu.0.iter().zip(&gpu.0) {
            assert_eq!((c.train_acc, c.test_acc), (g.train_acc, g.test_acc), "{head:?}");
            assert!((c.train_loss - g.train_loss).abs() <= 1e-4 * c.train_loss.max(1.0), "{c:?} vs {g:?}");
        }
        let worst = cpu.1.iter().zip(&gpu.1).map(|(c, g)| (c - g).abs()).fold(0.0f32, f32::max);
        for (i, (c, g)) in cpu.1.iter().zip(&gpu.1).enumerate() {
            assert!((c - g).abs() <= ATOL + RTOL * c.abs(), "{head:?} parameter {i}: cpu {c:e}, gpu {g:e}");
        }
        println!("{head:?} {}: chunked full batch, max |cpu - gpu| {worst:.2e}", rule.name());
    }
}
