//! The checks of `optim.wgsl` (`update`, every rule of `optimizer.wgsl`), three steps at a time with `counters.wgsl`'s `advance`
//! counting them: Adam's t is read from the GPU step counter, across 2³² and up to its clamp.

use crate::backend::Backend;
use crate::cpu::ops;
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context::GpuContext;
use crate::model;
use crate::optim::{Hyper, Optimizer, Rule};
use crate::plan::{Layout, Op, Split};

use super::compare::{compare, CheckRow, Tolerance};
use super::fixtures::{model_of, no_data, run_once, uniform};

/// Lengths of the optimizer checks.
pub const UPDATE_LENGTHS: [usize; 6] = [1, 7, 63, 65, 784, 50_240];

/// The optimizers the checks of `rule` run: its defaults, and one with every hyper-parameter moved (weight decay,
/// RMSprop's momentum and centering) — the last is the one the fused checks use.
pub fn variants(rule: Rule) -> Result<Vec<Optimizer>> {
    use Hyper::*;
    let of = |values: &[(Hyper, f32)]| Optimizer::of(rule, values);
    Ok(match rule {
        Rule::Sgd => vec![of(&[])?, of(&[(WeightDecay, 0.01)])?],
        Rule::Momentum => vec![of(&[])?, of(&[(Lr, 0.02), (Momentum, 0.5), (WeightDecay, 5e-4)])?],
        Rule::Adam => vec![of(&[])?, of(&[(Lr, 1e-2), (Beta1, 0.8), (Beta2, 0.99), (Eps, 1e-7), (WeightDecay, 0.01)])?],
        Rule::Adamw => vec![of(&[])?, of(&[(Lr, 1e-2), (Beta1, 0.8), (Beta2, 0.99), (Eps, 1e-7), (WeightDecay, 0.1)])?],
        Rule::Rmsprop => vec![
            of(&[(Lr, 1e-3), (Alpha, 0.9), (Eps, 1e-7)])?,
            // Keras's ε placement, with an ε large enough to tell √(s + ε) from √s + ε.
            of(&[(Lr, 1e-3), (Alpha, 0.9), (Eps, 1e-3), (EpsInSqrt, 1.0), (Centered, 1.0)])?,
            of(&[(Lr, 1e-2), (Momentum, 0.9), (Centered, 1.0), (WeightDecay, 0.01)])?,
        ],
    })
}

/// Every variant of `rule` on every length of [`UPDATE_LENGTHS`], with a constant rate and one that decays to 0
/// within the three checked steps.
pub(super) async fn cases(ctx: &GpuContext, rng: &mut model::Rng, rule: Rule) -> Result<Vec<CheckRow>> {
    // Adam's t: the first step, a later one, across 2³² (the carry into the counter's high word), past it, and the
    // clamp.
    let starts: &[u64] = if rule.uses(Hyper::Beta1) {
        &[0, 999, u64::from(u32::MAX) - 1, (1 << 32) + 4, i32::MAX as u64 - 2]
    } else {
        &[0]
    };
    let mut rows = Vec::new();
    for optimizer in variants(rule)? {
        for (i, &len) in UPDATE_LENGTHS.iter().enumerate() {
            let start = starts[i % starts.len()];
            for decay_steps in [0, (start + 2).min(u64::from(u32::MAX))] {
                rows.extend(update(ctx, rng, optimizer, len, start, decay_steps).await?);
            }
        }
    }
    Ok(rows)
}

/// Random optimizer state for `len` parameters, the rule's tensors packed: in [0.5, 1]·10⁻² (non-negative for the
/// second moments, and a centered RMSprop's square average above its gradient average squared).
fn random_state(rng: &mut model::Rng, optimizer: Optimizer, len: usize) -> Vec<f32> {
    uniform(rng, len * optimizer.state_tensors(), 5e-3, 1e-2)
}

/// Three steps of `optimizer` on `len` parameters, starting after `start` steps, the rate decaying over
/// `decay_steps` steps (0: constant): each step's t comes from the GPU counter that the `advance` after it increments.
async fn update(
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
    if let Some(id) = l.sw {
        gpu.write_buffer(id, &state)?;
    }
    gpu.set_steps_done(start)?;
    let ops = vec![
        Op::Update { param: l.w, state: l.sw, grad: l.gw, optimizer, len, decay_steps },
        Op::Advance { counts_step: true, split: Split::Train, rows: 0, row_stats: None },
    ];
    run_once(&mut gpu, 1, ops, STEPS)?;

    // Reference: the same three steps with t = start + 1, start + 2, start + 3.
    for step in 0..STEPS as u64 {
        ops::update(&mut param, &mut state, &grad, optimizer, start + step + 1, decay_steps)?;
    }
    let shape = format!("len={len} t={}..={} decay={decay_steps}", start + 1, start + STEPS as u64);
    let name = optimizer.describe();
    let mut rows = vec![compare(
        &format!("{name}: param"),
        &shape,
        &gpu.read_buffer_async(l.w).await?,
        &param,
        Tolerance::DEFAULT,
    )];
    if let Some(id) = l.sw {
        let got = gpu.read_buffer_async(id).await?;
        for (k, state_name) in optimizer.rule().row().states.iter().enumerate() {
            let (got, want) = (&got[k * len..(k + 1) * len], &state[k * len..(k + 1) * len]);
            rows.push(compare(&format!("{name}: {state_name}"), &shape, got, want, Tolerance::DEFAULT));
        }
    }
    let steps = gpu.steps_done_async().await?;
    rows.push(compare(
        "advance step count",
        &shape,
        &[steps.wrapping_sub(start) as f32],
        &[STEPS as f32],
        Tolerance::EXACT,
    ));
    Ok(rows)
}
