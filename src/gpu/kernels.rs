//! The compute kernels: every entry point of `shaders/` (its file, workgroup size, bindings and overridable
//! constants) and its compute pipeline, created once per device. The WGSL texts and how they are composed are
//! [`crate::gpu::shaders`]'s job, the choice of tile [`crate::gpu::tiles`]'.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, Result};
use crate::gpu::shaders::{compose_text, shader_text, ACTIVATION_FILE, DROPOUT_MASK_FILE, OPTIMIZER_FILE};

// The shader and tile items at their paths from before they moved to modules of their own.
pub use crate::gpu::shaders::{
    compose, compose_for, shader_file, shader_overrides, ShaderFile, REDUCE_SUBGROUP_FILE, REDUCE_TREE_FILE,
    SHADER_FILES,
};
pub use crate::gpu::tiles::{large_linear_fits, Tile, TileRule, LARGE_TILE, LARGE_TK};

/// How an entry point uses one binding of group 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `var<storage, read_write>`
    ReadWrite,
    /// `var<storage, read>`
    Read,
    /// `var<uniform>`: the kernel's parameters.
    Uniform,
}

/// One compute entry point: a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `matmul.wgsl` `linear`: [`crate::plan::Op::Linear`].
    Linear(Tile),
    /// `matmul.wgsl` `weight_grad`: [`crate::plan::Op::WeightGrad`].
    WeightGrad(Tile),
    /// `matmul.wgsl` `input_grad`: [`crate::plan::Op::InputGrad`].
    InputGrad(Tile),
    /// `loss.wgsl` `softmax_xent`: [`crate::plan::Op::SoftmaxXent`].
    SoftmaxXent,
    /// `loss.wgsl` `quadratic_cost`: [`crate::plan::Op::QuadraticCost`].
    QuadraticCost,
    /// `loss.wgsl` `binary_xent`: [`crate::plan::Op::BinaryXent`].
    BinaryXent,
    /// `loss.wgsl` `perceptron`: [`crate::plan::Op::Perceptron`].
    Perceptron,
    /// `bias_grad.wgsl`: [`crate::plan::Op::BiasGrad`].
    BiasGrad,
    /// `optim.wgsl` `update`: [`crate::plan::Op::Update`], every rule (optimizer.wgsl's functions).
    Update,
    /// `dropout.wgsl`: [`crate::plan::Op::Dropout`].
    Dropout,
    /// `accumulate.wgsl`: [`crate::plan::Op::Accumulate`].
    Accumulate,
    /// `gather.wgsl`: [`crate::plan::Op::Gather`].
    Gather,
    /// `counters.wgsl` `advance`: [`crate::plan::Op::Advance`].
    Advance,
    /// `matmul_large.wgsl` `linear_large`: [`crate::plan::Op::Linear`] of a large product whose sides fit its
    /// 128 × 128 tiles ([`large_linear_fits`]).
    LinearLarge,
    /// `fused.wgsl` `fused`: one stage of a fused plan ([`crate::plan::Op::FusedLinear`],
    /// [`crate::plan::Op::GradUpdate`], and the input gradients and advances that share their stages).
    Fused(Tile),
}

impl Kernel {
    /// Every kernel, in pipeline-table order.
    pub const ALL: [Kernel; 23] = [
        Kernel::Linear(Tile::T64),
        Kernel::Linear(Tile::T32),
        Kernel::Linear(Tile::T16),
        Kernel::LinearLarge,
        Kernel::WeightGrad(Tile::T64),
        Kernel::WeightGrad(Tile::T32),
        Kernel::WeightGrad(Tile::T16),
        Kernel::InputGrad(Tile::T64),
        Kernel::InputGrad(Tile::T32),
        Kernel::InputGrad(Tile::T16),
        Kernel::SoftmaxXent,
        Kernel::QuadraticCost,
        Kernel::BinaryXent,
        Kernel::Perceptron,
        Kernel::BiasGrad,
        Kernel::Update,
        Kernel::Dropout,
        Kernel::Accumulate,
        Kernel::Gather,
        Kernel::Advance,
        Kernel::Fused(Tile::T64),
        Kernel::Fused(Tile::T32),
        Kernel::Fused(Tile::T16),
    ];

