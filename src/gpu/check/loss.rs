//! The checks of `loss.wgsl` (`softmax_xent`, `quadratic_cost`, `binary_xent`, `perceptron`): dz, Σ loss and the
//! count of correct predictions, with and without dz, and the predictions on rows full of ties (argmax's first
//! maximum; one output unit exactly at its threshold).

use rand::seq::SliceRandom;
use rand::RngExt;

use crate::backend::{Backend, Stats};
use crate::cpu::ops;
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context::GpuContext;
use crate::model::{self, Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use crate::optim::Optimizer;
use crate::plan::{BufId, Layout, Op, Split};

use super::compare::{compare, CheckRow, Tolerance};
use super::fixtures::{nan, random_data, run_once, uniform};

/// `(rows, classes)` of the loss checks with one output unit per class.
pub const LOSS_SHAPES: [(usize, usize); 6] = [(1, 10), (7, 10), (63, 2), (65, 7), (784, 10), (300, 3)];

/// `(rows, 1)` of the loss checks with one output unit for two classes: a lone row, the edges of 64, more rows than
/// the kernel's 256 invocations.
pub const ONE_UNIT_SHAPES: [(usize, usize); 5] = [(1, 1), (63, 1), (65, 1), (300, 1), (784, 1)];

/// The shapes `loss` takes: one unit per class, one unit for two classes, or both.
fn shapes_of(loss: Loss) -> Vec<(usize, usize)> {
    let (per_class, one_unit) = (LOSS_SHAPES.to_vec(), ONE_UNIT_SHAPES.to_vec());
    match loss {
        Loss::Xent => per_class,
        Loss::Mse | Loss::Perceptron => [per_class, one_unit].concat(),
        Loss::Bce => one_unit,
    }
}

/// The kernel of `loss` on every shape it takes ([`LOSS_SHAPES`], [`ONE_UNIT_SHAPES`]).
pub(super) async fn cases(ctx: &GpuContext, rng: &mut model::Rng, loss: Loss) -> Result<Vec<CheckRow>> {
    let mut rows = Vec::new();
    for (r, classes) in shapes_of(loss) {
        rows.extend(loss_check(ctx, rng, loss, r, classes, false).await?);
    }
    Ok(rows)
}

/// The predictions of every loss on rows full of ties: the first maximum wins, as on the CPU; one output unit
/// exactly at its threshold (0.5, or a logit of 0) is class 0.
pub(super) async fn argmax_cases(ctx: &GpuContext, rng: &mut model::Rng) -> Result<Vec<CheckRow>> {
    let mut rows = Vec::new();
    for &loss in Loss::ALL {
        let shapes: &[(usize, usize)] = match loss {
            Loss::Xent => &[(7, 10), (300, 3), (65, 2)],
            Loss::Mse => &[(7, 10), (300, 3), (65, 2), (65, 1), (300, 1)],
            Loss::Bce => &[(65, 1), (300, 1)],
            Loss::Perceptron => &[(7, 10), (300, 3), (65, 2), (65, 1), (300, 1)],
        };
        for &(r, classes) in shapes {
            rows.extend(loss_check(ctx, rng, loss, r, classes, true).await?);
        }
    }
    Ok(rows)
}

/// `n` outputs of the last layer for a `loss` check: logits for the cross-entropies (every 17th one ×20, up to ±100,
/// to test the max subtraction and e^−|z|), sigmoid outputs for the cost, scores for the perceptron (every 5th one
/// exactly 0, the tie that must count as a mistake, and every 17th ×20); with `ties`, drawn from three values (the
/// one-unit thresholds 0.5 and 0 among them).
fn loss_inputs(rng: &mut model::Rng, loss: Loss, n: usize, ties: bool) -> Vec<f32> {
    match (loss, ties) {
        (Loss::Xent | Loss::Bce, false) => uniform(rng, n, -5.0, 5.0)
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i % 17 == 3 { v * 20.0 } else { v })
            .collect(),
        (Loss::Mse, false) => uniform(rng, n, 0.0, 1.0),
        (Loss::Perceptron, false) => uniform(rng, n, -5.0, 5.0)
            .into_iter()
            .enumerate()
            .map(|(i, v)| match i {
                _ if i % 5 == 2 => 0.0,
                _ if i % 17 == 3 => v * 20.0,
                _ => v,
            })
            .collect(),
        (Loss::Xent, true) => (0..n).map(|_| rng.random_range(0..3u8) as f32).collect(),
        (Loss::Mse, true) => (0..n).map(|_| [0.25, 0.5, 0.75][rng.random_range(0..3usize)]).collect(),
        (Loss::Bce | Loss::Perceptron, true) => (0..n).map(|_| [-1.0, 0.0, 1.0][rng.random_range(0..3usize)]).collect(),
    }
}

