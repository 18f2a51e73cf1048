//! Sizes from the command line, checkpoints and data files that are far from what a run needs: buffers are sized by
//! the rows that exist, and a memory error names the flag that actually helps.

mod support;

use std::sync::Arc;

use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{Dataset, LabeledImages};
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::Layout;
use gpu_mnist::train::TrainConfig;

fn data(train: usize, test: usize, pixels: usize) -> Dataset {
    let split =
        |n: usize| LabeledImages::from_pixels(vec![7; n * pixels], (0..n).map(|i| (i % 10) as u8).collect(), 1, pixels);
    Dataset::new("sizes", split(train), split(test), 10)
}

fn model(inputs: usize, hidden: Vec<usize>) -> ModelConfig {
    ModelConfig {
        output_units: OutputUnits::Classes,
        inputs,
        hidden,
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    }
}

/// A batch of a million over 2000 samples gets buffers for 2000 rows (the evaluation batch for the test samples
/// that exist), not for a million.
#[test]
fn buffers_should_be_sized_by_the_rows_that_exist() {
    let config = TrainConfig {
        chunk_rows: None,
        epochs: 1,
        batch_size: 1_000_000,
        seed: 1,
        eval_batch: 1000,
        lr_schedule: Default::default(),
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let opt = Optimizer::sgd(0.1).unwrap();
    let layout = config.layout_for(&model(784, vec![8]), opt, &data(2000, 300, 784)).unwrap();
    assert_eq!(layout.max_rows, 2000);
    let layout = config.layout_for(&model(784, vec![8]), opt, &data(100, 300, 784)).unwrap();
    assert_eq!(layout.max_rows, 300, "the evaluation batch, capped at the 300 test samples");
    // Through the binary: it trains, at once.
    let dir = tempfile::tempdir().unwrap();
    let out = support::ok(
        dir.path(),
        &["train", "--backend", "cpu", "--limit", "2000", "--batch-size", "1000000", "--hidden", "8", "--epochs", "1"],
    );
    assert!(out.contains("epoch 1/1"), "{out}");
}

/// A layout too large for memory is refused with the flag that shrinks what dominates it: the rows of a step
/// (large images and the evaluation batch) or the layers' widths.
#[test]
fn a_memory_error_should_name_the_flag_that_helps() {
    let opt = Optimizer::sgd(0.1).unwrap();
    let rows_heavy = Layout::new(&model(1 << 20, vec![4]), opt, 1 << 16);
    let width_heavy = Layout::new(&model(784, vec![1 << 17, 1 << 17]), opt, 1);
    for (layout, flag) in [(rows_heavy, "--eval-batch"), (width_heavy, "--hidden")] {
        let Err(err) = CpuBackend::new(&layout, Arc::new(Dataset::empty(layout.model.inputs, 10))) else {
            panic!("a {} GiB layout was accepted", layout.bytes() >> 30);
        };
        let msg = err.to_string();
        assert!(msg.contains(flag), "{msg}");
    }
}

/// A PNG whose header declares `width × height` gray pixels and whose image data is a few bytes: what a 275 KB file
/// of 16000 × 16000 pixels looks like to a reader before decoding.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
        out
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grayscale, deflate, no filter method, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// A picture declaring more pixels than `predict` converts is refused from its header, alone: the other pictures of
/// the same command line are still classified.
#[test]
fn a_huge_picture_should_be_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    support::ok(
        d,
        &["train", "--backend", "cpu", "--limit", "300", "--hidden", "8", "--epochs", "1", "--save", "m.st"],
    );
    support::ok(d, &["show", "--count", "1", "--scale", "1", "--out", "digit.png"]);
    std::fs::write(d.join("huge.png"), png_header_only(16000, 16000)).unwrap();
    let (stdout, stderr) = support::fails(d, &["predict", "--model", "m.st", "huge.png", "digit.png"]);
    assert!(stderr.contains("huge.png") && stderr.contains("16000×16000"), "{stderr}");
    assert!(stderr.contains("1 of 2 pictures"), "{stderr}");
    assert!(stdout.contains("digit.png: "), "the other picture was classified: {stdout}");
}

