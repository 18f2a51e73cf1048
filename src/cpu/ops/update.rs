//! The optimizer step of a parameter, one function per update rule (the twins of `shaders/optimizer.wgsl`'s), and
//! the learning-rate schedule.

use super::check_len;
use crate::error::Result;
use crate::optim::{Hyper, Optimizer, Rule, MAX_STATES};

/// The learning-rate factor of step `t` (1-based) of a run whose rate decays linearly to 0 over `decay_steps` steps:
/// (T − min(t − 1, T)) / T; 1 when `decay_steps` is 0 (a constant rate).
pub fn lr_factor(decay_steps: u64, t: u64) -> f32 {
    if decay_steps == 0 {
        return 1.0;
    }
    let done = t.saturating_sub(1).min(decay_steps);
    (decay_steps - done) as f32 / decay_steps as f32
}

/// The hyper-parameters one element's step reads: the optimizer's values, this step's learning rate, and Adam's
/// bias corrections 1 − β1ᵗ and 1 − β2ᵗ.
#[derive(Clone, Copy, Debug)]
pub struct StepHypers {
    /// The optimizer.
    pub o: Optimizer,
    /// This step's learning rate (after the schedule).
    pub lr: f32,
    /// 1 − β1ᵗ
    pub c1: f32,
    /// 1 − β2ᵗ
    pub c2: f32,
}

/// p −= lr·(g + λp)
pub fn sgd(p: f32, g: f32, h: &StepHypers) -> f32 {
    let g = g + h.o.get(Hyper::WeightDecay) * p;
    p - h.lr * g
}

/// v = μ·v + (g + λp);  p −= lr·v
pub fn momentum(p: f32, g: f32, s: &mut [f32; MAX_STATES], h: &StepHypers) -> f32 {
    let g = g + h.o.get(Hyper::WeightDecay) * p;
    s[0] = h.o.get(Hyper::Momentum) * s[0] + g;
    p - h.lr * s[0]
}

/// m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  p −= lr·(m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε), with g the
/// gradient plus λp (PyTorch's L2 `weight_decay`).
pub fn adam(p: f32, g: f32, s: &mut [f32; MAX_STATES], h: &StepHypers) -> f32 {
    let g = g + h.o.get(Hyper::WeightDecay) * p;
    adam_moments(p, g, s, h)
}

/// AdamW: p −= lr·λ·p (decoupled weight decay), then Adam's step without λ.
pub fn adamw(p: f32, g: f32, s: &mut [f32; MAX_STATES], h: &StepHypers) -> f32 {
    let p = p * (1.0 - h.lr * h.o.get(Hyper::WeightDecay));
    adam_moments(p, g, s, h)
}

/// Adam's moments and step (shared by [`adam`] and [`adamw`]).
fn adam_moments(p: f32, g: f32, s: &mut [f32; MAX_STATES], h: &StepHypers) -> f32 {
    let (beta1, beta2) = (h.o.get(Hyper::Beta1), h.o.get(Hyper::Beta2));
    s[0] = beta1 * s[0] + (1.0 - beta1) * g;
    s[1] = beta2 * s[1] + (1.0 - beta2) * g * g;
    p - h.lr * (s[0] / h.c1) / ((s[1] / h.c2).sqrt() + h.o.get(Hyper::Eps))
}

/// RMSprop as PyTorch's: with g the gradient plus λp, s = α·s + (1 − α)·g²; centered: ḡ = α·ḡ + (1 − α)·g and the
/// denominator √(s − ḡ²) + ε, else √s + ε (with `eps_in_sqrt`, Keras's √(s − ḡ² + ε) and √(s + ε)); with μ > 0,
/// b = μ·b + g / denominator and p −= lr·b, else p −= lr·g / denominator. States: s (`square_avg`), b
/// (`momentum_buffer`), ḡ (`grad_avg`).
pub fn rmsprop(p: f32, g: f32, s: &mut [f32; MAX_STATES], h: &StepHypers) -> f32 {
    let (alpha, mu) = (h.o.get(Hyper::Alpha), h.o.get(Hyper::Momentum));
    let g = g + h.o.get(Hyper::WeightDecay) * p;
    s[0] = alpha * s[0] + (1.0 - alpha) * g * g;
    let square = if h.o.get(Hyper::Centered) != 0.0 {
        s[2] = alpha * s[2] + (1.0 - alpha) * g;
        s[0] - s[2] * s[2]
    } else {
        s[0]
    };
    let eps = h.o.get(Hyper::Eps);
    let avg = if h.o.get(Hyper::EpsInSqrt) != 0.0 { (square + eps).sqrt() } else { square.sqrt() + eps };
    if mu > 0.0 {
        s[1] = mu * s[1] + g / avg;
        p - h.lr * s[1]
    } else {
        p - h.lr * g / avg
    }
}

/// param: \[len\] updated from grad: \[len\] by the optimizer's rule; state: [n, len], the rule's n state tensors
/// packed one after the other (the order of [`crate::optim::RuleRow::states`]); `t` is the 1-based training step
/// (Adam's bias correction, and the learning rate's [`lr_factor`] when it decays over `decay_steps` steps; 0 =
/// constant).
pub fn update(
    param: &mut [f32],
    state: &mut [f32],
    grad: &[f32],
    optimizer: Optimizer,
    t: u64,
    decay_steps: u64,
) -> Result<()> {
    let len = param.len();
    let n = optimizer.state_tensors();
    check_len("update gradient", grad.len(), len)?;
    check_len(&format!("{} state ({n} tensors)", optimizer.name()), state.len(), n * len)?;
    // Adam's t clamped to 1..=i32::MAX, as the GPU does.
    let ti = t.clamp(1, i32::MAX as u64) as i32;
    let (beta1, beta2) = (optimizer.get(Hyper::Beta1), optimizer.get(Hyper::Beta2));
    let h = StepHypers {
        o: optimizer,
        lr: optimizer.lr() * lr_factor(decay_steps, t),
        c1: 1.0 - beta1.powi(ti),
        c2: 1.0 - beta2.powi(ti),
    };
    match optimizer.rule() {
        Rule::Sgd => each(param, state, grad, n, |p, g, _| sgd(p, g, &h)),
        Rule::Momentum => each(param, state, grad, n, |p, g, s| momentum(p, g, s, &h)),
        Rule::Adam => each(param, state, grad, n, |p, g, s| adam(p, g, s, &h)),
        Rule::Adamw => each(param, state, grad, n, |p, g, s| adamw(p, g, s, &h)),
        Rule::Rmsprop => each(param, state, grad, n, |p, g, s| rmsprop(p, g, s, &h)),
    }
    Ok(())
}

/// `param[i] = step(param[i], grad[i], states of i)` for every element, the n packed states gathered into and
/// scattered from one array (a generic, so each rule's loop is compiled with its step inlined).
fn each(
    param: &mut [f32],
    state: &mut [f32],
    grad: &[f32],
    n: usize,
    mut step: impl FnMut(f32, f32, &mut [f32; MAX_STATES]) -> f32,
) {
    let len = param.len();
    let mut s = [0.0; MAX_STATES];
    for i in 0..len {
        for k in 0..n {
            s[k] = state[k * len + i];
        }
        param[i] = step(param[i], grad[i], &mut s);
        for k in 0..n {
            state[k * len + i] = s[k];
        }
    }
}
