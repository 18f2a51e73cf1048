//! Criterion benches of every kernel of the default model's training step (784-512-512-10 ReLU, momentum SGD) at
//! batch 64 and 256, at the shapes training uses: the three linears (matmul + bias + activation), softmax
//! cross-entropy, the weight, bias and input gradients, the optimizer updates and the gather. Each op runs alone as
//! a one-op plan, on the CPU backend and on the GPU (when an adapter is found; each GPU iteration is one submission
//! plus the wait for it, so small kernels show the launch cost too). Buffers hold the values of a real step.
//! Run: `cargo bench --bench kernels` (`-- cpu/b64` or `-- gpu/b256/linear` to narrow it). For the share of a step
//! each kernel takes inside a real run, see `gpu-mnist bench --profile`.

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gpu_mnist::plan::{Op, Plan, Split};

fn kernels(c: &mut Criterion) {
    let common::Setup { data, layouts, ctx, order } = common::setup();
    for &(batch, ref layout) in &layouts {
        let step = layout.train_step(batch).expect("plan");
        // One bench per distinct op (the two hidden biases share a shape); the advance only moves a counter.
        let mut ops: Vec<Op> = Vec::new();
        for op in &step.ops {
            if op.family() != "advance" && !ops.iter().any(|o| o.label() == op.label()) {
                ops.push(*op);
            }
        }
        for (name, mut backend) in common::backends(layout, &data, ctx.as_ref()) {
            // A real step first, so every buffer holds what training puts there; the gathers then reread its batch.
            backend.begin_epoch(Split::Train, &order).expect("epoch");
            let full = backend.prepare(&step).expect("prepare");
            backend.run(full, 1).expect("step");
            backend.finish().expect("wait");
            let mut group = c.benchmark_group(format!("{name}/b{batch}"));
            if name == "gpu" {
                group.sample_size(10).measurement_time(Duration::from_secs(2));
            }
            for op in &ops {
                let id = backend.prepare(&Plan::one_op_per_stage(batch, Split::Train, vec![*op])).expect("prepare");
                group.bench_function(op.label(), |b| {
                    b.iter(|| {
                        backend.run(id, 1).expect("kernel");
                        backend.finish().expect("wait");
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
