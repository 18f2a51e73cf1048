//! The reads a browser needs (`src/gpu/read_async.rs`: a copy queued, the mapping awaited, never a blocking wait)
//! return exactly what the blocking reads return, after training steps queued on the GPU. The browser itself runs
//! them in `web/tests/browser.rs`; here `pollster` drives the future on a native thread.

mod common;

use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::data::{self, DataSource, LoadOptions};
use gpu_mnist::gpu::GpuBackend;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::Split;
use gpu_mnist::train::{initial_params, Shuffle, TrainConfig};

#[test]
fn async_reads_should_match_the_blocking_reads() {
    let Some(ctx) = common::gpu() else { return };
    let mut mnist = data::load(&DataSource::Embedded, &LoadOptions::default()).unwrap();
    mnist.train.truncate(256);
    mnist.test.truncate(256);
    let data = Arc::new(mnist);
    let model = ModelConfig {
        inputs: 784,
        hidden: vec![17],
        classes: 10,
        activation: Activation::Relu,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
        loss: Loss::Xent,
        output_units: OutputUnits::Classes,
    };
    let config = TrainConfig {
        epochs: 1,
        batch_size: 32,
        seed: 7,
        eval_batch: 256,
        lr_schedule: gpu_mnist::optim::LrSchedule::Constant,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        chunk_rows: None,
        shuffle: Shuffle::Chacha8,
    };
    let layout = config.layout_for(&model, Optimizer::momentum(0.05, 0.9).unwrap(), &data).unwrap();
    let mut gpu = GpuBackend::new(&ctx, &layout, data).unwrap();
    let start = initial_params(&model, 7).unwrap();
    gpu.write_params(&start).unwrap();
    gpu.begin_epoch(Split::Train, &Shuffle::Chacha8.epoch_order(7, 0, 256)).unwrap();
    let id = gpu.prepare(&layout.train_step(32).unwrap()).unwrap();
    gpu.run(id, 3).unwrap();
    // Awaited first: the steps are still queued, so the read must wait for them.
    let awaited = pollster::block_on(gpu.read_params_async()).unwrap();
    let blocking = gpu.read_params().unwrap();
    for (l, (a, b)) in awaited.layers.iter().zip(&blocking.layers).enumerate() {
        assert_eq!(a.weight, b.weight, "layer {l} weights");
        assert_eq!(a.bias, b.bias, "layer {l} biases");
    }
    assert_ne!(awaited.layers[0].weight, start.layers[0].weight, "the steps trained");
    let bias = layout.layers[1].b;
    assert_eq!(pollster::block_on(gpu.read_buffer_async(bias)).unwrap(), gpu.read_buffer(bias).unwrap());
    // The counters (statistics, step count) and the batch labels, as the kernel checks read them.
    gpu.run(id, 2).unwrap();
    let stats = pollster::block_on(gpu.stats_async(Split::Train)).unwrap();
    assert_eq!(stats, gpu.stats(Split::Train).unwrap());
    assert_eq!(stats.samples, 5 * 32, "five steps of 32 rows counted");
    let steps = pollster::block_on(gpu.steps_done_async()).unwrap();
    assert_eq!((steps, gpu.steps_done().unwrap()), (5, 5));
    let labels = pollster::block_on(gpu.read_batch_labels_async()).unwrap();
    assert_eq!(labels, gpu.read_batch_labels().unwrap());
}
