//! Shared by the GPU tests: the GPU context (or a loud skip), a small MNIST subset, report printing.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, OnceLock};

use gpu_mnist::data::{self, Dataset};
use gpu_mnist::gpu::check::CheckRow;
use gpu_mnist::gpu::{BackendChoice, ContextOptions, GpuContext};

/// The GPU context shared by the tests of one binary, on any adapter including software ones (lavapipe), or `None`
/// after printing `skipped: no GPU adapter (...)` straight to the terminal (past the test harness's capture, so a
/// skip never reads as a silent pass). With `GPU_MNIST_REQUIRE_GPU=1` a missing adapter fails the test instead.
/// `GPU_MNIST_BACKEND=vulkan|metal|dx12|gl` picks the API (default: any).
pub fn gpu() -> Option<GpuContext> {
    static CTX: OnceLock<Result<GpuContext, String>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| {
        let ctx = GpuContext::new(&context_options()).map_err(|e| e.to_string());
        if let Ok(ctx) = &ctx {
            let _ = writeln!(std::io::stderr(), "GPU tests on {}", ctx.describe());
        }
        ctx
    });
    match ctx {
        Ok(ctx) => Some(ctx.clone()),
        Err(e) if std::env::var("GPU_MNIST_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("GPU_MNIST_REQUIRE_GPU=1 but no GPU adapter could be opened: {e}")
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "skipped: no GPU adapter ({e})");
            None
        }
    }
}

/// The API the tests use: `GPU_MNIST_BACKEND=vulkan|metal|dx12|gl` (the names of `--backend`), default (and for
/// anything else) any API, auto.
pub fn gpu_backend() -> BackendChoice {
    std::env::var("GPU_MNIST_BACKEND")
        .ok()
        .and_then(|s| <BackendChoice as clap::ValueEnum>::from_str(&s, false).ok())
        .unwrap_or(BackendChoice::Auto)
}

/// The `--backend` name of the API the GPU tests use (`auto` when unpinned), or `None` (after the skip notice) where
/// there is no adapter: for tests that run the binary on the GPU.
pub fn gpu_api() -> Option<String> {
    gpu()?;
    clap::ValueEnum::to_possible_value(&gpu_backend()).map(|v| v.get_name().to_string())
}

/// The options of the GPU tests' contexts: the API of [`gpu_backend`], software adapters (lavapipe) allowed.
pub fn context_options() -> ContextOptions {
    ContextOptions { allow_software: true, ..ContextOptions::new(gpu_backend()) }
}

/// The first `train` training and `test` test samples of the embedded MNIST (loaded once per test binary), still
/// named "mnist": what `data::load` followed by truncating both splits gives.
pub fn mnist_subset(train: usize, test: usize) -> Arc<Dataset> {
    static FULL: OnceLock<Dataset> = OnceLock::new();
    let full = FULL.get_or_init(|| data::load(&data::DataSource::Embedded, &data::LoadOptions::default()).unwrap());
    let mut subset = full.clone();
    subset.train.truncate(train);
    subset.test.truncate(test);
    Arc::new(subset)
}

/// [`mnist_subset`] as a two-class problem, digits 5–9 (class 1) against 0–4 (class 0): the data of a model with one
/// output unit.
pub fn mnist_binary(train: usize, test: usize) -> Arc<Dataset> {
    let digits = mnist_subset(train, test);
    let two = |split: &data::LabeledImages| data::LabeledImages {
        labels: split.labels.iter().map(|&l| u8::from(l >= 5)).collect(),
        ..split.clone()
    };
    Arc::new(Dataset::new("mnist-5-9-vs-0-4", two(&digits.train), two(&digits.test), 2))
}

/// The data set of a model's classes: [`mnist_binary`] for 2 classes, [`mnist_subset`] for 10.
pub fn mnist_for(classes: usize, train: usize, test: usize) -> Arc<Dataset> {
    match classes {
        2 => mnist_binary(train, test),
        _ => mnist_subset(train, test),
    }
}

/// Prints every row and fails listing the rows that did not pass, with their first mismatches and largest error.
pub fn assert_pass(rows: &[CheckRow]) {
    assert!(!rows.is_empty(), "no comparisons were made");
    for row in rows {
        println!("{row}");
    }
    let failed: Vec<String> = rows.iter().filter(|r| !r.pass).map(|r| r.to_string()).collect();
    assert!(failed.is_empty(), "{} of {} comparisons failed:\n{}", failed.len(), rows.len(), failed.join("\n"));
}
