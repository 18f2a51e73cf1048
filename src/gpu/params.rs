//! The uniform structs of the kernels, byte for byte as the WGSL declares them (each padded to 16 bytes).
//! A unit test checks every size against the structs naga finds in the shaders.

use bytemuck::{Pod, Zeroable};

/// `MatmulParams` of `matmul.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct MatmulParams {
    /// Rows of C and A.
    pub m: u32,
    /// Columns of C and B.
    pub n: u32,
    /// The summed dimension.
    pub k: u32,
    /// `Activation::code()` of the epilogue.
    pub act: u32,
    /// A's row stride.
    pub a_rs: u32,
    /// A's column stride.
    pub a_cs: u32,
    /// B's row stride.
    pub b_rs: u32,
    /// B's column stride.
    pub b_cs: u32,
    /// `linear`: 1 to write the pre-activation z.
    pub save_z: u32,
    /// Leaky ReLU's slope below 0.
    pub leaky_slope: f32,
    /// input_grad: 0 without dropout; 1 with the dropout factors in the z binding; 2 the same, saved being the
    /// output after dropout (divided by the factor before act′).
    pub mask_mode: u32,
    /// Padding to 16 bytes.
    pub pad: u32,
}

/// `LargeParams` of `matmul_large.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LargeParams {
    /// Rows of y and x (a multiple of 128).
    pub m: u32,
    /// Columns of y, rows of w (a multiple of 128).
    pub n: u32,
    /// The summed dimension (a multiple of 8).
    pub k: u32,
    /// `Activation::code()` of the epilogue.
    pub act: u32,
    /// 1 to write the pre-activation z.
    pub save_z: u32,
    /// Leaky ReLU's slope below 0.
    pub leaky_slope: f32,
    /// Padding to 16 bytes.
    pub pad: [u32; 2],
}

/// `LossParams` of `loss.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LossParams {
    /// Rows of the batch.
    pub rows: u32,
    /// Classes per row.
    pub classes: u32,
    /// `Split::index()` whose statistics to add to.
    pub split: u32,
    /// 1 to write dz.
    pub write_dz: u32,
}

/// `BiasGradParams` of `bias_grad.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BiasGradParams {
    /// Rows summed.
    pub rows: u32,
    /// Columns.
    pub outputs: u32,
    /// Padding to 16 bytes.
    pub pad: [u32; 2],
}

/// `OptimParams` of `optim.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct OptimParams {
    /// The optimizer's hyper-parameters, WGSL's `Hypers` ([`crate::optim::Optimizer::gpu_hypers`]).
    pub hypers: [f32; crate::optim::HYPER_SLOTS],
    /// Elements.
    pub len: u32,
    /// `RULE_*`: [`crate::optim::Rule::code`].
    pub rule: u32,
    /// The rule's state tensors, packed in the state binding.
    pub states: u32,
    /// Steps over which the learning rate decays linearly to 0; 0 = constant.
    pub decay_steps: u32,
}

/// `DropoutParams` of `dropout.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct DropoutParams {
    /// Elements: rows · outputs.
    pub len: u32,
    /// The probability of dropping a unit.
    pub p: f32,
    /// 1/(1 − p).
    pub keep_scale: f32,
    /// The layer's index, part of the draws' key.
    pub layer: u32,
    /// The seed's low word.
    pub seed_lo: u32,
    /// The seed's high word.
    pub seed_hi: u32,
    /// Padding to 16 bytes.
    pub pad: [u32; 2],
}

/// `AccumulateParams` of `accumulate.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct AccumulateParams {
    /// Elements.
    pub len: u32,
    /// Chunk rows / step rows.
    pub scale: f32,
    /// 1 for the step's first chunk (the sum starts there), else 0.
    pub first: u32,
    /// Padding to 16 bytes.
    pub pad: u32,
}

/// `GatherParams` of `gather.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GatherParams {
    /// Rows of the batch.
    pub rows: u32,
    /// Features (pixels) per row.
    pub features: u32,
    /// `Split::index()`.
    pub split: u32,
    /// Samples in the split.
    pub samples: u32,
    /// 1 where the split holds f32 values (a table's) rather than packed u8 pixels.
    pub values: u32,
    /// Padding to 16 bytes.
    pub pad: [u32; 3],
    /// `unit[u / 4][u % 4]` = the input value of pixel value u: u / 255, normalised where asked.
    pub unit: [[f32; 4]; 64],
}

impl GatherParams {
    /// The parameters of a gather from a split of `samples` samples; `unit` the input value of each pixel value
    /// ([`crate::data::pixel_inputs`], computed on the host so the GPU reads exactly the CPU's values).
    pub fn new(rows: u32, features: u32, split: u32, samples: u32, values: bool, unit: [[f32; 4]; 64]) -> Self {
        GatherParams { rows, features, split, samples, values: u32::from(values), pad: [0; 3], unit }
    }
}

/// `AdvanceParams` of `counters.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct AdvanceParams {
    /// `Split::index()`.
    pub split: u32,
    /// Rows to advance the cursor by.
    pub rows: u32,
    /// 1: the train step count += 1 (every advance but those of a chunked step's chunks before its last).
    pub counts_step: u32,
    /// Padding to 16 bytes.
    pub pad: u32,
}

