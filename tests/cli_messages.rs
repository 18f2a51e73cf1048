//! What a new user reads: messages that say what happened in the user's terms, and no false alarms.

mod common;
mod support;

use support::{fails, ok};

const SMALL: [&str; 8] = ["train", "--backend", "cpu", "--hidden", "8", "--limit", "200", "-q"];

#[test]
fn negative_and_misplaced_hyper_parameters_should_be_explained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A negative rate is a value, not an unknown flag.
    let (_, stderr) = fails(d, &["train", "--lr", "-1"]);
    assert!(stderr.contains("--lr -1 must be a positive number"), "{stderr}");
    let (_, stderr) = fails(d, &["train", "--optimizer", "adamw", "--weight-decay", "-0.1"]);
    assert!(stderr.contains("--weight-decay -0.1 must be a finite number ≥ 0"), "{stderr}");
    let (_, stderr) = fails(d, &["train", "--optimizer", "rmsprop", "--alpha", "1"]);
    assert!(stderr.contains("--alpha 1 must be in [0, 1)"), "{stderr}");
    // A hyper-parameter the optimizer ignores is said, and the run goes on.
    let args = [&SMALL[..], &["--epochs", "1", "--optimizer", "sgd", "--momentum", "0.5"]].concat();
    let out = support::gpu_mnist(d, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: --momentum is not used by --optimizer sgd"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(", 1 epoch, "), "no \"1 epochs\": {stdout}");
    // ε as PyTorch prints it.
    let adam = ok(d, &[&SMALL[..], &["--epochs", "1", "--optimizer", "adam"]].concat());
    assert!(adam.contains("eps=1e-8"), "{adam}");
}

/// Leaky ReLU's slope: outside 0..=1 (or not a number) it is refused naming the flag; given, the model line shows
/// it, the checkpoint keeps it and `eval` shows it again; given to another activation, it is said to be unused.
#[test]
fn leaky_slope_should_be_checked_shown_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for bad in ["2", "-0.1", "nan", "inf", "steep"] {
        let (_, stderr) = fails(d, &["train", "--activation", "leaky-relu", "--leaky-slope", bad]);
        assert!(stderr.contains("--leaky-slope") && stderr.contains("is not a slope from 0 to 1"), "{bad}: {stderr}");
    }
    let leaky = ["--activation", "leaky-relu", "--leaky-slope", "0.2", "--epochs", "1", "--save", "l.safetensors"];
    let args = [&SMALL[..SMALL.len() - 1], &leaky[..]].concat();
    let out = ok(d, &args);
    assert!(out.contains("8-10 leaky-relu (slope 0.2) xent"), "{out}");
    let eval = ok(d, &["eval", "--backend", "cpu", "--model", "l.safetensors"]);
    assert!(eval.contains("leaky-relu (slope 0.2)"), "{eval}");
    let out = support::gpu_mnist(d, &[&SMALL[..], &["--epochs", "1", "--leaky-slope", "0.2"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: --leaky-slope is not used by --activation relu"), "{stderr}");
}

#[test]
fn percentages_and_wrong_extensions_should_be_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, stderr) = fails(d, &["bench", "--backends", "cpu", "--target-acc", "98"]);
    assert!(stderr.contains("give 0.98 for 98%"), "{stderr}");
    let (_, stderr) = fails(d, &["train", "--plot", "p.png"]);
    assert!(stderr.contains("ending in .svg"), "{stderr}");
    for flag in ["--dropout", "--input-dropout"] {
        let (_, stderr) = fails(d, &["train", flag, "20"]);
        assert!(stderr.contains(&format!("{flag} 20 must be a probability in [0, 1), e.g. {flag} 0.2")), "{stderr}");
    }
    assert!(!d.join("p.png").exists());
}

/// With XDG_RUNTIME_DIR unset (a headless machine), a GPU command prints no libwayland error lines.
#[test]
fn a_headless_gpu_command_should_print_no_wayland_errors() {
    let Some(api) = common::gpu_api() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mnist"))
        .args(["train", "--backend", &api, "--hidden", "8", "--limit", "64", "--epochs", "1", "-q"])
        .current_dir(dir.path())
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}

/// `train` says where it wrote its files, warns at the start when a resumed run would be thrown away, and its errors
/// carry no internal prefix.
#[test]
fn train_should_say_where_its_work_goes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out =
        ok(d, &[&SMALL[..], &["--epochs", "1", "--metrics", "m.jsonl", "--plot", "p.svg", "--save", "c.st"]].concat());
    assert!(out.contains("wrote:   metrics m.jsonl") && out.contains("wrote:   plot p.svg"), "{out}");
    assert!(out.contains("saved:   c.st"), "{out}");
    let args = [&SMALL[..], &["--epochs", "2", "--resume", "c.st"]].concat();
    let resumed = support::gpu_mnist(d, &args);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(stderr.contains("warning: resuming without --save"), "{stderr}");
    // A library configuration error (memory) reads as the user's problem, with no internal prefix.
    let (_, stderr) = fails(d, &["train", "--hidden", "4000000,4000000", "--epochs", "1"]);
    assert!(stderr.contains("GiB") && !stderr.contains("invalid configuration"), "{stderr}");
}