/// The kernel's name and its op writing `dz` (or not: evaluation) from `l.a`.
fn loss_op(loss: Loss, dz: Option<BufId>, a: BufId, rows: usize, classes: usize) -> (&'static str, Op) {
    match loss {
        Loss::Xent => ("softmax_xent", Op::SoftmaxXent { dz, logits: a, split: Split::Train, rows, classes }),
        Loss::Mse => ("quadratic_cost", Op::QuadraticCost { dz, a, split: Split::Train, rows, classes }),
        Loss::Bce => ("binary_xent", Op::BinaryXent { dz, logits: a, split: Split::Train, rows }),
        Loss::Perceptron => ("perceptron", Op::Perceptron { dz, z: a, split: Split::Train, rows, classes }),
    }
}

/// The loss kernel of `loss` on random outputs (or, with `ties`, outputs drawn from three values so that most rows
/// have tied maxima); compares dz, Σ loss and the correct count, then the same without dz (evaluation).
async fn loss_check(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    loss: Loss,
    rows: usize,
    classes: usize,
    ties: bool,
) -> Result<Vec<CheckRow>> {
    // One output unit stands for two classes.
    let output_units = if classes == 1 { OutputUnits::One } else { OutputUnits::Classes };
    let model = ModelConfig {
        inputs: 1,
        hidden: vec![],
        classes: classes.max(2),
        activation: Activation::Relu,
        loss,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
        output_units,
    };
    let layout = Layout::new(&model, Optimizer::default(), rows);
    let l = layout.layers[0];
    let n = rows + 5;
    let data = random_data(rng, n, 1, classes.max(2), false);
    let out = loss_inputs(rng, loss, rows * classes, ties);
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(rng);
    let labels: Vec<u32> = order[..rows].iter().map(|&i| u32::from(data.train.labels[i as usize])).collect();

    // Reference.
    let mut want_dz = vec![0.0; rows * classes];
    let want = match loss {
        Loss::Xent => ops::softmax_xent(Some(&mut want_dz), &out, &labels, rows, classes)?,
        Loss::Mse => ops::quadratic_cost(Some(&mut want_dz), &out, &labels, rows, classes)?,
        Loss::Bce => ops::binary_xent(Some(&mut want_dz), &out, &labels, rows)?,
        Loss::Perceptron => ops::perceptron(Some(&mut want_dz), &out, &labels, rows, classes)?,
    };

    // GPU: gather (for the batch labels), then the loss with and without dz.
    let mut gpu = GpuBackend::new(ctx, &layout, data)?;
    gpu.write_buffer(l.a, &out)?;
    gpu.write_buffer(l.d, &nan(rows * classes))?;
    let gather = Op::Gather { x: l.x, split: Split::Train, rows, features: 1 };
    let shape = format!("rows={rows} classes={classes}{}", if ties { " ties" } else { "" });
    let mut rows_out = Vec::new();
    // The perceptron's dz and loss are also compared on ties: a score of exactly 0 must update on both backends.
    let values = !ties || loss == Loss::Perceptron;
    for with_dz in [true, false] {
        gpu.begin_epoch(Split::Train, &order)?;
        let (name, op) = loss_op(loss, with_dz.then_some(l.d), l.a, rows, classes);
        run_once(&mut gpu, rows, vec![gather, op], 1)?;
        let stats = gpu.stats_async(Split::Train).await?;
        let variant = if with_dz { "" } else { " (no dz)" };
        if with_dz && values {
            let got_dz = gpu.read_buffer_async(l.d).await?;
            rows_out.push(compare(&format!("{name} dz"), &shape, &got_dz, &want_dz, Tolerance::DEFAULT));
        }
        if values {
            rows_out.push(compare(
                &format!("{name} Σloss{variant}"),
                &shape,
                &[stats.loss_sum],
                &[want.loss_sum],
                Tolerance::DEFAULT,
            ));
        }
        rows_out.push(count_row(&format!("{name} predicted/correct{variant}"), &shape, stats, want.correct, rows));
    }
    Ok(rows_out)
}

/// Exact comparison of the correct-prediction and sample counts.
fn count_row(kernel: &str, shape: &str, got: Stats, correct: u32, rows: usize) -> CheckRow {
    compare(kernel, shape, &[got.correct as f32, got.samples as f32], &[correct as f32, rows as f32], Tolerance::EXACT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cross-entropy check has logits far beyond ±5 (every 17th), and the tied outputs hold three values only.
    #[test]
    fn loss_inputs_cover_their_ranges() {
        let mut rng = model::rng(1);
        let logits = loss_inputs(&mut rng, Loss::Xent, 340, false);
        let max_abs = logits.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(max_abs > 50.0 && max_abs <= 100.0);
        assert!(logits.iter().enumerate().all(|(i, v)| i % 17 == 3 || v.abs() <= 5.0));
        let ties = loss_inputs(&mut rng, Loss::Mse, 300, true);
        assert!(ties.iter().all(|v| [0.25, 0.5, 0.75].contains(v)));
        // The perceptron's scores hold exact zeros (ties that must update) on every fifth value.
        let scores = loss_inputs(&mut rng, Loss::Perceptron, 100, false);
        assert_eq!(scores.iter().filter(|&&v| v == 0.0).count(), 20);
    }
}
