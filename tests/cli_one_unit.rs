//! One output unit for a two-class problem from the command line: `--loss bce` (one logit) and `--loss mse
//! --output-units 1` train, save, evaluate and predict (both classes' probabilities, 1 − a and a); the flags that
//! do not fit (softmax on one unit, one unit for ten classes, bce on one unit per class) are refused naming the fix.

mod support;

use std::path::Path;

use support::{fails, idx, ok};

/// A two-class IDX set of 28×28 images in `dir/halves`: class 1 lights the upper half, class 0 the lower half, each
/// pixel bright with some noise.
fn halves(dir: &Path) {
    let data = dir.join("halves");
    std::fs::create_dir_all(&data).unwrap();
    let side = 28usize;
    let make = |n: usize| {
        let labels: Vec<u8> = (0..n).map(|i| u8::from(i % 3 == 0 || i % 5 == 0)).collect();
        let mut images = vec![0u8; n * side * side];
        for (i, &label) in labels.iter().enumerate() {
            let rows = if label == 1 { 0..side / 2 } else { side / 2..side };
            for r in rows {
                for c in 4..side - 4 {
                    images[i * side * side + r * side + c] = 150 + ((i * 7 + r * 3 + c) % 100) as u8;
                }
            }
        }
        (images, labels)
    };
    for (prefix, n) in [("train", 240), ("t10k", 60)] {
        let (images, labels) = make(n);
        let images = idx(&[n as u32, side as u32, side as u32], &images);
        std::fs::write(data.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(data.join(format!("{prefix}-labels-idx1-ubyte")), idx(&[n as u32], &labels)).unwrap();
    }
    // Two pictures to predict: an upper-half one (class 1) and a lower-half one (class 0).
    for (name, upper) in [("up.png", true), ("down.png", false)] {
        let img = image::GrayImage::from_fn(side as u32, side as u32, |c, r| {
            let lit = (r < 14) == upper && (4..24).contains(&c);
            image::Luma([if lit { 220 } else { 0 }])
        });
        img.save(dir.join(name)).unwrap();
    }
}

/// The percentage `predict` printed for `class` on a line `up.png: 1  (1 87.3%, 0 12.7%)`.
fn percent(line: &str, class: &str) -> f64 {
    let inner = line.split('(').nth(1).unwrap().trim_end_matches(')');
    let part = inner.split(", ").find(|p| p.starts_with(&format!("{class} "))).unwrap();
    part.split(' ').nth(1).unwrap().trim_end_matches('%').parse().unwrap()
}

#[test]
fn one_output_unit_trains_evaluates_and_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    halves(d);
    let data = ["--dataset", "idx", "--data-dir", "halves"];
    for (loss_flags, lr, describe) in [
        (&["--loss", "bce"][..], "0.5", "784-8-1 sigmoid bce"),
        (&["--loss", "mse", "--output-units", "1"][..], "2", "784-8-1 sigmoid mse"),
    ] {
        let mut args = vec!["train", "--hidden", "8", "--activation", "sigmoid", "--epochs", "3", "--batch-size", "8"];
        args.extend(["--optimizer", "sgd", "--lr", lr, "--save", "m.safetensors"]);
        args.extend(data);
        args.extend(loss_flags);
        let train = ok(d, &args);
        assert!(train.contains(&format!("model:   {describe}")), "{train}");
        let last = train.lines().find(|l| l.starts_with("epoch 3/3")).unwrap();
        assert!(last.contains("test loss") && last.contains("acc 100.00%"), "{train}");

        let eval = ok(d, &["eval", "--model", "m.safetensors", "--backend", "cpu", "--data-dir", "halves"]);
        assert!(eval.contains("class  samples  correct     acc"), "{eval}");
        let result = eval.lines().find(|l| l.starts_with("test loss")).unwrap();
        assert!(result.contains("acc 100.00% (60/60)"), "{eval}");

        let predict = ok(d, &["predict", "--model", "m.safetensors", "--as-is", "up.png", "down.png"]);
        let (up, down) =
            (predict.lines().find(|l| l.starts_with("up.png")), predict.lines().find(|l| l.starts_with("down.png")));
        let (up, down) = (up.unwrap(), down.unwrap());
        assert!(up.starts_with("up.png: 1 ") && down.starts_with("down.png: 0 "), "{predict}");
        // Both classes, their probabilities 1 − a and a adding up to 100%.
        for line in [up, down] {
            let total = percent(line, "0") + percent(line, "1");
            assert!((total - 100.0).abs() <= 0.11, "{line}");
        }
    }
}

#[test]
fn flags_that_do_not_fit_one_unit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    halves(d);
    let data = ["--dataset", "idx", "--data-dir", "halves", "--epochs", "1"];
    for (flags, expected) in [
        (&["--loss", "xent", "--output-units", "1"][..], "--loss xent does not take --output-units 1"),
        (&["--loss", "bce", "--output-units", "classes"][..], "binary cross-entropy has one output unit"),
    ] {
        let mut args = vec!["train"];
        args.extend(data);
        args.extend(flags);
        let (_, stderr) = fails(d, &args);
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
    // MNIST has 10 classes: one unit cannot tell them apart.
    let (_, stderr) = fails(d, &["train", "--limit", "100", "--loss", "bce", "--epochs", "1"]);
    assert!(stderr.contains("separates 2 classes, but the data has 10"), "{stderr}");
}
