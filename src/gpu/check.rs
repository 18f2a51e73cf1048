//! Every GPU kernel compared with its CPU twin in [`crate::cpu::ops`], on random inputs and awkward shapes.
//!
//! Each check builds a small [`Layout`] whose buffers have the shapes under test, fills the inputs with seeded random
//! values and the outputs with NaN (so an element the kernel forgets to write cannot pass), runs a one- or two-op
//! [`Plan`] through [`GpuBackend`] — the same pipelines, bind groups and dispatch code as training — and compares the
//! result with the reference element by element: `|got − want| ≤ atol + rtol·|want|`. The `check` command and the
//! tests in `tests/gpu_kernels.rs` both call [`check`].

use std::fmt;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::RngExt;

use crate::backend::{Backend, Stats};
use crate::cpu::ops;
use crate::data::{Dataset, LabeledImages};
use crate::error::Result;
use crate::gpu::backend::GpuBackend;
use crate::gpu::context::GpuContext;
use crate::gpu::kernels::Tile;
use crate::model::{self, Activation, Loss, ModelConfig};
use crate::optim::Optimizer;
use crate::plan::{BufId, Layout, Op, Plan, Split};

/// How far a GPU result may be from the reference: `|got − want| ≤ atol + rtol·|want|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute part.
    pub atol: f32,
    /// Relative part.
    pub rtol: f32,
}

impl Tolerance {
    /// The default for every kernel: a few f32 roundings of difference (summation order, `exp`/`log`/`sqrt`
    /// accuracy of the driver, fused multiply-adds).
    pub const DEFAULT: Tolerance = Tolerance { atol: 1e-5, rtol: 1e-4 };
    /// Bit-exact (gather: the host supplies the u/255 table; integer counters).
    pub const EXACT: Tolerance = Tolerance { atol: 0.0, rtol: 0.0 };

    fn allows(self, got: f32, want: f32) -> bool {
        got == want || (got - want).abs() <= self.atol + self.rtol * want.abs()
    }
}

/// One element that fell outside the tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mismatch {
    /// Flat index in the output.
    pub index: usize,
    /// The GPU's value.
    pub got: f32,
    /// The reference value.
    pub want: f32,
}

/// One comparison: a kernel on one shape.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRow {
    /// The kernel and what was compared, e.g. `linear y` or `softmax_xent Σloss`.
    pub kernel: String,
    /// The shape and variant, e.g. `rows=65 inputs=784 outputs=10 relu`.
    pub shape: String,
    /// The tolerance applied.
    pub tolerance: Tolerance,
    /// Largest `|got − want|` (infinite if a NaN came back where a number was expected).
    pub max_abs_err: f32,
    /// Largest `|got − want| / |want|` over elements with `want ≠ 0`.
    pub max_rel_err: f32,
    /// The first few mismatches.
    pub mismatches: Vec<Mismatch>,
    /// How many elements mismatched in all.
    pub mismatch_count: usize,
    /// Elements compared.
    pub elements: usize,
    /// Whether every element is within tolerance.
    pub pass: bool,
}

/// How many mismatches a row keeps.
const KEEP_MISMATCHES: usize = 5;

/// Compares `got` with `want` element by element.
pub fn compare(kernel: &str, shape: &str, got: &[f32], want: &[f32], tolerance: Tolerance) -> CheckRow {
    let mut row = CheckRow {
        kernel: kernel.into(),
        shape: shape.into(),
        tolerance,
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        mismatches: Vec::new(),
        mismatch_count: got.len().abs_diff(want.len()),
        elements: want.len(),
        pass: true,
    };
    for (index, (&got, &want)) in got.iter().zip(want).enumerate() {
        let both_nan = got.is_nan() && want.is_nan();
        let abs = if both_nan {
            0.0
        } else if got.is_nan() || want.is_nan() {
            f32::INFINITY
        } else {
            (got - want).abs()
        };
        row.max_abs_err = row.max_abs_err.max(abs);
        if want != 0.0 {
            row.max_rel_err = row.max_rel_err.max(abs / want.abs());
        }
        if !both_nan && !tolerance.allows(got, want) {
            row.mismatch_count += 1;
            if row.mismatches.len() < KEEP_MISMATCHES {
                row.mismatches.push(Mismatch { index, got, want });
            }
        }
    }
    row.pass = row.mismatch_count == 0;
    row
}

