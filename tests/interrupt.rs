//! Ctrl-C during training: the step in flight finishes, the checkpoint is written, the process exits with 130, and
//! `--resume` continues from that very step — ending with the same checkpoint, byte for byte, as a run that was
//! never interrupted. Also: a diverging run stops within a few steps and leaves the last good checkpoint intact.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const RUN: [&str; 8] = ["train", "--limit", "20000", "--epochs", "2", "--optimizer", "adam", "--quiet"];

fn gpu_mnist(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gpu-mnist"));
    c.current_dir(dir);
    c
}

/// Runs gpu-mnist in `dir` with `args` and `more` to the end.
fn run(dir: &Path, args: &[&str], more: &[&str]) -> Output {
    gpu_mnist(dir).args(args).args(more).output().unwrap()
}

/// The text of `s` between the first `start` and the next `end` after it ("" if absent).
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let Some((_, rest)) = s.split_once(start) else { return "" };
    rest.split(end).next().unwrap_or(rest)
}

#[test]
fn sigint_saves_a_checkpoint_that_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let whole = run(d, &RUN, &["--save", "whole.st", "--metrics", "whole.csv"]);
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));

    // Start the same run, wait until training has begun, then send SIGINT.
    let mut child = gpu_mnist(d)
        .args(RUN)
        .args(["--save", "cut.st", "--metrics", "m.csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 && !line.starts_with("data:") {
        line.clear();
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill only sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    assert!(stderr.contains("saved:   cut.st"), "{stderr}");
    assert!(stderr.contains("stopped: interrupted in epoch"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Every message counts steps the same way, within the epoch: "interrupted in epoch E after step S of N", "saved:
    // cut.st (epoch E, step S of N)", and the resumed run's "step S of N of epoch E".
    let stopped = between(&stderr, "stopped: interrupted in epoch ", "\n");
    let (epoch, step) = stopped.split_once(" after step ").expect("epoch and step in the message");
    let step = step.split(" (").next().unwrap_or(step);
    assert!(
        stderr.contains(&format!("saved:   cut.st (epoch {epoch}, step {step})")),
        "the saved line should count as the stopped line ({stopped}): {stderr}"
    );
    let csv = std::fs::read_to_string(d.join("m.csv")).unwrap();
    assert!(csv.starts_with("epoch,train_loss"), "the metrics file keeps its header and finished epochs: {csv}");

    // Resume to the end: the same weights, optimizer state and counters as the uninterrupted run.
    let resumed = run(
        d,
        &["train", "--resume", "cut.st", "--epochs", "2", "--quiet"],
        &["--save", "cut.st", "--limit", "20000", "--metrics", "m.csv"],
    );
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let resumed_out = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed_out.contains(&format!(", step {step} of epoch {epoch}\n")),
        "the resumed line should count as the stopped line ({stopped}): {resumed_out}"
    );
    let (a, b) = (std::fs::read(d.join("whole.st")).unwrap(), std::fs::read(d.join("cut.st")).unwrap());
    assert!(a == b, "the resumed checkpoint differs from the uninterrupted one");
    // The interrupted epoch's record covers the whole epoch, the steps before the interruption included: the same
    // accuracies and test loss as the uninterrupted run, the same train loss but for the order of the float sums.
    let whole = gpu_mnist::metrics::read(&d.join("whole.csv")).unwrap();
    let cut = gpu_mnist::metrics::read(&d.join("m.csv")).unwrap();
    assert_eq!(cut.len(), 2, "{cut:?}");
    for (w, c) in whole.iter().zip(&cut) {
        assert_eq!((w.epoch, w.train_acc, w.test_loss, w.test_acc), (c.epoch, c.train_acc, c.test_loss, c.test_acc));
        assert!((w.train_loss - c.train_loss).abs() <= 1e-5 * w.train_loss, "{w:?} vs {c:?}");
    }
}

#[test]
fn divergence_stops_early_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first =
        run(d, &["train", "--limit", "2000", "--hidden", "32", "--epochs", "1", "--quiet"], &["--save", "good.st"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let good = std::fs::read(d.join("good.st")).unwrap();

    let args = ["train", "--resume", "good.st", "--save", "good.st", "--lr", "1e6", "--epochs", "3", "--quiet"];
    let out = run(d, &args, &["--limit", "2000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("training diverged at epoch 2, step "), "{stderr}");
    assert!(stderr.contains("try a lower learning rate (--lr)"), "{stderr}");
    let step: usize = stderr.split("step ").nth(1).and_then(|s| s.split(':').next()).unwrap().parse().unwrap();
    assert!(step <= 5, "divergence should be caught within a few steps, was step {step}");
    assert!(std::fs::read(d.join("good.st")).unwrap() == good, "the last good checkpoint was changed");
}

/// In its own test binary (no other test here writes files in-process, so the global list is this test's alone).
/// A write in progress is known: `remove_unfinished_writes` (a second Ctrl-C) removes its temporary file and no
/// other, and the target keeps what it held. A finished write is no longer listed. Files get the usual permissions
/// (0666 less the umask), not a temporary file's private 0600.
#[test]
fn unfinished_writes_should_be_removable_and_finished_ones_forgotten() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    std::fs::write(&path, b"before").unwrap();
    let mut removed = Vec::new();
    let result = gpu_mnist::files::write_atomically(&path, |f| {
        std::io::Write::write_all(f, b"half a checkpoint")?;
        removed = gpu_mnist::files::remove_unfinished_writes();
        Err(std::io::Error::other("the process would exit here"))
    });
    assert!(result.is_err());
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(removed[0].file_name().unwrap().to_string_lossy().starts_with(".m.safetensors."), "{removed:?}");
    assert!(!removed[0].exists(), "the temporary file is gone");
    assert_eq!(std::fs::read(&path).unwrap(), b"before", "the target is untouched");
    gpu_mnist::files::write_atomically(&path, |f| std::io::Write::write_all(f, b"after")).unwrap();
    assert!(gpu_mnist::files::remove_unfinished_writes().is_empty(), "a finished write is not listed");
    assert_eq!(std::fs::read(&path).unwrap(), b"after");
    // SAFETY: umask only reads and sets this process's file-creation mask.
    let umask = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    };
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask, "mode {mode:o}");
}

/// A second Ctrl-C during a large save quits at once and leaves no temporary file: the handler removes it (and says
/// so), and the target is either absent or whole, never partial. The save of a 784-4096-4096-10 momentum model
/// (about 160 MB) takes long enough that the second signal, sent as soon as the temporary file appears, lands in it.
#[test]
fn a_second_interrupt_during_a_save_should_leave_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = ["train", "--hidden", "4096,4096", "--limit", "640", "--epochs", "1", "--save", "big.st", "--quiet"];
    let mut child = gpu_mnist(d).args(run).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 && !line.starts_with("data:") {
        line.clear();
    }
    let signal = |child: &std::process::Child| {
        // SAFETY: kill only sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    };
    signal(&child);
    let temp = || {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with(".big.st.") && n.ends_with(".tmp"))
    };
    let started = std::time::Instant::now();
    while temp().is_none() && started.elapsed() < Duration::from_secs(120) && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(temp().is_some(), "the save never started");
    signal(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupt: quitting at once; removed the unfinished"), "{stderr}");
    assert_eq!(temp(), None, "no temporary file is left: {stderr}");
    assert!(!d.join("big.st").exists(), "the interrupted save left no checkpoint: {stderr}");
}
