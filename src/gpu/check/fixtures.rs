//! What the one-op checks are built from: seeded random inputs and data sets, NaN-filled outputs, small layouts, and
//! a fresh [`GpuBackend`] that runs an op once.

use std::sync::Arc;

use rand::RngExt;

use crate::backend::Backend;
use crate::data::{Dataset, Features, LabeledImages};
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context::GpuContext;
use crate::gpu::kernels::Tile;
use crate::model::{self, Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use crate::plan::{BufId, Layout, Op, Plan, Split};

/// `n` values uniform in `[lo, hi]`.
pub(super) fn uniform(rng: &mut model::Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..=hi)).collect()
}

/// `n` NaNs: what an output buffer holds before the kernel writes it, so that an element it forgets cannot pass.
pub(super) fn nan(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

/// A model of one linear layer `inputs → outputs`, or two (`1 → inputs → outputs`) when the layer needs a layer
/// below it (input gradients).
pub(super) fn model_of(inputs: usize, outputs: usize, below: bool) -> ModelConfig {
    ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: if below { 1 } else { inputs },
        hidden: if below { vec![inputs] } else { vec![] },
        classes: outputs,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    }
}

/// A data set with no samples (for checks that gather nothing).
pub(super) fn no_data(features: usize) -> Arc<Dataset> {
    Arc::new(Dataset::empty(features, 2))
}

/// Random samples and labels: `samples` train samples of `features` pixels (every byte value possible), or with
/// `values` of f32 values as a standardised table holds them (normal, so mostly in ±3, signs of both kinds).
pub(super) fn random_data(
    rng: &mut model::Rng,
    samples: usize,
    features: usize,
    classes: usize,
    values: bool,
) -> Arc<Dataset> {
    let len = samples * features;
    let features_of = match values {
        false => Features::Pixels((0..len).map(|_| rng.random()).collect()),
        true => Features::Values((0..len).map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal)).collect()),
    };
    let train = LabeledImages {
        features: features_of,
        labels: (0..samples).map(|_| rng.random_range(0..classes) as u8).collect(),
        rows: 1,
        cols: features,
    };
    Arc::new(Dataset::new("check", train, LabeledImages::empty(features), classes))
}

/// Runs `ops` once on `gpu`.
pub(super) fn run_once(gpu: &mut GpuBackend, rows: usize, ops: Vec<Op>, steps: usize) -> Result<()> {
    let plan = gpu.prepare(&Plan::one_op_per_stage(rows, Split::Train, ops))?;
    gpu.run(plan, steps)
}

/// Runs `op` alone, once, on a fresh backend over `layout` (each op's plan rows = `layout.max_rows`): writes `inputs`
/// into their buffers, fills the output buffers `outs` with NaN so that an element the kernel leaves unwritten fails
/// the comparison, and reads them back, one after the other (awaited).
pub(super) async fn run_op(
    ctx: &GpuContext,
    layout: &Layout,
    tile: Option<Tile>,
    inputs: &[(BufId, &[f32])],
    outs: &[BufId],
    op: Op,
) -> Result<Vec<f32>> {
    let mut gpu = GpuBackend::new(ctx, layout, no_data(layout.model.inputs))?;
    gpu.set_matmul_tile(tile);
    for &(id, data) in inputs {
        gpu.write_buffer(id, data)?;
    }
    for &out in outs {
        gpu.write_buffer(out, &nan(layout.buffers[out].len))?;
    }
    run_once(&mut gpu, layout.max_rows, vec![op], 1)?;
    let mut got = Vec::new();
    for &out in outs {
        got.extend(gpu.read_buffer_async(out).await?);
    }
    Ok(got)
}