/// Resuming over a different number of training samples: at the end of an epoch it continues, and the next epoch
/// really trains (all of its steps, counted from where the checkpoint's epochs ended); in the middle of an epoch it is
/// refused, since that epoch's order cannot be finished; a step count that does not fit its epochs (u64::MAX) is a
/// damaged checkpoint.
#[test]
fn a_resume_should_train_every_step_or_refuse() {
    use gpu_mnist::checkpoint::Checkpoint;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = ["train", "--backend", "cpu", "--hidden", "8", "--batch-size", "64"];
    let run = |extra: &[&'static str]| -> Vec<&'static str> { [&base[..], extra].concat() };
    support::ok(d, &run(&["--limit", "2000", "--epochs", "1", "--save", "m.st"]));
    let m = Checkpoint::load(&d.join("m.st")).unwrap();
    assert_eq!((m.epoch, m.steps_done), (1, 32), "⌈2000 / 64⌉ steps");
    // An epoch boundary, half the data: epoch 2 trains its 16 steps.
    support::ok(d, &run(&["--limit", "1000", "--epochs", "2", "--resume", "m.st", "--save", "half.st"]));
    let half = Checkpoint::load(&d.join("half.st")).unwrap();
    assert_eq!((half.epoch, half.steps_done), (2, 32 + 16));
    assert_ne!(half.params, m.params, "the resumed epoch changed nothing");
    // Mid-epoch (8 steps into epoch 2): the same data continues, other data is refused.
    let mut mid = m.clone();
    mid.steps_done = 40;
    mid.save(&d.join("mid.st")).unwrap();
    support::ok(d, &run(&["--limit", "2000", "--epochs", "2", "--resume", "mid.st"]));
    let (_, stderr) = support::fails(d, &run(&["--limit", "1000", "--epochs", "2", "--resume", "mid.st"]));
    assert!(stderr.contains("8 steps into epoch 2") && stderr.contains("--limit"), "{stderr}");
    // A step count beyond its epochs.
    let mut bad = m.clone();
    bad.steps_done = u64::MAX;
    bad.save(&d.join("bad.st")).unwrap();
    let (_, stderr) = support::fails(d, &run(&["--limit", "2000", "--epochs", "2", "--resume", "bad.st"]));
    assert!(stderr.contains("damaged or was edited"), "{stderr}");
}

/// The values a size can take at its extremes: 0, 1, 2³¹, 2³², 2⁶³, u64::MAX and neighbours.
const EXTREMES: [u64; 9] = [0, 1, 2, 1 << 31, (1 << 32) - 1, 1 << 32, 1 << 63, u64::MAX - 1, u64::MAX];

/// Runs the binary under a 20-second watchdog; a run that is still going then is killed and counts as fine (a huge
/// but valid request, e.g. 2³² epochs, trains for a long time), so what is checked is how runs end: never a panic,
/// an abort or an allocation failure, only success or a clear error (exit 1, or 2 for the parser's usage errors).
fn ends_cleanly(dir: &std::path::Path, args: &[String]) -> Result<(), String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(out) = support::wait_bounded(support::spawn(dir, &args), std::time::Duration::from_secs(20)) else {
        return Ok(());
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let bad = stderr.contains("panicked") || stderr.contains("memory allocation") || stderr.contains("overflow");
    // 0: done; 1: a clear error of ours; 2: a usage error of the argument parser (a value out of its type's range).
    if bad || !matches!(out.status.code(), Some(0..=2)) {
        return Err(format!("{args:?}: exit {:?}\n{stderr}", out.status));
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// Every numeric flag of every command, at an extreme value: the run ends in success or a clear error.
    #[test]
    fn extreme_numeric_flags_should_end_cleanly(flag in 0usize..15, value in proptest::sample::select(EXTREMES.to_vec())) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        support::ok(d, &["train", "--backend", "cpu", "--hidden", "8", "--limit", "300", "--epochs", "1", "--save", "ok.st"]);
        support::ok(d, &["show", "--count", "1", "--scale", "1", "--out", "d.png"]);
        let v = value.to_string();
        let train = |extra: &[&str]| {
            let mut a = vec!["train", "--backend", "cpu", "--hidden", "8", "--limit", "300", "--epochs", "1"];
            a.extend(extra);
            a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        };
        let s = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let args = match flag {
            0 => train(&["--batch-size", &v]),
            1 => train(&["--eval-batch", &v]),
            2 => train(&["--seed", &v]),
            3 => s(&["train", "--backend", "cpu", "--hidden", "8", "--limit", &v, "--epochs", "1"]),
            4 => train(&["--save-every", &v, "--save", "x.st"]),
            5 => s(&["train", "--backend", "cpu", "--hidden", &v, "--limit", "300", "--epochs", "1"]),
            6 => s(&["train", "--backend", "cpu", "--resume", "ok.st", "--epochs", &v]),
            7 => s(&["bench", "--backends", "cpu", "--hidden", "8", "--limit", "300", "--epochs", "1", "--warmup-steps", &v]),
            8 => s(&["bench", "--backends", "cpu", "--hidden", "8", "--limit", "300", "--epochs", "1", "--profile", "--profile-steps", &v]),
            9 => s(&["bench", "--backends", "cpu", "--matmul", &v]),
            10 => s(&["show", "--count", &v, "--out", "s.png"]),
            11 => s(&["show", "--count", "2", "--columns", &v, "--out", "s.png"]),
            12 => s(&["show", "--count", "2", "--offset", &v, "--out", "s.png"]),
            13 => s(&["predict", "--model", "ok.st", "--top", &v, "d.png"]),
            _ => s(&["eval", "--model", "ok.st", "--backend", "cpu", "--eval-batch", &v]),
        };
        proptest::prop_assert!(ends_cleanly(d, &args).is_ok(), "{:?}", ends_cleanly(d, &args));
    }

    /// Every numeric key of a checkpoint, at an extreme value (the part of an epoch measured too), and a data digest made of one (data gpu-mnist does
    /// not know): `--resume` and `eval` end in success or a clear error.
    #[test]
    fn extreme_checkpoint_numbers_should_end_cleanly(key in 0usize..7, value in proptest::sample::select(EXTREMES.to_vec())) {
        use gpu_mnist::checkpoint::Checkpoint;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        support::ok(d, &["train", "--backend", "cpu", "--hidden", "8", "--limit", "300", "--epochs", "1", "--save", "ok.st"]);
        let mut ck = Checkpoint::load(&d.join("ok.st")).unwrap();
        match key {
            0 => ck.epoch = value as usize,
            1 => ck.steps_done = value,
            2 => ck.seed = value,
            3 => ck.batch_size = value as usize,
            4 => ck.train_samples = value as usize,
            5 => {
                // Saved 3 steps into its first epoch, with what those steps measured at the extreme.
                use gpu_mnist::{backend::Stats, train::EpochSoFar};
                let n = u32::try_from(value).unwrap_or(u32::MAX);
                (ck.epoch, ck.steps_done) = (0, 3);
                let stats = Stats { loss_sum: value as f32, correct: n, samples: n };
                ck.epoch_so_far = Some(EpochSoFar { stats, seconds: value as f64 });
            }
            _ => ck.data_digest = Some(format!("{value:064x}")),
        }
        ck.save(&d.join("x.st")).unwrap();
        let s = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for args in [
            s(&["train", "--backend", "cpu", "--limit", "300", "--resume", "x.st", "--epochs", "3"]),
            s(&["eval", "--model", "x.st", "--backend", "cpu"]),
        ] {
            proptest::prop_assert!(ends_cleanly(d, &args).is_ok(), "{:?}", ends_cleanly(d, &args));
        }
    }
}
