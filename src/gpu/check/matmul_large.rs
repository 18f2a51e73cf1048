//! The checks of `matmul_large.wgsl` (`linear_large`), forced on the shapes its 128 × 128 tiles take.

use crate::backend::Backend;
use crate::cpu::ops;
use crate::error::Result;
use crate::gpu::backend::{GpuBackend, MatmulVariant};
use crate::gpu::context::GpuContext;
use crate::model::{self, Act, Activation};
use crate::optim::Optimizer;
use crate::plan::{Layout, Op};

use super::compare::{compare, CheckRow, Tolerance};
use super::fixtures::{model_of, nan, no_data, run_once};
use super::matmul::{linear_inputs, Matmul, CHECK_LEAKY_SLOPE};

/// `(rows, inputs, outputs)` of the large-kernel checks: every side a multiple of its tile (128) and k of its stage
/// (8): one stage, MNIST's 784, one side of 4096, a non-square grid.
pub const LARGE_SHAPES: [(usize, usize, usize); 4] = [(128, 8, 128), (256, 784, 384), (128, 4096, 128), (384, 64, 256)];

/// `linear_large` on every shape of [`LARGE_SHAPES`], the activations in turn, and on the smallest every other
/// activation too (leaky ReLU with a slope other than the default), keeping z on every other shape (and wherever the
/// activation needs it).
pub(super) async fn cases(ctx: &GpuContext, rng: &mut model::Rng) -> Result<Vec<CheckRow>> {
    let n = Activation::ALL.len();
    let mut cases: Vec<(usize, Activation)> =
        LARGE_SHAPES.iter().enumerate().map(|(i, _)| (i, Activation::ALL[i % n])).collect();
    cases.extend(Activation::ALL[LARGE_SHAPES.len().min(n)..].iter().map(|&a| (0, a)));
    let mut rows = Vec::new();
    for (i, activation) in cases {
        let (r, inp, out) = LARGE_SHAPES[i];
        let act = Act::new(activation, CHECK_LEAKY_SLOPE);
        let save_z = i % 2 == 0 || act.needs_pre_activation();
        rows.push(linear_large(ctx, rng, Matmul { act, save_z, ..Matmul::new(r, inp, out, None) }).await?);
    }
    Ok(rows)
}

/// A `linear` check on `matmul_large.wgsl`, forced (the rule would pick it only on hardware): y, then z where the
/// case keeps it (in the delta buffer, of z's shape, as `matmul.rs` does), compared as one row.
async fn linear_large(ctx: &GpuContext, rng: &mut model::Rng, case: Matmul) -> Result<CheckRow> {
    let Matmul { rows, inputs, outputs, act, save_z, .. } = case;
    let layout = Layout::new(&model_of(inputs, outputs, false), Optimizer::default(), rows);
    let l = layout.layers[0];
    let (x, w, b) = linear_inputs(rng, &case);
    let z = save_z.then_some(l.d);
    let op = Op::Linear { y: l.a, z, x: l.x, w: l.w, b: l.b, act, rows, inputs, outputs };
    let mut gpu = GpuBackend::new(ctx, &layout, no_data(inputs))?;
    gpu.set_matmul_variant(Some(MatmulVariant::Large));
    for (id, data) in [(l.x, &x), (l.w, &w), (l.b, &b)] {
        gpu.write_buffer(id, data)?;
    }
    for out in [l.a, l.d] {
        gpu.write_buffer(out, &nan(rows * outputs))?;
    }
    run_once(&mut gpu, rows, vec![op], 1)?;
    let mut got = gpu.read_buffer_async(l.a).await?;
    let mut want = vec![0.0; rows * outputs];
    let mut want_z = vec![0.0; rows * outputs];
    ops::linear(&mut want, save_z.then_some(&mut want_z[..]), &x, &w, &b, act, rows, inputs, outputs)?;
    if let Some(z) = z {
        got.extend(gpu.read_buffer_async(z).await?);
        want.extend(want_z);
    }
    let kernel = if save_z { "linear_large y, z" } else { "linear_large y" };
    Ok(compare(kernel, &format!("{} tile 128", case.name(true)), &got, &want, Tolerance::DEFAULT))
}
