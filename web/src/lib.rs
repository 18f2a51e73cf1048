//! gpu-mnist in a browser (issue 14): the library compiled to `wasm32-unknown-unknown`, called from JavaScript
//! through `wasm-bindgen`.
//!
//! - The page (`web/www/`, built and served by `web/serve.sh`): `page::Page` (wasm32 only) is what its `app.js`
//!   calls; the run it trains is a [`session::Session`] (the library's `Trainer` advanced a chunk at a time from the
//!   page's animation frames, on WebGPU or the CPU reference), made of [`settings::Settings`]; [`checks`] runs
//!   `gpu-mnist check`'s table on the browser's adapter.
//! - What `tests/browser/run.sh` checks besides the page (`tests/browser.rs`, wasm-bindgen-test in headless Chromium):
//!   [`train_cpu_run`] trains in the browser exactly as natively (`tests/native_cpu.json` holds the native run; a
//!   native test keeps it current); [`webgpu_device`] and [`compile_all`]: the browser's WebGPU gives an adapter,
//!   and every WGSL file of `shaders/`, composed as the native host composes it, compiles there (Chrome's own WGSL
//!   compiler, not naga); [`gpu_steps_parity`]: K training steps through gpu-mnist's own GPU backend in the browser
//!   equal the CPU's.
//!
//! Everything here waits by `await` or by returning to the page's event loop (a browser maps buffers and answers
//! requests only after control returns to it); nothing blocks.

pub mod checks;
#[cfg(target_arch = "wasm32")]
pub mod page;
pub mod session;
pub mod settings;

use std::cmp::Ordering;
use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{self, DataSource, Dataset, LoadOptions};
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{LrSchedule, Optimizer};
use gpu_mnist::train::{Shuffle, TrainConfig, Trainer};

/// The short run both the browser and the native test make: a 784-`hidden`-10 ReLU network, SGD with momentum, on the
/// first `limit` training digits of the embedded MNIST (and its first `limit` test digits).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Run {
    pub hidden: usize,
    pub limit: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
}

/// The run `tests/native_cpu.json` holds: one hidden layer of 32, 2 epochs of 600 digits in batches of 32.
pub const NATIVE_RUN: Run = Run { hidden: 32, limit: 600, epochs: 2, batch_size: 32, seed: 42 };

/// What a run ends with: each epoch's metrics and every 97th parameter of the trained network (weights then biases,
/// layer by layer), enough to tell two runs apart anywhere in the network.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub run: Run,
    /// (train loss, train accuracy, test loss, test accuracy) per epoch.
    pub epochs: Vec<[f32; 4]>,
    pub sampled_params: Vec<f32>,
}

/// The data (the first `run.limit` digits of each split), model, optimizer and settings of `run`.
fn setup(run: Run, lr_schedule: LrSchedule) -> gpu_mnist::Result<(Arc<Dataset>, ModelConfig, Optimizer, TrainConfig)> {
    let mut mnist = data::load(&DataSource::Embedded, &LoadOptions::default())?;
    mnist.train.truncate(run.limit);
    mnist.test.truncate(run.limit);
    let model = ModelConfig {
        inputs: 784,
        hidden: vec![run.hidden],
        classes: 10,
        activation: Activation::Relu,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
        loss: Loss::Xent,
        output_units: OutputUnits::Classes,
    };
    let optimizer = Optimizer::momentum(0.05, 0.9)?;
    let config = TrainConfig {
        epochs: run.epochs,
        batch_size: run.batch_size,
        seed: run.seed,
        eval_batch: 1000,
        lr_schedule,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        chunk_rows: None,
        shuffle: Shuffle::Chacha8,
    };
    Ok((Arc::new(mnist), model, optimizer, config))
}

/// Trains `run` on the CPU reference backend.
pub fn train_cpu_run(run: Run) -> gpu_mnist::Result<Outcome> {
    let (data, model, optimizer, config) = setup(run, LrSchedule::Linear)?;
    let layout = config.layout_for(&model, optimizer, &data)?;
    let cpu = CpuBackend::new(&layout, data.clone())?;
    let mut trainer = Trainer::new(cpu, layout, data, config)?;
    let mut epochs = Vec::new();
    for _ in 0..run.epochs {
        let m = trainer.epoch(&mut |_| {})?;
        epochs.push([m.train_loss, m.train_acc, m.test_loss, m.test_acc]);
    }
    let params = trainer.backend.read_params()?;
    let all: Vec<f32> = params.layers.iter().flat_map(|l| l.weight.iter().chain(&l.bias).copied()).collect();
    Ok(Outcome { run, epochs, sampled_params: all.iter().step_by(97).copied().collect() })
}

/// The browser's WebGPU adapter, or why there is none.
pub async fn webgpu_adapter_handle() -> Result<wgpu::Adapter, String> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::BROWSER_WEBGPU;
    wgpu::Instance::new(desc).request_adapter(&wgpu::RequestAdapterOptions::default()).await.map_err(|e| {
        format!("no WebGPU adapter ({e}): use a browser with WebGPU on (Chrome, Edge; Firefox 141+; Safari 26+)")
    })
}

/// The browser's WebGPU adapter and device, or why there is none.
pub async fn webgpu_device() -> Result<(wgpu::AdapterInfo, wgpu::Device), String> {
    let adapter = webgpu_adapter_handle().await?;
    let info = adapter.get_info();
    let (device, _queue) = adapter
        .request_device(&wgpu::DeviceDescriptor { label: Some("gpu-mnist"), ..Default::default() })
        .await
        .map_err(|e| format!("opening a device on {} failed: {e}", info.name))?;
    Ok((info, device))
}

