//! Soak (ignored by default; run it with `cargo test --release --test gpu_soak -- --ignored --nocapture`): many
//! epochs on the GPU path with a small model, checking that the process's memory does not grow from epoch to epoch
//! (no per-step allocation, no leaked submissions or read-back buffers).

mod common;

use gpu_mnist::gpu::GpuBackend;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{Hyper, Optimizer, Rule};
use gpu_mnist::train::{TrainConfig, Trainer};

/// Resident set size of this process in KiB (Linux), from /proc/self/status.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "soak: minutes on lavapipe"]
fn memory_does_not_grow_over_many_epochs() {
    let Some(ctx) = common::gpu() else { return };
    let data = common::mnist_subset(2000, 500);
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
        epochs: 30,
        batch_size: 50,
        seed: 1,
        eval_batch: 250,
        lr_schedule: Default::default(),
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let optimizer =
        Optimizer::of(Rule::Adam, &[(Hyper::Lr, 1e-3), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)])
            .unwrap();
    let layout = config.layout(&model, optimizer).unwrap();
    let backend = GpuBackend::new(&ctx, &layout, data.clone()).unwrap();
    let mut trainer = Trainer::new(backend, layout, data, config).unwrap();
    let mut rss = Vec::new();
    for _ in 0..30 {
        let m = trainer.epoch(&mut |_| {}).unwrap();
        rss.push(rss_kib());
        println!("epoch {:2}: test acc {:.2}%  rss {} KiB", m.epoch, 100.0 * m.test_acc, rss.last().unwrap());
    }
    // After the first few epochs (allocator and driver caches settle), the RSS may wobble but not climb.
    let settled = rss[5];
    let last = *rss.last().unwrap();
    assert!(last <= settled + 8 * 1024, "RSS grew from {settled} KiB (epoch 6) to {last} KiB (epoch 30)");
}
