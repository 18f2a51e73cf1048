//! The binary driven as a user would: exit codes, the lines it prints and the files it writes.

mod support;
use support::{fails, ok};

/// Run from an empty directory (as after `cargo install`): the embedded MNIST is found, the epoch lines and the CSV
/// metrics are written, and the numbers are sane.
#[test]
fn trains_from_any_directory_and_writes_csv_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["train", "--backend", "cpu", "--hidden", "32", "--epochs", "2", "--limit", "2000", "--metrics", "m.csv"];
    let stdout = ok(dir.path(), &args);
    assert!(stdout.contains("model:   784-32-10 relu xent"), "{stdout}");
    assert!(stdout.contains("mnist: 2000 train, 10000 test samples"), "{stdout}");
    let epochs: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epochs.len(), 2, "{stdout}");
    assert!(epochs[1].starts_with("epoch 2/2  train loss "), "{}", epochs[1]);

    let csv = std::fs::read_to_string(dir.path().join("m.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("epoch,train_loss,train_acc,test_loss,test_acc,seconds,samples_per_sec"));
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][0], 2.0);
    let test_acc = rows[1][4];
    assert!(test_acc > 0.8 && test_acc <= 1.0, "2 epochs on 2000 samples should reach > 80%: {test_acc}");
    // The printed line and the file agree.
    assert!(epochs[1].contains(&format!("acc {:.2}%", 100.0 * test_acc)), "{} vs {test_acc}", epochs[1]);
}

#[test]
fn writes_json_lines_metrics_and_trains_per_sample() {
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["train", "--hidden", "", "--batch-size", "1", "--epochs", "1", "--limit", "300", "--metrics", "m.jsonl"];
    let stdout = ok(dir.path(), &args);
    assert!(stdout.contains("model:   784-10 no hidden layer xent"), "{stdout}");
    let json = std::fs::read_to_string(dir.path().join("m.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    for field in ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "samples_per_sec"] {
        assert!(record.get(field).is_some_and(|v| v.is_number()), "{field} missing in {json}");
    }
}

/// Bad input ends in one clear line on stderr and a non-zero exit, never a panic.
#[test]
fn bad_flags_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["train", "--hidden", "512,abc"], "'abc' is not a layer width"),
        (&["train", "--lr=-1", "--limit", "10"], "--lr -1 must be a positive number"),
        (&["train", "--data-dir", "no-such-dir", "--limit", "10"], "no-such-dir"),
        (&["train", "--batch-size", "0", "--limit", "10"], "'0' is not a batch size"),
        (&["train", "--metrics", "no-such-dir/m.csv", "--limit", "10"], "no-such-dir/m.csv"),
    ];
    for (args, want) in cases {
        let (_, stderr) = fails(dir.path(), args);
        assert!(stderr.contains(want), "{args:?}: stderr lacks {want:?}:\n{stderr}");
    }
}

mod common;

/// Keras's MLP example as one command (784-512-512-10 ReLU, dropout 0.2 after each hidden layer, RMSprop lr 0.001
/// rho 0.9 epsilon 1e-7, Glorot-uniform init, constant rate, batch 128), on a short run (one epoch of 1000 samples)
/// on the CPU and the GPU. The GPU draws the CPU's dropout masks and takes the same steps, but RMSprop's ε of 1e-7
/// lets a weight whose gradient is a rounding error from 0 move by ±3·lr either way, so the two runs drift apart
/// within float noise (measured: test loss 1.0417 and 1.0449, accuracy 64.70% and 64.63%): compared to 1% and half a
/// point. The same command with ε = 1e-3, where a gradient's rounding stays a rounding, must agree to 1e-4, and so
/// must the command with Keras's own ε placement (`--eps-in-sqrt`: √(s + 1e-7) ≥ 3·10⁻⁴ damps that rounding).
#[test]
fn keras_mlp_command_should_give_the_same_numbers_on_cpu_and_gpu() {
    let Some(api) = common::gpu_api() else { return };
    let dir = tempfile::tempdir().unwrap();
    let keras = [
        "--hidden",
        "512,512",
        "--dropout",
        "0.2",
        "--optimizer",
        "rmsprop",
        "--lr",
        "0.001",
        "--alpha",
        "0.9",
        "--init",
        "glorot-uniform",
        "--lr-schedule",
        "constant",
        "--batch-size",
        "128",
    ];
    let cases: [(&[&str], f64, f64); 3] = [
        (&["--eps", "1e-7", "--eps-in-sqrt"], 1e-4, 1e-4),
        (&["--eps", "1e-7"], 0.01, 0.005),
        (&["--eps", "1e-3"], 1e-4, 1e-4),
    ];
    for (k, (eps, loss_tol, acc_tol)) in cases.into_iter().enumerate() {
        let eps = eps.join(" ");
        let mut rows = Vec::new();
        for backend in ["cpu", api.as_str()] {
            let metrics = format!("{backend}-{k}.csv");
            let run = ["train", "--backend", backend, "--epochs", "1", "--limit", "1000", "-q", "--metrics", &metrics];
            ok(dir.path(), &[&run[..], &keras[..], &eps.split(' ').collect::<Vec<_>>()].concat());
            rows.push(support::last_metrics(&dir.path().join(&metrics)));
        }
        let (cpu, gpu) = (&rows[0], &rows[1]);
        println!("{eps}: cpu {cpu:?}\n{eps}: gpu {gpu:?}");
        // epoch, train_loss, train_acc, test_loss, test_acc
        for (i, what) in [(1, "train loss"), (3, "test loss")] {
            assert!((cpu[i] - gpu[i]).abs() <= loss_tol * cpu[i], "eps {eps} {what}: cpu {} gpu {}", cpu[i], gpu[i]);
        }
        for (i, what) in [(2, "train accuracy"), (4, "test accuracy")] {
            assert!((cpu[i] - gpu[i]).abs() <= acc_tol, "eps {eps} {what}: cpu {} gpu {}", cpu[i], gpu[i]);
        }
    }
}

