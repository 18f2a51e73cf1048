//! What the binary does when the places it writes to misbehave, run as a user would run it: standard output a
//! closed pipe (`gpu-mnist … | head -1`) or a full disk (`> /dev/full`), and output paths that are its own inputs.
//! Never a panic, nothing lost: a run whose output nobody reads still saves what it was asked to save and exits 0,
//! with one warning on stderr; an output that would overwrite an input is refused before any work.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{fails, ok};

/// Runs `gpu-mnist ARGS…` in `dir` with its standard output connected to `stdout` (stderr captured).
fn run_with_stdout(dir: &Path, args: &[&str], stdout: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpu-mnist"))
        .args(args)
        .current_dir(dir)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("run gpu-mnist")
}

/// Runs `gpu-mnist ARGS…` with its standard output a pipe whose reading end is closed at once (as `| head -c 0`).
fn run_with_closed_pipe(dir: &Path, args: &[&str]) -> Output {
    let mut child = support::spawn(dir, args);
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for gpu-mnist")
}

/// The run succeeded, did not panic, and warned exactly once that standard output failed.
fn assert_carried_on(what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: exit {:?}\n{stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_eq!(stderr.matches("warning: standard output failed").count(), 1, "{what}: {stderr}");
}

const TRAIN: [&str; 10] = ["train", "--backend", "cpu", "--hidden", "8", "--limit", "300", "--epochs", "2", "--save"];

#[test]
fn a_closed_or_full_stdout_should_not_stop_training_or_lose_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut closed = TRAIN.to_vec();
    closed.extend(["closed.safetensors", "--metrics", "closed.jsonl"]);
    assert_carried_on("train | (closed)", &run_with_closed_pipe(d, &closed));
    let mut full = TRAIN.to_vec();
    full.push("full.safetensors");
    let dev_full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    assert_carried_on("train > /dev/full", &run_with_stdout(d, &full, Stdio::from(dev_full)));
    for saved in ["closed.safetensors", "full.safetensors"] {
        // The checkpoint is whole: eval loads it.
        ok(d, &["eval", "--model", saved, "--backend", "cpu"]);
    }
    let metrics = std::fs::read_to_string(d.join("closed.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "both epochs' metrics were written: {metrics}");
}

#[test]
fn eval_and_show_should_finish_their_files_when_nobody_reads_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut train = TRAIN.to_vec();
    train.push("m.safetensors");
    ok(d, &train);
    let eval = ["eval", "--model", "m.safetensors", "--backend", "cpu", "--confusion", "c.csv"];
    assert_carried_on("eval | (closed)", &run_with_closed_pipe(d, &eval));
    let confusion = std::fs::read_to_string(d.join("c.csv")).unwrap();
    assert_eq!(confusion.lines().count(), 11, "a header and 10 rows: {confusion}");
    let show = ["show", "--count", "4", "--out", "s.png"];
    let out = run_with_closed_pipe(d, &show);
    assert_carried_on("show | (closed)", &out);
    assert!(std::fs::metadata(d.join("s.png")).unwrap().len() > 100, "the picture was written");
}

/// `--metrics -` and `eval --confusion -` (or `/dev/stdout`) write the data alone to standard output, one JSON record
/// per epoch or the CSV matrix, and the human-readable lines to standard error; no file named `-` appears. A
/// closed pipe there is the same one warning as for any output.
#[test]
fn a_dash_should_send_metrics_and_confusion_to_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut train = TRAIN.to_vec();
    train.extend(["m.safetensors", "--metrics", "-"]);
    let out = support::gpu_mnist(d, &train);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let records: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).expect("only JSON records on stdout")).collect();
    assert_eq!(records.len(), 2, "{stdout}");
    assert_eq!(records[1]["epoch"], 2);
    assert!(stderr.contains("epoch 2/2") && stderr.contains("saved:   m.safetensors"), "{stderr}");
    assert!(!d.join("-").exists(), "no file named -");
    for target in ["-", "/dev/stdout"] {
        let eval = ["eval", "--model", "m.safetensors", "--backend", "cpu", "--confusion", target];
        let out = support::gpu_mnist(d, &eval);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{target}: {stderr}");
        assert!(stdout.starts_with("true,0,1,2,3,4,5,6,7,8,9\n"), "{target}: {stdout}");
        assert_eq!(stdout.lines().count(), 11, "{target}: only the CSV on stdout: {stdout}");
        assert!(stderr.contains("test loss"), "{target}: the report on stderr: {stderr}");
    }
    let closed = run_with_closed_pipe(d, &train);
    assert_carried_on("train --metrics - | (closed)", &closed);
}

