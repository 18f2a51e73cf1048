//! The CPU reference of every op in [`crate::plan::Op`]: plain, commented Rust, one function per GPU kernel.
//! Argument order: outputs, inputs, dims. Shapes are row-major; `w: [out, in]` as in PyTorch.
//! Each function checks its slice lengths and returns an error rather than panicking.

use crate::error::{Error, Result};
use crate::model::{Activation, Loss, LEAKY_RELU_SLOPE};
use crate::optim::Optimizer;

/// Fails unless `buf` holds at least `need` elements.
fn check_len(what: &str, len: usize, need: usize) -> Result<()> {
    if len < need {
        return Err(Error::Config(format!("{what} holds {len} elements but the op needs {need}")));
    }
    Ok(())
}

/// How a matrix is stored: `Normal` reads element (i, j) of an `[r, c]` matrix at `i·c + j`; `Transposed` reads the
/// transpose of a row-major `[c, r]` matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Row-major as given.
    Normal,
    /// The transpose of the row-major buffer.
    Transposed,
}

/// c: [m, n] = beta·c + a: [m, k] · b: [k, n], with `a` and `b` each read as `Layout` says.
/// A safe wrapper over `matrixmultiply::sgemm`, the well-kept GEMM that makes the reference fast.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    c: &mut [f32],
    a: &[f32],
    a_layout: Layout,
    b: &[f32],
    b_layout: Layout,
    beta: f32,
    m: usize,
    k: usize,
    n: usize,
) -> Result<()> {
    check_len("gemm output", c.len(), m * n)?;
    check_len("gemm left operand", a.len(), m * k)?;
    check_len("gemm right operand", b.len(), k * n)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        c[..m * n].iter_mut().for_each(|v| *v *= beta);
        return Ok(());
    }
    let (rsa, csa) = match a_layout {
        Layout::Normal => (k as isize, 1),
        Layout::Transposed => (1, m as isize),
    };
    let (rsb, csb) = match b_layout {
        Layout::Normal => (n as isize, 1),
        Layout::Transposed => (1, k as isize),
    };
    // Orientation: matrixmultiply packs its right operand on one thread (the left one on all threads), and a
    // transposed right operand packs slowly. When b is transposed and the larger (n > m: a batch times wᵀ in a
    // linear), compute cᵀ = bᵀ·aᵀ instead, writing c through transposed strides: the same sums, and the default
    // model's [64, 784] × [784, 512] linear takes 0.49 ms instead of 0.89 (benches/kernels.rs). Measured slower for
    // the gradient products, which keep the plain orientation.
    let c = c.as_mut_ptr();
    let (n_c, ni) = (n as isize, 1isize);
    // SAFETY: the lengths were checked above: every index sgemm forms from these strides is below m·k (a),
    // k·n (b) and m·n (c) in either orientation, and `c` is a unique borrow that aliases neither input.
    unsafe {
        if b_layout == Layout::Transposed && n > m {
            matrixmultiply::sgemm(n, k, m, 1.0, b.as_ptr(), csb, rsb, a.as_ptr(), csa, rsa, beta, c, ni, n_c);
        } else {
            matrixmultiply::sgemm(m, k, n, 1.0, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, beta, c, n_c, ni);
        }
    }
    Ok(())
}

/// a = act(z)
pub fn activate(z: f32, act: Activation) -> f32 {
    match act {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::LeakyRelu => {
            if z > 0.0 {
                z
            } else {
                LEAKY_RELU_SLOPE * z
            }
        }
    }
}

