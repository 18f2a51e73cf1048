//! The same seed gives the same run on the CPU: identical metrics and identical weights, twice in a row; and a
//! different seed gives a different run (so the test could fail).

use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Dataset;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, Params, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{Hyper, LrSchedule, Optimizer, Rule};
use gpu_mnist::train::{EpochMetrics, TrainConfig, Trainer};

mod common;

fn run(data: &Arc<Dataset>, seed: u64) -> (Vec<EpochMetrics>, Params) {
    let model = ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 784,
        hidden: vec![32],
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    let config = TrainConfig {
        chunk_rows: None,
        epochs: 2,
        batch_size: 50,
        seed,
        eval_batch: 200,
        lr_schedule: LrSchedule::Constant,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let optimizer =
        Optimizer::of(Rule::Adam, &[(Hyper::Lr, 1e-3), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)])
            .unwrap();
    let layout = config.layout(&model, optimizer).unwrap();
    let mut t = Trainer::new(CpuBackend::new(&layout, data.clone()).unwrap(), layout, data.clone(), config).unwrap();
    let metrics = (0..2)
        .map(|_| {
            let mut m = t.epoch(&mut |_| {}).unwrap();
            (m.seconds, m.samples_per_sec) = (0.0, 0.0); // wall-clock, not part of the result
            m
        })
        .collect();
    (metrics, t.backend.read_params().unwrap())
}

#[test]
fn same_seed_gives_same_metrics_and_weights() {
    let data = common::mnist_subset(1500, 500);
    let (m1, p1) = run(&data, 5);
    let (m2, p2) = run(&data, 5);
    assert_eq!(m1, m2);
    assert_eq!(p1, p2, "weights differ between two runs with one seed");
    assert!(m1[1].test_acc > 0.7, "the subset run should learn something: {:?}", m1[1]);
}

#[test]
fn another_seed_gives_another_run() {
    let data = common::mnist_subset(1500, 500);
    let (m1, p1) = run(&data, 5);
    let (m2, p2) = run(&data, 6);
    assert_ne!(p1, p2);
    assert_ne!(m1, m2);
}