/// `--tol` stops as scikit-learn does: the first epoch improves on nothing, then a loss that does not fall by more
/// than tol counts; `--n-iter-no-change 2` such epochs end the run after epoch 3 of 10, and `--save` keeps that epoch.
#[test]
fn tol_should_stop_early_and_save_the_last_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let run = [
        "train",
        "--hidden",
        "",
        "--limit",
        "200",
        "--epochs",
        "10",
        "--optimizer",
        "sgd",
        "--lr",
        "1e-9",
        "--tol",
        "1e-3",
        "--n-iter-no-change",
        "2",
        "-q",
        "--metrics",
        "m.csv",
        "--save",
        "m.safetensors",
    ];
    let out = ok(dir.path(), &run);
    assert!(out.contains("stopped: the train loss improved by less than --tol 0.001 for 2 epochs"), "{out}");
    let rows = std::fs::read_to_string(dir.path().join("m.csv")).unwrap().lines().count() - 1;
    assert_eq!(rows, 3, "{out}");
    assert!(out.contains("saved:   m.safetensors (epoch 3)"), "{out}");
    // Without --tol every epoch runs; --n-iter-no-change alone is refused.
    let (_, err) = support::fails(dir.path(), &["train", "--n-iter-no-change", "2", "--epochs", "1"]);
    assert!(err.contains("--tol"), "{err}");
    let (_, err) = support::fails(dir.path(), &["train", "--tol", "-1", "--epochs", "1"]);
    assert!(err.contains("is not a tolerance"), "{err}");
}

/// `--normalize` reads pixels as PyTorch's `Normalize((mean,), (std,))` with the training pixels' statistics: the
/// CPU and the GPU train to the same numbers, the checkpoint keeps mean and deviation, `eval` reproduces the last
/// epoch's test accuracy with them, and a resume must agree about it.
#[test]
fn normalize_should_train_alike_on_both_backends_and_stay_with_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut backends = vec!["cpu".to_owned()];
    backends.extend(common::gpu_api());
    let mut finals = Vec::new();
    for backend in &backends {
        let (m, ck) = (format!("{backend}.csv"), format!("{backend}.st"));
        let run = [
            "train",
            "--backend",
            backend,
            "--normalize",
            "--hidden",
            "32",
            "--limit",
            "600",
            "--epochs",
            "2",
            "-q",
            "--metrics",
            &m,
            "--save",
            &ck,
        ];
        let out = ok(dir.path(), &run);
        assert!(out.contains("pixels normalised: (x − 0.1"), "{out}");
        let last = support::last_metrics(&dir.path().join(&m));
        let saved = gpu_mnist::checkpoint::Checkpoint::load(&dir.path().join(&ck)).unwrap();
        let n = saved.normalize.expect("the checkpoint keeps the normalisation");
        assert!((n.mean - 0.13).abs() < 0.01 && (n.std - 0.31).abs() < 0.01, "{n:?}");
        let eval = ok(dir.path(), &["eval", "--model", &ck]);
        assert!(eval.contains(&format!("acc {:.2}%", 100.0 * last[4])), "{eval}\nlast epoch: {last:?}");
        finals.push(last);
    }
    if let [cpu, gpu] = &finals[..] {
        support::assert_runs_agree(cpu, gpu, 1e-4);
    }
    // Without normalisation the same run is another run; resuming with --normalize a model trained without it is
    // refused, and a normalised model resumes normalised without the flag.
    ok(dir.path(), &["train", "--hidden", "32", "--limit", "600", "--epochs", "1", "-q", "--save", "plain.st"]);
    let (_, err) =
        fails(dir.path(), &["train", "--resume", "plain.st", "--normalize", "--epochs", "2", "--limit", "600"]);
    assert!(err.contains("pixels that were not normalised"), "{err}");
    let out = ok(dir.path(), &["train", "--resume", "cpu.st", "--epochs", "3", "--limit", "600", "-q"]);
    assert!(out.contains("pixels normalised"), "{out}");
    let (_, err) =
        fails(dir.path(), &["train", "--train", "cpu.csv", "--test", "cpu.csv", "--label", "epoch", "--normalize"]);
    assert!(err.contains("--normalize is for images"), "{err}");
}
