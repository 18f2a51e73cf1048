//! Full-batch gradient descent (`--batch-size full`): one step per epoch over the whole training split, the same run
//! as a batch of exactly the split's size; its checkpoints say `full` and resume (`--save-every`). A step too large
//! for one pass runs in chunks of rows whose gradients are summed before its one update: the same run within float
//! rounding (bit for bit with one chunk), sized so that no pass exceeds the GPU's binding limit.

mod common;
mod support;

use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Dataset;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::{Layout, Split};
use gpu_mnist::train::{EpochMetrics, TrainConfig, Trainer, FULL_BATCH, PASS_BYTES};

use support::{fails, ok};

fn model() -> ModelConfig {
    ModelConfig {
        inputs: 784,
        hidden: vec![16],
        classes: 10,
        activation: Activation::Tanh,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
        output_units: OutputUnits::Classes,
    }
}

fn config(batch_size: usize) -> TrainConfig {
    TrainConfig {
        chunk_rows: None,
        epochs: 3,
        batch_size,
        seed: 5,
        eval_batch: 100,
        lr_schedule: Default::default(),
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    }
}

/// `epochs` epochs of `config` on the CPU: each epoch's metrics (seconds zeroed), the weights and the step count.
fn run(data: &Arc<Dataset>, config: TrainConfig) -> (Vec<EpochMetrics>, Vec<Vec<f32>>, u64) {
    let optimizer = Optimizer::momentum(0.5, 0.9).unwrap();
    let layout = config.layout_for(&model(), optimizer, data).unwrap();
    let backend = CpuBackend::new(&layout, Arc::clone(data)).unwrap();
    let mut trainer = Trainer::new(backend, layout, Arc::clone(data), config.clone()).unwrap();
    assert_eq!(trainer.steps_per_epoch(), 1, "one step per epoch");
    let metrics = (0..config.epochs)
        .map(|_| EpochMetrics { seconds: 0.0, samples_per_sec: 0.0, ..trainer.epoch(&mut |_| {}).unwrap() })
        .collect();
    let params = trainer.backend.read_params().unwrap().tensors().iter().map(|t| t.to_vec()).collect();
    (metrics, params, trainer.backend.steps_done().unwrap())
}

/// `full` is one step per epoch over all 300 samples: bit for bit the run of a batch of exactly 300, and of any
/// larger batch, which the split's size cuts to 300.
#[test]
fn full_batch_should_match_a_batch_of_the_whole_split() {
    let data = common::mnist_subset(300, 100);
    let full = run(&data, config(FULL_BATCH));
    assert_eq!(full.2, 3, "3 epochs of one step");
    assert_eq!(full, run(&data, config(300)));
    assert_eq!(full, run(&data, config(1_000_000)));
    // It learns: the loss falls.
    assert!(full.0[2].train_loss < full.0[0].train_loss, "{:?}", full.0);
}

/// From the command line: `--batch-size full` is printed and saved as `full`, a run resumed from its checkpoint (saved
/// every epoch) ends where the straight run ends, and resuming with a numeric batch size is refused.
#[test]
fn full_batch_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flags =
        ["train", "--limit", "300", "--hidden", "16", "--batch-size", "full", "--lr-schedule", "constant", "-q"];
    let straight: Vec<&str> = flags.iter().copied().chain(["--epochs", "3", "--save", "a.st"]).collect();
    let out = ok(d, &straight);
    assert!(out.contains(", batch full, 3 epochs"), "{out}");
    // A run of 2 epochs saving every epoch, resumed to 3.
    let two: Vec<&str> =
        flags.iter().copied().chain(["--epochs", "2", "--save", "c.st", "--save-every", "1"]).collect();
    let _ = ok(d, &two);
    let ck = Checkpoint::load(&d.join("c.st")).unwrap();
    assert_eq!((ck.batch_size, ck.epoch, ck.steps_done), (FULL_BATCH, 2, 2));
    assert_eq!(ck.metadata().get("batch_size").map(String::as_str), Some("full"));
    let resumed = ok(d, &["train", "--resume", "c.st", "--epochs", "3", "--save", "c3.st", "-q", "--limit", "300"]);
    assert!(resumed.contains(", batch full, 3 epochs"), "{resumed}");
    let (a, c) = (Checkpoint::load(&d.join("a.st")).unwrap(), Checkpoint::load(&d.join("c3.st")).unwrap());
    assert_eq!(a.params, c.params, "the resumed run ends with the straight run's weights");
    assert_eq!(a.steps_done, 3);
    let (_, stderr) =
        fails(d, &["train", "--resume", "c.st", "--epochs", "3", "--batch-size", "300", "--limit", "300"]);
    assert!(stderr.contains("--batch-size 300 differs from the checkpoint's full"), "{stderr}");
    let (_, stderr) = fails(d, &["train", "--batch-size", "none"]);
    assert!(stderr.contains("'none' is not a batch size") && stderr.contains("`full`"), "{stderr}");
}

fn chunked(chunk_rows: usize) -> TrainConfig {
    TrainConfig { chunk_rows: Some(chunk_rows), ..config(FULL_BATCH) }
}

