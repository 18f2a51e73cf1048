//! The checks of `bias_grad.wgsl`: db = Σ_rows dz.

use crate::cpu::ops;
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::model;
use crate::optim::Optimizer;
use crate::plan::{Layout, Op};

use super::compare::{compare, CheckRow, Tolerance};
use super::fixtures::{model_of, run_op, uniform};

/// `(rows, outputs)` of the bias-gradient checks.
pub const BIAS_SHAPES: [(usize, usize); 5] = [(1, 1), (7, 10), (65, 63), (784, 7), (10, 784)];

/// `bias_grad` on every shape of [`BIAS_SHAPES`].
pub(super) async fn cases(ctx: &GpuContext, rng: &mut model::Rng) -> Result<Vec<CheckRow>> {
    let mut out = Vec::new();
    for &(rows, outputs) in &BIAS_SHAPES {
        out.push(bias_grad(ctx, rng, rows, outputs).await?);
    }
    Ok(out)
}

async fn bias_grad(ctx: &GpuContext, rng: &mut model::Rng, rows: usize, outputs: usize) -> Result<CheckRow> {
    let layout = Layout::new(&model_of(1, outputs, false), Optimizer::default(), rows);
    let l = layout.layers[0];
    let dz = uniform(rng, rows * outputs, -1.0, 1.0);
    let op = Op::BiasGrad { db: l.gb, dz: l.d, rows, outputs };
    let got = run_op(ctx, &layout, None, &[(l.d, &dz)], &[l.gb], op).await?;
    let mut want = vec![0.0; outputs];
    ops::bias_grad(&mut want, &dz, rows, outputs)?;
    let shape = format!("rows={rows} outputs={outputs}");
    Ok(compare("bias_grad db", &shape, &got, &want, Tolerance::DEFAULT))
}
