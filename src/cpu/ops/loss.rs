//! The losses (softmax cross-entropy, the quadratic cost, binary cross-entropy, the perceptron criterion), their
//! gradients, the class a row predicts and the batch statistics.

use super::check_len;
use crate::error::{Error, Result};
use crate::model::Loss;

/// Index of the largest value; the first one on ties (as `torch.argmax`).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// The class a row of outputs of `loss` predicts: the argmax of one unit per class; of one output unit
/// ([`crate::model::OutputUnits::One`]), class 1 iff it is above [`one_unit_threshold`].
pub fn predicted_class(loss: Loss, row: &[f32]) -> usize {
    match row {
        [v] => usize::from(*v > one_unit_threshold(loss)),
        _ => argmax(row),
    }
}

/// Where one output unit of `loss` splits class 0 from class 1: σ(z) > 0.5 for the quadratic cost's sigmoid output,
/// z > 0 for binary cross-entropy's logit (the same decision, without rounding σ(z) to 0.5 near z = 0) and for the
/// perceptron's score (scikit-learn's `scores > 0`).
pub fn one_unit_threshold(loss: Loss) -> f32 {
    match loss {
        Loss::Mse => 0.5,
        Loss::Xent | Loss::Bce | Loss::Perceptron => 0.0,
    }
}

/// Loss statistics of a batch: the sum of per-sample losses and the number of correct argmax predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchStats {
    /// Σ per-sample loss.
    pub loss_sum: f32,
    /// Number of rows whose predicted class ([`predicted_class`]) equals the label.
    pub correct: u32,
}

/// The loop shared by the losses: checks the shapes and labels (below `classes`, or 0 and 1 for one output unit),
/// then calls `row_loss(out, label, dz_row)` for each row, which returns the row's loss and writes its gradient row
/// (scaled by `scale` = 1 / rows) if asked; a row is correct when `loss`'s [`predicted_class`] is its label.
#[allow(clippy::too_many_arguments)]
fn per_row_loss(
    loss: Loss,
    what: &str,
    mut row_stats: Option<&mut [f32]>,
    dz: Option<&mut [f32]>,
    out: &[f32],
    labels: &[u32],
    rows: usize,
    classes: usize,
    row_loss: impl Fn(&[f32], usize, Option<&mut [f32]>, f32) -> f32,
) -> Result<BatchStats> {
    if let Some(r) = row_stats.as_deref() {
        check_len(&format!("{what} row statistics"), r.len(), 2 * rows)?;
    }
    check_len(&format!("{what} outputs"), out.len(), rows * classes)?;
    check_len(&format!("{what} labels"), labels.len(), rows)?;
    let mut dz = dz;
    if let Some(dz) = dz.as_deref() {
        check_len(&format!("{what} gradient"), dz.len(), rows * classes)?;
    }
    let mut stats = BatchStats::default();
    let scale = 1.0 / rows as f32;
    for r in 0..rows {
        let row = &out[r * classes..(r + 1) * classes];
        let label = labels[r] as usize;
        // One output unit stands for two classes.
        let labels_below = classes.max(2);
        if label >= labels_below {
            return Err(Error::Config(format!("{what}: label {label} at row {r} is not below {labels_below} classes")));
        }
        let dz_row = dz.as_deref_mut().map(|d| &mut d[r * classes..(r + 1) * classes]);
        let (loss, correct) = (row_loss(row, label, dz_row, scale), predicted_class(loss, row) == label);
        stats.loss_sum += loss;
        stats.correct += u32::from(correct);
        if let Some(out) = row_stats.as_deref_mut() {
            out[2 * r] = loss;
            out[2 * r + 1] = if correct { 1.0 } else { 0.0 };
        }
    }
    Ok(stats)
}

