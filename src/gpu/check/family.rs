//! The families of checks: what `gpu-mnist check` runs, in order, and which WGSL entry points each runs.

use crate::model::Activation;
use crate::optim::Rule;

/// A family of kernel checks: the comparisons of one entry point (or of one activation, or of one use of the fused
/// kernel) with its CPU twin, run together by [`super::run`]. Not [`crate::plan::Op::family`], which groups the ops
/// of a plan for benchmark reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFamily {
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
    /// `quadratic_cost`: dz and the statistics, one unit per class and one unit for two classes.
    QuadraticCost,
    /// `binary_xent`: dz and the statistics of one logit for two classes.
    BinaryXent,
    /// `perceptron`: dz and the statistics, one unit per class and one unit for two classes, with scores exactly at
    /// 0 (a tie is a mistake: it updates, and one unit at 0 is class 0).
    Perceptron,
    /// The predictions of every loss on rows full of ties: the first maximum wins, as on the CPU; one unit exactly
    /// at its threshold is class 0.
    Argmax,
    /// `bias_grad`: db = Σ_rows dz.
    BiasGrad,
    /// `update` with one rule (optimizer.wgsl's function), t read from the GPU step counter.
    Update(Rule),
    /// `dropout`: a layer's output times this step's dropout factors (`dropout_mask.wgsl`'s draws).
    Dropout,
    /// `accumulate`: a chunk's gradient scaled into its step's sum.
    Accumulate,
    /// `gather` then `advance`, several steps: the rows at the GPU cursor and their labels.
    Gather,
    /// `linear_large`: y = act(x·wᵀ + b) in 128 × 128 tiles, for the shapes it takes.
    LinearLarge,
    /// `fused` running `Op::FusedLinear`: gathering, with a loss head, both.
    FusedLinear,
    /// `fused` running `Op::GradUpdate`: gradients and the update in the epilogue, every optimizer.
    GradUpdate,
    /// `fused` running every stage of a fused train step, two-job stages included.
    FusedStages,
}

// A family left out of this list, or named twice, does not compile: `gpu-mnist check` cannot skip one silently.
listed_exhaustively!(CheckFamily {
    /// Every family, in the order the `check` command runs them.
    ALL: [
        Linear,
        WeightGrad,
        InputGrad,
        Activation(Activation::Identity),
        Activation(Activation::Relu),
        Activation(Activation::Sigmoid),
        Activation(Activation::Tanh),
        Activation(Activation::LeakyRelu),
        Activation(Activation::Gelu),
        Activation(Activation::GeluTanh),
        Activation(Activation::Silu),
        SoftmaxXent,
        QuadraticCost,
        BinaryXent,
        Perceptron,
        Argmax,
        BiasGrad,
        Update(Rule::Sgd),
        Update(Rule::Momentum),
        Update(Rule::Adam),
        Update(Rule::Adamw),
        Update(Rule::Rmsprop),
        Dropout,
        Accumulate,
        Gather,
        LinearLarge,
        FusedLinear,
        GradUpdate,
        FusedStages,
    ]
});

/// A WGSL entry point: its file in `shaders/` and its function.
pub type EntryPoint = (&'static str, &'static str);

const LINEAR: EntryPoint = ("matmul.wgsl", "linear");
const WEIGHT_GRAD: EntryPoint = ("matmul.wgsl", "weight_grad");
const INPUT_GRAD: EntryPoint = ("matmul.wgsl", "input_grad");
const LINEAR_LARGE: EntryPoint = ("matmul_large.wgsl", "linear_large");
const SOFTMAX_XENT: EntryPoint = ("loss.wgsl", "softmax_xent");
const QUADRATIC_COST: EntryPoint = ("loss.wgsl", "quadratic_cost");
const BINARY_XENT: EntryPoint = ("loss.wgsl", "binary_xent");
const PERCEPTRON: EntryPoint = ("loss.wgsl", "perceptron");
const BIAS_GRAD: EntryPoint = ("bias_grad.wgsl", "bias_grad");
const UPDATE: EntryPoint = ("optim.wgsl", "update");
const DROPOUT: EntryPoint = ("dropout.wgsl", "dropout");
const ACCUMULATE: EntryPoint = ("accumulate.wgsl", "accumulate");
const GATHER: EntryPoint = ("gather.wgsl", "gather");
const ADVANCE: EntryPoint = ("counters.wgsl", "advance");
const FUSED: EntryPoint = ("fused.wgsl", "fused");