    /// The file of `shaders/` that holds it.
    pub fn file(self) -> &'static str {
        match self {
            Kernel::Linear(_) | Kernel::WeightGrad(_) | Kernel::InputGrad(_) => "matmul.wgsl",
            Kernel::LinearLarge => "matmul_large.wgsl",
            Kernel::SoftmaxXent | Kernel::QuadraticCost | Kernel::BinaryXent | Kernel::Perceptron => "loss.wgsl",
            Kernel::BiasGrad => "bias_grad.wgsl",
            Kernel::Update => "optim.wgsl",
            Kernel::Dropout => "dropout.wgsl",
            Kernel::Accumulate => "accumulate.wgsl",
            Kernel::Gather => "gather.wgsl",
            Kernel::Advance => "counters.wgsl",
            Kernel::Fused(_) => "fused.wgsl",
        }
    }

    /// The WGSL entry point.
    pub fn entry(self) -> &'static str {
        match self {
            Kernel::Linear(_) => "linear",
            Kernel::LinearLarge => "linear_large",
            Kernel::WeightGrad(_) => "weight_grad",
            Kernel::InputGrad(_) => "input_grad",
            Kernel::SoftmaxXent => "softmax_xent",
            Kernel::QuadraticCost => "quadratic_cost",
            Kernel::BinaryXent => "binary_xent",
            Kernel::Perceptron => "perceptron",
            Kernel::BiasGrad => "bias_grad",
            Kernel::Update => "update",
            Kernel::Dropout => "dropout",
            Kernel::Accumulate => "accumulate",
            Kernel::Gather => "gather",
            Kernel::Advance => "advance",
            Kernel::Fused(_) => "fused",
        }
    }

    /// The entry point's `@workgroup_size` (the WGSL's `WG` or `THREADS` constants; tests/shaders_validate.rs checks
    /// the two agree). The host sizes each dispatch's grid from it.
    pub fn workgroup_size(self) -> [u32; 3] {
        match self {
            Kernel::Linear(_) | Kernel::WeightGrad(_) | Kernel::InputGrad(_) | Kernel::Fused(_) => [16, 16, 1],
            Kernel::LinearLarge => [16, 16, 1],
            Kernel::BiasGrad => [64, 1, 1],
            Kernel::SoftmaxXent
            | Kernel::QuadraticCost
            | Kernel::BinaryXent
            | Kernel::Perceptron
            | Kernel::Update
            | Kernel::Dropout
            | Kernel::Accumulate => [256, 1, 1],
            Kernel::Gather => [256, 1, 1],
            Kernel::Advance => [1, 1, 1],
        }
    }

    /// The bindings of group 0 the entry point uses, as `(binding, access)` in the order the host passes buffers.
    /// The uniform (parameters) is always last and supplied by the host itself.
    pub fn bindings(self) -> &'static [(u32, Access)] {
        use Access::{Read, ReadWrite, Uniform};
        match self {
            // Every binding of a layout buffer is read_write, even when the kernel only reads it: all are ranges of
            // the backend's one buffer of the layout, and one buffer may not be bound read-only and read-write in the
            // same dispatch.
            // c, a, b, e, z, params (z: where a linear keeps its pre-activation)
            Kernel::Linear(_) | Kernel::LinearLarge => {
                &[(0, ReadWrite), (1, ReadWrite), (2, ReadWrite), (3, ReadWrite), (5, ReadWrite), (4, Uniform)]
            }
            // c, a, b, e, the dropout factors (or a spare buffer), params
            Kernel::InputGrad(_) => {
                &[(0, ReadWrite), (1, ReadWrite), (2, ReadWrite), (3, ReadWrite), (5, ReadWrite), (4, Uniform)]
            }
            // c, a, b, params (no epilogue operand)
            Kernel::WeightGrad(_) => &[(0, ReadWrite), (1, ReadWrite), (2, ReadWrite), (4, Uniform)],
            // dz, out, labels, counters, params
            Kernel::SoftmaxXent | Kernel::QuadraticCost | Kernel::BinaryXent | Kernel::Perceptron => {
                &[(0, ReadWrite), (1, ReadWrite), (2, Read), (3, ReadWrite), (4, Uniform)]
            }
            // db, dz, params; sum, grad, params
            Kernel::BiasGrad | Kernel::Accumulate => &[(0, ReadWrite), (1, ReadWrite), (2, Uniform)],
            // y, mask, counters, params
            Kernel::Dropout => &[(0, ReadWrite), (1, ReadWrite), (2, Read), (3, Uniform)],
            // param, state (packed), grad, counters, params
            Kernel::Update => &[(0, ReadWrite), (1, ReadWrite), (2, ReadWrite), (3, Read), (4, Uniform)],
            // layout buffers, batch labels, data, order, counters, params
            Kernel::Fused(_) => &[(0, ReadWrite), (1, ReadWrite), (2, Read), (3, Read), (4, ReadWrite), (5, Uniform)],
            // x, batch labels, data, order, counters, params
            Kernel::Gather => &[(0, ReadWrite), (1, ReadWrite), (2, Read), (3, Read), (4, Read), (5, Uniform)],
            // counters, params
            Kernel::Advance => &[(0, ReadWrite), (1, Uniform)],
        }
    }

    /// The pipeline-overridable constants of this pipeline (the matmul tile).
    pub fn overrides(self) -> &'static [(&'static str, f64)] {
        match self {
            Kernel::Linear(tile) | Kernel::WeightGrad(tile) | Kernel::InputGrad(tile) | Kernel::Fused(tile) => {
                match tile {
                    Tile::T64 => &[("PER", 4.0)],
                    Tile::T32 => &[("PER", 2.0)],
                    Tile::T16 => &[("PER", 1.0)],
                }
            }
            _ => &[],
        }
    }

    /// Position in [`Kernel::ALL`].
    fn index(self) -> Option<usize> {
        Kernel::ALL.iter().position(|&k| k == self)
    }
}