impl fmt::Display for CheckRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:<28} {:<44} max abs {:.2e}  max rel {:.2e}  (atol {:.0e}, rtol {:.0e}, {} values)",
            if self.pass { "PASS" } else { "FAIL" },
            self.kernel,
            self.shape,
            self.max_abs_err,
            self.max_rel_err,
            self.tolerance.atol,
            self.tolerance.rtol,
            self.elements,
        )?;
        if !self.pass {
            write!(f, "\n     {} mismatches, first:", self.mismatch_count)?;
            for m in &self.mismatches {
                write!(f, " [{}] got {:e} want {:e};", m.index, m.got, m.want)?;
            }
        }
        Ok(())
    }
}

/// A group of checks, one per kernel family (and one per activation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `linear`: y = act(x·wᵀ + b).
    Linear,
    /// `weight_grad`: dw = dzᵀ·x.
    WeightGrad,
    /// `input_grad`: dx = (dz·w) ⊙ act′(x).
    InputGrad,
    /// One activation through `linear` and `input_grad` over a wide range of z (stability for large |z|).
    Activation(Activation),
    /// `softmax_xent`: dz and the statistics.
    SoftmaxXent,
    /// `quadratic_cost`: dz and the statistics.
    QuadraticCost,
    /// The argmax of both losses on rows full of ties: the first maximum wins, as on the CPU.
    Argmax,
    /// `bias_grad`: db = Σ_rows dz.
    BiasGrad,
    /// `sgd`.
    Sgd,
    /// `momentum`.
    Momentum,
    /// `adam`, with t read from the GPU step counter.
    Adam,
    /// `gather` then `advance`, several steps: the rows at the GPU cursor and their labels.
    Gather,
    /// `linear_large`: y = act(x·wᵀ + b) in 128 × 128 tiles, for the shapes it takes.
    LinearLarge,
    /// `fused` running `Op::FusedLinear`: gathering, with a loss head, both (see [`crate::gpu::check_fused`]).
    FusedLinear,
    /// `fused` running `Op::GradUpdate`: gradients and the update in the epilogue, every optimizer.
    GradUpdate,
    /// `fused` running every stage of a fused train step, two-job stages included.
    FusedStages,
}

impl Family {
    /// Every family, in the order the `check` command runs them.
    pub const ALL: [Family; 19] = [
        Family::Linear,
        Family::WeightGrad,
        Family::InputGrad,
        Family::Activation(Activation::Identity),
        Family::Activation(Activation::Relu),
        Family::Activation(Activation::Sigmoid),
        Family::Activation(Activation::Tanh),
        Family::SoftmaxXent,
        Family::QuadraticCost,
        Family::Argmax,
        Family::BiasGrad,
        Family::Sgd,
        Family::Momentum,
        Family::Adam,
        Family::Gather,
        Family::LinearLarge,
        Family::FusedLinear,
        Family::GradUpdate,
        Family::FusedStages,
    ];
}

/// `(rows, inputs, outputs)` of the matmul checks: 1, sizes just under and over a 64-wide tile, MNIST's 784 and 10.
pub const MATMUL_SHAPES: [(usize, usize, usize); 6] =
    [(1, 1, 1), (7, 63, 65), (65, 784, 10), (63, 10, 7), (10, 65, 784), (100, 784, 64)];

/// `(rows, inputs, outputs)` of the large-kernel checks: every side a multiple of its tile (128) and k of its stage
/// (8): one stage, MNIST's 784, one side of 4096, a non-square grid.
pub const LARGE_SHAPES: [(usize, usize, usize); 4] = [(128, 8, 128), (256, 784, 384), (128, 4096, 128), (384, 64, 256)];

/// `(rows, classes)` of the loss checks.
pub const LOSS_SHAPES: [(usize, usize); 6] = [(1, 10), (7, 10), (63, 2), (65, 7), (784, 10), (300, 1)];

/// `(rows, outputs)` of the bias-gradient checks.
pub const BIAS_SHAPES: [(usize, usize); 5] = [(1, 1), (7, 10), (65, 63), (784, 7), (10, 784)];

/// Lengths of the optimizer checks.
pub const UPDATE_LENGTHS: [usize; 6] = [1, 7, 63, 65, 784, 50_240];

/// `(rows, features, steps)` of the gather checks.
pub const GATHER_SHAPES: [(usize, usize, usize); 4] = [(1, 1, 1), (7, 784, 3), (65, 63, 2), (10, 7, 5)];