/// `loss` of out: [rows, classes] as [`softmax_xent`], [`quadratic_cost`], [`binary_xent`] (classes = 1) or
/// [`perceptron`] computes it, also keeping each row's statistics: row_stats: [rows, 2] = (the row's loss, 1.0 if its predicted class is its
/// label else 0.0). What a fused last
/// layer's loss head does; [`sum_row_stats`] then adds them up in the same order.
pub fn loss_rows(
    row_stats: &mut [f32],
    dz: Option<&mut [f32]>,
    out: &[f32],
    labels: &[u32],
    loss: Loss,
    rows: usize,
    classes: usize,
) -> Result<BatchStats> {
    let stats = Some(row_stats);
    match loss {
        Loss::Xent => per_row_loss(loss, "softmax-xent", stats, dz, out, labels, rows, classes, xent_row),
        Loss::Mse => per_row_loss(loss, "quadratic-cost", stats, dz, out, labels, rows, classes, quadratic_row),
        Loss::Bce => {
            if classes != 1 {
                return Err(Error::Config(format!("binary-xent takes one output per row, got {classes}")));
            }
            per_row_loss(loss, "binary-xent", stats, dz, out, labels, rows, 1, bce_row)
        }
        Loss::Perceptron => per_row_loss(loss, "perceptron", stats, dz, out, labels, rows, classes, perceptron_row),
    }
}

/// The batch statistics of row_stats: [rows, 2] (see [`loss_rows`]): Σ loss and Σ correct, rows in order.
pub fn sum_row_stats(row_stats: &[f32], rows: usize) -> Result<BatchStats> {
    check_len("row statistics", row_stats.len(), 2 * rows)?;
    let mut stats = BatchStats::default();
    for row in row_stats[..2 * rows].chunks_exact(2) {
        stats.loss_sum += row[0];
        stats.correct += u32::from(row[1] == 1.0);
    }
    Ok(stats)
}

/// 1 for the label's class, 0 elsewhere.
fn one_hot(j: usize, label: usize) -> f32 {
    if j == label {
        1.0
    } else {
        0.0
    }
}

/// Softmax cross-entropy of logits: [rows, classes] against labels: \[rows\], numerically stable (max subtracted).
/// If `dz` is given, dz: [rows, classes] = (softmax − onehot) / rows.
pub fn softmax_xent(
    dz: Option<&mut [f32]>,
    logits: &[f32],
    labels: &[u32],
    rows: usize,
    classes: usize,
) -> Result<BatchStats> {
    per_row_loss(Loss::Xent, "softmax-xent", None, dz, logits, labels, rows, classes, xent_row)
}

/// One row of [`softmax_xent`]: the row's loss; its gradient row (× `scale`) if asked.
fn xent_row(z: &[f32], label: usize, dz: Option<&mut [f32]>, scale: f32) -> f32 {
    let max = z[argmax(z)];
    let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
    if let Some(dz) = dz {
        for (j, d) in dz.iter_mut().enumerate() {
            *d = ((z[j] - max).exp() / sum - one_hot(j, label)) * scale;
        }
    }
    // loss = log Σ e^(z − max) − (z_label − max)
    sum.ln() - (z[label] - max)
}

/// Quadratic cost ½‖a − y‖² of a: [rows, classes] (sigmoid outputs) against labels: \[rows\], y = onehot(label);
/// with classes = 1 (one output unit for two classes), y = the label itself (0 or 1).
/// If `dz` is given, dz: [rows, classes] = (a − y) ⊙ a(1 − a) / rows.
pub fn quadratic_cost(
    dz: Option<&mut [f32]>,
    a: &[f32],
    labels: &[u32],
    rows: usize,
    classes: usize,
) -> Result<BatchStats> {
    per_row_loss(Loss::Mse, "quadratic-cost", None, dz, a, labels, rows, classes, quadratic_row)
}