/// The most storage buffers any entry point binds (the device must allow this many per shader stage).
pub fn max_storage_buffers() -> u32 {
    Kernel::ALL
        .iter()
        .map(|k| k.bindings().iter().filter(|(_, a)| *a != Access::Uniform).count() as u32)
        .max()
        .unwrap_or(0)
}

/// What creating the pipelines needs of a device: the device, whether its kernels use subgroup operations, and
/// error scopes that turn what the driver rejects into an error. The GPU context implements it; taking it through
/// this trait keeps this module from depending on the context, which caches the pipelines made here.
pub trait PipelineDevice {
    /// The device.
    fn device(&self) -> &wgpu::Device;
    /// Whether the kernels use subgroup operations (the device has `Features::SUBGROUP`).
    fn has_subgroups(&self) -> bool;
    /// Runs `f` inside error scopes; any error they catch becomes an [`Error::Gpu`] naming `what`.
    fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T>;
}

/// A compiled entry point with the layout its bind groups must follow.
pub struct Pipeline {
    /// The compute pipeline.
    pub pipeline: wgpu::ComputePipeline,
    /// The layout of its group 0.
    pub layout: wgpu::BindGroupLayout,
}

/// Every kernel's pipeline, created once per device and shared by every backend and check on it.
pub struct Kernels {
    pipelines: Vec<Pipeline>,
}

impl Kernels {
    /// Compiles every shader file once and creates one pipeline per entry point. Each creation runs inside an
    /// error scope, so a shader the driver rejects becomes an error naming the file and entry point. A file of the
    /// same name in `shader_dir` replaces the built-in text.
    pub fn new(ctx: &impl PipelineDevice, shader_dir: Option<&Path>) -> Result<Self> {
        // Compile: every file that holds entry points, once.
        let modules = compile_modules(ctx, shader_dir)?;
        // Pipelines: one per entry point, in [`Kernel::ALL`] order (the order `get` looks them up by).
        let mut pipelines = Vec::new();
        for kernel in Kernel::ALL {
            let Some((_, module)) = modules.iter().find(|(name, _)| *name == kernel.file()) else {
                return Err(Error::Gpu(format!(
                    "kernel {kernel:?} names shaders/{}, which is not in SHADER_FILES",
                    kernel.file()
                )));
            };
            let what = format!(
                "creating the pipeline of shaders/{} entry point `{}` {:?}",
                kernel.file(),
                kernel.entry(),
                kernel.overrides()
            );
            let pipeline = ctx.scoped(&what, || create_pipeline(ctx.device(), kernel, module))?;
            pipelines.push(pipeline);
        }
        Ok(Kernels { pipelines })
    }