/// Runs the checks of `family` on `ctx`.
pub fn check(ctx: &GpuContext, family: Family) -> Result<Vec<CheckRow>> {
    let mut rng = model::rng(0x6b65_726e_656c);
    let mut rows = Vec::new();
    match family {
        Family::Linear | Family::WeightGrad | Family::InputGrad => {
            for (i, &(r, inp, out)) in MATMUL_SHAPES.iter().enumerate() {
                for tile in Tile::ALL {
                    let mut case = Matmul::new(r, inp, out, Some(tile));
                    rows.push(match family {
                        Family::Linear => {
                            case.act = [Activation::Identity, Activation::Relu][i % 2];
                            linear(ctx, &mut rng, case)?
                        }
                        Family::WeightGrad => weight_grad(ctx, &mut rng, case)?,
                        _ => {
                            case.act = [Activation::Relu, Activation::Tanh, Activation::Sigmoid][i % 3];
                            input_grad(ctx, &mut rng, case)?
                        }
                    });
                }
            }
        }
        Family::Activation(act) => {
            let wide = |r, inp, out| Matmul { act, range: Range::Wide, ..Matmul::new(r, inp, out, None) };
            rows.push(linear(ctx, &mut rng, wide(7, 3, 65))?);
            rows.push(linear(ctx, &mut rng, Matmul { act, ..Matmul::new(65, 784, 10, None) })?);
            rows.push(input_grad(ctx, &mut rng, wide(7, 65, 3))?);
        }
        Family::SoftmaxXent | Family::QuadraticCost => {
            let loss = match family {
                Family::SoftmaxXent => Loss::Xent,
                _ => Loss::Mse,
            };
            for &(r, classes) in &LOSS_SHAPES {
                rows.extend(loss_check(ctx, &mut rng, loss, r, classes, false)?);
            }
        }
        Family::Argmax => {
            for loss in [Loss::Xent, Loss::Mse] {
                for &(r, classes) in &[(7, 10), (300, 3), (65, 2)] {
                    rows.extend(loss_check(ctx, &mut rng, loss, r, classes, true)?);
                }
            }
        }
        Family::BiasGrad => {
            for &(r, out) in &BIAS_SHAPES {
                rows.push(bias_grad(ctx, &mut rng, r, out)?);
            }
        }
        Family::Sgd | Family::Momentum | Family::Adam => {
            let optimizer = match family {
                Family::Sgd => Optimizer::Sgd { lr: 0.1 },
                Family::Momentum => Optimizer::Momentum { lr: 0.05, momentum: 0.9 },
                _ => Optimizer::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            };
            // Adam's t: the first step, a later one, across 2³² (the carry into the counter's high word), past
            // it, and the clamp.
            let starts: &[u64] = match family {
                Family::Adam => &[0, 999, u64::from(u32::MAX) - 1, (1 << 32) + 4, i32::MAX as u64 - 2],
                _ => &[0],
            };
            for (i, &len) in UPDATE_LENGTHS.iter().enumerate() {
                let start = starts[i % starts.len()];
                // A constant rate, and a linear decay that reaches 0 within the three checked steps.
                for decay_steps in [0, (start + 2).min(u64::from(u32::MAX))] {
                    rows.extend(update(ctx, &mut rng, optimizer, len, start, decay_steps)?);
                }
            }
        }
        Family::Gather => {
            for &(r, features, steps) in &GATHER_SHAPES {
                rows.extend(gather(ctx, &mut rng, r, features, steps)?);
            }
        }
        Family::LinearLarge => {
            for (i, &(r, inp, out)) in LARGE_SHAPES.iter().enumerate() {
                let act = [Activation::Relu, Activation::Identity, Activation::Tanh, Activation::Sigmoid][i % 4];
                rows.push(linear_large(ctx, &mut rng, Matmul { act, ..Matmul::new(r, inp, out, None) })?);
            }
        }
        Family::FusedLinear => rows = crate::gpu::check_fused::fused_linear(ctx)?,
        Family::GradUpdate => rows = crate::gpu::check_fused::grad_update(ctx)?,
        Family::FusedStages => rows = crate::gpu::check_fused::fused_stages(ctx)?,
    }
    Ok(rows)
}

/// Value ranges of the matmul inputs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Range {
    /// As in training: pixels in [0, 1], weights ±1/√inputs, biases ±1 (so z is of order 1).
    Normal,
    /// z from −100 to 100 (through the bias, with tiny products so the sum itself is exact to a rounding),
    /// to exercise the activations' stability where exp overflows.
    Wide,
}

fn uniform(rng: &mut model::Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..=hi)).collect()
}

/// One matmul check: the op's sizes, its activation, the value range and the tile (`None`: as training picks it).
#[derive(Clone, Copy)]
struct Matmul {
    rows: usize,
    inputs: usize,
    outputs: usize,
    act: Activation,
    range: Range,
    tile: Option<Tile>,
}

impl Matmul {
    fn new(rows: usize, inputs: usize, outputs: usize, tile: Option<Tile>) -> Self {
        Matmul { rows, inputs, outputs, act: Activation::Identity, range: Range::Normal, tile }
    }

