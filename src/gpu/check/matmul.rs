//! The checks of `matmul.wgsl` (`linear`, `weight_grad`, `input_grad`) on every tile, and of each activation of
//! `activation.wgsl` through them over a wide range of z.

use crate::cpu::ops;
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::gpu::kernels::Tile;
use crate::model::{self, Act, Activation};
use crate::optim::Optimizer;
use crate::plan::{Layout, Op};

use super::compare::{compare, CheckRow, Tolerance};
use super::fixtures::{model_of, run_op, uniform};

/// `(rows, inputs, outputs)` of the matmul checks: 1, sizes just under and over a 64-wide tile, MNIST's 784 and 10.
pub const MATMUL_SHAPES: [(usize, usize, usize); 6] =
    [(1, 1, 1), (7, 63, 65), (65, 784, 10), (63, 10, 7), (10, 65, 784), (100, 784, 64)];

/// Value ranges of the matmul inputs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Range {
    /// As in training: pixels in [0, 1], weights ±1/√inputs, biases ±1 (so z is of order 1).
    Normal,
    /// z from −100 to 100 (through the bias, with tiny products so the sum itself is exact to a rounding),
    /// to exercise the activations' stability where exp overflows.
    Wide,
}

/// One matmul check: the op's sizes, its activation, the value range, the tile (`None`: as training picks it) and,
/// for a linear, whether it keeps its pre-activation z.
#[derive(Clone, Copy)]
pub(super) struct Matmul {
    pub(super) rows: usize,
    pub(super) inputs: usize,
    pub(super) outputs: usize,
    pub(super) act: Act,
    pub(super) range: Range,
    pub(super) tile: Option<Tile>,
    pub(super) save_z: bool,
    /// input_grad: through the layer below's dropout factors (p = 0.25).
    pub(super) dropout: bool,
}

impl Matmul {
    pub(super) fn new(rows: usize, inputs: usize, outputs: usize, tile: Option<Tile>) -> Self {
        let act = Activation::Identity.into();
        Matmul { rows, inputs, outputs, act, range: Range::Normal, tile, save_z: false, dropout: false }
    }

    pub(super) fn name(&self, with_act: bool) -> String {
        let Matmul { rows, inputs, outputs, .. } = *self;
        let mut name = format!("rows={rows} inputs={inputs} outputs={outputs}");
        if with_act {
            name.push(' ');
            name.push_str(self.act.name());
            if self.act.activation == Activation::LeakyRelu {
                name.push_str(&format!(" slope {}", self.act.leaky_slope));
            }
        }
        if let Some(tile) = self.tile {
            name.push_str(&format!(" tile {}", tile.side()));
        }
        if self.range == Range::Wide {
            name.push_str(" z∈[-100,100]");
        }
        if self.save_z {
            name.push_str(" keeping z");
        }
        name
    }
}

/// Every shape of [`MATMUL_SHAPES`] with every tile forced, with the shape's index (to vary the activation).
fn every_shape_and_tile() -> Vec<(usize, Matmul)> {
    let mut cases = Vec::new();
    for (i, &(r, inp, out)) in MATMUL_SHAPES.iter().enumerate() {
        for tile in Tile::ALL {
            cases.push((i, Matmul::new(r, inp, out, Some(tile))));
        }
    }
    cases
}

/// `linear` on every shape and tile, identity and relu in turn, keeping z on two shapes of three.
pub(super) async fn linear_cases(ctx: &GpuContext, rng: &mut model::Rng) -> Result<Vec<CheckRow>> {
    let mut rows = Vec::new();
    for (i, case) in every_shape_and_tile() {
        let act = [Activation::Identity, Activation::Relu][i % 2].into();
        rows.push(linear(ctx, rng, Matmul { act, save_z: (i / 2) % 3 != 1, ..case }).await?);
    }
    Ok(rows)
}

/// `weight_grad` on every shape and tile.
pub(super) async fn weight_grad_cases(ctx: &GpuContext, rng: &mut model::Rng) -> Result<Vec<CheckRow>> {
    let mut rows = Vec::new();
    for (_, case) in every_shape_and_tile() {
        rows.push(weight_grad(ctx, rng, case).await?);
    }
    Ok(rows)
}

