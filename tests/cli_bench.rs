//! `gpu-mnist bench` through the binary: one row per backend, the `--profile` breakdown, `--matmul` and `--json`.

mod common;
mod support;

use support::ok;

/// `cpu`, plus the API of the GPU adapter the tests found (e.g. `cpu,vulkan`), as `--backends` takes them.
fn backends() -> String {
    match common::gpu() {
        Some(ctx) => format!("cpu,{}", ctx.describe().split(':').next().unwrap_or("vulkan")),
        None => "cpu".into(),
    }
}

#[test]
fn bench_should_print_a_row_and_a_profile_per_backend() {
    let dir = tempfile::tempdir().unwrap();
    let backends = backends();
    let args = [
        "bench",
        "--backends",
        &backends,
        "--hidden",
        "16",
        "--limit",
        "640",
        "--epochs",
        "1",
        "--warmup-steps",
        "2",
        "--profile",
        "--profile-steps",
        "3",
        "--json",
        "bench.json",
    ];
    let out = ok(dir.path(), &args);
    println!("{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bench.json")).unwrap()).unwrap();
    let reports = json.as_array().unwrap();
    assert_eq!(reports.len(), backends.split(',').count());
    for r in reports {
        let name = r["backend"].as_str().unwrap();
        assert!(out.contains(&name.chars().take(44).collect::<String>()), "no row for {name}");
        assert!(r["median_epoch_seconds"].as_f64().unwrap() > 0.0);
        assert_eq!(r["samples_per_epoch"], 640);
        // The fused step of one hidden layer (L = 2): 4 dispatches; its epoch waits at most twice.
        let work = &r["work"];
        assert_eq!(work["dispatches_per_step"].as_f64(), Some(4.0), "{name}: {work}");
        assert!(work["blocking_waits_per_epoch"].as_u64().unwrap() <= 2, "{name}: {work}");
        assert!(out.contains("dispatches and"), "no work line: {out}");
        match r.get("profile") {
            Some(p) => {
                assert!(out.contains(&format!("profile of {name}:")), "no profile table for {name}");
                assert_eq!(p["steps"], 3);
                let families: Vec<&str> =
                    p["families"].as_array().unwrap().iter().map(|f| f["family"].as_str().unwrap()).collect();
                // The fused step's stages (one hidden layer): each a dispatch on the GPU.
                for family in ["gather_linear", "linear_loss", "input_grad+advance", "grad_update+grad_update"] {
                    assert!(families.contains(&family), "{name}: no {family} in {families:?}");
                }
            }
            None => {
                assert!(!name.starts_with("cpu"), "the CPU backend always has a profile");
                assert!(out.contains("not available"), "{name}: a missing profile must be said");
            }
        }
    }
}

#[test]
fn bench_matmul_should_report_gflops_per_backend() {
    let dir = tempfile::tempdir().unwrap();
    let backends = backends();
    let out = ok(dir.path(), &["bench", "--backends", &backends, "--matmul", "63", "--json", "mm.json"]);
    println!("{out}");
    assert!(out.contains("GFLOP/s"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("mm.json")).unwrap()).unwrap();
    let reports = json.as_array().unwrap();
    // The CPU once (sgemm); a GPU once per variant: its own choice and each tile (63 fits no large tile).
    let variants: Vec<&str> = reports.iter().map(|r| r["variant"].as_str().unwrap()).collect();
    let gpus = backends.split(',').filter(|b| *b != "cpu").count();
    assert_eq!(reports.len(), 1 + 4 * gpus, "{variants:?}");
    assert_eq!(variants[0], "sgemm");
    if gpus > 0 {
        assert_eq!(variants[1..5], ["auto", "tile 64", "tile 32", "tile 16"]);
        assert!(out.contains("tile 16"), "{out}");
    }
    for r in reports {
        assert_eq!(r["size"], 63);
        assert!(r["gflops"].as_f64().unwrap() > 0.0, "{r}");
    }
}

/// A size the large kernel fits (multiples of 128) adds its row.
#[test]
fn bench_matmul_should_time_the_large_kernel_where_it_fits() {
    let Some(api) = common::gpu_api() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["bench", "--backends", &api, "--matmul", "128", "--json", "mm.json"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("mm.json")).unwrap()).unwrap();
    let variants: Vec<&str> = json.as_array().unwrap().iter().map(|r| r["variant"].as_str().unwrap()).collect();
    assert_eq!(variants, ["auto", "tile 64", "tile 32", "tile 16", "large 128"], "{out}");
}

#[test]
fn bench_matmul_of_size_zero_should_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::gpu_mnist(dir.path(), &["bench", "--backends", "cpu", "--matmul", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--matmul"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `--plan reference` measures the unfused plans (one dispatch per op: 14 for one hidden layer, against 4 fused), so
/// what fusing saves can be measured on any machine.
#[test]
fn bench_of_the_reference_plan_should_count_its_dispatches() {
    let dir = tempfile::tempdir().unwrap();
    let backends = backends();
    let args = [
        "bench",
        "--backends",
        &backends,
        "--hidden",
        "16",
        "--limit",
        "320",
        "--epochs",
        "1",
        "--warmup-steps",
        "0",
        "--plan",
        "reference",
        "--json",
        "ref.json",
    ];
    let out = ok(dir.path(), &args);
    assert!(out.contains("plans:   Reference"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("ref.json")).unwrap()).unwrap();
    for r in json.as_array().unwrap() {
        assert_eq!(r["plan"], "reference");
        assert_eq!(r["work"]["dispatches_per_step"].as_f64(), Some(14.0), "{}", r["work"]);
    }
}