    fn name(&self, with_act: bool) -> String {
        let Matmul { rows, inputs, outputs, .. } = *self;
        let mut name = format!("rows={rows} inputs={inputs} outputs={outputs}");
        if with_act {
            name.push(' ');
            name.push_str(self.act.name());
        }
        if let Some(tile) = self.tile {
            name.push_str(&format!(" tile {}", tile.side()));
        }
        if self.range == Range::Wide {
            name.push_str(" z∈[-100,100]");
        }
        name
    }
}

/// A model of one linear layer `inputs → outputs`, or two (`1 → inputs → outputs`) when the layer needs a layer
/// below it (input gradients).
fn model_of(inputs: usize, outputs: usize, below: bool) -> ModelConfig {
    ModelConfig {
        inputs: if below { 1 } else { inputs },
        hidden: if below { vec![inputs] } else { vec![] },
        classes: outputs,
        activation: Activation::Relu,
        loss: Loss::Xent,
    }
}

/// A data set with no samples (for checks that gather nothing).
fn no_data(features: usize) -> Arc<Dataset> {
    Arc::new(Dataset::empty(features, 2))
}

/// Random images and labels: `samples` train samples of `features` pixels (every byte value possible).
pub(crate) fn random_data(rng: &mut model::Rng, samples: usize, features: usize, classes: usize) -> Arc<Dataset> {
    let train = LabeledImages {
        images: (0..samples * features).map(|_| rng.random()).collect(),
        labels: (0..samples).map(|_| rng.random_range(0..classes) as u8).collect(),
        rows: 1,
        cols: features,
    };
    Arc::new(Dataset::new("check", train, LabeledImages::empty(features), classes))
}

/// Runs `ops` once on `gpu`.
fn run_once(gpu: &mut GpuBackend, rows: usize, ops: Vec<Op>, steps: usize) -> Result<()> {
    let plan = gpu.prepare(&Plan::one_op_per_stage(rows, Split::Train, ops))?;
    gpu.run(plan, steps)
}

fn nan(n: usize) -> Vec<f32> {
    vec![f32::NAN; n]
}

/// Runs `op` alone, once, on a fresh backend over `layout` (each op's plan rows = `layout.max_rows`): writes `inputs`
/// into their buffers, fills the output buffer `out` with NaN so that an element the kernel leaves unwritten fails
/// the comparison, and reads `out` back.
fn run_op(
    ctx: &GpuContext,
    layout: &Layout,
    tile: Option<Tile>,
    inputs: &[(BufId, &[f32])],
    out: BufId,
    op: Op,
) -> Result<Vec<f32>> {
    let mut gpu = GpuBackend::new(ctx, layout, no_data(layout.model.inputs))?;
    gpu.set_matmul_tile(tile);
    for &(id, data) in inputs {
        gpu.write_buffer(id, data)?;
    }
    gpu.write_buffer(out, &nan(layout.buffers[out].len))?;
    run_once(&mut gpu, layout.max_rows, vec![op], 1)?;
    gpu.read_buffer(out)
}

/// x: [rows, inputs], w: [outputs, inputs] and b: \[outputs\] of a linear check, in the case's [`Range`].
fn linear_inputs(rng: &mut model::Rng, case: &Matmul) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let Matmul { rows, inputs, outputs, range, .. } = *case;
    match range {
        Range::Normal => {
            let s = 1.0 / (inputs as f32).sqrt();
            (
                uniform(rng, rows * inputs, 0.0, 1.0),
                uniform(rng, outputs * inputs, -s, s),
                uniform(rng, outputs, -1.0, 1.0),
            )
        }
        Range::Wide => (
            uniform(rng, rows * inputs, 0.0, 1.0),
            uniform(rng, outputs * inputs, -1e-3, 1e-3),
            (0..outputs).map(|j| -100.0 + 200.0 * j as f32 / (outputs - 1).max(1) as f32).collect(),
        ),
    }
}

fn linear(ctx: &GpuContext, rng: &mut model::Rng, case: Matmul) -> Result<CheckRow> {
    let Matmul { rows, inputs, outputs, act, tile, .. } = case;
    let layout = Layout::new(&model_of(inputs, outputs, false), Optimizer::Sgd { lr: 0.0 }, rows);
    let l = layout.layers[0];
    let (x, w, b) = linear_inputs(rng, &case);
    let op = Op::Linear { y: l.a, x: l.x, w: l.w, b: l.b, act, rows, inputs, outputs };
    let got = run_op(ctx, &layout, tile, &[(l.x, &x), (l.w, &w), (l.b, &b)], l.a, op)?;
    let mut want = vec![0.0; rows * outputs];
    ops::linear(&mut want, &x, &w, &b, act, rows, inputs, outputs)?;
    Ok(compare("linear y", &case.name(true), &got, &want, Tolerance::DEFAULT))
}

