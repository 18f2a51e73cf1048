//! The binary's pictures and data-set flags: `show`, `train --plot`, `predict`, `--dataset fashion`, and
//! `--dataset idx` with an arbitrary IDX data set.

use std::path::Path;

mod support;
use support::{fails, idx, ok};

const FASHION: &str = "/usr/share/datasets/fashion-mnist";

/// Whether Fashion-MNIST is installed; if not, says "skipped:" (or fails under GPU_MNIST_REQUIRE_DATA=1).
fn have_fashion() -> bool {
    if Path::new(FASHION).is_dir() {
        return true;
    }
    assert!(
        std::env::var("GPU_MNIST_REQUIRE_DATA").as_deref() != Ok("1"),
        "GPU_MNIST_REQUIRE_DATA=1 but {FASHION} is missing (apt-get install dataset-fashion-mnist)"
    );
    println!("skipped: {FASHION} not found (apt-get install dataset-fashion-mnist)");
    false
}

#[test]
fn show_writes_a_png_grid_of_the_right_size() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = ok(dir.path(), &["show", "--count", "10", "--split", "test", "--out", "digits.png"]);
    let img = image::open(dir.path().join("digits.png")).unwrap().to_luma8();
    // 10 cells in a row, each 28·3 = 84 wide with gaps of 6; 84 + a label strip of 5·3 + 2·3 tall.
    assert_eq!(img.dimensions(), (10 * (84 + 6) + 6, 84 + 21 + 2 * 6));
    assert!(stdout.contains("906×117 pixels"), "{stdout}");
    // The first ten test digits of MNIST.
    assert!(stdout.contains("labels:  7, 2, 1, 0, 4, 1, 4, 9, 5, 9"), "{stdout}");

    // Two rows of 4, from the training set, at scale 1.
    ok(dir.path(), &["show", "--split", "train", "--count", "8", "--columns", "4", "--scale", "1", "--out", "t.png"]);
    let img = image::open(dir.path().join("t.png")).unwrap();
    assert_eq!((img.width(), img.height()), (4 * (28 + 2) + 2, 2 * (28 + 7 + 2) + 2));

    assert!(fails(dir.path(), &["show", "--count", "0", "--out", "x.png"]).1.contains("--count"));
    assert!(fails(dir.path(), &["show", "--offset", "10000", "--out", "x.png"]).1.contains("--offset 10000"));
    assert!(fails(dir.path(), &["show", "--out", "no-such-dir/x.png"]).1.contains("no-such-dir/x.png"));
}

#[test]
fn train_plot_writes_an_svg_with_four_curves() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["train", "--plot", "p.svg", "--epochs", "2", "--limit", "1000", "--hidden", "16"];
    let stdout = ok(dir.path(), &args);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("epoch ")).count(), 2, "{stdout}");
    let svg = std::fs::read_to_string(dir.path().join("p.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..200.min(svg.len())]);
    // Balanced text elements: the labels are SVG text, not paths drawn from a font file.
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    for label in ["loss", "accuracy", "epoch", "train loss", "test loss", "train accuracy", "test accuracy"] {
        assert!(svg.contains(&format!(">\n{label}\n</text>")), "no text {label:?} in the SVG");
    }
    // Four curves (and their four legend swatches), in the two colours.
    assert!(svg.matches("<polyline").count() >= 8, "{} polylines", svg.matches("<polyline").count());
    for colour in ["#1F77B4", "#FF7F0E"] {
        assert!(svg.matches(&format!("<polyline fill=\"none\" opacity=\"1\" stroke=\"{colour}\"")).count() >= 4);
    }
    // No temporary file is left behind.
    assert!(!dir.path().join("p.svg.tmp").exists());

    // An unwritable plot path fails before training.
    let (_, stderr) = fails(dir.path(), &["train", "--plot", "no-such-dir/p.svg", "--limit", "10"]);
    assert!(stderr.contains("no-such-dir/p.svg"), "{stderr}");
}

#[test]
fn fashion_trains_and_speaks_in_class_names() {
    let dir = tempfile::tempdir().unwrap();
    if !have_fashion() {
        // Without the data the error says how to get it.
        let (_, stderr) = fails(dir.path(), &["train", "--dataset", "fashion", "--limit", "10"]);
        assert!(stderr.contains("apt-get install dataset-fashion-mnist") && stderr.contains("--data-dir"), "{stderr}");
        return;
    }
    let args = ["train", "--dataset", "fashion", "--epochs", "1", "--limit", "2000", "--hidden", "64"];
    let stdout = ok(dir.path(), &args);
    assert!(
        stdout.contains("data:    fashion-mnist: 2000 train, 10000 test samples, 10 classes (T-shirt/top, Trouser"),
        "{stdout}"
    );
    let epoch = stdout.lines().find(|l| l.starts_with("epoch 1/1")).unwrap();
    let acc: f64 = epoch.split("test loss").nth(1).unwrap().split("acc ").nth(1).unwrap().trim_end_matches('%')[..5]
        .trim()
        .parse()
        .unwrap();
    assert!(acc > 60.0, "1 epoch on 2000 Fashion samples should beat 60%: {epoch}");

    let stdout = ok(dir.path(), &["show", "--dataset", "fashion", "--count", "3", "--out", "f.png"]);
    assert!(stdout.contains("labels:  9 (Ankle boot), 2 (Pullover), 1 (Trouser)"), "{stdout}");
    // The same files through --data-dir, named as Fashion-MNIST by --dataset.
    let stdout =
        ok(dir.path(), &["show", "--dataset", "fashion", "--data-dir", FASHION, "--count", "1", "--out", "g.png"]);
    assert!(stdout.contains("9 (Ankle boot)"), "{stdout}");
}

#[test]
fn fashion_with_a_missing_folder_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr) = fails(dir.path(), &["train", "--dataset", "fashion", "--data-dir", "nowhere", "--limit", "10"]);
    assert!(stderr.contains("nowhere"), "{stderr}");
}

