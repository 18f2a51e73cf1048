//! The prepared plans of an epoch's steps: one plan per step (the full steps' and the short last one's), or, for a
//! step with more rows than one pass holds ([`Layout::chunk_rows`]), the plans of its chunks in order.

use crate::backend::{Backend, PlanId};
use crate::error::Result;
use crate::plan::{Layout, Plan};

/// The plans one training step runs, in order: one, or its chunks'.
pub type StepPlans = Vec<PlanId>;

/// Prepares the plans that cover `n` samples in steps of `b` (1 ≤ b ≤ n): the plan of a full step of `b` rows, and
/// the plan of the last, shorter step when `b` does not divide `n`.
pub fn prepare_steps<B: Backend + ?Sized>(
    backend: &mut B,
    n: usize,
    b: usize,
    step: impl Fn(usize) -> Result<Plan>,
) -> Result<(PlanId, Option<PlanId>)> {
    let full = backend.prepare(&step(b)?)?;
    let rest = match n % b {
        0 => None,
        r => Some(backend.prepare(&step(r)?)?),
    };
    Ok((full, rest))
}

/// [`prepare_steps`] for training steps of `b` rows over `n` samples run in chunks of at most `c` rows
/// ([`Layout::chunk_step`]): each step's chunk plans, the full steps' and the short last one's.
pub fn prepare_chunked<B: Backend + ?Sized>(
    backend: &mut B,
    layout: &Layout,
    n: usize,
    b: usize,
    c: usize,
) -> Result<(StepPlans, Option<StepPlans>)> {
    let full = chunk_plans(backend, layout, b, c)?;
    let rest = match n % b {
        0 => None,
        r => Some(chunk_plans(backend, layout, r, c)?),
    };
    Ok((full, rest))
}

/// The chunk plans of a step of `total` rows: ⌈total / c⌉ chunks of c rows, the last one taking what is left (one
/// plan for the first, one for those in the middle, one for the last, which updates and counts the step).
fn chunk_plans<B: Backend + ?Sized>(backend: &mut B, layout: &Layout, total: usize, c: usize) -> Result<StepPlans> {
    let c = c.max(1);
    if total <= c {
        return Ok(vec![backend.prepare(&layout.chunk_step(total, total, true, true)?)?]);
    }
    let k = total.div_ceil(c);
    let mut plans = vec![backend.prepare(&layout.chunk_step(c, total, true, false)?)?];
    if k > 2 {
        let middle = backend.prepare(&layout.chunk_step(c, total, false, false)?)?;
        plans.extend(std::iter::repeat_n(middle, k - 2));
    }
    plans.push(backend.prepare(&layout.chunk_step(total - (k - 1) * c, total, false, true)?)?);
    Ok(plans)
}

/// Runs `times` training steps of `step`'s plans: one plan `times` times, or each step's chunks in order.
pub fn run_steps<B: Backend + ?Sized>(backend: &mut B, step: &[PlanId], times: usize) -> Result<()> {
    match step {
        [plan] => backend.run(*plan, times),
        chunks => {
            for _ in 0..times {
                for &plan in chunks {
                    backend.run(plan, 1)?;
                }
            }
            Ok(())
        }
    }
}
