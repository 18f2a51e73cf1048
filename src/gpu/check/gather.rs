//! The checks of `gather.wgsl`, with `counters.wgsl`'s `advance` moving the cursor: the rows at the GPU cursor and
//! their labels, bit for bit, and the step count the advances leave (none for the chunks of a chunked step).

use std::sync::Arc;

use rand::seq::SliceRandom;

use crate::backend::Backend;
use crate::cpu::ops;
use crate::data::Normalize;
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context::GpuContext;
use crate::model::{self, Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use crate::optim::Optimizer;
use crate::plan::{Layout, Op, Split};

use super::compare::{compare, CheckRow, Tolerance};
use super::fixtures::{nan, random_data, run_once};

/// `(rows, features, steps)` of the gather checks.
pub const GATHER_SHAPES: [(usize, usize, usize); 4] = [(1, 1, 1), (7, 784, 3), (65, 63, 2), (10, 7, 5)];

/// `gather` then `advance` on every shape of [`GATHER_SHAPES`], from u8 pixels (as they are and normalised) and from a
/// table's f32 values, the advances counting steps on every other shape.
pub(super) async fn cases(ctx: &GpuContext, rng: &mut model::Rng) -> Result<Vec<CheckRow>> {
    let mut rows = Vec::new();
    for (i, &(r, features, steps)) in GATHER_SHAPES.iter().enumerate() {
        for kind in [Kind::Pixels, Kind::Normalised, Kind::Values] {
            rows.extend(gather(ctx, rng, r, features, steps, kind, i % 2 == 0).await?);
        }
    }
    Ok(rows)
}

/// What the split holds: u8 pixels read as u / 255 or normalised (`--normalize`), or a table's f32 values.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Pixels,
    Normalised,
    Values,
}

/// `steps` steps of gather + advance over a shuffled order: the last batch and its labels must be the rows at
/// cursor (steps − 1)·rows, bit for bit.
async fn gather(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    rows: usize,
    features: usize,
    steps: usize,
    kind: Kind,
    counts_step: bool,
) -> Result<Vec<CheckRow>> {
    let n = rows * steps + 3;
    let mut data = random_data(rng, n, features, 10, kind == Kind::Values);
    if kind == Kind::Normalised {
        // MNIST's constants, as PyTorch's tutorials normalise it.
        Arc::make_mut(&mut data).normalize = Some(Normalize { mean: 0.1307, std: 0.3081 });
    }
    let model = ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: features,
        hidden: vec![],
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    let layout = Layout::new(&model, Optimizer::default(), rows);
    let l = layout.layers[0];
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(rng);
    let mut gpu = GpuBackend::new(ctx, &layout, Arc::clone(&data))?;
    gpu.write_buffer(l.x, &nan(rows * features))?;
    gpu.begin_epoch(Split::Train, &order)?;
    let ops = vec![
        Op::Gather { x: l.x, split: Split::Train, rows, features },
        Op::Advance { split: Split::Train, rows, row_stats: None, counts_step },
    ];
    run_once(&mut gpu, rows, ops, steps)?;
    let mut want_x = vec![0.0; rows * features];
    let mut want_labels = vec![0u32; rows];
    let at = (steps - 1) * rows;
    ops::gather(
        &mut want_x,
        &mut want_labels,
        &data.train.features,
        &data.pixel_inputs(),
        &data.train.labels,
        &order[at..at + rows],
        rows,
        features,
    )?;
    let got_labels = gpu.read_batch_labels_async().await?;
    let as_f32 = |v: &[u32]| v.iter().map(|&u| u as f32).collect::<Vec<_>>();
    let kind = match kind {
        Kind::Pixels => "u8 pixels",
        Kind::Normalised => "u8 pixels normalised",
        Kind::Values => "f32 values",
    };
    let chunks = if counts_step { "" } else { " chunks" };
    let shape = format!("rows={rows} features={features} {kind} step {steps}{chunks}");
    let want_steps = if counts_step { steps } else { 0 };
    Ok(vec![
        compare(
            "advance steps",
            &shape,
            &[gpu.steps_done_async().await? as f32],
            &[want_steps as f32],
            Tolerance::EXACT,
        ),
        compare("gather x", &shape, &gpu.read_buffer_async(l.x).await?, &want_x, Tolerance::EXACT),
        compare("gather labels", &shape, &as_f32(&got_labels[..rows]), &as_f32(&want_labels), Tolerance::EXACT),
    ])
}