/// [`linear`] on `matmul_large.wgsl`, forced (the rule would pick it only on hardware).
fn linear_large(ctx: &GpuContext, rng: &mut model::Rng, case: Matmul) -> Result<CheckRow> {
    let Matmul { rows, inputs, outputs, act, .. } = case;
    let layout = Layout::new(&model_of(inputs, outputs, false), Optimizer::Sgd { lr: 0.0 }, rows);
    let l = layout.layers[0];
    let (x, w, b) = linear_inputs(rng, &case);
    let op = Op::Linear { y: l.a, x: l.x, w: l.w, b: l.b, act, rows, inputs, outputs };
    let mut gpu = GpuBackend::new(ctx, &layout, no_data(inputs))?;
    gpu.set_matmul_variant(Some(crate::gpu::backend::MatmulVariant::Large));
    for (id, data) in [(l.x, &x), (l.w, &w), (l.b, &b)] {
        gpu.write_buffer(id, data)?;
    }
    gpu.write_buffer(l.a, &nan(rows * outputs))?;
    run_once(&mut gpu, rows, vec![op], 1)?;
    let got = gpu.read_buffer(l.a)?;
    let mut want = vec![0.0; rows * outputs];
    ops::linear(&mut want, &x, &w, &b, act, rows, inputs, outputs)?;
    Ok(compare("linear_large y", &format!("{} tile 128", case.name(true)), &got, &want, Tolerance::DEFAULT))
}

fn weight_grad(ctx: &GpuContext, rng: &mut model::Rng, case: Matmul) -> Result<CheckRow> {
    let Matmul { rows, inputs, outputs, tile, .. } = case;
    let layout = Layout::new(&model_of(inputs, outputs, false), Optimizer::Sgd { lr: 0.0 }, rows);
    let l = layout.layers[0];
    let x = uniform(rng, rows * inputs, 0.0, 1.0);
    let dz = uniform(rng, rows * outputs, -1.0, 1.0);
    let op = Op::WeightGrad { dw: l.gw, dz: l.d, x: l.x, rows, inputs, outputs };
    let got = run_op(ctx, &layout, tile, &[(l.x, &x), (l.d, &dz)], l.gw, op)?;
    let mut want = vec![0.0; outputs * inputs];
    ops::weight_grad(&mut want, &dz, &x, rows, inputs, outputs)?;
    Ok(compare("weight_grad dw", &case.name(false), &got, &want, Tolerance::DEFAULT))
}

/// `n` outputs of a layer below with activation `act`: act(z) for z uniform in ±3, or ±100 for [`Range::Wide`], so they
/// hold values the activation can produce (exact zeros for relu, saturated sigmoids and tanhs when wide).
fn below_outputs(rng: &mut model::Rng, n: usize, act: Activation, range: Range) -> Vec<f32> {
    let z_max = if range == Range::Wide { 100.0 } else { 3.0 };
    uniform(rng, n, -z_max, z_max).into_iter().map(|z| ops::activate(z, act)).collect()
}

fn input_grad(ctx: &GpuContext, rng: &mut model::Rng, case: Matmul) -> Result<CheckRow> {
    let Matmul { rows, inputs, outputs, act, range, tile } = case;
    let layout = Layout::new(&model_of(inputs, outputs, true), Optimizer::Sgd { lr: 0.0 }, rows);
    let (below, l) = (layout.layers[0], layout.layers[1]);
    let x = below_outputs(rng, rows * inputs, act, range);
    let s = 1.0 / (outputs as f32).sqrt();
    let w = uniform(rng, outputs * inputs, -s, s);
    let dz = uniform(rng, rows * outputs, -1.0, 1.0);
    let op = Op::InputGrad { dx: below.d, dz: l.d, w: l.w, x: l.x, act, rows, inputs, outputs };
    let got = run_op(ctx, &layout, tile, &[(l.x, &x), (l.w, &w), (l.d, &dz)], below.d, op)?;
    let mut want = vec![0.0; rows * inputs];
    ops::input_grad(&mut want, &dz, &w, &x, act, rows, inputs, outputs)?;
    Ok(compare("input_grad dx", &case.name(true), &got, &want, Tolerance::DEFAULT))
}

