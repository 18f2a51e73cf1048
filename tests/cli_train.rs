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
        (&["train", "--batch-size", "0", "--limit", "10"], "--batch-size must be at least 1"),
        (&["train", "--metrics", "no-such-dir/m.csv", "--limit", "10"], "no-such-dir/m.csv"),
    ];
    for (args, want) in cases {
        let (_, stderr) = fails(dir.path(), args);
        assert!(stderr.contains(want), "{args:?}: stderr lacks {want:?}:\n{stderr}");
    }
}
