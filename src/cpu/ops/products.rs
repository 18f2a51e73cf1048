//! The matrix products: the GEMM wrapper, the linear layer and the three gradients of one.

use super::check_len;
use crate::cpu::ops::activation::{activate, activation_grad};
use crate::error::Result;
use crate::model::{Act, Activation};

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

/// y: [rows, outputs] = act(z), z = x: [rows, inputs] · w: [outputs, inputs]ᵀ + b: \[outputs\]; z is also
/// written to `z` ([rows, outputs]) where given.
#[allow(clippy::too_many_arguments)]
pub fn linear(
    y: &mut [f32],
    z: Option<&mut [f32]>,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    act: Act,
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
    if let Some(z) = z {
        check_len("linear pre-activation", z.len(), rows * outputs)?;
        z[..rows * outputs].copy_from_slice(&y[..rows * outputs]);
    }
    if act.activation != Activation::Identity {
        y[..rows * outputs].iter_mut().for_each(|v| *v = activate(*v, act));
    }
    Ok(())
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

/// dx: [rows, inputs] = (dz: [rows, outputs] · w: [outputs, inputs]) ⊙ act′(saved), `act` the previous layer's
/// activation and saved: [rows, inputs] what act′ is written in terms of: that layer's output, or its pre-activation
/// z where `act` [needs it](Activation::needs_pre_activation); with `mask` (that layer's dropout factors m), times m.
#[allow(clippy::too_many_arguments)]
pub fn input_grad(
    dx: &mut [f32],
    dz: &[f32],
    w: &[f32],
    saved: &[f32],
    mask: Option<&[f32]>,
    act: Act,
    rows: usize,
    inputs: usize,
    outputs: usize,
) -> Result<()> {
    let n = rows * inputs;
    check_len("input-grad saved", saved.len(), n)?;
    gemm(dx, dz, Layout::Normal, w, Layout::Normal, 0.0, rows, outputs, inputs)?;
    let Some(mask) = mask else {
        for (d, &s) in dx[..n].iter_mut().zip(&saved[..n]) {
            *d *= activation_grad(s, act);
        }
        return Ok(());
    };
    // Through dropout: a dropped unit passes no gradient; a kept one passes act′ times its factor m, act′ taken at
    // the output before dropout (saved / m) unless it is written in terms of z (saved is z, which dropout leaves).
    check_len("input-grad mask", mask.len(), n)?;
    let divide = act.saved_is_dropped();
    for ((d, &s), &m) in dx[..n].iter_mut().zip(&saved[..n]).zip(&mask[..n]) {
        *d = if m == 0.0 { 0.0 } else { *d * activation_grad(if divide { s / m } else { s }, act) * m };
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