/// `n` outputs of the last layer for a `loss` check: logits for cross-entropy (every 17th one ×20, up to ±100, to test
/// the max subtraction), sigmoid outputs for the cost; with `ties`, drawn from three values.
fn loss_inputs(rng: &mut model::Rng, loss: Loss, n: usize, ties: bool) -> Vec<f32> {
    match (loss, ties) {
        (Loss::Xent, false) => uniform(rng, n, -5.0, 5.0)
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i % 17 == 3 { v * 20.0 } else { v })
            .collect(),
        (Loss::Mse, false) => uniform(rng, n, 0.0, 1.0),
        (Loss::Xent, true) => (0..n).map(|_| rng.random_range(0..3u8) as f32).collect(),
        (Loss::Mse, true) => (0..n).map(|_| [0.25, 0.5, 0.75][rng.random_range(0..3usize)]).collect(),
    }
}

/// The loss kernel of `loss` on random outputs (or, with `ties`, outputs drawn from three values so that most rows
/// have tied maxima); compares dz, Σ loss and the correct count, then the same without dz (evaluation).
fn loss_check(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    loss: Loss,
    rows: usize,
    classes: usize,
    ties: bool,
) -> Result<Vec<CheckRow>> {
    let model = ModelConfig { inputs: 1, hidden: vec![], classes, activation: Activation::Relu, loss };
    let layout = Layout::new(&model, Optimizer::Sgd { lr: 0.0 }, rows);
    let l = layout.layers[0];
    let n = rows + 5;
    let data = random_data(rng, n, 1, classes);
    let out = loss_inputs(rng, loss, rows * classes, ties);
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(rng);
    let labels: Vec<u32> = order[..rows].iter().map(|&i| u32::from(data.train.labels[i as usize])).collect();

    // Reference.
    let mut want_dz = vec![0.0; rows * classes];
    let want = match loss {
        Loss::Xent => ops::softmax_xent(Some(&mut want_dz), &out, &labels, rows, classes)?,
        Loss::Mse => ops::quadratic_cost(Some(&mut want_dz), &out, &labels, rows, classes)?,
    };

    // GPU: gather (for the batch labels), then the loss with and without dz.
    let mut gpu = GpuBackend::new(ctx, &layout, data)?;
    gpu.write_buffer(l.a, &out)?;
    gpu.write_buffer(l.d, &nan(rows * classes))?;
    let gather = Op::Gather { x: l.x, split: Split::Train, rows, features: 1 };
    let loss_op = |dz| match loss {
        Loss::Xent => Op::SoftmaxXent { dz, logits: l.a, split: Split::Train, rows, classes },
        Loss::Mse => Op::QuadraticCost { dz, a: l.a, split: Split::Train, rows, classes },
    };
    let name = match loss {
        Loss::Xent => "softmax_xent",
        Loss::Mse => "quadratic_cost",
    };
    let shape = format!("rows={rows} classes={classes}{}", if ties { " ties" } else { "" });
    let mut rows_out = Vec::new();
    for with_dz in [true, false] {
        gpu.begin_epoch(Split::Train, &order)?;
        let dz = with_dz.then_some(l.d);
        run_once(&mut gpu, rows, vec![gather, loss_op(dz)], 1)?;
        let stats = gpu.stats(Split::Train)?;
        let variant = if with_dz { "" } else { " (no dz)" };
        if with_dz && !ties {
            let got_dz = gpu.read_buffer(l.d)?;
            rows_out.push(compare(&format!("{name} dz"), &shape, &got_dz, &want_dz, Tolerance::DEFAULT));
        }
        if !ties {
            rows_out.push(compare(
                &format!("{name} Σloss{variant}"),
                &shape,
                &[stats.loss_sum],
                &[want.loss_sum],
                Tolerance::DEFAULT,
            ));
        }
        rows_out.push(count_row(&format!("{name} argmax/correct{variant}"), &shape, stats, want.correct, rows));
    }
    Ok(rows_out)
}

/// Exact comparison of the correct-prediction and sample counts.
fn count_row(kernel: &str, shape: &str, got: Stats, correct: u32, rows: usize) -> CheckRow {
    compare(kernel, shape, &[got.correct as f32, got.samples as f32], &[correct as f32, rows as f32], Tolerance::EXACT)
}

fn bias_grad(ctx: &GpuContext, rng: &mut model::Rng, rows: usize, outputs: usize) -> Result<CheckRow> {
    let layout = Layout::new(&model_of(1, outputs, false), Optimizer::Sgd { lr: 0.0 }, rows);
    let l = layout.layers[0];
    let dz = uniform(rng, rows * outputs, -1.0, 1.0);
    let op = Op::BiasGrad { db: l.gb, dz: l.d, rows, outputs };
    let got = run_op(ctx, &layout, None, &[(l.d, &dz)], l.gb, op)?;
    let mut want = vec![0.0; outputs];
    ops::bias_grad(&mut want, &dz, rows, outputs)?;
    let shape = format!("rows={rows} outputs={outputs}");
    Ok(compare("bias_grad db", &shape, &got, &want, Tolerance::DEFAULT))
}

