//! The fused kernel (`fused.wgsl`) compared with its CPU twins, one stage at a time.
//!
//! A case is one stage of a plan: the CPU and the GPU backends get the same layout, the same random contents in
//! every buffer the stage reads, the same sample order and step count; the buffers the stage only writes are
//! NaN-filled on the GPU (an element the kernel forgets cannot pass). After the stage runs once, every buffer it
//! writes is compared over the values it uses, and so are the statistics and the step count. The CPU twin of a
//! fused op is the reference functions of the ops it fuses, in order ([`crate::cpu::CpuBackend`]), so these rows
//! prove the fusion on the GPU; `tests/fused_plan.rs` proves the fused plan against the reference plan on the CPU.

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::RngExt;

use crate::backend::Backend;
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::check::{compare, random_data, CheckRow, Tolerance};
use crate::gpu::context::GpuContext;
use crate::gpu::kernels::Tile;
use crate::model::{self, Activation, Loss, ModelConfig};
use crate::optim::Optimizer;
use crate::plan::{Layout, Op, Plan, Resource, Role, Split};

/// The optimizers every update case runs with.
pub const OPTIMIZERS: [Optimizer; 3] = [
    Optimizer::Sgd { lr: 0.1 },
    Optimizer::Momentum { lr: 0.05, momentum: 0.9 },
    Optimizer::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
];

/// `(rows, inputs, outputs)` of the forward cases: 1, sizes around a tile's edge, MNIST's 784 and 10, and one side
/// of 4096.
pub const LINEAR_SHAPES: [(usize, usize, usize); 6] =
    [(1, 784, 63), (7, 63, 65), (65, 784, 10), (63, 10, 7), (65, 4096, 63), (64, 65, 1)];

/// `(rows, inputs, outputs)` of the update cases.
pub const UPDATE_SHAPES: [(usize, usize, usize); 5] =
    [(1, 1, 1), (65, 63, 10), (7, 784, 65), (64, 65, 63), (63, 4096, 7)];

/// A value a buffer of `role` may hold: weights, activations and gradients of either sign, Adam's second moment and
/// every other state non-negative where the rule needs it.
fn random_values(rng: &mut model::Rng, n: usize, role: Role, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| match role {
            Role::State => rng.random_range(0.0..=1e-2f32),
            Role::RowStats => 0.0,
            _ => rng.random_range(-scale..=scale),
        })
        .collect()
}

/// The range of a buffer's random values: ±1/√inputs for a weight, ±1 for anything else.
fn scale_of(layout: &Layout, id: usize) -> f32 {
    match layout.layers.iter().find(|l| l.w == id) {
        Some(l) => 1.0 / (l.inputs as f32).sqrt(),
        None => 1.0,
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
                if id == *w || id == *b || sw.contains(&Some(id)) || sb.contains(&Some(id)));
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
fn stage_check(
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
        let (want, got) = (cpu.read_buffer(id)?, gpu.read_buffer(id)?);
        let buffer = &layout.buffers[id].name;
        out.push(compare(&format!("{name} {buffer}"), shape, &got[..len], &want[..len], Tolerance::DEFAULT));
    }
    let (want, got) = (cpu.stats(Split::Train)?, gpu.stats(Split::Train)?);
    out.push(compare(&format!("{name} Σloss"), shape, &[got.loss_sum], &[want.loss_sum], Tolerance::DEFAULT));
    let counts = |s: crate::backend::Stats, steps: u64| [s.correct as f32, s.samples as f32, steps as f32];
    out.push(compare(
        &format!("{name} correct, samples, steps"),
        shape,
        &counts(got, gpu.steps_done()?),
        &counts(want, cpu.steps_done()?),
        Tolerance::EXACT,
    ));
    Ok(out)
}

fn model_of(inputs: usize, hidden: &[usize], classes: usize, activation: Activation, loss: Loss) -> ModelConfig {
    ModelConfig { inputs, hidden: hidden.to_vec(), classes, activation, loss }
}

/// `Op::FusedLinear` in its four forms — plain, gathering its input, with a loss head (cross-entropy and the
/// quadratic cost, training and evaluation), and both at once (a one-layer model) — on every tile.
pub fn fused_linear(ctx: &GpuContext) -> Result<Vec<CheckRow>> {
    let mut rng = model::rng(0x6675_7365_6431);
    let mut rows_out = Vec::new();
    for (i, &(rows, inputs, outputs)) in LINEAR_SHAPES.iter().enumerate() {
        let act = [Activation::Relu, Activation::Tanh, Activation::Sigmoid][i % 3];
        for tile in Tile::ALL {
            // Gathering first layer of a two-layer model.
            let layout = Layout::new(&model_of(inputs, &[outputs], 3, act, Loss::Xent), OPTIMIZERS[0], rows);
            let data = random_data(&mut rng, rows + 9, inputs, 3);
            let op = first_op(&layout, rows)?;
            let shape = format!("rows={rows} inputs={inputs} outputs={outputs} {} tile {}", act.name(), tile.side());
            rows_out.extend(stage_check(
                ctx,
                &mut rng,
                &layout,
                data,
                &[vec![op]],
                Some(tile),
                0,
                "gather_linear",
                &shape,
            )?);
            // A last layer with a loss head (when its classes fit one), reading the labels a gather left.
            if outputs <= crate::plan::HEAD_MAX_CLASSES {
                for loss in [Loss::Xent, Loss::Mse] {
                    for train in [true, false] {
                        rows_out.extend(head_case(ctx, &mut rng, rows, inputs, outputs, loss, train, tile)?);
                    }
                }
            }
        }
    }
    Ok(rows_out)
}