impl CheckFamily {
    /// The entry points the family's cases run: the one under test, and those that set up its input (a loss check
    /// gathers its batch labels first) or count its steps (`advance`). The files prepended to theirs
    /// (`activation.wgsl`, the reductions) run with them.
    pub fn entry_points(self) -> &'static [EntryPoint] {
        match self {
            CheckFamily::Linear => &[LINEAR],
            CheckFamily::WeightGrad => &[WEIGHT_GRAD],
            CheckFamily::InputGrad => &[INPUT_GRAD],
            CheckFamily::Activation(_) => &[LINEAR, INPUT_GRAD],
            CheckFamily::SoftmaxXent => &[GATHER, SOFTMAX_XENT],
            CheckFamily::QuadraticCost => &[GATHER, QUADRATIC_COST],
            CheckFamily::BinaryXent => &[GATHER, BINARY_XENT],
            CheckFamily::Perceptron => &[GATHER, PERCEPTRON],
            CheckFamily::Argmax => &[GATHER, SOFTMAX_XENT, QUADRATIC_COST, BINARY_XENT, PERCEPTRON],
            CheckFamily::BiasGrad => &[BIAS_GRAD],
            CheckFamily::Update(_) => &[UPDATE, ADVANCE],
            CheckFamily::Dropout => &[DROPOUT],
            CheckFamily::Accumulate => &[ACCUMULATE],
            CheckFamily::Gather => &[GATHER, ADVANCE],
            CheckFamily::LinearLarge => &[LINEAR_LARGE],
            CheckFamily::FusedLinear | CheckFamily::GradUpdate | CheckFamily::FusedStages => &[FUSED],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use wgpu::naga;

    use super::*;
    use crate::gpu::kernels::{compose_for, shader_file, Kernel};

    /// Every entry point some family of [`CheckFamily::ALL`] runs.
    fn checked() -> BTreeSet<EntryPoint> {
        CheckFamily::ALL.iter().flat_map(|f| f.entry_points()).copied().collect()
    }

    /// The files of `shaders/`.
    fn shader_dir() -> Vec<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
        let files = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
        files.filter(|name| name.ends_with(".wgsl")).collect()
    }

    /// The compute entry points of `shaders/{name}`, as naga parses it composed the way the host composes it.
    fn entry_points_of(name: &str) -> Vec<String> {
        let file = shader_file(name).unwrap_or_else(|| panic!("shaders/{name} is not in SHADER_FILES"));
        let module = naga::front::wgsl::parse_str(&compose_for(file, false))
            .unwrap_or_else(|e| panic!("shaders/{name} does not parse: {e}"));
        let compute = module.entry_points.iter().filter(|e| e.stage == naga::ShaderStage::Compute);
        compute.map(|e| e.name.clone()).collect()
    }

    /// Every `@compute` entry point in `shaders/` is run by some family of `gpu-mnist check`, and every file without
    /// one is prepended to a file whose entry points are (with or without subgroup operations); every entry point
    /// a family names exists. A new kernel with no check fails here.
    #[test]
    fn every_shader_in_shaders_is_checked_by_a_family() {
        let checked = checked();
        let names: BTreeSet<(String, String)> =
            checked.iter().map(|&(file, entry)| (file.to_string(), entry.to_string())).collect();
        let mut on_disk = BTreeSet::new();
        let mut libraries = Vec::new();
        for name in shader_dir() {
            let entries = entry_points_of(&name);
            if entries.is_empty() {
                libraries.push(name.clone());
            }
            on_disk.extend(entries.into_iter().map(|entry| (name.clone(), entry)));
        }
        let unchecked: Vec<_> = on_disk.difference(&names).collect();
        assert!(unchecked.is_empty(), "no CheckFamily runs {unchecked:?}: add a family (and its entry_points)");
        let missing: Vec<_> = names.difference(&on_disk).collect();
        assert!(missing.is_empty(), "CheckFamily::entry_points names {missing:?}, which shaders/ does not hold");

        let checked_files: BTreeSet<&str> = checked.iter().map(|&(file, _)| file).collect();
        for library in libraries {
            let text = shader_file(&library).unwrap().source;
            let prepended = checked_files.iter().any(|&file| {
                let file = shader_file(file).unwrap();
                [false, true].into_iter().any(|subgroups| compose_for(file, subgroups).contains(text))
            });
            assert!(prepended, "shaders/{library} has no entry point and is prepended to no checked file");
        }
    }

    /// Every pipeline the host creates ([`Kernel::ALL`]) runs an entry point some family checks.
    #[test]
    fn every_kernel_pipeline_is_checked_by_a_family() {
        let checked = checked();
        for kernel in Kernel::ALL {
            assert!(checked.contains(&(kernel.file(), kernel.entry())), "no CheckFamily runs {kernel:?}");
        }
    }
}
