//! Full-batch gradient descent (`--batch-size full`): one step per epoch over the whole training split, the same run
//! as a batch of exactly the split's size; its checkpoints say `full` and resume bit-exactly (`--save-every`).

mod common;
mod support;

use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Dataset;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::train::{EpochMetrics, TrainConfig, Trainer, FULL_BATCH};

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
        epochs: 3,
        batch_size,
        seed: 5,
        eval_batch: 100,
        lr_schedule: Default::default(),
        init: None,
        dropout: 0.0,
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