/// The first op of the fused train step of `layout`.
fn first_op(layout: &Layout, rows: usize) -> Result<Op> {
    Ok(layout.train_step(rows)?.ops[0])
}

/// A one-layer model `inputs → classes`: its first op gathers and computes the loss at once; then the same layer
/// on an input already in memory (the last layer of a deeper model), labels from the gather.
#[allow(clippy::too_many_arguments)]
fn head_case(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    rows: usize,
    inputs: usize,
    classes: usize,
    loss: Loss,
    train: bool,
    tile: Tile,
) -> Result<Vec<CheckRow>> {
    let layout = Layout::new(&model_of(inputs, &[], classes, Activation::Relu, loss), OPTIMIZERS[0], rows);
    let data = random_data(rng, rows + 5, inputs, classes);
    let plan = if train { layout.train_step(rows)? } else { layout.eval_step(Split::Train, rows)? };
    let op = plan.ops[0];
    let what = if train { "train" } else { "eval" };
    let shape = format!("rows={rows} inputs={inputs} classes={classes} {} {what} tile {}", loss.name(), tile.side());
    let mut out =
        stage_check(ctx, rng, &layout, Arc::clone(&data), &[vec![op]], Some(tile), 0, "gather_linear_loss", &shape)?;
    // The same head without the gather: the labels are those of the batch gathered by a first stage.
    let Op::FusedLinear { y, x, w, b, act, head, .. } = op else { return Ok(out) };
    let no_gather = Op::FusedLinear { y, x, w, b, act, rows, inputs, outputs: classes, gather: None, head };
    let pair = [vec![op], vec![no_gather]];
    out.extend(stage_check(ctx, rng, &layout, data, &pair, Some(tile), 0, "linear_loss", &shape)?);
    Ok(out)
}

/// `Op::GradUpdate` with every optimizer, a constant and a decaying rate, step counts from the first to past 2³²
/// and the i32 clamp of Adam's t, on every tile.
pub fn grad_update(ctx: &GpuContext) -> Result<Vec<CheckRow>> {
    let mut rng = model::rng(0x6675_7365_6432);
    let starts = [1, 1000, u64::from(u32::MAX), (1 << 32) + 5, i32::MAX as u64 + 3];
    let mut rows_out = Vec::new();
    for (i, &(rows, inputs, outputs)) in UPDATE_SHAPES.iter().enumerate() {
        for (o, optimizer) in OPTIMIZERS.into_iter().enumerate() {
            let start = starts[(i + o) % starts.len()];
            for tile in Tile::ALL {
                for decay in [0, (start + 1).min(u64::from(u32::MAX))] {
                    let mut layout =
                        Layout::new(&model_of(inputs, &[], outputs, Activation::Relu, Loss::Xent), optimizer, rows);
                    layout.decay_steps = decay;
                    let plan = layout.train_step(rows)?;
                    let op = *plan.ops.last().unwrap_or(&plan.ops[0]);
                    let data = random_data(&mut rng, rows, inputs, outputs);
                    let shape = format!(
                        "rows={rows} inputs={inputs} outputs={outputs} {} t={start} decay={decay} tile {}",
                        optimizer.name(),
                        tile.side()
                    );
                    rows_out.extend(stage_check(
                        ctx,
                        &mut rng,
                        &layout,
                        data,
                        &[vec![op]],
                        Some(tile),
                        start,
                        "grad_update",
                        &shape,
                    )?);
                }
            }
        }
    }
    Ok(rows_out)
}

/// Every stage of the fused train step of a three-layer model (two-job stages included: an input gradient with the
/// advance, an update with an input gradient, two updates), each from fresh random state, for every activation ×
/// loss × optimizer, on every tile.
pub fn fused_stages(ctx: &GpuContext) -> Result<Vec<CheckRow>> {
    let mut rng = model::rng(0x6675_7365_6433);
    let mut rows_out = Vec::new();
    let acts = [Activation::Relu, Activation::Sigmoid, Activation::Tanh];
    for (i, act) in acts.into_iter().enumerate() {
        for loss in [Loss::Xent, Loss::Mse] {
            for (o, optimizer) in OPTIMIZERS.into_iter().enumerate() {
                let tile = Tile::ALL[(i + o) % Tile::ALL.len()];
                let (rows, inputs, hidden, classes) = (65, 63, [65, 7], 10);
                let layout = Layout::new(&model_of(inputs, &hidden, classes, act, loss), optimizer, rows);
                let data = random_data(&mut rng, rows + 3, inputs, classes);
                let plan = layout.train_step(rows)?;
                for (s, stage) in plan.stage_ops().enumerate() {
                    let labels: Vec<String> = stage.iter().map(Op::label).collect();
                    let shape = format!("{} {} {} tile {}", act.name(), loss.name(), optimizer.name(), tile.side());
                    let name = format!("stage {s}: {}", labels.join(" + "));
                    rows_out.extend(stage_check(
                        ctx,
                        &mut rng,
                        &layout,
                        Arc::clone(&data),
                        &[stage.to_vec()],
                        Some(tile),
                        3,
                        &name,
                        &shape,
                    )?);
                }
            }
        }
    }
    Ok(rows_out)
}