/// How K training steps on the browser's GPU compare with the same K steps of the CPU reference.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StepsParity {
    pub steps: usize,
    pub parameters: usize,
    /// The largest |GPU − CPU| over every parameter after the steps.
    pub largest_difference: f32,
    /// The largest change the CPU's steps made to a parameter (the steps did train).
    pub largest_step: f32,
    /// Seconds from the GPU's first step queued to its parameters read back: the first time (the browser compiles
    /// the pipelines on first use) and again with them compiled; the CPU's steps (in this build).
    pub gpu_seconds_first: f64,
    pub gpu_seconds: f64,
    pub cpu_seconds: f64,
    /// The parameters outside 1e-4 + 1e-4·|CPU|, at most five: (index, GPU, CPU).
    pub outside: Vec<(usize, f32, f32)>,
}

/// `steps` training steps of `run`'s model (constant rate) from the same initial weights and the same first epoch's
/// order, on the browser's GPU through gpu-mnist's own kernels and on the CPU reference, then every parameter
/// compared: the GPU path driven without one blocking wait (its device opened and its parameters read by `await`).
pub async fn gpu_steps_parity(run: Run, steps: usize) -> Result<StepsParity, String> {
    use gpu_mnist::gpu::{BackendChoice, ContextOptions, GpuBackend, GpuContext};
    use gpu_mnist::plan::Split;
    let text = |e: gpu_mnist::Error| e.to_string();
    let (data, model, optimizer, config) = setup(run, LrSchedule::Constant).map_err(text)?;
    let layout = config.layout_for(&model, optimizer, &data).map_err(text)?;
    let params = gpu_mnist::train::initial_params(&model, run.seed).map_err(text)?;
    let order = Shuffle::Chacha8.epoch_order(run.seed, 0, data.train.len());
    let plan = layout.train_step(run.batch_size).map_err(text)?;

    // The browser's adapter, and a device on it with the limits this run needs (awaited).
    let adapter = webgpu_adapter_handle().await?;
    let options = ContextOptions::new(BackendChoice::Auto).for_run(&layout, &data);
    let ctx = GpuContext::on_adapter(&adapter, &options).await.map_err(text)?;

    // The same steps on both backends: weights, order, plan, K steps (queued on the GPU, nothing waited for).
    let mut gpu = GpuBackend::new(&ctx, &layout, data.clone()).map_err(text)?;
    let mut cpu = CpuBackend::new(&layout, data).map_err(text)?;
    let run_on = |b: &mut dyn Backend| -> gpu_mnist::Result<()> {
        b.write_params(&params)?;
        b.begin_epoch(Split::Train, &order)?;
        let id = b.prepare(&plan)?;
        b.run(id, steps)
    };
    let flat = |p: gpu_mnist::model::Params| -> Vec<f32> {
        p.layers.iter().flat_map(|l| l.weight.iter().chain(&l.bias).copied()).collect()
    };
    let started = web_time::Instant::now();
    run_on(&mut gpu).map_err(text)?;
    let got = flat(gpu.read_params_async().await.map_err(text)?);
    let gpu_seconds_first = started.elapsed().as_secs_f64();
    let started = web_time::Instant::now();
    run_on(&mut gpu).map_err(text)?;
    // (The optimizer's state carries on from the first run: timing only, not compared.)
    gpu.read_params_async().await.map_err(text)?;
    let gpu_seconds = started.elapsed().as_secs_f64();
    let started = web_time::Instant::now();
    run_on(&mut cpu).map_err(text)?;
    let cpu_seconds = started.elapsed().as_secs_f64();
    let want = flat(cpu.read_params().map_err(text)?);
    let start = flat(params.clone());
    let largest_step = start.iter().zip(&want).map(|(s, w)| (s - w).abs()).fold(0.0, f32::max);
    let largest_difference = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0, f32::max);
    let outside = (0..want.len())
        // NaN counts as outside.
        .filter(|&i| (got[i] - want[i]).abs().partial_cmp(&(1e-4 + 1e-4 * want[i].abs())) != Some(Ordering::Less))
        .take(5)
        .map(|i| (i, got[i], want[i]))
        .collect();
    Ok(StepsParity {
        steps,
        parameters: want.len(),
        largest_difference,
        largest_step,
        gpu_seconds_first,
        gpu_seconds,
        cpu_seconds,
        outside,
    })
}

/// Compiles every file of `shaders/`, composed as the native host composes it (subgroup variants only where the
/// device has subgroups), on `device`; returns each file's name with the compiler's errors (empty when it compiled).
pub async fn compile_all(device: &wgpu::Device) -> Vec<(String, Vec<String>)> {
    let subgroups = device.features().contains(wgpu::Features::SUBGROUP);
    let mut out = Vec::new();
    for file in gpu_mnist::gpu::shaders::SHADER_FILES.iter().filter(|f| subgroups || !f.needs_subgroups) {
        let source = gpu_mnist::gpu::shaders::compose_for(file, subgroups);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(file.name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let info = module.get_compilation_info().await;
        let mut errors: Vec<String> = info
            .messages
            .iter()
            .filter(|m| m.message_type == wgpu::CompilationMessageType::Error)
            .map(|m| m.message.clone())
            .collect();
        if let Some(e) = scope.pop().await {
            errors.push(e.to_string());
        }
        out.push((file.name.to_owned(), errors));
    }
    out
}
