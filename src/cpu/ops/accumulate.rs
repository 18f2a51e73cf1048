//! A chunk's gradient added into its step's sum: how a step too large for one pass (full-batch gradient descent on
//! a GPU whose binding limit one batch exceeds) adds up the gradient of all its rows before its one update.

use super::check_len;
use crate::error::Result;

/// sum: \[len\] = scale · grad: \[len\] when `first`, else sum + scale · grad — the twin of `accumulate.wgsl`. A chunk's
/// gradient is the mean over its rows, so `scale` = chunk rows / step rows makes the sum the mean over the step.
pub fn accumulate(sum: &mut [f32], grad: &[f32], scale: f32, first: bool, len: usize) -> Result<()> {
    check_len("gradient sum", sum.len(), len)?;
    check_len("chunk gradient", grad.len(), len)?;
    for (s, &g) in sum[..len].iter_mut().zip(&grad[..len]) {
        let part = scale * g;
        *s = if first { part } else { *s + part };
    }
    Ok(())
}
