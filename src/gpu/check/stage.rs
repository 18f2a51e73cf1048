//! The harness of the fused kernel's checks: one stage of a plan run on the CPU and the GPU backends from the same
//! random state, every buffer it writes compared, and the statistics and the step count.
//!
//! Both backends get the same layout, the same random contents in every buffer the stage reads, the same sample order
//! and step count; the buffers the stage only writes are NaN-filled on the GPU (an element the kernel forgets cannot
//! pass). The CPU twin of a fused op is the reference functions of the ops it fuses, in order
//! ([`crate::cpu::CpuBackend`]), so these rows prove the fusion on the GPU.

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::RngExt;

use crate::backend::{Backend, Stats};
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context::GpuContext;
use crate::gpu::kernels::Tile;
use crate::model::{self, Loss};
use crate::plan::{Layout, Op, Plan, Resource, Role, Split};

use super::compare::{compare, CheckRow, Tolerance};

/// A value a buffer of `role` may hold: weights, activations and gradients of either sign; optimizer state in
/// [0.5, 1]·10⁻² (second moments non-negative, a centered RMSprop's square average above its gradient average squared).
fn random_values(rng: &mut model::Rng, n: usize, role: Role, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| match role {
            Role::State => rng.random_range(5e-3..=1e-2f32),
            Role::RowStats => 0.0,
            // Dropout factors as the forward pass draws them: 0 (a quarter) or 4/3.
            Role::Mask => {
                if rng.random_range(0.0..1.0f32) < 0.25 {
                    0.0
                } else {
                    4.0 / 3.0
                }
            }
            _ => rng.random_range(-scale..=scale),
        })
        .collect()
}

/// The range of a buffer's random values: ±1/√inputs for a weight, 0 for a perceptron's bias (it starts at zero, so
/// a row of zero inputs scores exactly 0: the tie its head must count as a mistake), ±1 for anything else.
fn scale_of(layout: &Layout, id: usize) -> f32 {
    let perceptron = layout.model.loss == Loss::Perceptron;
    match layout.layers.iter().find(|l| l.w == id || l.b == id) {
        Some(l) if l.w == id => 1.0 / (l.inputs as f32).sqrt(),
        Some(_) if perceptron => 0.0,
        _ => 1.0,
    }
}

/// The buffers `stage` only writes (never reads), with the number of values it writes of each.
fn pure_outputs(stage: &[Op]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for op in stage {
        let (reads, writes) = op.access();
        for (id, len) in op.buffers() {
            let written = writes.contains(&Resource::Buffer(id)) && !reads.contains(&Resource::Buffer(id));
            // An op that updates a buffer in place (a weight, a state) reads it, so it is not a pure output.
            let updated = matches!(op, Op::GradUpdate { w, b, sw, sb, .. }
                if id == *w || id == *b || *sw == Some(id) || *sb == Some(id));
            if written && !updated {
                out.push((id, len));
            }
        }
    }
    out
}

/// Everything `stage` writes, with the number of values it uses of each.
fn written(stage: &[Op]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for op in stage {
        let (_, writes) = op.access();
        for (id, len) in op.buffers() {
            if writes.contains(&Resource::Buffer(id)) && !out.iter().any(|(i, _)| *i == id) {
                out.push((id, len));
            }
        }
    }
    out
}

/// `stages` on both backends from the same state: one row per buffer the last stage writes (NaN-filled on the GPU
/// before), plus the statistics and the step count. Earlier stages set up what the last one reads (a gather's batch
/// labels). `name` and `shape` label the rows.
#[allow(clippy::too_many_arguments)]
pub(super) async fn stage_check(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    layout: &Layout,
    data: Arc<Dataset>,
    stages: &[Vec<Op>],
    tile: Option<Tile>,
    steps_done: u64,
    name: &str,
    shape: &str,
) -> Result<Vec<CheckRow>> {
    let rows = layout.max_rows;
    let plan = Plan::from_stages(rows, Split::Train, stages.to_vec());
    let stage = stages.last().map_or(&[][..], Vec::as_slice);
    let mut cpu = CpuBackend::new(layout, Arc::clone(&data))?;
    let mut gpu = GpuBackend::new(ctx, layout, Arc::clone(&data))?;
    gpu.set_matmul_tile(tile);
    // Same contents everywhere: weights of order 1/√inputs (as initialised), everything else of order 1.
    for (id, desc) in layout.buffers.iter().enumerate() {
        let values = random_values(rng, desc.len, desc.role, scale_of(layout, id));
        cpu.write_buffer(id, &values)?;
        gpu.write_buffer(id, &values)?;
    }
    // Row statistics hold (loss, 0 or 1) as a head writes them, for an advance that sums them.
    let stats: Vec<f32> =
        (0..rows).flat_map(|_| [rng.random_range(0.0..3.0f32), f32::from(rng.random::<bool>())]).collect();
    for b in [&mut cpu as &mut dyn Backend, &mut gpu] {
        b.write_buffer(layout.row_stats, &stats)?;
    }
    let nans = pure_outputs(stage);
    for &(id, _) in &nans {
        gpu.write_buffer(id, &vec![f32::NAN; layout.buffers[id].len])?;
    }
    let mut order: Vec<u32> = (0..data.train.len() as u32).collect();
    order.shuffle(rng);
    for b in [&mut cpu as &mut dyn Backend, &mut gpu] {
        b.begin_epoch(Split::Train, &order)?;
        b.set_steps_done(steps_done)?;
        let id = b.prepare(&plan)?;
        b.run(id, 1)?;
    }
    let mut out = Vec::new();
    for (id, len) in written(stage) {
        let (want, got) = (cpu.read_buffer(id)?, gpu.read_buffer_async(id).await?);
        let buffer = &layout.buffers[id].name;
        out.push(compare(&format!("{name} {buffer}"), shape, &got[..len], &want[..len], Tolerance::DEFAULT));
    }
    let (want, got) = (cpu.stats(Split::Train)?, gpu.stats_async(Split::Train).await?);
    out.push(compare(&format!("{name} Σloss"), shape, &[got.loss_sum], &[want.loss_sum], Tolerance::DEFAULT));
    let counts = |s: Stats, steps: u64| [s.correct as f32, s.samples as f32, steps as f32];
    out.push(compare(
        &format!("{name} correct, samples, steps"),
        shape,
        &counts(got, gpu.steps_done_async().await?),
        &counts(want, cpu.steps_done()?),
        Tolerance::EXACT,
    ));
    Ok(out)
}