/// `input_grad` on every shape and tile, relu, tanh and sigmoid in turn.
pub(super) async fn input_grad_cases(ctx: &GpuContext, rng: &mut model::Rng) -> Result<Vec<CheckRow>> {
    let mut rows = Vec::new();
    for (i, case) in every_shape_and_tile() {
        let act = Activation::ALL[i % Activation::ALL.len()].into();
        rows.push(input_grad(ctx, rng, Matmul { act, ..case }).await?);
    }
    Ok(rows)
}

/// Leaky ReLU's slope in the wide activation checks: not the default, so a kernel that ignores the slope it is given
/// fails.
pub(super) const CHECK_LEAKY_SLOPE: f32 = 0.2;

/// `activation` through `linear` and `input_grad` with z from −100 to 100 (leaky ReLU with the slope
/// [`CHECK_LEAKY_SLOPE`]), and through `linear` on MNIST's first layer (the default slope); each linear keeps z
/// where a training step would (where the activation's derivative needs it).
pub(super) async fn activation_cases(
    ctx: &GpuContext,
    rng: &mut model::Rng,
    activation: Activation,
) -> Result<Vec<CheckRow>> {
    let save_z = activation.needs_pre_activation();
    let act = Act::new(activation, CHECK_LEAKY_SLOPE);
    let wide = |r, inp, out| Matmul { act, range: Range::Wide, save_z, ..Matmul::new(r, inp, out, None) };
    Ok(vec![
        linear(ctx, rng, wide(7, 3, 65)).await?,
        linear(ctx, rng, Matmul { act: activation.into(), save_z, ..Matmul::new(65, 784, 10, None) }).await?,
        input_grad(ctx, rng, Matmul { save_z: false, ..wide(7, 65, 3) }).await?,
        input_grad(ctx, rng, Matmul { save_z: false, dropout: true, ..wide(7, 65, 3) }).await?,
    ])
}

/// x: [rows, inputs], w: [outputs, inputs] and b: \[outputs\] of a linear check, in the case's [`Range`].
pub(super) fn linear_inputs(rng: &mut model::Rng, case: &Matmul) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
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

/// A `linear` check: y, then z where the case keeps it (into the layer's delta buffer, which has z's shape: the
/// one-layer layout keeps no z of its own unless its activation needs one), compared as one row.
async fn linear(ctx: &GpuContext, rng: &mut model::Rng, case: Matmul) -> Result<CheckRow> {
    let Matmul { rows, inputs, outputs, act, tile, save_z, .. } = case;
    let layout = Layout::new(&model_of(inputs, outputs, false), Optimizer::default(), rows);
    let l = layout.layers[0];
    let (x, w, b) = linear_inputs(rng, &case);
    let z = save_z.then_some(l.d);
    let op = Op::Linear { y: l.a, z, x: l.x, w: l.w, b: l.b, act, rows, inputs, outputs };
    let outs: Vec<_> = [l.a].into_iter().chain(z).collect();
    let got = run_op(ctx, &layout, tile, &[(l.x, &x), (l.w, &w), (l.b, &b)], &outs, op).await?;
    let mut want = vec![0.0; rows * outputs];
    let mut want_z = vec![0.0; rows * outputs];
    ops::linear(&mut want, save_z.then_some(&mut want_z[..]), &x, &w, &b, act, rows, inputs, outputs)?;
    if save_z {
        want.extend(want_z);
    }
    let kernel = if save_z { "linear y, z" } else { "linear y" };
    Ok(compare(kernel, &case.name(true), &got, &want, Tolerance::DEFAULT))
}

async fn weight_grad(ctx: &GpuContext, rng: &mut model::Rng, case: Matmul) -> Result<CheckRow> {
    let Matmul { rows, inputs, outputs, tile, .. } = case;
    let layout = Layout::new(&model_of(inputs, outputs, false), Optimizer::default(), rows);
    let l = layout.layers[0];
    let x = uniform(rng, rows * inputs, 0.0, 1.0);
    let dz = uniform(rng, rows * outputs, -1.0, 1.0);
    let op = Op::WeightGrad { dw: l.gw, dz: l.d, x: l.x, rows, inputs, outputs };
    let got = run_op(ctx, &layout, tile, &[(l.x, &x), (l.d, &dz)], &[l.gw], op).await?;
    let mut want = vec![0.0; outputs * inputs];
    ops::weight_grad(&mut want, &dz, &x, rows, inputs, outputs)?;
    Ok(compare("weight_grad dw", &case.name(false), &got, &want, Tolerance::DEFAULT))
}