/// Three steps of `optimizer` on `len` parameters, starting after `start` steps, the rate decaying over
/// `decay_steps` steps (0: constant): each step's t comes from the GPU counter that the `advance` after it increments.
fn update(
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
    let mut state: Vec<Vec<f32>> = match optimizer {
        Optimizer::Sgd { .. } => vec![],
        Optimizer::Momentum { .. } => vec![uniform(rng, len, -1.0, 1.0)],
        Optimizer::Adam { .. } => vec![uniform(rng, len, -0.1, 0.1), uniform(rng, len, 0.0, 0.01)],
    };
    let mut gpu = GpuBackend::new(ctx, &layout, no_data(len))?;
    gpu.write_buffer(l.w, &param)?;
    gpu.write_buffer(l.gw, &grad)?;
    let state_ids: Vec<_> = l.sw.iter().flatten().copied().collect();
    for (&id, s) in state_ids.iter().zip(&state) {
        gpu.write_buffer(id, s)?;
    }
    gpu.set_steps_done(start)?;
    let ops = vec![
        Op::Update { param: l.w, state: l.sw, grad: l.gw, optimizer, len, decay_steps },
        Op::Advance { split: Split::Train, rows: 0, row_stats: None },
    ];
    run_once(&mut gpu, 1, ops, STEPS)?;

    // Reference: the same three steps with t = start + 1, start + 2, start + 3.
    for step in 0..STEPS as u64 {
        let (s0, s1) = match state.as_mut_slice() {
            [] => (None, None),
            [a] => (Some(a.as_mut_slice()), None),
            [a, b, ..] => (Some(a.as_mut_slice()), Some(b.as_mut_slice())),
        };
        ops::update(&mut param, s0, s1, &grad, optimizer, start + step + 1, decay_steps)?;
    }
    let shape = format!("len={len} t={}..={} decay={decay_steps}", start + 1, start + STEPS as u64);
    let name = optimizer.name();
    let mut rows = vec![compare(&format!("{name} param"), &shape, &gpu.read_buffer(l.w)?, &param, Tolerance::DEFAULT)];
    for (i, (&id, want)) in state_ids.iter().zip(&state).enumerate() {
        rows.push(compare(&format!("{name} state{i}"), &shape, &gpu.read_buffer(id)?, want, Tolerance::DEFAULT));
    }
    let steps = gpu.steps_done()?;
    rows.push(compare(
        "advance step count",
        &shape,
        &[steps.wrapping_sub(start) as f32],
        &[STEPS as f32],
        Tolerance::EXACT,
    ));
    Ok(rows)
}

