//! Shared by the criterion benches: the default model, the embedded MNIST, and every backend to bench on.

use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{self, DataSource, Dataset, LoadOptions};
use gpu_mnist::gpu::{BackendChoice, ContextOptions, GpuBackend, GpuContext};
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::Layout;
use gpu_mnist::train::initial_params;

/// The batch sizes every bench runs at.
pub const BATCHES: [usize; 2] = [64, 256];

/// The default model of `gpu-mnist train`: 784-512-512-10, ReLU, softmax cross-entropy.
pub fn default_model() -> ModelConfig {
    ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 784,
        hidden: vec![512, 512],
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    }
}

/// The default optimizer of `gpu-mnist train`.
pub fn default_optimizer() -> Optimizer {
    Optimizer::momentum(0.05, 0.9).unwrap()
}

/// The embedded MNIST.
pub fn mnist() -> Arc<Dataset> {
    Arc::new(data::load(&DataSource::Embedded, &LoadOptions::default()).expect("the embedded MNIST loads"))
}

/// The GPU to bench on: the best adapter of any API (`GPU_MNIST_BACKEND=vulkan|metal|dx12|gl` picks one), software
/// adapters such as lavapipe included; `None` after printing why when there is none, so a CPU-only machine still
/// gets the CPU figures and sees that the GPU ones are missing.
pub fn gpu(layouts: &[&Layout], data: &Dataset) -> Option<GpuContext> {
    let choice = std::env::var("GPU_MNIST_BACKEND")
        .ok()
        .and_then(|s| <BackendChoice as clap::ValueEnum>::from_str(&s, false).ok())
        .unwrap_or(BackendChoice::Auto);
    let opts = layouts
        .iter()
        .fold(ContextOptions { allow_software: true, ..ContextOptions::new(choice) }, |o, l| o.for_run(l, data));
    match GpuContext::new(&opts) {
        Ok(ctx) => {
            eprintln!("GPU benches on {}", ctx.describe());
            Some(ctx)
        }
        Err(e) => {
            eprintln!("skipping the GPU benches: {e}");
            None
        }
    }
}

/// What every bench starts from: the data, a layout of the default model per batch size, the GPU (if any) sized for
/// all of them, and the training split in file order.
pub struct Setup {
    pub data: Arc<Dataset>,
    /// `(batch, layout)` for each of [`BATCHES`].
    pub layouts: Vec<(usize, Layout)>,
    pub ctx: Option<GpuContext>,
    pub order: Vec<u32>,
}

pub fn setup() -> Setup {
    let data = mnist();
    let layouts: Vec<(usize, Layout)> =
        BATCHES.iter().map(|&b| (b, Layout::new(&default_model(), default_optimizer(), b))).collect();
    let ctx = gpu(&layouts.iter().map(|(_, l)| l).collect::<Vec<_>>(), &data);
    let order: Vec<u32> = (0..data.train.len() as u32).collect();
    Setup { data, layouts, ctx, order }
}

/// The backends to bench `layout` on, each with the seed-1 initial parameters: `("cpu", …)`, and `("gpu", …)` when
/// `ctx` is given.
pub fn backends(
    layout: &Layout,
    data: &Arc<Dataset>,
    ctx: Option<&GpuContext>,
) -> Vec<(&'static str, Box<dyn Backend>)> {
    let mut all: Vec<(&'static str, Box<dyn Backend>)> =
        vec![("cpu", Box::new(CpuBackend::new(layout, data.clone()).unwrap()))];
    if let Some(ctx) = ctx {
        all.push(("gpu", Box::new(GpuBackend::new(ctx, layout, data.clone()).expect("GPU backend"))));
    }
    let init = initial_params(&layout.model, 1).expect("initial parameters");
    for (_, backend) in &mut all {
        backend.write_params(&init).expect("write the initial parameters");
    }
    all
}
