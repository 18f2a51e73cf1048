//! The GPU backend's refusals: bad data, a run past the sample order, wrong buffer sizes, limits the device cannot
//! meet. Each must be an `Err` whose message names the problem, never a panic or a silent wrong result.

mod common;

use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::data::{Dataset, LabeledImages};
use gpu_mnist::gpu::{ContextOptions, GpuBackend, GpuContext};
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::{Layout, Split};
use gpu_mnist::Error;

fn model(inputs: usize, classes: usize) -> ModelConfig {
    ModelConfig {
        output_units: OutputUnits::Classes,
        inputs,
        hidden: vec![3],
        classes,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    }
}

fn data(samples: usize, features: usize, label: u8) -> Arc<Dataset> {
    let split = LabeledImages::from_pixels(vec![7; samples * features], vec![label; samples], 1, features);
    Arc::new(Dataset::new("tiny", split.clone(), split, 10))
}

fn message(r: Result<impl Sized, Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_label_past_the_classes_is_refused_at_upload() {
    let Some(ctx) = common::gpu() else { return };
    let layout = Layout::new(&model(4, 3), Optimizer::sgd(0.1).unwrap(), 2);
    let msg = message(GpuBackend::new(&ctx, &layout, data(5, 4, 7)));
    assert!(msg.contains("label 7") && msg.contains("3 classes"), "{msg}");
}

#[test]
fn images_of_the_wrong_size_are_refused_at_upload() {
    let Some(ctx) = common::gpu() else { return };
    let layout = Layout::new(&model(4, 10), Optimizer::sgd(0.1).unwrap(), 2);
    let msg = message(GpuBackend::new(&ctx, &layout, data(5, 6, 1)));
    assert!(msg.contains("6 pixels") && msg.contains("4 inputs"), "{msg}");
}

#[test]
fn running_past_the_order_fails_before_anything_is_queued() {
    let Some(ctx) = common::gpu() else { return };
    let layout = Layout::new(&model(4, 10), Optimizer::sgd(0.1).unwrap(), 8);
    let mut gpu = GpuBackend::new(&ctx, &layout, data(10, 4, 1)).unwrap();
    let plan = gpu.prepare(&layout.train_step(8).unwrap()).unwrap();
    gpu.begin_epoch(Split::Train, &(0..10).collect::<Vec<u32>>()).unwrap();
    gpu.run(plan, 1).unwrap();
    let msg = message(gpu.run(plan, 1));
    assert!(msg.contains("order has 10 samples") && msg.contains("at 8"), "{msg}");
    // The refused run changed nothing: one step was taken.
    assert_eq!(gpu.steps_done().unwrap(), 1);
}

#[test]
fn an_order_naming_a_missing_sample_is_refused() {
    let Some(ctx) = common::gpu() else { return };
    let layout = Layout::new(&model(4, 10), Optimizer::sgd(0.1).unwrap(), 2);
    let mut gpu = GpuBackend::new(&ctx, &layout, data(5, 4, 1)).unwrap();
    let msg = message(gpu.begin_epoch(Split::Test, &[0, 5]));
    assert!(msg.contains("sample 5") && msg.contains("has 5"), "{msg}");
}

#[test]
fn buffers_of_the_wrong_length_are_refused() {
    let Some(ctx) = common::gpu() else { return };
    let layout = Layout::new(&model(4, 10), Optimizer::sgd(0.1).unwrap(), 2);
    let mut gpu = GpuBackend::new(&ctx, &layout, data(5, 4, 1)).unwrap();
    let w = layout.layers[0].w;
    let msg = message(gpu.write_buffer(w, &[1.0; 5]));
    assert!(msg.contains("layers.0.weight holds 12 values, got 5"), "{msg}");
    assert!(message(gpu.read_buffer(999)).contains("no buffer 999"));
}

#[test]
fn the_step_count_round_trips_through_both_words() {
    let Some(ctx) = common::gpu() else { return };
    let layout = Layout::new(&model(4, 10), Optimizer::sgd(0.1).unwrap(), 2);
    let mut gpu = GpuBackend::new(&ctx, &layout, data(5, 4, 1)).unwrap();
    for steps in [0, 41, 5_000_000_000] {
        gpu.set_steps_done(steps).unwrap();
        assert_eq!(gpu.steps_done().unwrap(), steps);
    }
}

#[test]
fn limits_beyond_the_adapter_name_the_limit() {
    // Ask the adapter the other tests use (skipping, like them, when there is none) for a 1 PiB binding.
    if common::gpu().is_none() {
        return;
    }
    let opts = ContextOptions { max_binding_bytes: 1 << 50, ..common::context_options() };
    let msg = message(GpuContext::new(&opts));
    assert!(msg.contains("max_storage_buffer_binding_size") && msg.contains("--backend cpu"), "{msg}");
}
