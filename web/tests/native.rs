//! The native half of the browser's CPU check: `tests/native_cpu.json` is this machine's run of
//! [`gpu_mnist_web::NATIVE_RUN`], which the browser test (`tests/browser.rs`) must reproduce. Regenerate it with
//! `GPU_MNIST_WRITE_FIXTURE=1 cargo test -p gpu-mnist-web --test native`; otherwise it must equal a fresh run, so it
//! cannot fall behind the library.
#![cfg(not(target_arch = "wasm32"))]

use gpu_mnist_web::{train_cpu_run, Outcome, NATIVE_RUN};

#[test]
fn the_native_fixture_should_be_this_librarys_cpu_run() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/native_cpu.json");
    let outcome = train_cpu_run(NATIVE_RUN).unwrap();
    if std::env::var_os("GPU_MNIST_WRITE_FIXTURE").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&outcome).unwrap() + "\n").unwrap();
    }
    let saved: Outcome = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(saved, outcome, "tests/native_cpu.json is stale: regenerate it (see this file's header)");
    let last = outcome.epochs.last().unwrap();
    println!("native CPU: {} parameters sampled, last epoch {last:?}", outcome.sampled_params.len());
}