/// One row of [`quadratic_cost`]: the row's cost; its gradient row (× `scale`) if asked.
fn quadratic_row(a: &[f32], label: usize, dz: Option<&mut [f32]>, scale: f32) -> f32 {
    // The target of unit j: one-hot over the classes, or the label itself on one unit.
    let y = |j: usize| if a.len() == 1 { label as f32 } else { one_hot(j, label) };
    if let Some(dz) = dz {
        for (j, d) in dz.iter_mut().enumerate() {
            *d = (a[j] - y(j)) * a[j] * (1.0 - a[j]) * scale;
        }
    }
    a.iter().enumerate().map(|(j, &v)| 0.5 * (v - y(j)).powi(2)).sum()
}

/// Binary cross-entropy of one logit per row, logits: [rows, 1], against labels: \[rows\] (0 or 1), as PyTorch's
/// `BCEWithLogitsLoss`: loss = max(z, 0) − z·y + log(1 + e^−|z|), never overflowing. If `dz` is given,
/// dz: [rows, 1] = (σ(z) − y) / rows. A row predicts class 1 iff z > 0.
pub fn binary_xent(dz: Option<&mut [f32]>, logits: &[f32], labels: &[u32], rows: usize) -> Result<BatchStats> {
    per_row_loss(Loss::Bce, "binary-xent", None, dz, logits, labels, rows, 1, bce_row)
}

/// One row of [`binary_xent`]: the row's loss; its gradient (× `scale`) if asked. e = e^−|z| ∈ (0, 1] serves both:
/// log(1 + e) in the loss and σ(z) = 1/(1 + e) (z ≥ 0) or e/(1 + e) (z < 0) in the gradient
/// (`shaders/loss.wgsl`'s `binary_xent` and `fused.wgsl`'s head compute the same, term for term).
fn bce_row(z: &[f32], label: usize, dz: Option<&mut [f32]>, scale: f32) -> f32 {
    let (z, y) = (z[0], label as f32);
    let e = (-z.abs()).exp();
    if let Some(dz) = dz {
        let sigma = if z >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
        dz[0] = (sigma - y) * scale;
    }
    z.max(0.0) - z * y + (1.0 + e).ln()
}

/// The perceptron criterion of scores z: [rows, classes] (identity outputs) against labels: \[rows\], scikit-learn's
/// `Perceptron`: loss = Σ_units max(0, −y·z) with y = ±1: +1 on the label's unit and −1 on the others
/// (one-vs-rest); with classes = 1 (one unit for two classes), y = +1 for class 1 and −1 for class 0. If `dz` is
/// given, dz: [rows, classes] = −y / rows where y·z ≤ 0 (a mistake: a tie at exactly 0 is one, so zero weights
/// learn), else 0. A row predicts argmax z, or class 1 iff z > 0 on one unit.
pub fn perceptron(
    dz: Option<&mut [f32]>,
    z: &[f32],
    labels: &[u32],
    rows: usize,
    classes: usize,
) -> Result<BatchStats> {
    per_row_loss(Loss::Perceptron, "perceptron", None, dz, z, labels, rows, classes, perceptron_row)
}

/// One row of [`perceptron`]: the row's loss; its gradient row (× `scale`) if asked. y·z is exact (y = ±1), so the
/// GPU (`shaders/loss.wgsl`'s `perceptron`, `fused.wgsl`'s head) takes the same branch on the same z.
fn perceptron_row(z: &[f32], label: usize, mut dz: Option<&mut [f32]>, scale: f32) -> f32 {
    let mut loss = 0.0;
    for (j, &v) in z.iter().enumerate() {
        // y = ±1: the label's unit (class 1 on one unit) is the positive one.
        let positive = if z.len() == 1 { label == 1 } else { j == label };
        let y = if positive { 1.0 } else { -1.0 };
        let margin = y * v;
        let mistake = margin <= 0.0;
        if mistake {
            loss += -margin;
        }
        if let Some(d) = dz.as_deref_mut() {
            d[j] = if mistake { -y * scale } else { 0.0 };
        }
    }
    loss
}
