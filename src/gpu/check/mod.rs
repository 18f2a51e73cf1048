//! Every GPU kernel compared with its CPU twin in [`crate::cpu::ops`], on random inputs and awkward shapes.
//!
//! Each check builds a small [`Layout`](crate::plan::Layout) whose buffers have the shapes under test, fills the
//! inputs with seeded random values and the outputs with NaN (so an element the kernel forgets to write cannot pass),
//! runs a one- or two-op [`Plan`](crate::plan::Plan) through [`GpuBackend`](crate::gpu::GpuBackend) — the same
//! pipelines, bind groups and dispatch code as training — and compares the result with the reference element by
//! element: `|got − want| ≤ atol + rtol·|want|`. The `check` command and the tests in `tests/gpu_kernels.rs` both
//! call [`run`] (through [`run_blocking`] natively). Its GPU reads are awaited, not blocking, so that the same
//! comparisons can run in a browser, where a buffer is mapped only once control returns to the event loop.
//!
//! - `family.rs`: the families of checks, in the order `gpu-mnist check` runs them, and the entry points each runs
//!   (its tests fail for an entry point of `shaders/` that no family runs).
//! - `compare.rs`: the comparison, its tolerance and the row it reports.
//! - `fixtures.rs`: random inputs and data sets, NaN-filled outputs, one op run on a fresh backend.
//! - One file of cases per shader file checked, named after it: `matmul.rs` (with the activations),
//!   `matmul_large.rs`, `loss.rs`, `bias_grad.rs`, `accumulate.rs`, `optim.rs`, `gather.rs` (the last two with `counters.wgsl`'s
//!   `advance`), and `fused.rs`, whose stages `stage.rs` runs on both backends.

mod accumulate;
mod bias_grad;
mod compare;
mod dropout;
mod family;
mod fixtures;
mod fused;
mod gather;
mod loss;
mod matmul;
mod matmul_large;
mod optim;
mod stage;

pub use accumulate::ACCUMULATE_SHAPES;
pub use bias_grad::BIAS_SHAPES;
pub use compare::{compare, CheckRow, Mismatch, Tolerance};
pub use dropout::DROPOUT_SHAPES;
pub use family::{CheckFamily, EntryPoint};
pub use gather::GATHER_SHAPES;
pub use loss::{LOSS_SHAPES, ONE_UNIT_SHAPES};
pub use matmul::MATMUL_SHAPES;
pub use matmul_large::LARGE_SHAPES;
pub use optim::UPDATE_LENGTHS;

use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::model::{self, Loss};

/// Runs the checks of `family` on `ctx`. Every GPU result is read with an awaited read (`GpuBackend::*_async`), never
/// a blocking one, so that a browser, which maps a buffer only once control returns to its event loop, can run the
/// same checks; natively [`run_blocking`] drives the future with `pollster`.
pub async fn run(ctx: &GpuContext, family: CheckFamily) -> Result<Vec<CheckRow>> {
    let mut rng = model::rng(0x6b65_726e_656c);
    let rng = &mut rng;
    match family {
        CheckFamily::Linear => matmul::linear_cases(ctx, rng).await,
        CheckFamily::WeightGrad => matmul::weight_grad_cases(ctx, rng).await,
        CheckFamily::InputGrad => matmul::input_grad_cases(ctx, rng).await,
        CheckFamily::Activation(act) => matmul::activation_cases(ctx, rng, act).await,
        CheckFamily::SoftmaxXent => loss::cases(ctx, rng, Loss::Xent).await,
        CheckFamily::QuadraticCost => loss::cases(ctx, rng, Loss::Mse).await,
        CheckFamily::BinaryXent => loss::cases(ctx, rng, Loss::Bce).await,
        CheckFamily::Perceptron => loss::cases(ctx, rng, Loss::Perceptron).await,
        CheckFamily::Argmax => loss::argmax_cases(ctx, rng).await,
        CheckFamily::BiasGrad => bias_grad::cases(ctx, rng).await,
        CheckFamily::Update(rule) => optim::cases(ctx, rng, rule).await,
        CheckFamily::Dropout => dropout::cases(ctx, rng).await,
        CheckFamily::Accumulate => accumulate::cases(ctx, rng).await,
        CheckFamily::Gather => gather::cases(ctx, rng).await,
        CheckFamily::LinearLarge => matmul_large::cases(ctx, rng).await,
        // The fused families seed their own generators.
        CheckFamily::FusedLinear => fused::fused_linear(ctx).await,
        CheckFamily::GradUpdate => fused::grad_update(ctx).await,
        CheckFamily::FusedStages => fused::fused_stages(ctx).await,
    }
}

/// [`run`] on this thread, blocking until it is done: what the `check` command and the tests call natively (in a
/// browser, await [`run`] instead: blocking there would never let a mapping complete).
#[cfg(not(target_arch = "wasm32"))]
pub fn run_blocking(ctx: &GpuContext, family: CheckFamily) -> Result<Vec<CheckRow>> {
    pollster::block_on(run(ctx, family))
}