/// `steps` steps of gather + advance over a shuffled order: the last batch and its labels must be the rows at
/// cursor (steps − 1)·rows, bit for bit.
fn gather(ctx: &GpuContext, rng: &mut model::Rng, rows: usize, features: usize, steps: usize) -> Result<Vec<CheckRow>> {
    let n = rows * steps + 3;
    let data = random_data(rng, n, features, 10);
    let model =
        ModelConfig { inputs: features, hidden: vec![], classes: 10, activation: Activation::Relu, loss: Loss::Xent };
    let layout = Layout::new(&model, Optimizer::Sgd { lr: 0.0 }, rows);
    let l = layout.layers[0];
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(rng);
    let mut gpu = GpuBackend::new(ctx, &layout, Arc::clone(&data))?;
    gpu.write_buffer(l.x, &nan(rows * features))?;
    gpu.begin_epoch(Split::Train, &order)?;
    let ops = vec![
        Op::Gather { x: l.x, split: Split::Train, rows, features },
        Op::Advance { split: Split::Train, rows, row_stats: None },
    ];
    run_once(&mut gpu, rows, ops, steps)?;
    let mut want_x = vec![0.0; rows * features];
    let mut want_labels = vec![0u32; rows];
    let at = (steps - 1) * rows;
    ops::gather(
        &mut want_x,
        &mut want_labels,
        &data.train.images,
        &data.train.labels,
        &order[at..at + rows],
        rows,
        features,
    )?;
    let got_labels = gpu.read_batch_labels()?;
    let as_f32 = |v: &[u32]| v.iter().map(|&u| u as f32).collect::<Vec<_>>();
    let shape = format!("rows={rows} features={features} step {steps}");
    Ok(vec![
        compare("gather x", &shape, &gpu.read_buffer(l.x)?, &want_x, Tolerance::EXACT),
        compare("gather labels", &shape, &as_f32(&got_labels[..rows]), &as_f32(&want_labels), Tolerance::EXACT),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest |v|.
    fn max_abs(v: &[f32]) -> f32 {
        v.iter().fold(0.0, |m, x| m.max(x.abs()))
    }

    /// The checks exercise the ranges they claim: the wide linear check puts z = x·wᵀ + b from −100 to 100 (the
    /// bias, with products below 0.065), the wide input-gradient check draws z up to ±100 below the activation,
    /// and the cross-entropy check has logits far beyond ±5.
    #[test]
    fn check_inputs_cover_their_ranges() {
        let mut rng = model::rng(1);
        let wide = Matmul { range: Range::Wide, ..Matmul::new(7, 65, 10, None) };
        let (x, w, b) = linear_inputs(&mut rng, &wide);
        assert_eq!((x.len(), w.len(), b.len()), (7 * 65, 10 * 65, 10));
        assert_eq!((b[0], b[9]), (-100.0, 100.0));
        assert!(b.windows(2).all(|p| p[1] - p[0] > 22.0), "evenly spread: {b:?}");
        assert!(max_abs(&w) <= 1e-3 && max_abs(&x) <= 1.0);
        let (x, w, b) = linear_inputs(&mut rng, &Matmul::new(7, 64, 10, None));
        assert!(max_abs(&b) <= 1.0 && max_abs(&w) <= 0.125 && max_abs(&x) <= 1.0);
        let both_signs = |v: &[f32]| v.iter().any(|&x| x < 0.0) && v.iter().any(|&x| x > 0.0);
        assert!(both_signs(&b) && both_signs(&w), "weights and biases of both signs");

        let identity = |range| below_outputs(&mut model::rng(2), 1000, Activation::Identity, range);
        assert!(max_abs(&identity(Range::Wide)) > 95.0);
        assert!(max_abs(&identity(Range::Normal)) <= 3.0);
        let relu = below_outputs(&mut rng, 1000, Activation::Relu, Range::Normal);
        assert!(relu.contains(&0.0) && relu.iter().all(|&v| v >= 0.0));

        let logits = loss_inputs(&mut rng, Loss::Xent, 340, false);
        assert!(max_abs(&logits) > 50.0 && max_abs(&logits) <= 100.0);
        assert!(logits.iter().enumerate().all(|(i, v)| i % 17 == 3 || v.abs() <= 5.0));
        let ties = loss_inputs(&mut rng, Loss::Mse, 300, true);
        assert!(ties.iter().all(|v| [0.25, 0.5, 0.75].contains(v)));
    }

    /// `|got − want| ≤ atol + rtol·|want|` at its edges, worked by hand: 1e-5 + 1e-4·2 = 2.1e-4 around 2.
    #[test]
    fn compare_fails_outside_the_tolerance_and_says_where() {
        let want = [2.0, -2.0, 0.0, 1.0, 5.0];
        let got = [2.0002, -2.0003, 0.000_005, f32::NAN, 5.0];
        let row = compare("k", "s", &got, &want, Tolerance::DEFAULT);
        assert!(!row.pass);
        assert_eq!(row.mismatch_count, 2, "{row}");
        let at: Vec<usize> = row.mismatches.iter().map(|m| m.index).collect();
        assert_eq!(at, [1, 3], "−2.0003 is 3e-4 off (> 2.1e-4); NaN is never close");
        assert_eq!(row.max_abs_err, f32::INFINITY);
        assert!(row.to_string().starts_with("FAIL k"), "{row}");
        assert!(row.to_string().contains("[1] got -2.0003e0 want -2e0"), "{row}");

        let row = compare("k", "s", &[2.0002, 0.000_009], &[2.0, 0.0], Tolerance::DEFAULT);
        assert!(row.pass, "2e-4 ≤ 2.1e-4 and 9e-6 ≤ 1e-5: {row}");
        assert!((row.max_abs_err - 2e-4).abs() < 1e-6);
        // Relative error only where want ≠ 0: 2e-4 / 2.
        assert!((row.max_rel_err - 1e-4).abs() < 1e-6, "{row}");

        let exact = compare("k", "s", &[1.0, 2.0], &[1.0, 2.000_000_2], Tolerance::EXACT);
        assert_eq!((exact.pass, exact.mismatch_count), (false, 1));
        // Missing or extra values are mismatches too.
        assert!(!compare("k", "s", &[1.0], &[1.0, 1.0], Tolerance::DEFAULT).pass);
    }
}
