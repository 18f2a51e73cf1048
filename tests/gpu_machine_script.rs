//! `benches/gpu_machine.sh --quick`, the one-call GPU recipe, run here as a GPU machine would run it: every step
//! passes on this adapter, the three output files are written, PyTorch's absence is a recorded skip, and a failing
//! step is recorded while the next ones still run.

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// Runs the script with `--quick` into `out` on the API `api`, without PyTorch (an interpreter that does not exist).
fn run(out: &Path, api: &str) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gpu_machine.sh");
    Command::new("bash")
        .arg(script)
        .args([env!("CARGO_BIN_EXE_gpu-mnist"), out.to_str().unwrap(), "--quick"])
        .env("GPU_MNIST_BACKEND", api)
        .env("GPU_MACHINE_PYTHON", "/nonexistent/python3")
        .output()
        .expect("run bash")
}

/// The steps of summary.json as (name, status).
fn steps(out: &Path) -> Vec<(String, String)> {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
        .collect()
}

const STEPS: [&str; 8] =
    ["devices", "check", "bench-b64", "bench-b256", "bench-b64-reference", "matmul-64", "matmul-256", "side-by-side"];

#[test]
fn the_quick_recipe_passes_on_this_adapter() {
    let Some(api) = common::gpu_api() else { return };
    // Unpinned, take Vulkan: `auto` would let bench fall back to the CPU on a software adapter.
    let api = if api == "auto" { "vulkan".to_string() } else { api };
    let out = tempfile::tempdir().unwrap();
    let result = run(out.path(), &api);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(stderr.contains("PyTorch is not installed"), "the skip is announced: {stderr}");
    let mut files: Vec<String> =
        std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    files.sort();
    assert_eq!(files, ["results.tar.gz", "summary.json", "summary.md"]);
    let steps = steps(out.path());
    assert_eq!(steps.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), STEPS);
    for (name, status) in &steps {
        let want = if name == "side-by-side" { "skipped" } else { "ok" };
        assert_eq!(status, want, "{name}");
    }
    let md = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(md.contains("| check | ok | 0 |") && md.contains("comparisons passed"), "{md}");
    assert!(md.contains("GFLOP/s"), "the matmul figures are in the summary: {md}");
}

#[test]
fn a_failing_step_is_recorded_and_the_next_still_runs() {
    // Metal does not exist on Linux: every GPU step fails quickly, each on its own.
    if !cfg!(target_os = "linux") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let result = run(out.path(), "metal");
    assert!(!result.status.success(), "failed steps make the script fail");
    let steps = steps(out.path());
    assert_eq!(steps.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), STEPS, "every step was tried");
    assert_eq!(steps[1].1, "failed", "check on metal");
    assert!(steps[2..7].iter().all(|(_, s)| s == "failed"), "{steps:?}");
    let md = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(md.contains("metal"), "{md}");
}
