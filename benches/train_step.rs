//! Criterion benches of one full training step (gather, forward, loss, backward, update) of the default
//! 784-512-512-10 ReLU model with momentum SGD, at batch 64 and 256, on the CPU backend and on the GPU (when an
//! adapter is found; each GPU iteration is one submission plus the wait for it).
//! Run: `cargo bench --bench train_step` (`-- cpu` or `-- gpu` for one backend). Epoch-level figures come from
//! `gpu-mnist bench` (see BENCHMARKS.md).

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gpu_mnist::plan::Split;

fn train_step(c: &mut Criterion) {
    let common::Setup { data, layouts, ctx, order } = common::setup();
    for &(batch, ref layout) in &layouts {
        for (name, mut backend) in common::backends(layout, &data, ctx.as_ref()) {
            let plan = backend.prepare(&layout.train_step(batch).expect("plan")).expect("prepare");
            let steps_per_epoch = data.train.len() / batch;
            let mut done = steps_per_epoch;
            let mut group = c.benchmark_group(format!("{name}/train_step_784-512-512-10"));
            group.throughput(Throughput::Elements(batch as u64));
            if name == "gpu" {
                group.sample_size(10).measurement_time(Duration::from_secs(3));
            }
            group.bench_function(format!("batch_{batch}"), |b| {
                b.iter(|| {
                    // Start a new epoch whenever the order runs out.
                    if done == steps_per_epoch {
                        backend.begin_epoch(Split::Train, &order).expect("epoch");
                        done = 0;
                    }
                    backend.run(plan, 1).expect("step");
                    backend.finish().expect("wait");
                    done += 1;
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, train_step);
criterion_main!(benches);
