//! A few full training steps from the same seed on the CPU reference and on the GPU: same initial weights (from the
//! host), same shuffled order (uploaded per epoch), so the weights, the optimizer state and the loss statistics
//! must agree up to float rounding. One test per activation × loss × optimizer (leaky ReLU: a few, with the
//! default slope and others, which the kernels take at run time), on a 784-16-10 model and the first 170 MNIST
//! training images (5 steps of 32 and a last step of 10, so both prepared train plans run).

mod common;

use std::sync::Arc;

use gpu_mnist::backend::{Backend, Stats};
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Dataset;
use gpu_mnist::gpu::GpuBackend;
use gpu_mnist::model::{Activation, Loss, ModelConfig, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::train::{TrainConfig, Trainer};

/// Weights (and optimizer state) after 6 steps agree within `ATOL + RTOL·|cpu|`. The two backends sum in different
/// orders (a tiled matmul and a tree reduction against sgemm and sequential loops) and the driver's exp/log/sqrt
/// differ from Rust's by an ulp or two, so each step starts from weights a few roundings apart. Measured on lavapipe:
/// at most 5.5e-7 over all 18 combinations (Adam included), so 1e-5 leaves a margin for other drivers while still
/// catching real errors, which move weights by orders of magnitude more.
const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-4;

fn config() -> TrainConfig {
    TrainConfig { epochs: 1, batch_size: 32, seed: 7, eval_batch: 64, lr_schedule: Default::default(), init: None }
}

/// One epoch on `backend`: the metrics, then the parameters, optimizer state and step count it ends with.
fn train<B: Backend>(
    backend: B,
    model: &ModelConfig,
    optimizer: Optimizer,
    data: &Arc<Dataset>,
) -> (Stats, Stats, Vec<Vec<f32>>, u64) {
    let layout = config().layout(model, optimizer).unwrap();
    let mut trainer = Trainer::new(backend, layout.clone(), Arc::clone(data), config()).unwrap();
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
    let Some(ctx) = common::gpu() else { return };
    let data = common::mnist_subset(170, 100);
    let model = ModelConfig { inputs: 784, hidden: vec![16], classes: 10, activation, loss, leaky_slope };
    let layout = config().layout(&model, optimizer).unwrap();
    let cpu = train(CpuBackend::new(&layout, Arc::clone(&data)).unwrap(), &model, optimizer, &data);
    let gpu_backend = GpuBackend::new(&ctx, &layout, Arc::clone(&data)).unwrap();
    let gpu = train(gpu_backend, &model, optimizer, &data);

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
        "{activation:?} {loss:?} {}: max |cpu - gpu| {worst:.2e}, max rel {worst_rel:.2e}; train loss {} vs {}, \
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

const SGD: Optimizer = Optimizer::Sgd { lr: 0.1 };
const MOMENTUM: Optimizer = Optimizer::Momentum { lr: 0.05, momentum: 0.9 };
const ADAM: Optimizer = Optimizer::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/// Leaky ReLU's slope of a test: the one it names, else the default.
macro_rules! slope {
    () => {
        DEFAULT_LEAKY_SLOPE
    };
    ($slope:literal) => {
        $slope
    };
}

macro_rules! parity_tests {
    ($($name:ident: $act:ident $loss:ident $opt:ident $(slope $slope:literal)?;)*) => {
        $(
            #[test]
            fn $name() {
                parity(Activation::$act, Loss::$loss, $opt, slope!($($slope)?));
            }
        )*
    };
}

parity_tests! {
    relu_xent_sgd: Relu Xent SGD;
    relu_xent_momentum: Relu Xent MOMENTUM;
    relu_xent_adam: Relu Xent ADAM;
    relu_mse_sgd: Relu Mse SGD;
    relu_mse_momentum: Relu Mse MOMENTUM;
    relu_mse_adam: Relu Mse ADAM;
    sigmoid_xent_sgd: Sigmoid Xent SGD;
    sigmoid_xent_momentum: Sigmoid Xent MOMENTUM;
    sigmoid_xent_adam: Sigmoid Xent ADAM;
    sigmoid_mse_sgd: Sigmoid Mse SGD;
    sigmoid_mse_momentum: Sigmoid Mse MOMENTUM;
    sigmoid_mse_adam: Sigmoid Mse ADAM;
    tanh_xent_sgd: Tanh Xent SGD;
    tanh_xent_momentum: Tanh Xent MOMENTUM;
    tanh_xent_adam: Tanh Xent ADAM;
    tanh_mse_sgd: Tanh Mse SGD;
    tanh_mse_momentum: Tanh Mse MOMENTUM;
    tanh_mse_adam: Tanh Mse ADAM;
    leaky_relu_xent_momentum: LeakyRelu Xent MOMENTUM;
    leaky_relu_xent_sgd_slope_0_2: LeakyRelu Xent SGD slope 0.2;
    leaky_relu_mse_adam_slope_0_3: LeakyRelu Mse ADAM slope 0.3;
}
