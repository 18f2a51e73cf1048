//! The checks of `accumulate.wgsl` (`accumulate`) against `cpu::ops::accumulate`: a chunk's gradient scaled into a
//! step's sum, as the first chunk (written over NaN) and as a later one (added), at lengths of 1, just past the
//! workgroup's 256, one short of a multiple of it, and the default model's first weight.

use crate::backend::Backend;
use crate::cpu::ops;
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context::GpuContext;
use crate::model;
use crate::optim::Optimizer;
use crate::plan::{Layout, Op};

use super::compare::{compare, CheckRow, Tolerance};
use super::fixtures::{model_of, nan, no_data, run_once, uniform};

/// `(outputs, inputs)` of the weight whose gradient is summed: 1, 259, 4095 and 401 408 elements.
pub const ACCUMULATE_SHAPES: [(usize, usize); 4] = [(1, 1), (7, 37), (65, 63), (512, 784)];

/// Every shape, as the first chunk and as a later one, with the shares of chunks of 64 and 44 rows in 300.
pub(super) async fn cases(ctx: &GpuContext, rng: &mut model::Rng) -> Result<Vec<CheckRow>> {
    let mut rows_out = Vec::new();
    for &(outputs, inputs) in &ACCUMULATE_SHAPES {
        for (first, scale) in [(true, 64.0 / 300.0), (false, 44.0 / 300.0)] {
            rows_out.push(check(ctx, rng, outputs, inputs, scale, first).await?);
        }
    }
    Ok(rows_out)
}

/// One `Op::Accumulate` of a layer's weight gradient into a sum (the weight's buffer stands in for it): the first
/// chunk's sum starts as NaN, which it must overwrite; a later chunk's holds the sum so far.
async fn check(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    outputs: usize,
    inputs: usize,
    scale: f32,
    first: bool,
) -> Result<CheckRow> {
    let layout = Layout::new(&model_of(inputs, outputs, false), Optimizer::default(), 1);
    let l = layout.layers[0];
    let len = inputs * outputs;
    let sum = if first { nan(len) } else { uniform(rng, len, -2.0, 2.0) };
    let grad = uniform(rng, len, -1.0, 1.0);
    let mut gpu = GpuBackend::new(ctx, &layout, no_data(inputs))?;
    gpu.write_buffer(l.w, &sum)?;
    gpu.write_buffer(l.gw, &grad)?;
    run_once(&mut gpu, 1, vec![Op::Accumulate { sum: l.w, grad: l.gw, len, scale, first }], 1)?;
    let mut want = sum;
    ops::accumulate(&mut want, &grad, scale, first, len)?;
    let shape = format!("len={len} scale={scale} {}", if first { "first" } else { "later" });
    Ok(compare("accumulate sum", &shape, &gpu.read_buffer_async(l.w).await?, &want, Tolerance::DEFAULT))
}