/// One job of `fused.wgsl` (its `Job` struct): a tiled product and its epilogue, or an advance. Offsets are in f32s
/// into the backend's buffer of the layout; a field a job's kind does not use stays 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct FusedJob {
    /// grad_update: the optimizer's hyper-parameters, WGSL's `Hypers` ([`crate::optim::Optimizer::gpu_hypers`]).
    pub hypers: [f32; crate::optim::HYPER_SLOTS],
    /// `JOB_*` of fused.wgsl: 0 none, 1 linear, 2 grad_update, 3 input_grad, 4 advance.
    pub kind: u32,
    /// Workgroups of this job.
    pub groups: u32,
    /// Tiles along n (the rest along m).
    pub groups_n: u32,
    /// `FLAG_*` of fused.wgsl.
    pub flags: u32,
    /// Rows of C.
    pub m: u32,
    /// Columns of C.
    pub n: u32,
    /// The summed dimension.
    pub k: u32,
    /// `Activation::code()` of the epilogue.
    pub act: u32,
    /// A's offset, row stride and column stride.
    pub a_off: u32,
    /// A's row stride.
    pub a_rs: u32,
    /// A's column stride.
    pub a_cs: u32,
    /// B's offset.
    pub b_off: u32,
    /// B's row stride.
    pub b_rs: u32,
    /// B's column stride.
    pub b_cs: u32,
    /// C's offset.
    pub c_off: u32,
    /// The epilogue operand's offset (the bias, or what act′ is written in terms of: the previous layer's output or
    /// its pre-activation).
    pub e_off: u32,
    /// grad_update: the weight.
    pub w_off: u32,
    /// grad_update: the weight's state tensors, packed.
    pub sw_off: u32,
    /// grad_update: the bias.
    pub bias_off: u32,
    /// grad_update: the bias gradient.
    pub gb_off: u32,
    /// grad_update: the bias's state tensors, packed.
    pub sb_off: u32,
    /// grad_update: `RULE_*` ([`crate::optim::Rule::code`]).
    pub rule: u32,
    /// grad_update: the rule's number of state tensors.
    pub states: u32,
    /// Steps over which the learning rate decays linearly to 0; 0 = constant.
    pub decay_steps: u32,
    /// A gathering linear: where x goes.
    pub x_off: u32,
    /// The head's dz, or grad_update's dz for the bias gradient.
    pub dz_off: u32,
    /// The row statistics.
    pub stats_off: u32,
    /// advance: rows.
    pub rows: u32,
    /// A linear with `FLAG_SAVE_Z`: where its pre-activation z goes.
    pub z_off: u32,
    /// Leaky ReLU's slope below 0 (linear and input_grad).
    pub leaky_slope: f32,
    /// linear with `FLAG_DROPOUT`: where its factors go; input_grad with `FLAG_MASK`: where it reads them.
    pub mask_off: u32,
    /// linear with `FLAG_DROPOUT`: p.
    pub drop_p: f32,
    /// linear with `FLAG_DROPOUT`: 1/(1 − p).
    pub keep_scale: f32,
    /// linear with `FLAG_DROPOUT`: the layer's index, part of the draws' key.
    pub drop_layer: u32,
    /// linear with `FLAG_DROPOUT`: the seed's low word.
    pub seed_lo: u32,
    /// linear with `FLAG_DROPOUT`: the seed's high word.
    pub seed_hi: u32,
}

/// `FusedParams` of `fused.wgsl`: two jobs, the split, and the gather's u / 255 table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct FusedParams {
    /// The dispatch's jobs; an unused one has kind 0 and no workgroups.
    pub jobs: [FusedJob; 2],
    /// `Split::index()` of the plan.
    pub split: u32,
    /// Samples in the split.
    pub samples: u32,
    /// Pixels per sample.
    pub features: u32,
    /// As [`GatherParams::values`].
    pub values: u32,
    /// As [`GatherParams::unit`].
    pub unit: [[f32; 4]; 64],
}

impl FusedParams {
    /// Parameters with no jobs yet, for `split` of `samples` samples of `features` pixels (or f32 `values`), the
    /// pixels' input values in `unit` (as [`GatherParams::new`]).
    pub fn new(split: u32, samples: u32, features: u32, values: bool, unit: [[f32; 4]; 64]) -> Self {
        FusedParams { jobs: [FusedJob::default(); 2], split, samples, features, values: u32::from(values), unit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::shaders::{compose, shader_file};

    /// The size naga computes for the struct `name` in `file`.
    fn wgsl_struct_size(file: &str, name: &str) -> u32 {
        let source = compose(shader_file(file).unwrap());
        let module = wgpu::naga::front::wgsl::parse_str(&source).unwrap();
        let mut layouter = wgpu::naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let (handle, _) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no struct {name} in {file}"));
        layouter[handle].size
    }

    #[test]
    fn uniform_structs_match_the_wgsl() {
        let round16 = |s: u32| s.div_ceil(16) * 16;
        for (file, name, size) in [
            ("matmul.wgsl", "MatmulParams", size_of::<MatmulParams>()),
            ("matmul_large.wgsl", "LargeParams", size_of::<LargeParams>()),
            ("loss.wgsl", "LossParams", size_of::<LossParams>()),
            ("bias_grad.wgsl", "BiasGradParams", size_of::<BiasGradParams>()),
            ("optim.wgsl", "OptimParams", size_of::<OptimParams>()),
            ("dropout.wgsl", "DropoutParams", size_of::<DropoutParams>()),
            ("accumulate.wgsl", "AccumulateParams", size_of::<AccumulateParams>()),
            ("gather.wgsl", "GatherParams", size_of::<GatherParams>()),
            ("counters.wgsl", "AdvanceParams", size_of::<AdvanceParams>()),
            ("fused.wgsl", "Job", size_of::<FusedJob>()),
            ("fused.wgsl", "FusedParams", size_of::<FusedParams>()),
        ] {
            assert_eq!(round16(wgsl_struct_size(file, name)) as usize, size, "{file}: {name}");
        }
    }
}