/// `n` values that act′ of a layer below with activation `act` is written in terms of, for z uniform in ±3, or ±100
/// for [`Range::Wide`]: z itself where the activation [needs it](Activation::needs_pre_activation), else the outputs
/// act(z), so they hold values the activation can produce (exact zeros for relu, saturated sigmoids and tanhs when
/// wide).
fn below_saved(rng: &mut model::Rng, n: usize, act: Act, range: Range) -> Vec<f32> {
    let z_max = if range == Range::Wide { 100.0 } else { 3.0 };
    let z = uniform(rng, n, -z_max, z_max);
    if act.needs_pre_activation() {
        return z;
    }
    z.into_iter().map(|z| ops::activate(z, act)).collect()
}

/// An `input_grad` check through `act` below: the layer below has that activation (so a layout keeps its z where
/// it needs one), and act′ reads what the training step would give it.
async fn input_grad(ctx: &GpuContext, rng: &mut model::Rng, case: Matmul) -> Result<CheckRow> {
    let Matmul { rows, inputs, outputs, act, range, tile, dropout, .. } = case;
    let mut model = model_of(inputs, outputs, true);
    if act.activation != Activation::Identity {
        model.activation = act.activation;
    }
    let layout = Layout::new(&model, Optimizer::default(), rows).with_dropout(if dropout { 0.25 } else { 0.0 }, 1);
    let (below, l) = (layout.layers[0], layout.layers[1]);
    let saved_id = below.z.unwrap_or(l.x);
    let mut saved = below_saved(rng, rows * inputs, act, range);
    let s = 1.0 / (outputs as f32).sqrt();
    let w = uniform(rng, outputs * inputs, -s, s);
    let dz = uniform(rng, rows * outputs, -1.0, 1.0);
    let mut inputs_of = vec![(l.w, w.clone()), (l.d, dz.clone())];
    // Through dropout: factors 0 or 4/3 as the forward pass draws them; an output is then the dropped one.
    let mask = below.mask.map(|id| {
        let d = crate::dropout::Dropout::new(0.25);
        let m: Vec<f32> = (0..rows * inputs).map(|i| d.factor(0x5eed, i as u32)).collect();
        if !act.needs_pre_activation() {
            saved.iter_mut().zip(&m).for_each(|(s, m)| *s *= m);
        }
        inputs_of.push((id, m.clone()));
        m
    });
    inputs_of.push((saved_id, saved.clone()));
    let op =
        Op::InputGrad { dx: below.d, dz: l.d, w: l.w, saved: saved_id, mask: below.mask, act, rows, inputs, outputs };
    let refs: Vec<(usize, &[f32])> = inputs_of.iter().map(|(id, v)| (*id, v.as_slice())).collect();
    let got = run_op(ctx, &layout, tile, &refs, &[below.d], op).await?;
    let mut want = vec![0.0; rows * inputs];
    ops::input_grad(&mut want, &dz, &w, &saved, mask.as_deref(), act, rows, inputs, outputs)?;
    let what = if dropout { "input_grad dx through dropout" } else { "input_grad dx" };
    Ok(compare(what, &case.name(true), &got, &want, Tolerance::DEFAULT))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest |v|.
    fn max_abs(v: &[f32]) -> f32 {
        v.iter().fold(0.0, |m, x| m.max(x.abs()))
    }

    /// The checks exercise the ranges they claim: the wide linear check puts z = x·wᵀ + b from −100 to 100 (the
    /// bias, with products below 0.065), and the wide input-gradient check draws z up to ±100 below the activation.
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

        let identity = |range| below_saved(&mut model::rng(2), 1000, Activation::Identity.into(), range);
        assert!(max_abs(&identity(Range::Wide)) > 95.0);
        assert!(max_abs(&identity(Range::Normal)) <= 3.0);
        let relu = below_saved(&mut rng, 1000, Activation::Relu.into(), Range::Normal);
        assert!(relu.contains(&0.0) && relu.iter().all(|&v| v >= 0.0));
    }
}
