//! The comparators can fail: the kernel checks (the code behind `gpu-mnist check` and `tests/gpu_kernels.rs`) run
//! against a deliberately broken kernel must report FAIL, and `gpu-mnist check` must then exit non-zero. A check that
//! passes everything would otherwise look exactly like a correct GPU.

mod common;
mod support;

use std::path::Path;

use gpu_mnist::gpu::check::{self, CheckFamily};
use gpu_mnist::gpu::{ContextOptions, GpuContext};
use gpu_mnist::optim::Rule;

/// A shader directory holding one file, `bias_grad.wgsl`, which adds 0.001 to every column sum: off by far more
/// than the tolerance (1e-5 + 1e-4·|want|) wherever |want| < 9.9, which is most of the checked values.
fn broken_shaders(dir: &Path) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/bias_grad.wgsl");
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("db[j] = sum;"), "bias_grad.wgsl changed: update the sabotage of this test");
    std::fs::write(dir.join("bias_grad.wgsl"), text.replace("db[j] = sum;", "db[j] = sum + 0.001;")).unwrap();
}

#[test]
fn a_broken_kernel_fails_its_check() {
    let Some(good) = common::gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    broken_shaders(dir.path());
    let ctx = GpuContext::new(&ContextOptions { shader_dir: Some(dir.path().to_owned()), ..common::context_options() })
        .unwrap();
    let rows = check::run_blocking(&ctx, CheckFamily::BiasGrad).unwrap();
    let failed: Vec<_> = rows.iter().filter(|r| !r.pass).collect();
    for row in &rows {
        println!("{row}");
    }
    assert!(!failed.is_empty(), "a bias gradient off by 0.001 passed every check");
    // The failing rows say what went wrong: the mismatches and the largest error.
    assert!(failed.iter().all(|r| r.mismatch_count > 0 && !r.mismatches.is_empty()));
    assert!(failed.iter().any(|r| (r.max_abs_err - 1e-3).abs() < 1e-4), "largest error should be ≈ 0.001");
    // The other families, which do not use bias_grad.wgsl, still pass on the same context; and the built-in kernel
    // passes on a context without the directory.
    common::assert_pass(&check::run_blocking(&ctx, CheckFamily::Update(Rule::Sgd)).unwrap());
    common::assert_pass(&check::run_blocking(&good, CheckFamily::BiasGrad).unwrap());
}

#[test]
fn check_reports_fail_and_exits_nonzero_for_a_broken_kernel() {
    let Some(api) = common::gpu_api() else { return };
    let dir = tempfile::tempdir().unwrap();
    broken_shaders(dir.path());
    let shaders = dir.path().to_str().unwrap();
    let (stdout, stderr) = support::fails(dir.path(), &["check", "--backend", &api, "--shaders", shaders]);
    assert!(stdout.contains("shaders: bias_grad.wgsl from "), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("FAIL bias_grad db")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("PASS linear y")), "{stdout}");
    assert!(stderr.contains("comparisons failed"), "{stderr}");

    // The same directory with the sabotage undone passes: the failure came from the kernel, not from the directory.
    let file = dir.path().join("bias_grad.wgsl");
    let fixed = std::fs::read_to_string(&file).unwrap().replace("db[j] = sum + 0.001;", "db[j] = sum;");
    std::fs::write(&file, fixed).unwrap();
    let stdout = support::ok(dir.path(), &["check", "--backend", &api, "--shaders", shaders, "--failures-only"]);
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn a_shader_directory_with_an_unknown_file_is_refused() {
    let Some(api) = common::gpu_api() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bias-grad.wgsl"), "// misspelt").unwrap();
    let shaders = dir.path().to_str().unwrap();
    let (_, stderr) = support::fails(dir.path(), &["check", "--backend", &api, "--shaders", shaders]);
    assert!(stderr.contains("bias-grad.wgsl is not a gpu-mnist shader"), "{stderr}");
    assert!(stderr.contains("bias_grad.wgsl"), "the message lists the real names: {stderr}");
}