/// `bench` without `--backends` says which software adapters it leaves out, and how to include them.
#[test]
fn bench_should_say_which_adapters_it_leaves_out() {
    use gpu_mnist::gpu::{list_adapters, BackendChoice};
    let software: Vec<_> = list_adapters(BackendChoice::Auto).into_iter().filter(|a| a.compute && a.software).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = support::gpu_mnist(
        dir.path(),
        &["bench", "--hidden", "8", "--limit", "300", "--epochs", "1", "--warmup-steps", "0"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for a in &software {
        let hint = format!("--backends cpu,{}", a.backend.to_lowercase());
        assert!(stderr.contains(&format!("leaving out {}", a.name)) && stderr.contains(&hint), "{stderr}");
    }
    if software.is_empty() {
        println!("no software adapter here: nothing is left out");
    }
}

/// The learning-rate schedule is on the header line, and a resume that changes it says so.
#[test]
fn the_schedule_should_be_shown_and_a_change_on_resume_said() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 200 samples in batches of 64: 4 steps per epoch, 8 in two epochs.
    let out = ok(d, &[&SMALL[..], &["--epochs", "2", "--save", "c.st"]].concat());
    assert!(out.contains("momentum lr=0.05 momentum=0.9, lr linear decay to 0 over 8 steps, batch 64"), "{out}");
    let resumed = ok(d, &[&SMALL[..], &["--epochs", "3", "--resume", "c.st", "--lr-schedule", "constant"]].concat());
    assert!(
        resumed.contains("note:    the learning-rate schedule changes from the checkpoint's linear to constant"),
        "{resumed}"
    );
    assert!(resumed.contains("lr constant, batch 64"), "{resumed}");
    // Kept from the checkpoint, the linear decay is stretched over the new length (3 epochs = 12 steps).
    let kept = ok(d, &[&SMALL[..], &["--epochs", "3", "--resume", "c.st"]].concat());
    assert!(!kept.contains("schedule changes"), "{kept}");
    assert!(kept.contains("lr linear decay to 0 over 12 steps"), "{kept}");
}

/// Each command's help describes `--limit` for what it does there: training samples for `train`, the training split
/// of the pictures for `show`.
#[test]
fn limit_should_be_described_for_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let limit_help = |command: &str| {
        let help = ok(dir.path(), &[command, "--help"]);
        let at = help.find("--limit").expect("--limit in the help");
        help[at..].lines().take(3).collect::<Vec<_>>().join(" ")
    };
    assert!(limit_help("train").contains("Train on the first N training samples"), "{}", limit_help("train"));
    let show = limit_help("show");
    assert!(show.contains("With --split train") && !show.contains("Train on"), "{show}");
}

/// On a terminal the bar goes on through the test set after training ("epoch 1/1 test [...]"), with the running
/// loss and accuracy, as Keras shows them; run under `script` for a pseudo-terminal (skipped, with a message, where
/// util-linux's `script` is missing).
#[test]
fn the_progress_bar_should_show_the_evaluation_and_running_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_gpu-mnist");
    // Wide layers make the evaluation take about a second, so the bar (redrawn 20 times a second) shows it.
    let command = format!("{bin} train --hidden 1024,1024 --limit 640 --epochs 1 --eval-batch 100");
    let Ok(out) =
        std::process::Command::new("script").args(["-qec", &command, "/dev/null"]).current_dir(dir.path()).output()
    else {
        println!("skipped: no `script` to give the run a terminal");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    assert!(out.status.success(), "{text}");
    let bar = |prefix: &str| text.lines().any(|l| l.contains(prefix) && l.contains(" acc ") && l.contains("samples/s"));
    assert!(bar("epoch 1/1 ["), "a training bar with the running accuracy: {text}");
    assert!(bar("epoch 1/1 test ["), "an evaluation bar with the running accuracy: {text}");
    // `eval` queues its evaluation whole: a spinner says what runs.
    let save = format!("{command} --save m.st -q");
    assert!(std::process::Command::new("sh").args(["-c", &save]).current_dir(dir.path()).status().unwrap().success());
    let eval = format!("{bin} eval --model m.st");
    let out = std::process::Command::new("script").args(["-qec", &eval, "/dev/null"]).current_dir(dir.path()).output();
    let text = String::from_utf8_lossy(&out.unwrap().stdout).replace('\r', "\n");
    assert!(text.contains("evaluating 10000 test samples on cpu"), "{text}");
}

/// An output that cannot be written is named as the user gave it, without the temporary file's random name.
#[test]
fn an_unwritable_output_should_be_named_as_given() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["train", "--save", "/nonexistent/m.st"][..],
        &["bench", "--backends", "cpu", "--json", "/nonexistent/m.json"],
        &["show", "--out", "/nonexistent/m.png"],
    ] {
        let (_, stderr) = fails(dir.path(), args);
        assert!(stderr.contains("/nonexistent/m.") && stderr.contains("No such file or directory"), "{stderr}");
        assert!(!stderr.contains(".tmp"), "{stderr}");
    }
}

/// `--init` sets every layer's scheme and shows on the model line; without it each layer gets the scheme suited to
/// its activation (here He before the ReLU, which `--init he` only extends to the output layer: other weights).
#[test]
fn init_should_choose_the_initial_weights() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |init: &[&str], out: &str| ok(d, &[&SMALL[..], &["--epochs", "1", "--save", out], init].concat());
    let glorot = run(&["--init", "glorot-uniform"], "g.st");
    assert!(glorot.contains("(6370 parameters), init glorot-uniform"), "{glorot}");
    run(&[], "default.st");
    run(&["--init", "he"], "he.st");
    let bytes = |f: &str| std::fs::read(d.join(f)).unwrap();
    assert_ne!(bytes("g.st"), bytes("default.st"));
    assert_ne!(bytes("he.st"), bytes("default.st"));
    let (_, stderr) = fails(d, &["train", "--init", "xavier"]);
    assert!(stderr.contains("glorot-uniform"), "the choices are listed: {stderr}");
}