/// The whole split in chunks of 64 rows (4 × 64 + 44), 300 (one chunk) and 7: the same run as one pass, within
/// float rounding (the chunks sum each gradient in another order), with the same counts; loss sums agree to 1e-5.
#[test]
fn chunked_full_batch_should_match_one_pass() {
    let data = common::mnist_subset(300, 100);
    let whole = run(&data, config(FULL_BATCH));
    for chunk in [64, 300, 7] {
        let parts = run(&data, chunked(chunk));
        assert_eq!(parts.2, whole.2, "chunks of {chunk}: one step per epoch");
        for (p, w) in parts.0.iter().zip(&whole.0) {
            assert_eq!((p.train_acc, p.test_acc), (w.train_acc, w.test_acc), "chunks of {chunk}");
            assert!((p.train_loss - w.train_loss).abs() <= 1e-5, "chunks of {chunk}: {p:?} vs {w:?}");
            assert!((p.test_loss - w.test_loss).abs() <= 1e-5, "chunks of {chunk}: {p:?} vs {w:?}");
        }
        let mut worst = 0.0f32;
        for (p, w) in parts.1.iter().flatten().zip(whole.1.iter().flatten()) {
            let diff = (p - w).abs();
            worst = worst.max(diff);
            assert!(diff <= 1e-6 + 1e-5 * w.abs(), "chunks of {chunk}: {p} vs {w}");
        }
        println!("chunks of {chunk}: max |chunked − one pass| {worst:e}");
    }
}

/// A step in one chunk is the reference step, bit for bit: the sum of one chunk is its gradient (scale 1), and the
/// update reads it.
#[test]
fn one_chunk_should_equal_the_reference_step() {
    let data = common::mnist_subset(40, 10);
    let optimizer = Optimizer::adam(0.01).unwrap();
    let layout = Layout::new(&model(), optimizer, 40);
    let chunked = layout.clone().with_chunks(40);
    let run = |layout: &Layout, plan: gpu_mnist::plan::Plan| {
        let mut cpu = CpuBackend::new(layout, Arc::clone(&data)).unwrap();
        cpu.write_params(&gpu_mnist::train::initial_params(&layout.model, 3).unwrap()).unwrap();
        let id = cpu.prepare(&plan).unwrap();
        for _ in 0..2 {
            cpu.begin_epoch(Split::Train, &(0..40).rev().collect::<Vec<u32>>()).unwrap();
            cpu.run(id, 1).unwrap();
        }
        (cpu.read_params().unwrap(), cpu.stats(Split::Train).unwrap(), cpu.steps_done().unwrap())
    };
    let reference = run(&layout, layout.reference_train_step(40).unwrap());
    let one_chunk = run(&chunked, chunked.chunk_step(40, 40, true, true).unwrap());
    assert_eq!(reference, one_chunk);
    assert_eq!(one_chunk.2, 2);
    // A chunk of a step that is not its last counts no step; the wrong sizes are refused.
    assert!(chunked.chunk_step(20, 40, true, true).is_err());
    assert!(chunked.chunk_step(41, 41, true, true).is_err());
    assert!(layout.chunk_step(40, 40, true, true).is_err(), "a layout without gradient sums");
}

/// Full-batch MNIST (60 000 rows) with the default model would need 1.1 GB of buffers in one pass: its layout holds
/// chunks that fit PASS_BYTES (the GPU's default binding limit), the eval batch included; a batch of 64 is one pass.
/// Dropout cannot be chunked and says so.
#[test]
fn a_step_too_large_for_one_pass_is_chunked_to_fit() {
    let big = ModelConfig { hidden: vec![512, 512], ..model() };
    let optimizer = Optimizer::momentum(0.05, 0.9).unwrap();
    let full = TrainConfig { batch_size: 60_000, eval_batch: 1000, ..config(FULL_BATCH) };
    let layout = full.layout(&big, optimizer).unwrap();
    let chunk = layout.chunk_rows.expect("chunked");
    assert!((1000..60_000).contains(&chunk), "{chunk}");
    let arena = layout.bytes() + 256 * layout.buffers.len() as u64;
    assert!(arena <= PASS_BYTES, "{arena} bytes");
    // One more row per pass would not fit.
    let over = TrainConfig { chunk_rows: Some(chunk + 1), ..full.clone() }.layout(&big, optimizer).unwrap();
    assert!(over.bytes() + 256 * over.buffers.len() as u64 > PASS_BYTES);
    let small = TrainConfig { batch_size: 64, ..full.clone() }.layout(&big, optimizer).unwrap();
    assert_eq!((small.chunk_rows, small.max_rows), (None, 1000));
    let err = TrainConfig { dropout: 0.2, ..full }.layout(&big, optimizer).unwrap_err().to_string();
    assert!(err.contains("--dropout 0.2 with a step of 60000 rows, which runs in chunks of"), "{err}");
}

/// A chunked full-batch run resumed from a checkpoint saved after its first epoch ends where the straight run ends.
#[test]
fn chunked_full_batch_resumes_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flags = ["train", "--limit", "300", "--hidden", "16", "--batch-size", "full", "--chunk-rows", "64", "-q"];
    let straight: Vec<&str> = flags.iter().copied().chain(["--epochs", "2", "--save", "a.st"]).collect();
    let _ = ok(d, &straight);
    // The first epoch of the same two-epoch schedule (the linear decay is stretched over the resumed run).
    let first: Vec<&str> = flags.iter().copied().chain(["--epochs", "1", "--save", "b.st"]).collect();
    let _ = ok(d, &first);
    let resumed = ok(
        d,
        &["train", "--resume", "b.st", "--epochs", "2", "--limit", "300", "--chunk-rows", "64", "--save", "c.st", "-q"],
    );
    assert!(resumed.contains("batch full"), "{resumed}");
    let (a, c) = (Checkpoint::load(&d.join("a.st")).unwrap(), Checkpoint::load(&d.join("c.st")).unwrap());
    assert_eq!((a.steps_done, c.steps_done), (2, 2));
    assert_eq!(a.params, c.params);
}
