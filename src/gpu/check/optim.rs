//! The checks of `optim.wgsl` (`sgd`, `momentum`, `adam`), three steps at a time with `counters.wgsl`'s `advance`
//! counting them: Adam's t is read from the GPU step counter, across 2³² and up to its clamp.

use crate::backend::Backend;
use crate::cpu::ops;
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context::GpuContext;
use crate::model;
use crate::optim::Optimizer;
use crate::plan::{Layout, Op, Split};

use super::compare::{compare, CheckRow, Tolerance};
use super::fixtures::{model_of, no_data, run_once, uniform};

/// Lengths of the optimizer checks.
pub const UPDATE_LENGTHS: [usize; 6] = [1, 7, 63, 65, 784, 50_240];

/// The optimizer of the `sgd` checks.
pub(super) const SGD: Optimizer = Optimizer::Sgd { lr: 0.1 };
/// The optimizer of the `momentum` checks.
pub(super) const MOMENTUM: Optimizer = Optimizer::Momentum { lr: 0.05, momentum: 0.9 };
/// The optimizer of the `adam` checks.
pub(super) const ADAM: Optimizer = Optimizer::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/// `optimizer` on every length of [`UPDATE_LENGTHS`], with a constant rate and one that decays to 0 within the three
/// checked steps.
pub(super) fn cases(ctx: &GpuContext, rng: &mut model::Rng, optimizer: Optimizer) -> Result<Vec<CheckRow>> {
    // Adam's t: the first step, a later one, across 2³² (the carry into the counter's high word), past it, and the
    // clamp.
    let starts: &[u64] = match optimizer {
        Optimizer::Adam { .. } => &[0, 999, u64::from(u32::MAX) - 1, (1 << 32) + 4, i32::MAX as u64 - 2],
        _ => &[0],
    };
    let mut rows = Vec::new();
    for (i, &len) in UPDATE_LENGTHS.iter().enumerate() {
        let start = starts[i % starts.len()];
        for decay_steps in [0, (start + 2).min(u64::from(u32::MAX))] {
            rows.extend(update(ctx, rng, optimizer, len, start, decay_steps)?);
        }
    }
    Ok(rows)
}

/// Random optimizer state for `len` parameters: none for SGD, a velocity for momentum, Adam's two moments (the
/// second non-negative).
fn random_state(rng: &mut model::Rng, optimizer: Optimizer, len: usize) -> Vec<Vec<f32>> {
    match optimizer {
        Optimizer::Sgd { .. } => vec![],
        Optimizer::Momentum { .. } => vec![uniform(rng, len, -1.0, 1.0)],
        Optimizer::Adam { .. } => vec![uniform(rng, len, -0.1, 0.1), uniform(rng, len, 0.0, 0.01)],
    }
}

/// Three steps of `optimizer` on `len` parameters, starting after `start` steps, the rate decaying over
/// `decay_steps` steps (0: constant): each step's t comes from the GPU counter that the `advance` after it increments.
fn update(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    optimizer: Optimizer,
    len: usize,
    start: u64,
    decay_steps: u64,
) -> Result<Vec<CheckRow>> {
    const STEPS: usize = 3;
    let layout = Layout::new(&model_of(len, 1, false), optimizer, 1);
    let l = layout.layers[0];
    let mut param = uniform(rng, len, -1.0, 1.0);
    let grad = uniform(rng, len, -1.0, 1.0);
    let mut state = random_state(rng, optimizer, len);
    let mut gpu = GpuBackend::new(ctx, &layout, no_data(len))?;
    gpu.write_buffer(l.w, &param)?;
    gpu.write_buffer(l.gw, &grad)?;
    let state_ids: Vec<_> = l.sw.iter().flatten().copied().collect();
    for (&id, s) in state_ids.iter().zip(&state) {
        gpu.write_buffer(id, s)?;
    }
    gpu.set_steps_done(start)?;
    let ops = vec![
        Op::Update { param: l.w, state: l.sw, grad: l.gw, optimizer, len, decay_steps },
        Op::Advance { split: Split::Train, rows: 0, row_stats: None },
    ];
    run_once(&mut gpu, 1, ops, STEPS)?;

    // Reference: the same three steps with t = start + 1, start + 2, start + 3.
    for step in 0..STEPS as u64 {
        let (s0, s1) = match state.as_mut_slice() {
            [] => (None, None),
            [a] => (Some(a.as_mut_slice()), None),
            [a, b, ..] => (Some(a.as_mut_slice()), Some(b.as_mut_slice())),
        };
        ops::update(&mut param, s0, s1, &grad, optimizer, start + step + 1, decay_steps)?;
    }
    let shape = format!("len={len} t={}..={} decay={decay_steps}", start + 1, start + STEPS as u64);
    let name = optimizer.name();
    let mut rows = vec![compare(&format!("{name} param"), &shape, &gpu.read_buffer(l.w)?, &param, Tolerance::DEFAULT)];
    for (i, (&id, want)) in state_ids.iter().zip(&state).enumerate() {
        rows.push(compare(&format!("{name} state{i}"), &shape, &gpu.read_buffer(id)?, want, Tolerance::DEFAULT));
    }
    let steps = gpu.steps_done()?;
    rows.push(compare(
        "advance step count",
        &shape,
        &[steps.wrapping_sub(start) as f32],
        &[STEPS as f32],
        Tolerance::EXACT,
    ));
    Ok(rows)
}
