//! Every WGSL kernel against its CPU twin (`cpu::ops`), through `gpu::check` — the same code as `gpu-mnist check`.
//! Outputs are pre-filled with NaN; shapes include 1, 7, 63, 65, 784 and 10. Skips loudly without a GPU adapter
//! (fails instead with GPU_MNIST_REQUIRE_GPU=1).

mod common;

use gpu_mnist::gpu::check::{self, Family};
use gpu_mnist::model::Activation;

fn run(family: Family) {
    let Some(ctx) = common::gpu() else { return };
    let rows = check::check(&ctx, family).unwrap();
    common::assert_pass(&rows);
}

#[test]
fn matmul_linear_should_match_reference() {
    run(Family::Linear);
}

#[test]
fn weight_grad_should_match_reference() {
    run(Family::WeightGrad);
}

#[test]
fn input_grad_should_match_reference() {
    run(Family::InputGrad);
}

#[test]
fn identity_activation_should_match_reference() {
    run(Family::Activation(Activation::Identity));
}

#[test]
fn relu_activation_should_match_reference() {
    run(Family::Activation(Activation::Relu));
}

#[test]
fn sigmoid_activation_should_match_reference() {
    run(Family::Activation(Activation::Sigmoid));
}

#[test]
fn tanh_activation_should_match_reference() {
    run(Family::Activation(Activation::Tanh));
}

#[test]
fn softmax_xent_should_match_reference() {
    run(Family::SoftmaxXent);
}

#[test]
fn quadratic_cost_should_match_reference() {
    run(Family::QuadraticCost);
}

#[test]
fn argmax_accuracy_should_match_reference() {
    run(Family::Argmax);
}

#[test]
fn bias_grad_should_match_reference() {
    run(Family::BiasGrad);
}

#[test]
fn sgd_should_match_reference() {
    run(Family::Sgd);
}

#[test]
fn momentum_should_match_reference() {
    run(Family::Momentum);
}

#[test]
fn adam_should_match_reference() {
    run(Family::Adam);
}

#[test]
fn gather_should_match_reference() {
    run(Family::Gather);
}
