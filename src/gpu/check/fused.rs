//! The checks of `fused.wgsl` (`fused`), one stage of a plan at a time against the CPU backend (see [`super::stage`]):
//! `Op::FusedLinear` in its four forms, `Op::GradUpdate` with every optimizer, and every stage of a fused train step.
//! `tests/fused_plan.rs` proves the fused plan against the reference plan on the CPU.

use std::sync::Arc;

use crate::data::{Dataset, Features};
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::gpu::kernels::Tile;
use crate::model::{self, heads, Activation, Loss, ModelConfig, OutputUnits};
use crate::optim::{Optimizer, Rule};
use crate::plan::{Layout, Op, Split};

use super::compare::CheckRow;
use super::fixtures::random_data;
use super::matmul::CHECK_LEAKY_SLOPE;
use super::stage::stage_check;

/// The optimizers every update case runs with: of each rule, the variant that moves every hyper-parameter.
pub fn optimizers() -> Result<Vec<Optimizer>> {
    let mut out = Vec::new();
    for &rule in Rule::ALL {
        out.extend(super::optim::variants(rule)?.last().copied());
    }
    Ok(out)
}

/// `(rows, inputs, outputs)` of the forward cases: 1, sizes around a tile's edge, MNIST's 784 and 10, and one side
/// of 4096.
pub const LINEAR_SHAPES: [(usize, usize, usize); 6] =
    [(1, 784, 63), (7, 63, 65), (65, 784, 10), (63, 10, 7), (65, 4096, 63), (64, 65, 1)];

/// `(rows, inputs, outputs)` of the update cases.
pub const UPDATE_SHAPES: [(usize, usize, usize); 5] =
    [(1, 1, 1), (65, 63, 10), (7, 784, 65), (64, 65, 63), (63, 4096, 7)];

/// A model of `inputs`, `hidden` layers and `classes`, with `activation` and `loss`; leaky ReLU's slope is not the
/// default, so a kernel that ignores the slope it is given fails.
fn mlp(inputs: usize, hidden: &[usize], classes: usize, activation: Activation, loss: Loss) -> ModelConfig {
    let (hidden, leaky_slope, output_units) = (hidden.to_vec(), CHECK_LEAKY_SLOPE, OutputUnits::Classes);
    ModelConfig { inputs, hidden, classes, activation, loss, leaky_slope, output_units }
}

/// [`mlp`] with the output `units` of a head: one unit stands for 2 classes.
fn mlp_with(
    inputs: usize,
    hidden: &[usize],
    classes: usize,
    act: Activation,
    head: (Loss, OutputUnits),
) -> ModelConfig {
    let (loss, output_units) = head;
    let classes = if output_units == OutputUnits::One { 2 } else { classes };
    ModelConfig { output_units, ..mlp(inputs, hidden, classes, act, loss) }
}

/// A head's name in a check's shape: the loss, and `1 unit` for one output unit.
fn head_name((loss, units): (Loss, OutputUnits)) -> String {
    match units {
        OutputUnits::Classes => loss.name().to_string(),
        OutputUnits::One => format!("{} 1 unit", loss.name()),
    }
}