/// An IDX data set that is not MNIST: 3 classes of 6×5 images (a bar at the top, middle or bottom). `--dataset idx`
/// takes its shape and classes from the files, and a model trains on it end to end.
#[test]
fn any_idx_data_set_trains_with_classes_from_its_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bars");
    std::fs::create_dir(&data).unwrap();
    let (rows, cols) = (5usize, 6usize);
    let make = |n: usize| {
        let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        let mut images = vec![0u8; n * rows * cols];
        for (i, &label) in labels.iter().enumerate() {
            let row = 2 * usize::from(label);
            for c in 0..cols {
                images[i * rows * cols + row * cols + c] = 200 + (i % 50) as u8;
            }
        }
        (images, labels)
    };
    for (prefix, n) in [("train", 300), ("t10k", 60)] {
        let (images, labels) = make(n);
        let images = idx(&[n as u32, rows as u32, cols as u32], &images);
        std::fs::write(data.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(data.join(format!("{prefix}-labels-idx1-ubyte")), idx(&[n as u32], &labels)).unwrap();
    }
    let args = ["train", "--dataset", "idx", "--data-dir", "bars", "--hidden", "8", "--epochs", "3", "--plot", "b.svg"];
    let stdout = ok(dir.path(), &args);
    assert!(stdout.contains("model:   30-8-3 relu xent"), "{stdout}");
    assert!(stdout.contains("data:    bars: 300 train, 60 test samples, 3 classes, 5×6 images"), "{stdout}");
    assert!(stdout.contains("epoch 3/3"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("epoch 3/3") && l.contains("test loss")), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("wrote:   plot b.svg"), "{stdout}");
    let stdout =
        ok(dir.path(), &["show", "--dataset", "idx", "--data-dir", "bars", "--count", "4", "--out", "bars.png"]);
    assert!(stdout.contains("labels:  0, 1, 2, 0"), "{stdout}");
    // A bare --data-dir expects MNIST's shape (so that a corrupt label file is caught): refused, saying why and
    // what to add.
    let (_, stderr) = fails(dir.path(), &["train", "--data-dir", "bars"]);
    assert!(stderr.contains("5x6") && stderr.contains("--dataset idx"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // As MNIST, refused too; --dataset idx needs the folder.
    let (_, stderr) = fails(dir.path(), &["train", "--dataset", "mnist", "--data-dir", "bars"]);
    assert!(stderr.contains("5x6"), "{stderr}");
    assert!(fails(dir.path(), &["train", "--dataset", "idx"]).1.contains("--dataset idx needs --data-dir"));
}

/// Writes MNIST test digit `i` magnified 3× (nearest neighbour) as a PNG, dark ink on white paper.
fn write_paper_digit(path: &Path, split: &gpu_mnist::data::LabeledImages, i: usize) {
    let img = image::GrayImage::from_raw(28, 28, split.image(i).unwrap().to_vec()).unwrap();
    let mut big = image::imageops::resize(&img, 84, 84, image::imageops::FilterType::Nearest);
    image::imageops::invert(&mut big);
    big.save(path).unwrap();
}

/// `train --save` then `predict`: pictures at another size and polarity than MNIST's are converted, classified, and
/// printed with their top-3 probabilities; a blank picture is an error for that picture only.
#[test]
fn predict_classifies_pictures_with_a_saved_model() {
    use gpu_mnist::data::{self, DataSource, LoadOptions};
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["train", "--hidden", "64", "--epochs", "2", "--limit", "20000", "--save", "m.safetensors", "-q"]);
    let mnist = data::load(&DataSource::Embedded, &LoadOptions::default()).unwrap();
    let mut args = vec!["predict".to_owned(), "--model".into(), "m.safetensors".into()];
    for i in 0..20 {
        write_paper_digit(&dir.path().join(format!("d{i}.png")), &mnist.test, i);
        args.push(format!("d{i}.png"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = ok(dir.path(), &args);
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or_default();
    assert!(first.starts_with("input:   digits (MNIST's preprocessing: crop, "), "{stdout}");
    let lines: Vec<&str> = lines.collect();
    assert_eq!(lines.len(), 20, "{stdout}");
    let mut right = 0;
    for (i, line) in lines.iter().enumerate() {
        // "d0.png: 7  (7 99.8%, 2 0.1%, 3 0.0%)"
        let (name, rest) = line.split_once(": ").unwrap();
        assert_eq!(name, format!("d{i}.png"));
        let predicted: u8 = rest.split_whitespace().next().unwrap().parse().unwrap();
        right += usize::from(predicted == mnist.test.labels[i]);
        let ranked = rest.split_once('(').unwrap().1.trim_end_matches(')');
        let probs: Vec<f64> = ranked
            .split(", ")
            .map(|r| r.split_whitespace().nth(1).unwrap().trim_end_matches('%').parse().unwrap())
            .collect();
        assert_eq!(probs.len(), 3, "{line}");
        assert!(probs[0] >= probs[1] && probs[1] >= probs[2] && probs[0] <= 100.0, "{line}");
    }
    assert!(right >= 19, "{right} of 20 right:\n{stdout}");

    // A blank picture fails alone: the others are still classified, the exit code says something failed.
    image::GrayImage::from_pixel(50, 50, image::Luma([255])).save(dir.path().join("blank.png")).unwrap();
    let (stdout, stderr) = fails(dir.path(), &["predict", "--model", "m.safetensors", "d0.png", "blank.png"]);
    assert!(stdout.lines().nth(1).is_some_and(|l| l.starts_with("d0.png: 7")), "{stdout}");
    assert!(stderr.contains("blank.png") && stderr.contains("no digit found"), "{stderr}");
    // No model, no pictures: clear errors.
    assert!(fails(dir.path(), &["predict", "--model", "none.safetensors", "d0.png"]).1.contains("none.safetensors"));
    assert!(fails(dir.path(), &["predict", "--model", "m.safetensors"]).1.contains("IMAGE"));
}

/// A Fashion-MNIST model names the classes.
#[test]
fn predict_names_fashion_classes() {
    let dir = tempfile::tempdir().unwrap();
    if !have_fashion() {
        return;
    }
    let args = ["train", "--dataset", "fashion", "--hidden", "64", "--epochs", "1", "--limit", "10000"];
    ok(dir.path(), &[&args[..], &["--save", "f.safetensors", "-q"]].concat());
    // The first test item is an ankle boot; show writes it as the model sees it, 28×28 (scale 1, no grid needed).
    ok(dir.path(), &["show", "--dataset", "fashion", "--count", "1", "--scale", "1", "--out", "grid.png"]);
    let grid = image::open(dir.path().join("grid.png")).unwrap().to_luma8();
    image::imageops::crop_imm(&grid, 2, 2, 28, 28).to_image().save(dir.path().join("boot.png")).unwrap();
    let stdout = ok(dir.path(), &["predict", "--model", "f.safetensors", "--as-is", "boot.png"]);
    assert!(stdout.contains("\nboot.png: 9 Ankle boot  (9 Ankle boot "), "{stdout}");
    // The same boot as a photo: magnified 4×, dark on a white margin. The model's own preprocessing (Fashion-MNIST's)
    // brings it back; a digit's (20 pixels, centred by mass) made it a "Sandal" before.
    let boot = image::open(dir.path().join("boot.png")).unwrap().to_luma8();
    let mut big = image::imageops::resize(&boot, 112, 112, image::imageops::FilterType::Nearest);
    image::imageops::invert(&mut big);
    let mut photo = image::GrayImage::from_pixel(172, 152, image::Luma([255]));
    image::imageops::replace(&mut photo, &big, 30, 20);
    photo.save(dir.path().join("photo.png")).unwrap();
    let stdout = ok(dir.path(), &["predict", "--model", "f.safetensors", "photo.png"]);
    assert!(stdout.starts_with("input:   fashion (Fashion-MNIST's preprocessing: "), "{stdout}");
    assert!(stdout.contains("\nphoto.png: 9 Ankle boot  ("), "{stdout}");
    let stdout = ok(dir.path(), &["predict", "--model", "f.safetensors", "--preprocess", "digits", "photo.png"]);
    assert!(
        stdout.contains("\nphoto.png: 5 Sandal  ("),
        "this model, seed 42, makes a digit-like boot a sandal: {stdout}"
    );

    // eval finds Fashion-MNIST from the checkpoint, names the classes, and draws the confusion matrix.
    let stdout = ok(dir.path(), &["eval", "--model", "f.safetensors", "--confusion-png", "confusion.png"]);
    assert!(stdout.contains("data:    fashion-mnist: 10000 test samples"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("    9     1000 ") && l.ends_with("  Ankle boot")), "{stdout}");
    let img = image::open(dir.path().join("confusion.png")).unwrap();
    assert!(img.width() == img.height() && img.width() > 300, "{}×{}", img.width(), img.height());
}
