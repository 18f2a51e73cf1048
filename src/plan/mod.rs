//! One description of the training step, executed by every backend.
//!
//! A [`Layout`] names every buffer an MLP needs (batch, activations, deltas, parameters, gradients, optimizer
//! state); a [`Plan`] is the short, fixed list of [`Op`]s of one step over those buffers. The CPU backend interprets
//! the ops one by one (the reference); the GPU backend compiles each op once into a pipeline, a bind group and a
//! workgroup count, then only re-encodes the list per step. The model's math is therefore written once, here, and
//! every GPU kernel has exactly one CPU twin in [`crate::cpu::ops`].
//!
//! A plan comes in two forms over the same layout. The **reference** plans ([`Layout::reference_train_step`]) have
//! one small op per job (gather, linear, loss, weight gradient, bias gradient, input gradient, update, advance):
//! the readable definition of a step. The **fused** plans ([`Layout::train_step`], what training runs) do the same
//! work in at most 2L + 1 *stages* for L layers: the gather is folded into the first linear
//! ([`Op::FusedLinear`] reads the pixels itself), the loss into the last one (a [`LossHead`]), the bias gradient and
//! the optimizer update into the weight gradient ([`Op::GradUpdate`]), and independent ops share a stage. A stage is
//! what a GPU runs as one dispatch; [`Plan::validate`] proves that no op of a stage writes anything another op of
//! the same stage reads or writes (a GPU orders nothing between the workgroups of one dispatch). The CPU runs both
//! forms with the same reference functions, and a test checks that K fused steps equal K reference steps.
//!
//! Shapes are row-major; a "row" is a sample. Weights follow PyTorch: `w: [out, in]`.

mod layout;
mod op;
mod steps;
mod validate;

pub use layout::{BufDesc, BufId, LayerBufs, Layout, Role, Split};
pub use op::{LossHead, Op, Resource, HEAD_MAX_CLASSES};
pub use steps::PlanForm;
pub use validate::Plan;
