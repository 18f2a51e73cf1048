//! Data from CSV through the binary: MNIST as Kaggle's CSV files trains exactly as the same images in IDX files, and
//! a table (`--train/--test/--label`) trains, evaluates and predicts the same on the CPU and the GPU, its
//! standardisation and classes kept in the checkpoint.

mod common;
mod support;

use std::fmt::Write as _;
use std::path::Path;

use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::data::{self, DataSource, Dataset, Features, LabeledImages, LoadOptions};
use support::{gzip, idx, ok};

/// The first `train` and `test` samples of the embedded MNIST.
fn mnist(train: usize, test: usize) -> Dataset {
    let mut d = data::load(&DataSource::Embedded, &LoadOptions::default()).unwrap();
    d.train.truncate(train);
    d.test.truncate(test);
    d
}

/// `split` as Kaggle's CSV: the header `label,1x1,…,28x28`, then a row per image.
fn csv_of(split: &LabeledImages) -> String {
    let mut s = String::from("label");
    for r in 1..=28 {
        for c in 1..=28 {
            write!(s, ",{r}x{c}").unwrap();
        }
    }
    s.push('\n');
    for i in 0..split.len() {
        write!(s, "{}", split.labels[i]).unwrap();
        for p in split.image(i).unwrap() {
            write!(s, ",{p}").unwrap();
        }
        s.push('\n');
    }
    s
}

/// Writes `d` as the four IDX files into `dir`.
fn write_idx(dir: &Path, d: &Dataset) {
    for (prefix, split) in [("train", &d.train), ("t10k", &d.test)] {
        let n = split.len() as u32;
        let pixels = split.features.pixels().unwrap();
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), idx(&[n, 28, 28], pixels)).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), idx(&[n], &split.labels)).unwrap();
    }
}

/// The metrics file's rows without the timing columns (epoch, losses, accuracies).
fn metrics(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().skip(1).map(|l| l.split(',').take(5).collect::<Vec<_>>().join(",")).collect()
}

/// The backends to run: the CPU, and the GPU's API where there is one.
fn backends() -> Vec<String> {
    let mut b = vec!["cpu".to_owned()];
    b.extend(common::gpu_api());
    b
}

#[test]
fn csv_mnist_should_give_exactly_the_metrics_of_idx_mnist_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let (idx_dir, csv_dir) = (dir.path().join("idx"), dir.path().join("csv"));
    std::fs::create_dir_all(&idx_dir).unwrap();
    std::fs::create_dir_all(&csv_dir).unwrap();
    let d = mnist(600, 300);
    write_idx(&idx_dir, &d);
    // The training file gzipped, the test file with Windows line ends: both as a user may have them.
    std::fs::write(csv_dir.join("mnist_train.csv.gz"), gzip(csv_of(&d.train).as_bytes())).unwrap();
    std::fs::write(csv_dir.join("mnist_test.csv"), csv_of(&d.test).replace('\n', "\r\n")).unwrap();
    for backend in backends() {
        let mut runs = Vec::new();
        for source in [&idx_dir, &csv_dir] {
            let m = dir.path().join(format!("{backend}-{}.csv", source.file_name().unwrap().to_string_lossy()));
            let run = [
                "train",
                "--backend",
                &backend,
                "--data-dir",
                source.to_str().unwrap(),
                "--hidden",
                "32",
                "--epochs",
                "2",
                "--seed",
                "5",
                "-q",
                "--metrics",
                m.to_str().unwrap(),
            ];
            ok(dir.path(), &run);
            runs.push(metrics(&m));
        }
        assert_eq!(runs[0].len(), 2, "{backend}: two epochs recorded");
        assert_eq!(runs[0], runs[1], "{backend}: IDX and CSV runs differ");
        println!("{backend}: IDX and CSV give {:?}", runs[0]);
    }
}

#[test]
fn full_mnist_as_csv_should_be_known_as_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let full = mnist(60_000, 10_000);
    std::fs::write(dir.path().join("mnist_train.csv"), csv_of(&full.train)).unwrap();
    std::fs::write(dir.path().join("mnist_test.csv.gz"), gzip(csv_of(&full.test).as_bytes())).unwrap();
    let start = std::time::Instant::now();
    let from_csv = data::load(&DataSource::Dir(dir.path().to_owned()), &LoadOptions::default()).unwrap();
    println!("loaded MNIST from CSV in {:.2} s", start.elapsed().as_secs_f64());
    assert_eq!(from_csv.digest, data::identity::MNIST_DIGEST);
    assert_eq!(from_csv.name, "mnist");
    assert_eq!(from_csv, full);
}

/// A table of `n` rows: features x (any sign), y (large, shifted) and a constant, and a string label with three
/// classes that the features separate well.
fn table_csv(n: usize, seed: u64) -> String {
    let mut s = String::from("x,y,constant,kind\n");
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    };
    for i in 0..n {
        let class = i % 3;
        let x = class as f64 * 2.0 - 2.0 + next();
        let y = 1000.0 + 50.0 * (x + next());
        let kind = ["setosa", "versicolor", "virginica"][class];
        writeln!(s, "{x:.4},{y:.3},7,{kind}").unwrap();
    }
    s
}

