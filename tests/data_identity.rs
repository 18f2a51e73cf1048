//! A data set is known by its content, not by its folder's name: the digests of MNIST and Fashion-MNIST recomputed
//! from the real data, a copy in another folder recognised, other data told apart, and what `eval` and `predict`
//! make of a checkpoint's data.

use std::path::Path;
use std::time::Instant;

use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::data::identity::{self, FASHION_MNIST_DIGEST, MNIST_DIGEST};
use gpu_mnist::data::{self, DataSource, LoadOptions, FASHION_MNIST_DIR};

mod support;

/// Whether Fashion-MNIST is installed; if not, says "skipped:" (or fails under GPU_MNIST_REQUIRE_DATA=1).
fn have_fashion() -> bool {
    if Path::new(FASHION_MNIST_DIR).is_dir() {
        return true;
    }
    assert!(
        std::env::var("GPU_MNIST_REQUIRE_DATA").as_deref() != Ok("1"),
        "GPU_MNIST_REQUIRE_DATA=1 but {FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist)"
    );
    println!("skipped: {FASHION_MNIST_DIR} not found (apt-get install dataset-fashion-mnist)");
    false
}

/// The name `load` gives the data in `source` and its digest, recomputed here; prints how long loading and the
/// digest took.
fn recompute(source: &DataSource) -> (String, String) {
    let start = Instant::now();
    let data = data::load(source, &LoadOptions::default()).unwrap();
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    let digest = identity::digest(&data.train, &data.test);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    println!("{}: digest {digest} in {ms:.1} ms (loading, digest included: {load_ms:.0} ms)", data.name);
    assert_eq!(digest, data.digest, "load computes the same digest");
    (data.name, digest)
}

#[test]
fn the_mnist_digest_should_be_that_of_the_embedded_data() {
    let (name, digest) = recompute(&DataSource::Embedded);
    assert_eq!(digest, MNIST_DIGEST);
    assert_eq!(name, "mnist");
}

#[test]
fn the_fashion_digest_should_be_that_of_the_installed_data() {
    if !have_fashion() {
        return;
    }
    let (name, digest) = recompute(&DataSource::Dir(FASHION_MNIST_DIR.into()));
    assert_eq!(digest, FASHION_MNIST_DIGEST);
    assert_eq!(name, "fashion-mnist");
}

/// Writes MNIST's four files into `dir` (created) un-gzipped and under the old-style names with a dot
/// (`train-images.idx3-ubyte`): the same data as the embedded copy in another form.
fn copy_mnist(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (stem, gz) in data::FILES.iter().zip(data::embedded::ALL) {
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut raw).unwrap();
        std::fs::write(dir.join(stem.replacen("-idx", ".idx", 1)), raw).unwrap();
    }
}

/// Trains a tiny model (seconds) in `dir` and saves it as `save`; `data` are the data flags.
fn train_tiny(dir: &Path, data: &[&str], save: &str) -> String {
    let mut args = vec!["train", "--backend", "cpu", "--hidden", "8", "--limit", "200", "--epochs", "1", "-q"];
    args.extend(data);
    args.extend(["--save", save]);
    support::ok(dir, &args)
}

/// Rewrites the checkpoint `path` through `edit` (to make the checkpoints of other data sets, or older ones).
fn edit_checkpoint(path: &Path, edit: impl FnOnce(&mut Checkpoint)) {
    let mut ck = Checkpoint::load(path).unwrap();
    edit(&mut ck);
    ck.save(path).unwrap();
}

/// Runs the binary, which must succeed, and returns (stdout, stderr).
fn run_ok(dir: &Path, args: &[&str]) -> (String, String) {
    let out = support::gpu_mnist(dir, args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{args:?}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    (stdout.into_owned(), stderr.into_owned())
}

/// A 3-class IDX data set of 6×5 bars in `dir` (created); `shift` changes its labels, so the same folder name can
/// hold other data.
fn write_bars(dir: &Path, shift: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let (rows, cols) = (5usize, 6usize);
    for (prefix, n) in [("train", 300), ("t10k", 60)] {
        let labels: Vec<u8> = (0..n).map(|i| ((i + shift) % 3) as u8).collect();
        let mut images = vec![0u8; n * rows * cols];
        for (i, &label) in labels.iter().enumerate() {
            let row = 2 * usize::from(label);
            images[i * rows * cols + row * cols..][..cols].fill(200);
        }
        let images = support::idx(&[n as u32, rows as u32, cols as u32], &images);
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), support::idx(&[n as u32], &labels)).unwrap();
    }
}

