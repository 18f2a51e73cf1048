//! The browser checks, run by `tests/browser/run.sh` in headless Chromium (wasm-bindgen-test with chromedriver):
//! WebGPU gives an adapter, every WGSL file compiles on it, and the CPU reference compiled to wasm trains exactly as
//! the native build does. Without a WebGPU adapter the GPU checks print a notice and pass, unless
//! `GPU_MNIST_REQUIRE_GPU=1` was set when they were built (CI sets it): then they fail.
#![cfg(target_arch = "wasm32")]

use gpu_mnist_web::{compile_all, gpu_steps_parity, train_cpu_run, webgpu_device, Outcome, NATIVE_RUN};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Whether a missing adapter fails the suite (`GPU_MNIST_REQUIRE_GPU=1` at build time).
fn require_gpu() -> bool {
    option_env!("GPU_MNIST_REQUIRE_GPU") == Some("1")
}

/// The browser's device, or `None` with a notice (a failure where an adapter is required).
async fn device() -> Option<(wgpu::AdapterInfo, wgpu::Device)> {
    match webgpu_device().await {
        Ok(found) => Some(found),
        Err(e) if require_gpu() => panic!("GPU_MNIST_REQUIRE_GPU=1: {e}"),
        Err(e) => {
            console_log!("skipped: {e}");
            None
        }
    }
}

#[wasm_bindgen_test]
async fn browser_webgpu_should_give_an_adapter() {
    let Some((info, device)) = device().await else { return };
    console_log!("BROWSER-CHECK adapter: {} ({:?}, {:?})", info.name, info.backend, info.device_type);
    assert_eq!(info.backend, wgpu::Backend::BrowserWebGpu);
    let limits = device.limits();
    console_log!("BROWSER-CHECK limits: max storage buffers per stage {}", limits.max_storage_buffers_per_shader_stage);
}

#[wasm_bindgen_test]
async fn every_wgsl_file_should_compile_in_the_browser() {
    let Some((_, device)) = device().await else { return };
    let compiled = compile_all(&device).await;
    assert!(compiled.len() >= 14, "{} files", compiled.len());
    let failed: Vec<String> =
        compiled.iter().filter(|(_, e)| !e.is_empty()).map(|(f, e)| format!("{f}: {}", e.join("; "))).collect();
    for (file, errors) in &compiled {
        console_log!("BROWSER-CHECK compile {file}: {}", if errors.is_empty() { "ok" } else { "FAILED" });
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[wasm_bindgen_test]
fn cpu_training_in_the_browser_should_match_the_native_run() {
    let want: Outcome = serde_json::from_str(include_str!("native_cpu.json")).unwrap();
    assert_eq!(want.run, NATIVE_RUN, "native_cpu.json is of another run: regenerate it");
    let got = train_cpu_run(NATIVE_RUN).unwrap();
    let close = |g: f32, w: f32| (g - w).abs() <= 1e-4 + 1e-4 * w.abs();
    for (e, (g, w)) in got.epochs.iter().zip(&want.epochs).enumerate() {
        assert!(g.iter().zip(w).all(|(&g, &w)| close(g, w)), "epoch {}: browser {g:?}, native {w:?}", e + 1);
    }
    let worst = got.sampled_params.iter().zip(&want.sampled_params).map(|(g, w)| (g - w).abs()).fold(0.0, f32::max);
    assert_eq!(got.sampled_params.len(), want.sampled_params.len());
    assert!(got.sampled_params.iter().zip(&want.sampled_params).all(|(&g, &w)| close(g, w)), "largest error {worst}");
    console_log!(
        "BROWSER-CHECK cpu training: {} epochs, {} sampled parameters, largest difference from native {worst:e}",
        got.epochs.len(),
        got.sampled_params.len()
    );
}

/// K = 10 training steps of the native run's model on the browser's GPU, through gpu-mnist's own kernels (the fused
/// step, as training uses it), end within 1e-4 of the same 10 steps of the CPU reference, every parameter.
#[wasm_bindgen_test]
async fn gpu_training_steps_in_the_browser_should_match_the_cpu_reference() {
    if device().await.is_none() {
        return;
    }
    let parity = gpu_steps_parity(NATIVE_RUN, 10).await.unwrap();
    console_log!(
        "BROWSER-CHECK gpu training: {} steps, {} parameters, largest difference from the CPU reference {:e} \
         (largest change the steps made: {:e})",
        parity.steps,
        parity.parameters,
        parity.largest_difference,
        parity.largest_step
    );
    assert!(parity.largest_step > 1e-3, "the steps changed nothing: {parity:?}");
    console_log!(
        "BROWSER-CHECK gpu training speed: {} steps of batch {}: {:.3} s on the GPU the first time (pipelines \
         compiled on first use), {:.3} s again (queued to read back), {:.3} s on the CPU reference (wasm, test build)",
        parity.steps,
        NATIVE_RUN.batch_size,
        parity.gpu_seconds_first,
        parity.gpu_seconds,
        parity.cpu_seconds
    );
    assert!(parity.outside.is_empty(), "outside 1e-4 (index, gpu, cpu): {:?}", parity.outside);
}