/// act′(z) written in terms of the output a = act(z): relu a > 0, sigmoid a(1 − a), tanh 1 − a², leaky relu 1 or
/// the slope (a > 0 exactly where z > 0).
pub fn activation_grad(a: f32, act: Activation) -> f32 {
    match act {
        Activation::Identity => 1.0,
        Activation::Relu => {
            if a > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Sigmoid => a * (1.0 - a),
        Activation::Tanh => 1.0 - a * a,
        Activation::LeakyRelu => {
            if a > 0.0 {
                1.0
            } else {
                LEAKY_RELU_SLOPE
            }
        }
    }
}

/// x: [rows, features] = images[order\[r\]] / 255 and labels: \[rows\] = source_labels[order\[r\]], for r < rows.
/// images: [n, features] u8; order: \[rows\] sample indices, each < n.
pub fn gather(
    x: &mut [f32],
    labels: &mut [u32],
    images: &[u8],
    source_labels: &[u8],
    order: &[u32],
    rows: usize,
    features: usize,
) -> Result<()> {
    check_len("gather output", x.len(), rows * features)?;
    check_len("gather labels", labels.len(), rows)?;
    check_len("gather order", order.len(), rows)?;
    for r in 0..rows {
        let i = order[r] as usize;
        let (Some(image), Some(&label)) = (images.get(i * features..(i + 1) * features), source_labels.get(i)) else {
            return Err(Error::Config(format!(
                "gather: sample index {i} is outside the data set of {} samples",
                source_labels.len()
            )));
        };
        for (xv, &p) in x[r * features..(r + 1) * features].iter_mut().zip(image) {
            *xv = f32::from(p) / 255.0;
        }
        labels[r] = u32::from(label);
    }
    Ok(())
}

/// y: [rows, outputs] = act(x: [rows, inputs] · w: [outputs, inputs]ᵀ + b: \[outputs\])
#[allow(clippy::too_many_arguments)]
pub fn linear(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    act: Activation,
    rows: usize,
    inputs: usize,
    outputs: usize,
) -> Result<()> {
    check_len("linear bias", b.len(), outputs)?;
    check_len("linear output", y.len(), rows * outputs)?;
    // Start from the bias in every row, then accumulate x·wᵀ on top (beta = 1).
    for row in y[..rows * outputs].chunks_exact_mut(outputs) {
        row.copy_from_slice(&b[..outputs]);
    }
    gemm(y, x, Layout::Normal, w, Layout::Transposed, 1.0, rows, inputs, outputs)?;
    if act != Activation::Identity {
        y[..rows * outputs].iter_mut().for_each(|v| *v = activate(*v, act));
    }
    Ok(())
}

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

/// Loss statistics of a batch: the sum of per-sample losses and the number of correct argmax predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchStats {
    /// Σ per-sample loss.
    pub loss_sum: f32,
    /// Number of rows whose argmax equals the label.
    pub correct: u32,
}

/// The loop shared by the two losses: checks the shapes and labels, then calls `row_loss(out, label, dz_row)` for
/// each row, which returns the row's loss and writes its gradient row (scaled by `scale` = 1 / rows) if asked.
#[allow(clippy::too_many_arguments)]
fn per_row_loss(
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
        if label >= classes {
            return Err(Error::Config(format!("{what}: label {label} at row {r} is not below {classes} classes")));
        }
        let dz_row = dz.as_deref_mut().map(|d| &mut d[r * classes..(r + 1) * classes]);
        let (loss, correct) = (row_loss(row, label, dz_row, scale), argmax(row) == label);
        stats.loss_sum += loss;
        stats.correct += u32::from(correct);
        if let Some(out) = row_stats.as_deref_mut() {
            out[2 * r] = loss;
            out[2 * r + 1] = if correct { 1.0 } else { 0.0 };
        }
    }
    Ok(stats)
}

