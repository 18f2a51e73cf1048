//! The checks of `dropout.wgsl` (`dropout`, the draws of `dropout_mask.wgsl`) against `cpu::ops::dropout`: the
//! factors and the dropped output must be *equal* (a draw is integer arithmetic, the product one rounding of the
//! same f32s), at step counts around 2³² (the carry of t = steps + 1 into its high word).

use crate::backend::Backend;
use crate::cpu::ops;
use crate::dropout::{self, Dropout};
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context::GpuContext;
use crate::model;
use crate::optim::Optimizer;
use crate::plan::{DropoutSpec, Layout, Op};

use super::compare::{compare, CheckRow, Tolerance};
use super::fixtures::{model_of, nan, no_data, run_once, uniform};

/// `(rows, outputs)` of the dropout checks.
pub const DROPOUT_SHAPES: [(usize, usize); 4] = [(1, 1), (7, 63), (65, 10), (64, 784)];

/// Every shape with p = 0.2 and 0.5, seeds whose high word matters, from the first step and across 2³² steps.
pub(super) async fn cases(ctx: &GpuContext, rng: &mut model::Rng) -> Result<Vec<CheckRow>> {
    let mut rows_out = Vec::new();
    let starts = [0, u64::from(u32::MAX), (1 << 32) + 3];
    for (i, &(rows, outputs)) in DROPOUT_SHAPES.iter().enumerate() {
        for (j, p) in [0.2f32, 0.5].into_iter().enumerate() {
            let start = starts[(i + j) % starts.len()];
            let seed = [42u64, (7 << 32) | 42][j];
            rows_out.extend(check(ctx, rng, rows, outputs, p, seed, start).await?);
        }
    }
    Ok(rows_out)
}

/// One `Op::Dropout` of layer 1 after `start` steps: the GPU's output and factors against the CPU twin's.
async fn check(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    rows: usize,
    outputs: usize,
    p: f32,
    seed: u64,
    start: u64,
) -> Result<Vec<CheckRow>> {
    // The hidden layer (1 → outputs → 2) is the one dropout applies to.
    let layout = Layout::new(&model_of(outputs, 2, true), Optimizer::default(), rows).with_dropout(p, seed);
    let l = layout.layers[0];
    let Some(mask) = l.mask else { return Ok(vec![]) };
    let len = rows * outputs;
    let spec = DropoutSpec { mask, dropout: Dropout::new(p), layer: 0, seed };
    let y = uniform(rng, len, -1.0, 1.0);
    let mut gpu = GpuBackend::new(ctx, &layout, no_data(1))?;
    gpu.write_buffer(l.a, &y)?;
    gpu.write_buffer(mask, &nan(layout.buffers[mask].len))?;
    gpu.set_steps_done(start)?;
    run_once(&mut gpu, rows, vec![Op::Dropout { y: l.a, rows, outputs, spec }], 1)?;

    let (mut want_y, mut want_mask) = (y, vec![0.0; len]);
    ops::dropout(&mut want_y, &mut want_mask, spec.dropout, dropout::stream(seed, start + 1, 0), len)?;
    let shape = format!("rows={rows} outputs={outputs} p={p} seed={seed:#x} t={}", start + 1);
    Ok(vec![
        compare("dropout factors", &shape, &gpu.read_buffer_async(mask).await?[..len], &want_mask, Tolerance::EXACT),
        compare("dropout output", &shape, &gpu.read_buffer_async(l.a).await?[..len], &want_y, Tolerance::EXACT),
    ])
}