#[test]
fn a_table_should_train_evaluate_and_predict_the_same_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.csv"), table_csv(150, 1)).unwrap();
    std::fs::write(dir.path().join("test.csv"), table_csv(60, 2)).unwrap();
    let mut runs = Vec::new();
    for backend in backends() {
        let (m, ck) = (format!("{backend}.csv"), format!("{backend}.safetensors"));
        let run = [
            "train",
            "--backend",
            &backend,
            "--train",
            "train.csv",
            "--test",
            "test.csv",
            "--label",
            "kind",
            "--hidden",
            "8",
            "--epochs",
            "20",
            "--batch-size",
            "16",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "-q",
            "--metrics",
            &m,
            "--save",
            &ck,
        ];
        let out = ok(dir.path(), &run);
        assert!(out.contains("3 classes (setosa, versicolor, virginica)"), "{out}");
        assert!(out.contains("3 features (x, y, constant) standardised, label column kind"), "{out}");
        let last = support::last_metrics(&dir.path().join(&m));
        // The checkpoint keeps the table, and eval reads the test file with it to the accuracy training reported.
        let saved = Checkpoint::load(&dir.path().join(&ck)).unwrap();
        let table = saved.table.as_ref().expect("the checkpoint keeps the table");
        assert_eq!(table.classes, ["setosa", "versicolor", "virginica"]);
        assert_eq!(table.scale[2], 1.0, "a constant column is left unscaled");
        let eval = ok(dir.path(), &["eval", "--model", &ck, "--backend", &backend, "--test", "test.csv"]);
        let want = format!("acc {:.2}%", 100.0 * last[4]);
        assert!(eval.contains(&want), "eval should report {want}:\n{eval}");
        assert!(eval.contains("setosa"), "{eval}");
        // A raw row, negative values included, standardised with the saved means and scales.
        let predicted = ok(dir.path(), &["predict", "--model", &ck, "--row", "-2.1,895,7", "--row", "2,1100,7"]);
        let lines: Vec<&str> = predicted.lines().collect();
        assert!(lines[0].starts_with("-2.1,895,7: setosa"), "{predicted}");
        assert!(lines[1].starts_with("2,1100,7: virginica"), "{predicted}");
        runs.push(last);
    }
    if let [cpu, gpu] = &runs[..] {
        support::assert_runs_agree(cpu, gpu, 1e-4);
    }
    assert!(runs[0][4] > 0.9, "the classes separate well: {:?}", runs[0]);
}

#[test]
fn a_table_model_should_ask_for_rows_and_an_image_model_refuse_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), table_csv(30, 3)).unwrap();
    let base =
        ["train", "--train", "t.csv", "--test", "t.csv", "--label", "kind", "--hidden", "", "--epochs", "1", "-q"];
    ok(dir.path(), &[&base[..], &["--save", "t.safetensors"]].concat());
    let (_, err) = support::fails(dir.path(), &["predict", "--model", "t.safetensors", "digit.png"]);
    assert!(err.contains("give rows of its 3 features (x, y, constant) with --row"), "{err}");
    let (_, err) = support::fails(dir.path(), &["predict", "--model", "t.safetensors", "--row", "1,2"]);
    assert!(err.contains("2 values, but the model takes 3 features"), "{err}");
    let (_, err) = support::fails(dir.path(), &["predict", "--model", "t.safetensors", "--row", "1,nan,2"]);
    assert!(err.contains("value 2 (\"nan\", feature y) is not a finite number"), "{err}");
    let (_, err) = support::fails(dir.path(), &["eval", "--model", "t.safetensors"]);
    assert!(err.contains("give its test rows with --test FILE.csv"), "{err}");
    let (_, err) = support::fails(dir.path(), &["train", "--train", "t.csv", "--label", "kind"]);
    assert!(err.contains("--test"), "{err}");
    ok(dir.path(), &["train", "--hidden", "", "--epochs", "1", "--limit", "100", "-q", "--save", "m.safetensors"]);
    let (_, err) = support::fails(dir.path(), &["predict", "--model", "m.safetensors", "--row", "1,2"]);
    assert!(err.contains("--row is for a model trained on a table"), "{err}");
    let (_, err) = support::fails(dir.path(), &["eval", "--model", "m.safetensors", "--test", "t.csv"]);
    assert!(err.contains("--test is for a model trained on a table"), "{err}");
    // The features a table's rows hold are values, not pixels: `show` says so rather than drawing noise.
    let (_, err) = support::fails(
        dir.path(),
        &["show", "--train", "t.csv", "--test", "t.csv", "--label", "kind", "--out", "g.png"],
    );
    assert!(err.contains("not images"), "{err}");
    let _ = Features::Values(Vec::new());
}