/// `Op::FusedLinear` in its four forms — plain, gathering its input, with a loss head (every head of [`heads`],
/// training and evaluation; one output unit on every shape's rows), and both at once (a one-layer model) — on every
/// tile; the gathering
/// layer keeps its pre-activation z on every other shape (and wherever its activation needs it).
pub async fn fused_linear(ctx: &GpuContext) -> Result<Vec<CheckRow>> {
    let mut rng = model::rng(0x6675_7365_6431);
    let mut rows_out = Vec::new();
    for (i, &(rows, inputs, outputs)) in LINEAR_SHAPES.iter().enumerate() {
        let act = Activation::ALL[i % Activation::ALL.len()];
        for tile in Tile::ALL {
            // Gathering first layer of a two-layer model.
            let layout = Layout::new(&mlp(inputs, &[outputs], 3, act, Loss::Xent), Optimizer::default(), rows);
            // Odd shapes gather a table's f32 values, even ones pixels.
            let values = i % 2 == 1;
            let data = random_data(&mut rng, rows + 9, inputs, 3, values);
            let mut op = first_op(&layout, rows)?;
            if let Op::FusedLinear { z: z @ None, .. } = &mut op {
                // Any [rows, outputs] buffer may take z: the layer's delta, which this stage does not touch.
                *z = (i % 2 == 0).then_some(layout.layers[0].d);
            }
            let keeps = if matches!(op, Op::FusedLinear { z: Some(_), .. }) { " keeping z" } else { "" };
            let kind = if values { "f32 values" } else { "u8 pixels" };
            let shape = format!(
                "rows={rows} inputs={inputs} outputs={outputs} {kind} {}{keeps} tile {}",
                act.name(),
                tile.side()
            );
            rows_out.extend(
                stage_check(ctx, &mut rng, &layout, data, &[vec![op]], Some(tile), 0, "gather_linear", &shape).await?,
            );
            // A last layer with a loss head (when its classes fit one), reading the labels a gather left.
            for head in heads() {
                // One unit per class needs 2 classes at least (one unit stands for two).
                let model = mlp_with(inputs, &[], outputs, act, head);
                if model.classes >= 2 && model.output_width() <= crate::plan::HEAD_MAX_CLASSES {
                    for train in [true, false] {
                        rows_out.extend(head_case(ctx, &mut rng, rows, inputs, outputs, head, train, tile).await?);
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

/// A one-layer model `inputs → classes` (→ 1 for a one-unit head): its first op gathers and computes the loss at
/// once; then the same layer on an input already in memory (the last layer of a deeper model), labels from the
/// gather.
#[allow(clippy::too_many_arguments)]
async fn head_case(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    rows: usize,
    inputs: usize,
    classes: usize,
    head: (Loss, OutputUnits),
    train: bool,
    tile: Tile,
) -> Result<Vec<CheckRow>> {
    let model = mlp_with(inputs, &[], classes, Activation::Relu, head);
    let (classes, width) = (model.classes, model.output_width());
    let layout = Layout::new(&model, Optimizer::default(), rows);
    let mut data = random_data(rng, rows + 5, inputs, classes, false);
    if head.0 == Loss::Perceptron {
        data = with_dark_samples(&data);
    }
    let plan = if train { layout.train_step(rows)? } else { layout.eval_step(Split::Train, rows)? };
    let op = plan.ops[0];
    let what = if train { "train" } else { "eval" };
    let shape =
        format!("rows={rows} inputs={inputs} classes={classes} {} {what} tile {}", head_name(head), tile.side());
    let mut out =
        stage_check(ctx, rng, &layout, Arc::clone(&data), &[vec![op]], Some(tile), 0, "gather_linear_loss", &shape)
            .await?;
    // The same head without the gather: the labels are those of the batch gathered by a first stage.
    let Op::FusedLinear { y, z, x, w, b, act, head, .. } = op else { return Ok(out) };
    let no_gather =
        Op::FusedLinear { y, z, x, w, b, act, rows, inputs, outputs: width, gather: None, head, dropout: None };
    let pair = [vec![op], vec![no_gather]];
    out.extend(stage_check(ctx, rng, &layout, data, &pair, Some(tile), 0, "linear_loss", &shape).await?);
    Ok(out)
}

/// `data` with every third sample's pixels 0: gathered for a perceptron (whose bias the checks start at 0, as
/// `--init zeros` does), those rows score exactly 0, the tie its head must count as a mistake.
fn with_dark_samples(data: &Dataset) -> Arc<Dataset> {
    let mut dark = data.clone();
    let features = dark.train.pixels();
    if let Features::Pixels(pixels) = &mut dark.train.features {
        pixels.chunks_mut(features.max(1)).step_by(3).for_each(|s| s.fill(0));
    }
    Arc::new(dark)
}

/// `Op::GradUpdate` with every optimizer, a constant and a decaying rate, step counts from the first to past 2³²
/// and the i32 clamp of Adam's t, on every tile.
pub async fn grad_update(ctx: &GpuContext) -> Result<Vec<CheckRow>> {
    let mut rng = model::rng(0x6675_7365_6432);
    let starts = [1, 1000, u64::from(u32::MAX), (1 << 32) + 5, i32::MAX as u64 + 3];
    let mut rows_out = Vec::new();
    for (i, &(rows, inputs, outputs)) in UPDATE_SHAPES.iter().enumerate() {
        for (o, optimizer) in optimizers()?.into_iter().enumerate() {
            let start = starts[(i + o) % starts.len()];
            for tile in Tile::ALL {
                for decay in [0, (start + 1).min(u64::from(u32::MAX))] {
                    let mut layout =
                        Layout::new(&mlp(inputs, &[], outputs, Activation::Relu, Loss::Xent), optimizer, rows);
                    layout.decay_steps = decay;
                    let plan = layout.train_step(rows)?;
                    let op = *plan.ops.last().unwrap_or(&plan.ops[0]);
                    let data = random_data(&mut rng, rows, inputs, outputs, false);
                    let shape = format!(
                        "rows={rows} inputs={inputs} outputs={outputs} {} t={start} decay={decay} tile {}",
                        optimizer.name(),
                        tile.side()
                    );
                    rows_out.extend(
                        stage_check(
                            ctx,
                            &mut rng,
                            &layout,
                            data,
                            &[vec![op]],
                            Some(tile),
                            start,
                            "grad_update",
                            &shape,
                        )
                        .await?,
                    );
                }
            }
        }
    }
    Ok(rows_out)
}

/// Every stage of the fused train step of a three-layer model (two-job stages included: an input gradient with the
/// advance, an update with an input gradient, two updates), each from fresh random state, for every activation ×
/// loss head × optimizer, on every tile.
pub async fn fused_stages(ctx: &GpuContext) -> Result<Vec<CheckRow>> {
    let mut rng = model::rng(0x6675_7365_6433);
    let mut rows_out = Vec::new();
    // Every hidden-layer activation the command line offers.
    for (i, &act) in <Activation as clap::ValueEnum>::value_variants().iter().enumerate() {
        for head in heads() {
            for (o, optimizer) in optimizers()?.into_iter().enumerate() {
                let tile = Tile::ALL[(i + o) % Tile::ALL.len()];
                let (rows, inputs, hidden) = (65, 63, [65, 7]);
                // Every other optimizer with dropout on the hidden layers.
                let p = if o % 2 == 1 { 0.25 } else { 0.0 };
                let model = mlp_with(inputs, &hidden, 10, act, head);
                let layout = Layout::new(&model, optimizer, rows).with_dropout(p, 9);
                let data = random_data(&mut rng, rows + 3, inputs, model.classes, false);
                let plan = layout.train_step(rows)?;
                for (s, stage) in plan.stage_ops().enumerate() {
                    let labels: Vec<String> = stage.iter().map(Op::label).collect();
                    let shape = format!(
                        "{} {} {} dropout {p} tile {}",
                        act.name(),
                        head_name(head),
                        optimizer.name(),
                        tile.side()
                    );
                    let name = format!("stage {s}: {}", labels.join(" + "));
                    rows_out.extend(
                        stage_check(
                            ctx,
                            &mut rng,
                            &layout,
                            Arc::clone(&data),
                            &[stage.to_vec()],
                            Some(tile),
                            3,
                            &name,
                            &shape,
                        )
                        .await?,
                    );
                }
            }
        }
    }
    Ok(rows_out)
}