/// An output flag naming an input (or another output) is refused before any work, naming both flags, and the
/// input is left byte for byte as it was. `--save` over its own `--resume` checkpoint stays allowed: it is written
/// atomically, and that is how a run is continued in place.
#[test]
fn an_output_that_is_an_input_should_be_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut train = TRAIN.to_vec();
    train.push("m.safetensors");
    ok(d, &train);
    let before = std::fs::read(d.join("m.safetensors")).unwrap();
    let resume = ["train", "--backend", "cpu", "--resume", "m.safetensors", "--epochs", "3"];
    for (extra, flags) in [
        (&["--plot", "m.safetensors"][..], ["--plot", "--resume"]),
        (&["--metrics", "./m.safetensors"][..], ["--metrics", "--resume"]),
        (&["--save", "x.out", "--metrics", "x.out"][..], ["--save", "--metrics"]),
    ] {
        let mut args = resume.to_vec();
        args.extend(extra);
        let (_, stderr) = fails(d, &args);
        assert!(flags.iter().all(|f| stderr.contains(f)), "{args:?}: {stderr}");
        assert!(!stderr.contains("epoch 3/3"), "{args:?} trained before refusing: {stderr}");
        assert_eq!(std::fs::read(d.join("m.safetensors")).unwrap(), before, "{args:?} changed the checkpoint");
    }
    let (_, stderr) = fails(d, &["eval", "--model", "m.safetensors", "--confusion", "m.safetensors"]);
    assert!(stderr.contains("--confusion") && stderr.contains("--model"), "{stderr}");
    assert_eq!(std::fs::read(d.join("m.safetensors")).unwrap(), before, "eval changed the checkpoint");
    // Two pictures of one name in different folders would write one --save-inputs file twice.
    for sub in ["a", "b"] {
        std::fs::create_dir(d.join(sub)).unwrap();
        ok(d, &["show", "--count", "1", "--scale", "1", "--out", &format!("{sub}/x.png")]);
    }
    let (_, stderr) = fails(d, &["predict", "--model", "m.safetensors", "--save-inputs", "seen", "a/x.png", "b/x.png"]);
    assert!(stderr.contains("--save-inputs and --save-inputs"), "{stderr}");
    // Continuing a run in place is still fine.
    let mut again = resume.to_vec();
    again.extend(["--save", "m.safetensors"]);
    ok(d, &again);
}

/// Outputs that are not regular files are refused before any work, and left as they were: a device (as root the
/// temp-file-and-rename write would replace `/dev/null` itself), a directory, a FIFO. A symlinked output is written
/// through to its target and stays a link. A picture in a format this build cannot write fails without leaving an
/// empty file.
#[test]
fn special_outputs_should_be_refused_and_links_written_through() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("a-dir")).unwrap();
    let fifo = d.join("pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (flag, path) in [("--save", "/dev/null"), ("--save", "a-dir"), ("--metrics", "pipe"), ("--plot", "/dev/full")] {
        let mut args = TRAIN[..9].to_vec();
        args.extend([flag, path]);
        let (_, stderr) = fails(d, &args);
        assert!(stderr.contains("regular file") || stderr.contains("directory"), "{flag} {path}: {stderr}");
        assert!(!stderr.contains("epoch 1/2"), "{flag} {path}: trained before refusing");
    }
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device(), "/dev/null was replaced");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    let (_, stderr) = fails(d, &["show", "--count", "2", "--out", "a-dir"]);
    assert!(stderr.contains("directory"), "{stderr}");
    // A link to a checkpoint that does not exist yet: the checkpoint is written there, the link kept.
    std::os::unix::fs::symlink("run-7.safetensors", d.join("latest.safetensors")).unwrap();
    let mut args = TRAIN.to_vec();
    args.push("latest.safetensors");
    ok(d, &args);
    assert!(std::fs::symlink_metadata(d.join("latest.safetensors")).unwrap().file_type().is_symlink());
    assert!(std::fs::metadata(d.join("run-7.safetensors")).unwrap().is_file());
    ok(d, &["eval", "--model", "latest.safetensors", "--backend", "cpu"]);
    // BMP is not among the formats this build encodes: an error, and no empty h.bmp.
    let (_, stderr) = fails(d, &["show", "--count", "2", "--out", "h.bmp"]);
    assert!(stderr.contains("h.bmp"), "{stderr}");
    assert!(!d.join("h.bmp").exists(), "a failed picture left a file behind");
}

/// Runs `gpu-mnist ARGS…` in `dir`, failing if it has not ended within 60 s: for inputs that would make a careless
/// reader wait forever.
fn run_bounded(dir: &Path, args: &[&str]) -> Output {
    support::wait_bounded(support::spawn(dir, args), std::time::Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{args:?} hung on a special input"))
}

/// Inputs that are not regular files — `/dev/zero` (endless), a FIFO (no writer: waits forever), a link to either —
/// are errors naming them, at once; as pictures they fail alone.
#[test]
fn special_inputs_should_be_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(Command::new("mkfifo").arg(d.join("pipe")).status().unwrap().success());
    std::os::unix::fs::symlink("/dev/zero", d.join("zero.safetensors")).unwrap();
    let mut train = TRAIN.to_vec();
    train.push("m.safetensors");
    ok(d, &train);
    ok(d, &["show", "--count", "1", "--scale", "1", "--out", "digit.png"]);
    for input in ["/dev/zero", "pipe", "zero.safetensors"] {
        for args in [
            vec!["eval", "--model", input, "--backend", "cpu"],
            vec!["train", "--backend", "cpu", "--limit", "300", "--epochs", "2", "--resume", input, "--save", "n.st"],
            vec!["predict", "--model", input, "digit.png"],
        ] {
            let out = run_bounded(d, &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success() && stderr.contains("regular file"), "{args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        }
        let out = run_bounded(d, &["predict", "--model", "m.safetensors", input, "digit.png"]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(stderr.contains("regular file") && stderr.contains("1 of 2"), "{input}: {stderr}");
        assert!(stdout.contains("digit.png: "), "{input}: the other picture was classified: {stdout}");
    }
}
