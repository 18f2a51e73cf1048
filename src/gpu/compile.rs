//! A plan compiled for the GPU: each of its stages turned into one dispatch when the plan is prepared (a one-op
//! kernel, `compile_ops.rs`, or the fused kernel, `compile_fused.rs`), so that running it only re-encodes them.

use crate::error::Result;
use crate::gpu::compile_fused::needs_fused_kernel;
use crate::gpu::dispatch::{Builder, Dispatch};
use crate::plan::{Op, Plan, Split};

/// A prepared plan: its dispatches, and what it does to the cursors (checked on the host before running).
pub(crate) struct Prepared {
    pub dispatches: Vec<Dispatch>,
    pub ops: Vec<Op>,
    /// Train steps one run of it counts (its train-split advances).
    pub train_steps: u64,
}

/// Checks `plan` against the layout and turns each of its stages into a dispatch.
pub(crate) fn compile(builder: &Builder<'_>, plan: &Plan) -> Result<Prepared> {
    // Check: the stages are independent and every buffer is large enough, before anything reaches the GPU.
    plan.validate(builder.layout)?;
    // Dispatches: each stage's pipeline, bind group, uniform and grid, built once here, inside an error scope
    // so that a binding the device rejects is reported against this plan.
    let dispatches = builder.ctx.scoped("preparing a step plan", || {
        plan.stage_ops().map(|stage| prepare_stage(builder, plan.split, stage)).collect::<Result<Vec<_>>>()
    })??;
    let counted = |op: &&Op| matches!(op, Op::Advance { split: Split::Train, counts_step: true, .. });
    let train_steps = plan.ops.iter().filter(counted).count() as u64;
    Ok(Prepared { dispatches, ops: plan.ops.clone(), train_steps })
}

/// Turns one stage into its dispatch: a one-op kernel where the stage is one op that has one, else the fused
/// kernel with one job per op.
fn prepare_stage(builder: &Builder<'_>, split: Split, stage: &[Op]) -> Result<Dispatch> {
    match stage {
        [op] if !needs_fused_kernel(op) => builder.prepare_op(op),
        _ => builder.prepare_fused(split, stage),
    }
}
