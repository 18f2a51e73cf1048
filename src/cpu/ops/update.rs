//! The optimizer step of a parameter and the learning-rate schedule.

use super::check_len;
use crate::error::{Error, Result};
use crate::optim::Optimizer;

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