    /// The pipeline of `kernel`.
    pub fn get(&self, kernel: Kernel) -> Result<&Pipeline> {
        kernel
            .index()
            .and_then(|i| self.pipelines.get(i))
            .ok_or_else(|| Error::Gpu(format!("no pipeline was created for {kernel:?}")))
    }
}

/// One shader module per file of [`SHADER_FILES`] that holds entry points (the others are prepended to them), with
/// the file's name; texts from `shader_dir` where it has them.
fn compile_modules(
    ctx: &impl PipelineDevice,
    shader_dir: Option<&Path>,
) -> Result<Vec<(&'static str, wgpu::ShaderModule)>> {
    let device = ctx.device();
    if let Some(dir) = shader_dir {
        shader_overrides(dir)?;
    }
    let activation = shader_text(&ACTIVATION_FILE, shader_dir)?;
    let optimizer = shader_text(&OPTIMIZER_FILE, shader_dir)?;
    let dropout_mask = shader_text(&DROPOUT_MASK_FILE, shader_dir)?;
    let reduce = if ctx.has_subgroups() { &REDUCE_SUBGROUP_FILE } else { &REDUCE_TREE_FILE };
    let reduce_text = shader_text(reduce, shader_dir)?;
    let mut modules = Vec::new();
    // Modules: the files that hold entry points (the others are prepended to them).
    for file in SHADER_FILES.iter().filter(|f| Kernel::ALL.iter().any(|k| k.file() == f.name)) {
        // Module: the composed source, validated by wgpu's WGSL front end.
        let text = shader_text(file, shader_dir)?;
        let built_in = matches!(text, Cow::Borrowed(_));
        let source = compose_text(file, &text, &activation, &optimizer, &dropout_mask, &reduce_text);
        let module = ctx.scoped(&format!("compiling shaders/{}", file.name), || {
            let desc = wgpu::ShaderModuleDescriptor {
                label: Some(file.name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            };
            if file.trusted && built_in {
                // SAFETY: a trusted file indexes only within its bindings and workgroup arrays for every shape
                // the host dispatches it with (matmul_large.wgsl: large_linear_fits, proven by the test
                // large_linear_indices_stay_in_range); an edited text from --shaders is never trusted.
                unsafe { device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
            } else {
                device.create_shader_module(desc)
            }
        })?;
        modules.push((file.name, module));
    }
    Ok(modules)
}

/// The pipeline of `kernel`'s entry point in `module`, with an explicit layout: the bindings this entry point
/// uses, nothing else.
fn create_pipeline(device: &wgpu::Device, kernel: Kernel, module: &wgpu::ShaderModule) -> Pipeline {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
        .bindings()
        .iter()
        .map(|&(binding, access)| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match access {
                    Access::Uniform => wgpu::BufferBindingType::Uniform,
                    Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let layout = device
        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(kernel.entry()), entries: &entries });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(kernel.entry()),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(kernel.entry()),
        layout: Some(&pipeline_layout),
        module,
        entry_point: Some(kernel.entry()),
        // No zeroing of workgroup memory at entry: every kernel writes each workgroup value before any
        // invocation reads it (behind a barrier), so the zeroing only costs time — and on wgpu's GL
        // backend it is a literal of every element that llvmpipe takes tens of seconds to compile.
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: kernel.overrides(),
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    Pipeline { pipeline, layout }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WebGPU's default limit is 8 storage buffers per shader stage (the browser's): no kernel binds more, however
    /// many state tensors an optimizer keeps (they are packed into one binding) or whether a layer drops units.
    #[test]
    fn no_kernel_binds_more_than_eight_storage_buffers() {
        for kernel in Kernel::ALL {
            let storage = kernel.bindings().iter().filter(|(_, a)| *a != Access::Uniform).count();
            assert!(storage <= 8, "{kernel:?} binds {storage} storage buffers");
        }
    }
}
