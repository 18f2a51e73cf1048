//! Sizes from the command line, checkpoints and data files that are far from what a run needs: buffers are sized by
//! the rows that exist, and a memory error names the flag that actually helps.

mod support;

use std::sync::Arc;

use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{Dataset, LabeledImages};
use gpu_mnist::model::{Activation, Loss, ModelConfig};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::Layout;
use gpu_mnist::train::TrainConfig;

fn data(train: usize, test: usize, pixels: usize) -> Dataset {
    let split = |n: usize| LabeledImages {
        images: vec![7; n * pixels],
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        rows: 1,
        cols: pixels,
    };
    Dataset { name: "sizes".into(), train: split(train), test: split(test), classes: 10 }
}

fn model(inputs: usize, hidden: Vec<usize>) -> ModelConfig {
    ModelConfig { inputs, hidden, classes: 10, activation: Activation::Relu, loss: Loss::Xent }
}

/// A batch of a million over 2000 samples gets buffers for 2000 rows (the evaluation batch for the test samples
/// that exist), not for a million.
#[test]
fn buffers_should_be_sized_by_the_rows_that_exist() {
    let config =
        TrainConfig { epochs: 1, batch_size: 1_000_000, seed: 1, eval_batch: 1000, lr_schedule: Default::default() };
    let opt = Optimizer::Sgd { lr: 0.1 };
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
    let opt = Optimizer::Sgd { lr: 0.1 };
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
