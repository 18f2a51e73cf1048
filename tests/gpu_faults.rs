//! GPU faults end in clear errors: no adapter for the API asked for (through the binary), a device that is lost under
//! a running backend, shaders and pipelines the device rejects. Each must be an exit code and one line on stderr, or
//! an `Err` naming what failed: never a panic, never a hang.
//!
//! The tests that need an adapter skip loudly without one (`tests/common`); `GPU_MNIST_REQUIRE_GPU=1` makes that a
//! failure. Each builds its own context, so destroying a device or leaving an error behind cannot disturb the
//! others.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, Output};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use gpu_mnist::backend::{Backend, PlanId};
use gpu_mnist::data::{Dataset, LabeledImages};
use gpu_mnist::gpu::{GpuBackend, GpuContext};
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::{Layout, Split};
use gpu_mnist::Error;

// ---------------------------------------------------------------------------------------------------------------
// No adapter: the binary.

/// The Vulkan loader pointed at a driver manifest that does not exist: it finds no driver at all.
const NO_VULKAN_DRIVER: [(&str, &str); 2] =
    [("VK_ICD_FILENAMES", "/nonexistent.json"), ("VK_DRIVER_FILES", "/nonexistent.json")];

/// `gpu-mnist train` on 100 samples with a tiny model on `backend`, without a Vulkan driver.
fn train_without_vulkan(backend: &str) -> (Output, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mnist"))
        .args(["train", "--backend", backend, "--limit", "100", "--hidden", "8", "--epochs", "1"])
        .envs(NO_VULKAN_DRIVER)
        .current_dir(dir.path())
        .output()
        .expect("run gpu-mnist");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Exit code 1, one line on stderr that contains every one of `expected`, no panic, nothing trained.
fn assert_one_clear_line(backend: &str, expected: &[&str]) {
    let (out, stdout, stderr) = train_without_vulkan(backend);
    let context = format!("--backend {backend}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert_eq!(out.status.code(), Some(1), "{context}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{context}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line on stderr: {context}");
    assert!(stderr.starts_with("error: "), "{context}");
    for e in expected {
        assert!(stderr.contains(e), "stderr should say {e:?}: {context}");
    }
    assert!(!stdout.contains("epoch "), "nothing was trained: {context}");
}

#[test]
fn vulkan_without_a_driver_says_how_to_fix_it() {
    assert_one_clear_line(
        "vulkan",
        &[
            "no GPU adapter found for --backend vulkan",
            "install a Vulkan driver",
            "mesa-vulkan-drivers",
            "--backend cpu",
        ],
    );
}

#[test]
#[cfg(not(target_vendor = "apple"))]
fn metal_off_apple_says_how_to_fix_it() {
    assert_one_clear_line("metal", &["no GPU adapter found for --backend metal", "macOS", "--backend cpu"]);
}

#[test]
#[cfg(not(windows))]
fn dx12_off_windows_says_how_to_fix_it() {
    assert_one_clear_line("dx12", &["no GPU adapter found for --backend dx12", "Windows", "--backend cpu"]);
}

/// `auto` never fails for want of a GPU: without a (hardware) adapter it says so in a notice and trains on the CPU.
#[test]
fn auto_without_a_driver_falls_back_to_the_cpu_and_trains() {
    let (out, stdout, stderr) = train_without_vulkan("auto");
    let context = format!("exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert_eq!(out.status.code(), Some(0), "{context}");
    assert!(!stderr.contains("panicked"), "{context}");
    assert!(stdout.lines().any(|l| l.starts_with("epoch 1/1  train loss ")), "it trained: {context}");
    let backend = stdout.lines().find(|l| l.starts_with("backend: ")).unwrap_or_default();
    // Another API's hardware adapter (GL on a machine with a GPU) may still be found; otherwise: the CPU, and why.
    if backend.starts_with("backend: cpu") {
        let notices: Vec<&str> = stderr.lines().filter(|l| l.starts_with("notice: ")).collect();
        assert_eq!(notices.len(), 1, "{context}");
        assert!(notices[0].ends_with("using the CPU backend"), "{context}");
        assert!(notices[0].contains("--backend auto"), "{context}");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A context of its own, a tiny model and data set.

/// A new context on the adapter the other GPU tests use (or `None`, having skipped loudly like them).
fn own_context() -> Option<GpuContext> {
    common::gpu()?;
    Some(GpuContext::new(&common::context_options()).expect("a second context on the adapter the shared one opened"))
}

fn tiny() -> (Layout, Arc<Dataset>) {
    let model = ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 4,
        hidden: vec![3],
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    let layout = Layout::new(&model, Optimizer::sgd(0.1).unwrap(), 4);
    let images: Vec<u8> = (0..8 * 4).map(|i| (i * 37 % 256) as u8).collect();
    let split = LabeledImages::from_pixels(images, (0..8).map(|i| i % 10).collect(), 2, 2);
    (layout, Arc::new(Dataset::new("tiny", split.clone(), split, 10)))
}

/// A backend that has taken one training step, and its train plan.
fn running_backend(ctx: &GpuContext) -> (GpuBackend, PlanId) {
    let (layout, data) = tiny();
    let mut gpu = GpuBackend::new(ctx, &layout, data).unwrap();
    let plan = gpu.prepare(&layout.train_step(4).unwrap()).unwrap();
    gpu.begin_epoch(Split::Train, &[0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    gpu.run(plan, 1).unwrap();
    assert_eq!(gpu.stats(Split::Train).unwrap().samples, 4);
    (gpu, plan)
}

/// What one call answered: its error message, `Ok`, or the panic it raised.
#[derive(Debug)]
enum Answer {
    Err(String),
    Ok,
    Panicked(#[allow(dead_code)] String),
}

fn answer<T>(f: impl FnOnce() -> Result<T, Error>) -> Answer {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(_)) => Answer::Ok,
        Ok(Err(e)) => Answer::Err(e.to_string()),
        Err(p) => Answer::Panicked(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        ),
    }
}

/// Runs `f` on another thread and waits at most `limit` for it: a hang fails the test instead of blocking it.
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{what} did not return within {} s", limit.as_secs()))
}

// ---------------------------------------------------------------------------------------------------------------
// A lost device.

/// The device is destroyed under a backend that has run (as a driver reset or an unplugged GPU would lose it):
/// every later call answers an `Err` saying the device was lost, promptly, and none panics.
///
/// Before `GpuContext` recorded a `Destroyed` loss and checked for one ahead of its error scopes and read-backs,
/// `run` and `begin_epoch` answered `Ok`, the read-backs failed with wgpu's "submission index … has not been
/// returned" and `prepare` panicked inside wgpu (`util::DeviceExt::create_buffer_init` unwraps the mapping of a
/// buffer the lost device could not create). The backend now creates every buffer with `create_buffer` and fills
/// it with `Queue::write_buffer`, which report a lost device as an error instead of panicking, so a loss that lands
/// between the check and the buffer creation is reported at the next check too.
#[test]
fn a_lost_device_fails_every_later_call_with_a_clear_error() {
    let Some(ctx) = own_context() else { return };
    let (mut gpu, plan) = running_backend(&ctx);
    ctx.device().destroy();
    let answers = within(Duration::from_secs(30), "the calls after the device was destroyed", move || {
        let started = Instant::now();
        let (layout, _) = tiny();
        let w = layout.layers[0].w;
        let answers = vec![
            ("run", answer(|| gpu.run(plan, 1))),
            ("stats", answer(|| gpu.stats(Split::Train))),
            ("read_params", answer(|| gpu.read_params())),
            ("steps_done", answer(|| gpu.steps_done())),
            ("read_buffer", answer(|| gpu.read_buffer(w))),
            ("write_buffer", answer(|| gpu.write_buffer(w, &[0.5; 12]))),
            ("begin_epoch", answer(|| gpu.begin_epoch(Split::Test, &[0, 1]))),
            ("prepare", answer(|| gpu.prepare(&layout.eval_step(Split::Test, 2).unwrap()))),
        ];
        (answers, started.elapsed())
    });
    let (answers, took) = answers;
    println!("after destroy() ({:.2} s in all):", took.as_secs_f64());
    for (call, a) in &answers {
        println!("  {call}: {a:?}");
    }
    let bad: Vec<String> = answers
        .iter()
        .filter(|(_, a)| !matches!(a, Answer::Err(msg) if msg.contains("lost")))
        .map(|(call, a)| format!("{call}: {a:?}"))
        .collect();
    assert!(bad.is_empty(), "every call must fail saying the device was lost; these did not:\n{}", bad.join("\n"));
    assert!(took < Duration::from_secs(10), "the failing calls took {took:?}");
}

/// A device lost before any backend is built: building one (pipelines, buffers, upload) fails the same way.
#[test]
fn a_backend_on_a_lost_device_is_refused() {
    let Some(ctx) = own_context() else { return };
    ctx.device().destroy();
    let a = within(Duration::from_secs(30), "GpuBackend::new on a destroyed device", move || {
        let (layout, data) = tiny();
        answer(|| GpuBackend::new(&ctx, &layout, data))
    });
    assert!(matches!(&a, Answer::Err(msg) if msg.contains("lost")), "{a:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// Shaders and pipelines the device rejects.

/// WGSL with a syntax error, and a well-formed shader with a type error.
const BROKEN_WGSL: [(&str, &str); 2] = [
    ("a syntax error", "@compute @workgroup_size(64) fn main() { let x: f32 = ; }"),
    (
        "a type error",
        "@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n\
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) { out[id.x] = id; }",
    ),
];

fn shader(ctx: &GpuContext, source: &str) -> wgpu::ShaderModule {
    ctx.device().create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("fault test"),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

/// `GpuContext::scoped`, the error scope every shader and pipeline of the program is created in
/// (`Kernels::new`), turns a shader the WGSL front end rejects into an `Error::Gpu` naming what was being done and
/// quoting the compiler: no panic, and nothing left over for the next check.
#[test]
fn a_shader_that_fails_validation_is_a_clear_error() {
    let Some(ctx) = own_context() else { return };
    for (what, source) in BROKEN_WGSL {
        let r = ctx.scoped(&format!("compiling a shader with {what}"), || shader(&ctx, source));
        match r {
            Err(Error::Gpu(msg)) => {
                assert!(msg.starts_with(&format!("compiling a shader with {what}: ")), "{msg}");
                assert!(msg.to_lowercase().contains("shader") || msg.contains("error"), "{msg}");
                println!("{what}: {msg}");
            }
            other => panic!("{what}: expected Error::Gpu, got {:?}", other.map(|_| "a module")),
        }
    }
    assert!(ctx.check("after the scoped errors").is_ok(), "a scoped error also reached the uncaptured handler");
    // The context still works: the real kernels compile and a backend runs on it.
    running_backend(&ctx);
}

/// A valid module, but a pipeline that names a missing entry point or disagrees with its bind group layout.
#[test]
fn a_pipeline_that_fails_validation_is_a_clear_error() {
    let Some(ctx) = own_context() else { return };
    let module = shader(
        &ctx,
        "@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n\
         @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) { out[id.x] = 1.0; }",
    );
    ctx.check("compiling the good shader").unwrap();
    let device = ctx.device();
    // The layout says uniform where the shader has a read-write storage buffer.
    let uniform = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("wrong"),
        entries: &[wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }],
    });
    let wrong_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("wrong"),
        bind_group_layouts: &[Some(&uniform)],
        immediate_size: 0,
    });
    for (what, entry, layout) in
        [("a missing entry point", "nowhere", None), ("a wrong layout", "main", Some(&wrong_layout))]
    {
        let r = ctx.scoped(&format!("creating a pipeline with {what}"), || {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("fault test"),
                layout,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        });
        match r {
            Err(Error::Gpu(msg)) => {
                assert!(msg.starts_with(&format!("creating a pipeline with {what}: ")), "{msg}");
                println!("{what}: {msg}");
            }
            other => panic!("{what}: expected Error::Gpu, got {:?}", other.map(|_| "a pipeline")),
        }
    }
    assert!(ctx.check("after the scoped errors").is_ok());
}

/// Outside any error scope a rejected shader is not a panic (wgpu's default handler panics) but is kept for the next
/// `check`, which fails with it, once.
#[test]
fn an_error_outside_a_scope_surfaces_at_the_next_check() {
    let Some(ctx) = own_context() else { return };
    let _module = shader(&ctx, BROKEN_WGSL[0].1);
    let first = ctx.check("the step after the broken shader");
    match first {
        Err(Error::Gpu(msg)) => assert!(msg.starts_with("the step after the broken shader: "), "{msg}"),
        other => panic!("expected Error::Gpu, got {other:?}"),
    }
    assert!(ctx.check("the next step").is_ok(), "an error is reported once");
}
