//! One description of the training step, executed by every backend.
//!
//! A [`Layout`] names every buffer an MLP needs (batch, activations, the pre-activations whose activation's
//! derivative needs them, deltas, parameters, gradients, optimizer state); a [`Plan`] is the short, fixed list of
//! [`Op`]s of one step over those buffers. The CPU backend interprets the ops one by one (the reference); the GPU
//! backend compiles each op once into a pipeline, a bind group and a workgroup count, then only re-encodes the list
//! per step. The model's math is therefore written once, here, and every GPU kernel has exactly one CPU twin in
//! [`crate::cpu::ops`].
//!
//! A plan comes in two forms over the same layout. The **reference** plans ([`Layout::reference_train_step`]) have one
//! small op per job (gather, linear, loss, weight gradient, bias gradient, input gradient, update, advance): the
//! readable definition of a step. The **fused** plans ([`Layout::train_step`], what training runs) do the same work in
//! at most 2L + 1 *stages* for L layers (two more with input dropout, whose gather and dropout are stages of their
//! own): the gather is folded into the first linear ([`Op::FusedLinear`] reads the pixels itself), the loss into the
//! last one (a [`LossHead`]), the bias gradient and the optimizer update into the weight gradient ([`Op::GradUpdate`]),
//! and independent ops share a stage. A stage is what a GPU runs as one dispatch; [`Plan::validate`] proves that no op
//! of a stage writes anything another op of the same stage reads or writes (a GPU orders nothing between the workgroups
//! of one dispatch). The CPU runs both forms with the same reference functions, and a test checks that K fused steps
//! equal K reference steps.
//!
//! Shapes are row-major; a "row" is a sample. Weights follow PyTorch: `w: [out, in]`.
//!
//! Where each op lives (checked by `tests/structure.rs`, `the_op_table_should_name_real_places`): its WGSL entry
//! point in `shaders/`, its CPU twin in `src/cpu/ops/`, the family of `gpu-mnist check` that compares the two
//! (`src/gpu/check/`) and the test in `tests/gpu_kernels.rs` that runs that family.
//!
//! | op | WGSL | CPU twin | check family | test |
//! | --- | --- | --- | --- | --- |
//! | `Gather` | `gather.wgsl` `gather` | `gather` | `Gather` | `gather_should_match_reference` |
//! | `Linear` | `matmul.wgsl` `linear` | `linear` | `Linear` | `matmul_linear_should_match_reference` |
//! | `Linear` (large products) | `matmul_large.wgsl` `linear_large` | `linear` | `LinearLarge` | `linear_large_should_match_reference` |
//! | `SoftmaxXent` | `loss.wgsl` `softmax_xent` | `softmax_xent` | `SoftmaxXent` | `softmax_xent_should_match_reference` |
//! | `QuadraticCost` | `loss.wgsl` `quadratic_cost` | `quadratic_cost` | `QuadraticCost` | `quadratic_cost_should_match_reference` |
//! | `BinaryXent` | `loss.wgsl` `binary_xent` | `binary_xent` | `BinaryXent` | `binary_xent_should_match_reference` |
//! | `Perceptron` | `loss.wgsl` `perceptron` | `perceptron` | `Perceptron` | `perceptron_should_match_reference` |
//! | `BiasGrad` | `bias_grad.wgsl` `bias_grad` | `bias_grad` | `BiasGrad` | `bias_grad_should_match_reference` |
//! | `WeightGrad` | `matmul.wgsl` `weight_grad` | `weight_grad` | `WeightGrad` | `weight_grad_should_match_reference` |
//! | `InputGrad` | `matmul.wgsl` `input_grad` | `input_grad` | `InputGrad` | `input_grad_should_match_reference` |
//! | `Update` | `optim.wgsl` `update` | `update` | `Update(Rule::Sgd)`, `Update(Rule::Momentum)`, `Update(Rule::Adam)`, `Update(Rule::Adamw)`, `Update(Rule::Rmsprop)` | `sgd_should_match_reference`, `momentum_should_match_reference`, `adam_and_adamw_should_match_reference`, `rmsprop_should_match_reference` |
//! | `Dropout` | `dropout.wgsl` `dropout` | `dropout` | `Dropout` | `dropout_should_match_reference` |
//! | `Accumulate` | `accumulate.wgsl` `accumulate` | `accumulate` | `Accumulate` | `accumulate_should_match_reference` |
//! | `Advance` | `counters.wgsl` `advance` | `sum_row_stats` | `Gather` | `gather_should_match_reference` |
//! | `FusedLinear` | `fused.wgsl` `fused` | `gather`, `linear`, `loss_rows` | `FusedLinear` | `fused_linear_should_match_reference` |
//! | `GradUpdate` | `fused.wgsl` `fused` | `weight_grad`, `bias_grad`, `update` | `GradUpdate` | `grad_update_should_match_reference` |
//! | a fused stage | `fused.wgsl` `fused` | the ops it holds | `FusedStages` | `fused_stages_should_match_reference` |
//!
//! The activations (`activation.wgsl` ↔ `activate`, `activation_grad`) are checked through `linear` and
//! `input_grad` by the `Activation(…)` families (`every_activation_should_match_reference`); the update rules
//! (`optimizer.wgsl` ↔ `cpu::ops::update`'s functions, one per rule) through `update` by the `Update(…)` families and
//! through `fused` by `GradUpdate`.

mod access;
mod layout;
mod op;
mod steps;
mod validate;

pub use access::Resource;
pub use layout::{BufDesc, BufId, LayerBufs, Layout, LayoutDropout, Role, Split};
pub use op::{DropoutSpec, LossHead, Op, HEAD_MAX_CLASSES};
pub use steps::PlanForm;
pub use validate::Plan;