/// `loss` of out: [rows, classes] as [`softmax_xent`] or [`quadratic_cost`] computes it, also keeping each row's
/// statistics: row_stats: [rows, 2] = (the row's loss, 1.0 if its argmax is its label else 0.0). What a fused last
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
    match loss {
        Loss::Xent => per_row_loss("softmax-xent", Some(row_stats), dz, out, labels, rows, classes, xent_row),
        Loss::Mse => per_row_loss("quadratic-cost", Some(row_stats), dz, out, labels, rows, classes, quadratic_row),
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
    per_row_loss("softmax-xent", None, dz, logits, labels, rows, classes, xent_row)
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

/// Quadratic cost ½‖a − onehot‖² of a: [rows, classes] (sigmoid outputs) against labels: \[rows\].
/// If `dz` is given, dz: [rows, classes] = (a − onehot) ⊙ a(1 − a) / rows.
pub fn quadratic_cost(
    dz: Option<&mut [f32]>,
    a: &[f32],
    labels: &[u32],
    rows: usize,
    classes: usize,
) -> Result<BatchStats> {
    per_row_loss("quadratic-cost", None, dz, a, labels, rows, classes, quadratic_row)
}

/// One row of [`quadratic_cost`]: the row's cost; its gradient row (× `scale`) if asked.
fn quadratic_row(a: &[f32], label: usize, dz: Option<&mut [f32]>, scale: f32) -> f32 {
    if let Some(dz) = dz {
        for (j, d) in dz.iter_mut().enumerate() {
            *d = (a[j] - one_hot(j, label)) * a[j] * (1.0 - a[j]) * scale;
        }
    }
    a.iter().enumerate().map(|(j, &v)| 0.5 * (v - one_hot(j, label)).powi(2)).sum()
}

/// db: \[outputs\] = Σ_rows dz: [rows, outputs]
pub fn bias_grad(db: &mut [f32], dz: &[f32], rows: usize, outputs: usize) -> Result<()> {
    check_len("bias-grad output", db.len(), outputs)?;
    check_len("bias-grad input", dz.len(), rows * outputs)?;
    db[..outputs].fill(0.0);
    for row in dz[..rows * outputs].chunks_exact(outputs) {
        for (d, &v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
    Ok(())
}

/// dw: [outputs, inputs] = dz: [rows, outputs]ᵀ · x: [rows, inputs]
pub fn weight_grad(dw: &mut [f32], dz: &[f32], x: &[f32], rows: usize, inputs: usize, outputs: usize) -> Result<()> {
    check_len("weight-grad input dz", dz.len(), rows * outputs)?;
    gemm(dw, dz, Layout::Transposed, x, Layout::Normal, 0.0, outputs, rows, inputs)
}

/// dx: [rows, inputs] = (dz: [rows, outputs] · w: [outputs, inputs]) ⊙ act′(x), x: [rows, inputs] the previous
/// layer's output (its activation `act`).
#[allow(clippy::too_many_arguments)]
pub fn input_grad(
    dx: &mut [f32],
    dz: &[f32],
    w: &[f32],
    x: &[f32],
    act: Activation,
    rows: usize,
    inputs: usize,
    outputs: usize,
) -> Result<()> {
    check_len("input-grad x", x.len(), rows * inputs)?;
    gemm(dx, dz, Layout::Normal, w, Layout::Normal, 0.0, rows, outputs, inputs)?;
    for (d, &a) in dx[..rows * inputs].iter_mut().zip(&x[..rows * inputs]) {
        *d *= activation_grad(a, act);
    }
    Ok(())
}

/// The learning-rate factor of step `t` (1-based) of a run whose rate decays linearly to 0 over `decay_steps` steps:
/// (T − min(t − 1, T)) / T; 1 when `decay_steps` is 0 (a constant rate).
pub fn lr_factor(decay_steps: u64, t: u64) -> f32 {
    if decay_steps == 0 {
        return 1.0;
    }
    let done = t.saturating_sub(1).min(decay_steps);
    (decay_steps - done) as f32 / decay_steps as f32
}

/// param: \[len\] -= the optimizer's step from grad: \[len\]; state0/state1: \[len\] as the rule needs
/// (momentum: velocity; Adam: m, v); `t` is the 1-based training step (Adam's bias correction, and the learning
/// rate's [`lr_factor`] when it decays over `decay_steps` steps; 0 = constant).
#[allow(clippy::too_many_arguments)]
pub fn update(
    param: &mut [f32],
    state0: Option<&mut [f32]>,
    state1: Option<&mut [f32]>,
    grad: &[f32],
    optimizer: Optimizer,
    t: u64,
    decay_steps: u64,
) -> Result<()> {
    let lr = optimizer.lr() * lr_factor(decay_steps, t);
    let len = param.len();
    check_len("update gradient", grad.len(), len)?;
    let missing = || Error::Config(format!("{} needs {} state buffers", optimizer.name(), optimizer.state_tensors()));
    match optimizer {
        Optimizer::Sgd { .. } => {
            for (p, &g) in param.iter_mut().zip(grad) {
                *p -= lr * g;
            }
        }
        Optimizer::Momentum { momentum, .. } => {
            let v = state0.ok_or_else(missing)?;
            check_len("momentum velocity", v.len(), len)?;
            for ((p, v), &g) in param.iter_mut().zip(v.iter_mut()).zip(grad) {
                *v = momentum * *v + g;
                *p -= lr * *v;
            }
        }
        Optimizer::Adam { beta1, beta2, eps, .. } => {
            let (m, v) = (state0.ok_or_else(missing)?, state1.ok_or_else(missing)?);
            check_len("adam m", m.len(), len)?;
            check_len("adam v", v.len(), len)?;
            let t = t.clamp(1, i32::MAX as u64) as i32;
            let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
            for (((p, m), v), &g) in param.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(grad) {
                *m = beta1 * *m + (1.0 - beta1) * g;
                *v = beta2 * *v + (1.0 - beta2) * g * g;
                *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// c = beta·c + a·b by the definition, reading a and b as their layouts say.
    #[allow(clippy::too_many_arguments)]
    fn naive(c: &mut [f32], a: &[f32], al: Layout, b: &[f32], bl: Layout, beta: f32, m: usize, k: usize, n: usize) {
        for i in 0..m {
            for j in 0..n {
                let dot: f32 = (0..k)
                    .map(|p| {
                        let x = if al == Layout::Normal { a[i * k + p] } else { a[p * m + i] };
                        let y = if bl == Layout::Normal { b[p * n + j] } else { b[j * k + p] };
                        x * y
                    })
                    .sum();
                c[i * n + j] = beta * c[i * n + j] + dot;
            }
        }
    }

    /// Every op checks its slices: one element too few in any of them is an error naming it, never a panic or a
    /// read past the end.
    #[test]
    fn short_buffers_are_errors() {
        let (v, short) = (vec![0.5f32; 64], vec![0.5f32; 5]);
        let (labels, short_labels) = (vec![1u32; 4], vec![1u32; 1]);
        let mut out = vec![0.0f32; 64];
        let mut few = vec![0.0f32; 5];
        let (n, t) = (Layout::Normal, Layout::Transposed);
        let results: Vec<(&str, Result<()>)> = vec![
            ("gemm c", gemm(&mut few, &v, n, &v, t, 0.0, 2, 3, 3)),
            ("gemm a", gemm(&mut out, &short, n, &v, t, 0.0, 2, 3, 3)),
            ("gemm b", gemm(&mut out, &v, n, &short, t, 0.0, 3, 2, 3)),
            ("linear y", linear(&mut few, &v, &v, &v, Activation::Relu, 2, 3, 3)),
            ("linear b", linear(&mut out, &v, &v, &short[..2], Activation::Relu, 2, 3, 3)),
            ("softmax dz", softmax_xent(Some(&mut few), &v, &labels, 2, 3).map(drop)),
            ("softmax logits", softmax_xent(None, &short, &labels, 2, 3).map(drop)),
            ("softmax labels", softmax_xent(None, &v, &short_labels, 2, 3).map(drop)),
            ("quadratic dz", quadratic_cost(Some(&mut few), &v, &labels, 2, 3).map(drop)),
            ("bias_grad db", bias_grad(&mut few, &v, 2, 6)),
            ("bias_grad dz", bias_grad(&mut out, &short, 2, 3)),
            ("weight_grad dz", weight_grad(&mut out, &short, &v, 2, 3, 3)),
            ("input_grad x", input_grad(&mut out, &v, &v, &short, Activation::Tanh, 2, 3, 3)),
            ("update grad", update(&mut out, None, None, &short, Optimizer::Sgd { lr: 0.1 }, 1, 0)),
            (
                "momentum state",
                update(
                    &mut few,
                    Some(&mut out[..4]),
                    None,
                    &v[..5],
                    Optimizer::Momentum { lr: 0.1, momentum: 0.9 },
                    1,
                    0,
                ),
            ),
        ];
        for (what, result) in results {
            assert!(matches!(result, Err(Error::Config(_))), "{what}: {result:?}");
        }
    }

    /// Both orientations of the wrapper (n > m with a transposed b computes cᵀ = bᵀ·aᵀ) on every layout pair.
    #[test]
    fn gemm_matches_the_definition_in_both_orientations() {
        let value = |i: usize, salt: usize| ((i * 31 + salt * 7) % 23) as f32 * 0.1 - 1.1;
        for (m, k, n) in [(1, 1, 1), (3, 5, 65), (65, 7, 3), (7, 63, 10), (10, 1, 784)] {
            for al in [Layout::Normal, Layout::Transposed] {
                for bl in [Layout::Normal, Layout::Transposed] {
                    let a: Vec<f32> = (0..m * k).map(|i| value(i, 1)).collect();
                    let b: Vec<f32> = (0..k * n).map(|i| value(i, 2)).collect();
                    let c0: Vec<f32> = (0..m * n).map(|i| value(i, 3)).collect();
                    let (mut got, mut want) = (c0.clone(), c0);
                    gemm(&mut got, &a, al, &b, bl, 0.5, m, k, n).unwrap();
                    naive(&mut want, &a, al, &b, bl, 0.5, m, k, n);
                    for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (g - w).abs() <= 1e-4 + 1e-5 * w.abs(),
                            "{m}x{k}x{n} {al:?} {bl:?} [{idx}]: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}