/// The fused and large kernels' checks can fail too: each sabotage below — an update skipped, a gradient
/// mis-scaled, a statistic dropped, the gathered input not stored, the step count not advanced, the pre-activation
/// not kept, a perceptron tie taken for right in `fused.wgsl`; the bias left out, a single stage buffer or the
/// pre-activation not kept in `matmul_large.wgsl`; the pre-activation not kept in `matmul.wgsl`; a perceptron tie
/// taken for right in `loss.wgsl` — makes its family report FAIL.
#[test]
fn a_broken_fused_kernel_fails_its_checks() {
    if common::gpu().is_none() {
        return;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/fused.wgsl");
    let text = std::fs::read_to_string(file).unwrap();
    let sabotages = [
        ("update_param(job, job.bias_off + i, job.sb_off + i, job.m, sum);", "", CheckFamily::GradUpdate),
        // The bias's states read with the weight's stride (the packing of the state tensors).
        (
            "update_param(job, job.bias_off + i, job.sb_off + i, job.m, sum);",
            "update_param(job, job.bias_off + i, job.sb_off + i, job.m * job.n, sum);",
            CheckFamily::GradUpdate,
        ),
        (
            "mem[job.dz_off + r * n + j] = (p - select(0.0, 1.0, j == label)) * scale;",
            "mem[job.dz_off + r * n + j] = p - select(0.0, 1.0, j == label);",
            CheckFamily::FusedLinear,
        ),
        ("counters[at + 1u] += sums.correct;", "", CheckFamily::FusedStages),
        ("mem[job.x_off + gi * job.k + gp] = v;", "", CheckFamily::FusedLinear),
        ("counters[STEPS_LO] = lo;", "", CheckFamily::FusedStages),
        ("mem[job.z_off + at] = pre;", "", CheckFamily::FusedLinear),
        // The perceptron's head taking a score of exactly 0 for right.
        ("let mistake = margin <= 0.0;", "let mistake = margin < 0.0;", CheckFamily::FusedLinear),
    ];
    let read = |name: &str| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders").join(name));
    let (large, tree, subgroup) =
        (read("matmul_large.wgsl").unwrap(), read("reduce_tree.wgsl").unwrap(), read("reduce_subgroup.wgsl").unwrap());
    let rules = read("optimizer.wgsl").unwrap();
    let matmul = read("matmul.wgsl").unwrap();
    let loss = read("loss.wgsl").unwrap();
    // (file, its text, from, to, family, subgroups on the context)
    let mut files: Vec<(&str, &String, &str, &str, CheckFamily, bool)> =
        sabotages.into_iter().map(|(from, to, family)| ("fused.wgsl", &text, from, to, family, true)).collect();
    files.extend([
        // The large kernel without its bias, and reading one stage buffer only (no double buffering).
        (
            "matmul_large.wgsl",
            &large,
            "let pre = acc[2u * r + h] + b[jv];",
            "let pre = acc[2u * r + h];",
            CheckFamily::LinearLarge,
            true,
        ),
        ("matmul_large.wgsl", &large, "let buf = s % 2u;", "let buf = 0u;", CheckFamily::LinearLarge, true),
        ("matmul_large.wgsl", &large, "z[i * nv + jv] = pre;", "", CheckFamily::LinearLarge, true),
        // The tiled linear not keeping its pre-activation.
        ("matmul.wgsl", &matmul, "z[i * params.n + j] = pre;", "", CheckFamily::Linear, true),
        // The perceptron taking a score of exactly 0 for right (y·z < 0 instead of ≤ 0): zero weights would never learn.
        (
            "loss.wgsl",
            &loss,
            "let mistake = margin <= 0.0;",
            "let mistake = margin < 0.0;",
            CheckFamily::Perceptron,
            true,
        ),
        // SGD without its weight decay; AdamW's decay coupled to the gradient (Adam's L2); RMSprop's centered
        // denominator without its mean.
        (
            "optimizer.wgsl",
            &rules,
            "return Updated(p - lr * gd, s);",
            "return Updated(p - lr * g, s);",
            CheckFamily::Update(Rule::Sgd),
            true,
        ),
        (
            "optimizer.wgsl",
            &rules,
            "return adam_moments(p * (1.0 - lr * h.weight_decay), g, s, h, lr, c1, c2);",
            "return adam_moments(p, g + h.weight_decay * p, s, h, lr, c1, c2);",
            CheckFamily::Update(Rule::Adamw),
            true,
        ),
        (
            "optimizer.wgsl",
            &rules,
            "square = sq - gavg * gavg;",
            "square = sq;",
            CheckFamily::Update(Rule::Rmsprop),
            true,
        ),
        // RMSprop's ε placement switch ignored: Keras's √(s + ε) computed as PyTorch's √s + ε.
        (
            "optimizer.wgsl",
            &rules,
            "let avg = select(sqrt(square) + h.eps, sqrt(square + h.eps), h.eps_in_sqrt != 0.0);",
            "let avg = sqrt(square) + h.eps;",
            CheckFamily::Update(Rule::Rmsprop),
            true,
        ),
        // The tree reduction losing the loss of half the invocations (on a context without subgroups, which uses it).
        ("reduce_tree.wgsl", &tree, "reduce_loss[t] += reduce_loss[t + half];", "", CheckFamily::FusedStages, false),
    ]);
    if common::gpu().is_some_and(|ctx| ctx.has_subgroups()) {
        // The subgroup reduction counting each subgroup's sum once per invocation instead of once.
        files.push((
            "reduce_subgroup.wgsl",
            &subgroup,
            "if (t == subgroupBroadcastFirst(t)) {",
            "if (true) {",
            CheckFamily::FusedStages,
            true,
        ));
    }
    for (file, text, from, to, family, subgroups) in files {
        assert!(text.contains(from), "{file} changed: update the sabotage `{from}`");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), text.replace(from, to)).unwrap();
        let options =
            ContextOptions { shader_dir: Some(dir.path().to_owned()), subgroups, ..common::context_options() };
        let ctx = GpuContext::new(&options).unwrap();
        let rows = check::run_blocking(&ctx, family).unwrap();
        let failed = rows.iter().filter(|r| !r.pass).count();
        println!("`{from}` → `{to}`: {failed} of {} rows of {family:?} fail", rows.len());
        assert!(failed > 0, "sabotaging `{from}` passed every {family:?} check");
    }
}