/// (a) MNIST in a folder of another name, gunzipped and under old-style names, is MNIST: trained on, it is called
/// mnist; a model of the embedded MNIST evaluated on it gives no warning; and a resume over it continues silently.
#[test]
fn a_copy_of_mnist_in_another_folder_should_be_recognised_as_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_mnist(&d.join("my-digits"));
    let train = train_tiny(d, &["--data-dir", "my-digits"], "copy.st");
    assert!(train.contains("data:    mnist: 200 train, 10000 test samples"), "{train}");
    train_tiny(d, &[], "m.st");
    assert_eq!(Checkpoint::load(&d.join("copy.st")).unwrap().data_digest.as_deref(), Some(MNIST_DIGEST));

    let (stdout, stderr) = run_ok(d, &["eval", "--model", "m.st", "--data-dir", "my-digits"]);
    assert!(stdout.contains("data:    mnist: 10000 test samples"), "{stdout}");
    assert_eq!(stderr, "", "no warning, no note");
    // The model trained on the copy evaluates on the embedded MNIST without --data-dir, and resumes over it.
    let (stdout, stderr) = run_ok(d, &["eval", "--model", "copy.st"]);
    assert!(stdout.contains("trained: 1 epoch on mnist (200 samples)"), "{stdout}");
    assert_eq!(stderr, "");
    let args =
        ["train", "--backend", "cpu", "--limit", "200", "--resume", "copy.st", "--epochs", "2", "--save", "copy.st"];
    let (stdout, stderr) = run_ok(d, &args);
    assert!(stdout.contains("epoch 2/2"), "{stdout}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// (b) A Fashion-MNIST model on MNIST's files — in a folder named `fashion-mnist`, the old trap — is told it is
/// looking at MNIST: one warning naming both, digits as class names, none of Fashion-MNIST's. `train --dataset
/// fashion` on those files takes them for MNIST, with one warning.
#[test]
fn a_fashion_model_on_mnist_files_should_warn_and_name_no_clothes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_mnist(&d.join("fashion-mnist"));
    // A Fashion-MNIST checkpoint by its identity (the weights do not matter here, so no Fashion data is needed).
    train_tiny(d, &[], "f.st");
    edit_checkpoint(&d.join("f.st"), |ck| {
        ck.dataset = "fashion-mnist".into();
        ck.data_digest = Some(FASHION_MNIST_DIGEST.into());
    });
    let (stdout, stderr) = run_ok(d, &["eval", "--model", "f.st", "--data-dir", "fashion-mnist"]);
    assert!(stdout.contains("data:    mnist: 10000 test samples"), "{stdout}");
    assert_eq!(stderr, "warning: the checkpoint was trained on fashion-mnist, this is mnist\n");
    for name in gpu_mnist::data::FASHION_CLASSES {
        assert!(!stdout.contains(name), "{name} in\n{stdout}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("    9     1009  ")), "digits' own counts: {stdout}");
    // Training on them as --dataset fashion: they are MNIST, said once.
    let args = ["train", "--backend", "cpu", "--hidden", "8", "--limit", "200", "--epochs", "1", "-q"];
    let (stdout, stderr) = run_ok(d, &[&args[..], &["--dataset", "fashion", "--data-dir", "fashion-mnist"]].concat());
    assert!(stdout.contains("data:    mnist: 200 train, 10000 test samples, 10 classes\n"), "{stdout}");
    let warning = "warning: --dataset names fashion-mnist, but these files hold mnist (known by their content): they \
                   are taken as mnist\n";
    assert_eq!(stderr, warning);
}

/// (c) A model of data gpu-mnist does not know (an IDX set) needs --data-dir to be evaluated: without it the error
/// says so and names the folder it was trained from, instead of evaluating on MNIST. With it, a copy of the data
/// under another name is the same data; other data in a folder of the same name is not.
#[test]
fn an_idx_model_without_data_dir_should_be_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_bars(&d.join("bars"), 0);
    train_tiny(d, &["--dataset", "idx", "--data-dir", "bars"], "b.st");
    let (stdout, stderr) = support::fails(d, &["eval", "--model", "b.st"]);
    assert_eq!(stdout, "");
    assert!(stderr.contains("--data-dir DIR") && stderr.contains("`bars`"), "{stderr}");
    assert!(stderr.contains("b.st: the checkpoint was trained on bars (data "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // The same data in another folder: no warning. Other data in a folder also called bars: one warning.
    write_bars(&d.join("copy"), 0);
    let (stdout, stderr) = run_ok(d, &["eval", "--model", "b.st", "--data-dir", "copy"]);
    assert!(stdout.contains("data:    copy: 60 test samples"), "{stdout}");
    assert_eq!(stderr, "");
    write_bars(&d.join("other/bars"), 1);
    let (_, stderr) = run_ok(d, &["eval", "--model", "b.st", "--data-dir", "other/bars"]);
    let warning = stderr.lines().next().unwrap_or_default();
    assert!(warning.starts_with("warning: the checkpoint was trained on bars (data "), "{stderr}");
    assert!(warning.matches("bars (data ").count() == 2, "both named with their digests: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // A resume over it compares the digests too, though the names agree.
    let args = ["train", "--backend", "cpu", "--dataset", "idx", "--data-dir", "other/bars", "--resume", "b.st"];
    let (_, stderr) = run_ok(d, &[&args[..], &["--epochs", "2", "-q"]].concat());
    assert!(stderr.contains("warning: the checkpoint was trained on bars (data "), "{stderr}");
}

/// (d) A checkpoint written before data digests loads, and eval and predict say in one note that its data set is
/// known by name only; eval still finds MNIST by that name.
#[test]
fn an_old_checkpoint_without_a_digest_should_load_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_tiny(d, &[], "old.st");
    edit_checkpoint(&d.join("old.st"), |ck| ck.data_digest = None);
    let bytes = std::fs::read(d.join("old.st")).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert!(!header.metadata().as_ref().unwrap().contains_key("data_digest"), "the file has no digest key");

    let (stdout, stderr) = run_ok(d, &["eval", "--model", "old.st"]);
    assert!(stdout.contains("data:    mnist: 10000 test samples"), "{stdout}");
    let note = "note:    old.st was saved before gpu-mnist recorded what its data was: its data set is identified by \
                its name only (mnist)\n";
    assert_eq!(stderr, note);
    support::ok(d, &["show", "--count", "1", "--scale", "1", "--out", "digit.png"]);
    let (_, stderr) = run_ok(d, &["predict", "--model", "old.st", "digit.png"]);
    assert_eq!(stderr, note);
}

/// The width and height of the box around the non-zero pixels of the 28×28 picture `path`, and its left margin.
fn input_box(path: &Path) -> (usize, usize, usize) {
    let img = image::open(path).unwrap().to_luma8();
    let ink: Vec<(usize, usize)> =
        img.enumerate_pixels().filter(|p| p.2[0] > 0).map(|(x, y, _)| (x as usize, y as usize)).collect();
    let (xs, ys): (Vec<usize>, Vec<usize>) = ink.into_iter().unzip();
    let span = |v: &[usize]| v.iter().max().unwrap() - v.iter().min().unwrap() + 1;
    (span(&xs), span(&ys), *xs.iter().min().unwrap())
}

/// `predict` prepares pictures the way the model's data set was made, and says which way in its first line: a
/// Fashion-MNIST model (by its data's identity) gets Fashion-MNIST's preprocessing — the product's longer side to 28
/// pixels, centred by its box —, an MNIST model a digit's (20 pixels); `--preprocess` overrides it, and `--as-is`
/// stays as `--preprocess none`.
#[test]
fn predict_should_preprocess_the_way_the_models_data_set_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train_tiny(d, &[], "m.st");
    std::fs::copy(d.join("m.st"), d.join("f.st")).unwrap();
    edit_checkpoint(&d.join("f.st"), |ck| {
        ck.dataset = "fashion-mnist".into();
        ck.data_digest = Some(FASHION_MNIST_DIGEST.into());
    });
    // A dark 40×80 "product" on a white 200×150 photo.
    let photo = image::GrayImage::from_fn(200, 150, |x, y| {
        image::Luma(if (50..90).contains(&x) && (30..110).contains(&y) { [20] } else { [250] })
    });
    photo.save(d.join("item.png")).unwrap();
    let predict = |args: &[&str]| {
        let mut all = vec!["predict", "--save-inputs", "seen"];
        all.extend(args);
        all.push("item.png");
        let stdout = support::ok(d, &all);
        (stdout, input_box(&d.join("seen/item.28x28.png")))
    };

    let (stdout, seen) = predict(&["--model", "f.st"]);
    let first =
        "input:   fashion (Fashion-MNIST's preprocessing: trim, longer side to 28 px, centred), as fashion-mnist \
                 was made";
    assert_eq!(stdout.lines().next(), Some(first), "{stdout}");
    assert!(gpu_mnist::data::FASHION_CLASSES.iter().any(|c| stdout.contains(c)), "clothing names: {stdout}");
    assert_eq!(seen, (14, 28, 7), "longer side 28, centred by its box");

    let (stdout, seen) = predict(&["--model", "m.st"]);
    assert!(stdout.starts_with("input:   digits (MNIST's preprocessing: "), "{stdout}");
    assert!(stdout.lines().next().is_some_and(|l| l.ends_with("as mnist was made")), "{stdout}");
    assert_eq!((seen.0, seen.1), (10, 20), "larger side 20");

    let (stdout, seen) = predict(&["--model", "f.st", "--preprocess", "digits"]);
    assert!(stdout
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("input:   digits") && l.ends_with("from --preprocess")));
    assert_eq!((seen.0, seen.1), (10, 20));
    let (stdout, _) = predict(&["--model", "m.st", "--preprocess", "fashion"]);
    assert!(stdout.starts_with("input:   fashion"), "{stdout}");

    // --as-is is --preprocess none: 28×28 pictures only; the two together are refused.
    let (_, stderr) = support::fails(d, &["predict", "--model", "f.st", "--as-is", "item.png"]);
    assert!(stderr.contains("item.png: the picture is 200×150") && stderr.contains("--as-is"), "{stderr}");
    let (_, stderr) = support::fails(d, &["predict", "--model", "f.st", "--preprocess", "none", "item.png"]);
    assert!(stderr.contains("--preprocess none"), "{stderr}");
    let (_, stderr) = support::fails(d, &["predict", "--model", "f.st", "--as-is", "--preprocess", "fashion", "x.png"]);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
