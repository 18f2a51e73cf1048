//! Criterion benches of one full training step (gather, forward, loss, backward, update) of the default
//! 784-512-512-10 ReLU model with momentum SGD, at batch 64 and 256, on the CPU backend.
//! Run: `cargo bench --bench train_step`. Epoch-level figures come from `gpu-mnist train` (see README).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gpu_mnist::backend::Backend;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{self, DataSource, LoadOptions};
use gpu_mnist::model::{Activation, Loss, ModelConfig};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::{Layout, Split};
use gpu_mnist::train::initial_params;

fn train_step(c: &mut Criterion) {
    let data = Arc::new(data::load(&DataSource::Embedded, &LoadOptions::default()).expect("embedded MNIST"));
    let model = ModelConfig {
        inputs: 784,
        hidden: vec![512, 512],
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
    };
    let mut group = c.benchmark_group("cpu_train_step_784-512-512-10");
    for batch in [64usize, 256] {
        let layout = Layout::new(&model, Optimizer::Momentum { lr: 0.01, momentum: 0.9 }, batch);
        let mut cpu = CpuBackend::new(&layout, data.clone());
        cpu.write_params(&initial_params(&model, 1).expect("init")).expect("params");
        let plan = cpu.prepare(&layout.train_step(batch).expect("plan")).expect("prepare");
        let order: Vec<u32> = (0..data.train.len() as u32).collect();
        let steps_per_epoch = data.train.len() / batch;
        let mut done = steps_per_epoch;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter(|| {
                // Start a new epoch whenever the order runs out.
                if done == steps_per_epoch {
                    cpu.begin_epoch(Split::Train, &order).expect("epoch");
                    done = 0;
                }
                cpu.run(plan, 1).expect("step");
                done += 1;
            })
        });
    }
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
