//! The WGSL kernels: their sources (compiled into the binary, so it runs from any directory), how the host composes
//! them (WGSL has no includes), which buffers each entry point binds, and their compute pipelines, created once per
//! device.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::counters;

/// One file of `shaders/`.
#[derive(Clone, Copy, Debug)]
pub struct ShaderFile {
    /// The file name, e.g. `matmul.wgsl`.
    pub name: &'static str,
    /// Its text.
    pub source: &'static str,
    /// Whether `activation.wgsl` is prepended to it.
    pub needs_activation: bool,
    /// Whether the counter layout constants ([`counters::wgsl_constants`]) are prepended to it.
    pub needs_counters: bool,
    /// Whether `workgroup_sums` is prepended to it ([`REDUCE_TREE_FILE`], or [`REDUCE_SUBGROUP_FILE`] on a device with
    /// subgroup operations).
    pub needs_reduce: bool,
    /// Whether it uses subgroup operations itself (valid only where the device has `Features::SUBGROUP`; wgpu's
    /// WGSL front end takes them without an `enable` directive).
    pub needs_subgroups: bool,
    /// Whether its built-in text is compiled without runtime bounds checks: only a kernel whose every index is in
    /// range by construction for the shapes the host sends it (`matmul_large.wgsl`). A text from a `--shaders`
    /// directory is always compiled with the checks.
    pub trusted: bool,
}

/// `activation.wgsl`: the activation functions, prepended to the files that need them.
const ACTIVATION_WGSL: &str = include_str!("../../shaders/activation.wgsl");

/// `activation.wgsl` as a file of its own (validated alone, replaceable by a `--shaders` directory).
const ACTIVATION_FILE: ShaderFile = ShaderFile {
    name: "activation.wgsl",
    source: ACTIVATION_WGSL,
    needs_activation: false,
    needs_counters: false,
    trusted: false,
    needs_reduce: false,
    needs_subgroups: false,
};

/// `reduce_tree.wgsl`: `workgroup_sums` without subgroup operations (the fallback).
pub const REDUCE_TREE_FILE: ShaderFile = ShaderFile {
    name: "reduce_tree.wgsl",
    source: include_str!("../../shaders/reduce_tree.wgsl"),
    needs_activation: false,
    needs_counters: false,
    trusted: false,
    needs_reduce: false,
    needs_subgroups: false,
};

/// `reduce_subgroup.wgsl`: `workgroup_sums` with subgroup operations.
pub const REDUCE_SUBGROUP_FILE: ShaderFile = ShaderFile {
    name: "reduce_subgroup.wgsl",
    source: include_str!("../../shaders/reduce_subgroup.wgsl"),
    needs_activation: false,
    needs_counters: false,
    trusted: false,
    needs_reduce: false,
    needs_subgroups: true,
};

/// Every file of `shaders/`, each with how it is composed.
pub const SHADER_FILES: [ShaderFile; 11] = [
    ACTIVATION_FILE,
    REDUCE_TREE_FILE,
    REDUCE_SUBGROUP_FILE,
    ShaderFile {
        name: "matmul.wgsl",
        source: include_str!("../../shaders/matmul.wgsl"),
        needs_activation: true,
        needs_counters: false,
        trusted: false,
        needs_reduce: false,
        needs_subgroups: false,
    },
    ShaderFile {
        name: "matmul_large.wgsl",
        source: include_str!("../../shaders/matmul_large.wgsl"),
        needs_activation: true,
        needs_counters: false,
        trusted: true,
        needs_reduce: false,
        needs_subgroups: false,
    },
    ShaderFile {
        name: "loss.wgsl",
        source: include_str!("../../shaders/loss.wgsl"),
        needs_activation: false,
        needs_counters: true,
        trusted: false,
        needs_reduce: false,
        needs_subgroups: false,
    },
    ShaderFile {
        name: "bias_grad.wgsl",
        source: include_str!("../../shaders/bias_grad.wgsl"),
        needs_activation: false,
        needs_counters: false,
        trusted: false,
        needs_reduce: false,
        needs_subgroups: false,
    },
    ShaderFile {
        name: "optim.wgsl",
        source: include_str!("../../shaders/optim.wgsl"),
        needs_activation: false,
        needs_counters: true,
        trusted: false,
        needs_reduce: false,
        needs_subgroups: false,
    },
    ShaderFile {
        name: "gather.wgsl",
        source: include_str!("../../shaders/gather.wgsl"),
        needs_activation: false,
        needs_counters: true,
        trusted: false,
        needs_reduce: false,
        needs_subgroups: false,
    },
    ShaderFile {
        name: "fused.wgsl",
        source: include_str!("../../shaders/fused.wgsl"),
        needs_activation: true,
        needs_counters: true,
        trusted: false,
        needs_reduce: true,
        needs_subgroups: false,
    },
    ShaderFile {
        name: "counters.wgsl",
        source: include_str!("../../shaders/counters.wgsl"),
        needs_activation: false,
        needs_counters: true,
        trusted: false,
        needs_reduce: false,
        needs_subgroups: false,
    },
];

/// The file `name` of [`SHADER_FILES`].
pub fn shader_file(name: &str) -> Option<&'static ShaderFile> {
    SHADER_FILES.iter().find(|f| f.name == name)
}

/// The complete WGSL module of `file` as a device without subgroup operations gets it: the counter constants,
/// `activation.wgsl` and `reduce_tree.wgsl` if it needs them, then the file.
pub fn compose(file: &ShaderFile) -> String {
    compose_for(file, false)
}

/// [`compose`] for a device with (`subgroups`) or without subgroup operations.
pub fn compose_for(file: &ShaderFile, subgroups: bool) -> String {
    let reduce = if subgroups { &REDUCE_SUBGROUP_FILE } else { &REDUCE_TREE_FILE };
    compose_text(file, file.source, ACTIVATION_WGSL, reduce.source)
}

/// [`compose_for`] with the texts of `file`, `activation.wgsl` and the reduction file given (read from a `--shaders`
/// directory).
fn compose_text(file: &ShaderFile, text: &str, activation: &str, reduce_text: &str) -> String {
    let mut source = String::new();
    if file.needs_counters {
        source.push_str("// counter layout, from src/gpu/counters.rs\n");
        source.push_str(&counters::wgsl_constants());
    }
    if file.needs_activation {
        source.push_str(activation);
    }
    if file.needs_reduce {
        source.push_str(reduce_text);
    }
    source.push_str(text);
    source
}

/// The files of [`SHADER_FILES`] that `dir` replaces; an error if `dir` cannot be listed or holds a `.wgsl` file
/// that is not one of them (a misspelt name would otherwise check the built-in kernel instead of the edited one).
pub fn shader_overrides(dir: &Path) -> Result<Vec<&'static str>> {
    let unreadable = |e: std::io::Error| Error::Gpu(format!("--shaders {}: {e}", dir.display()));
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let name = entry.map_err(unreadable)?.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".wgsl") {
            continue;
        }
        match shader_file(&name) {
            Some(file) => found.push(file.name),
            None => {
                let known: Vec<&str> = SHADER_FILES.iter().map(|f| f.name).collect();
                return Err(Error::Gpu(format!(
                    "--shaders {}: {name} is not a gpu-mnist shader; the files are {}",
                    dir.display(),
                    known.join(", ")
                )));
            }
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// The text of `file`: `dir/NAME` where `dir` is given and holds that file, the built-in text otherwise.
fn shader_text(file: &ShaderFile, dir: Option<&Path>) -> Result<Cow<'static, str>> {
    let Some(path) = dir.map(|d| d.join(file.name)).filter(|p| p.exists()) else {
        return Ok(Cow::Borrowed(file.source));
    };
    std::fs::read_to_string(&path)
        .map(Cow::Owned)
        .map_err(|e| Error::Gpu(format!("{}: {e}; give --shaders a directory of readable WGSL files", path.display())))
}

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

/// The output tile of one matmul workgroup (`matmul.wgsl`'s and `fused.wgsl`'s overridable `PER`: outputs per
/// invocation per axis; every tile has 16 × 16 invocations and stages 16 values of k at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    /// 64 × 64 outputs per workgroup, 4 × 4 per invocation: the most reuse of each loaded value.
    T64,
    /// 32 × 32 outputs per workgroup, 2 × 2 per invocation: four times the workgroups.
    T32,
    /// 16 × 16 outputs per workgroup, one per invocation: sixteen times the workgroups, for the small outputs of
    /// small batches (a 64-row batch × 512 features is 128 of them).
    T16,
}

/// The side of `matmul_large.wgsl`'s square tile.
pub const LARGE_TILE: usize = 128;
/// The depth of one of its stages of k.
pub const LARGE_TK: usize = 8;

/// Whether `matmul_large.wgsl` computes an `[m, n]` output with inner size `k`: m and n whole multiples of its tile,
/// k of its stage depth (none zero). Its indices are in range only for these shapes.
pub fn large_linear_fits(m: usize, n: usize, k: usize) -> bool {
    m > 0
        && n > 0
        && k > 0
        && m.is_multiple_of(LARGE_TILE)
        && n.is_multiple_of(LARGE_TILE)
        && k.is_multiple_of(LARGE_TK)
}

/// What the tile rule knows about an adapter. wgpu reports no count of compute units, so the rule works from the
/// shape and what it can know: whether the adapter is software, and its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileRule {
    /// A software adapter (lavapipe, WARP): a few CPU cores, where more and smaller tiles only cost reuse.
    pub software: bool,
    /// `max_compute_invocations_per_workgroup`.
    pub max_invocations: u32,
    /// `max_compute_workgroup_storage_size`, bytes.
    pub workgroup_storage: u32,
}

impl Tile {
    /// Every tile, largest first.
    pub const ALL: [Tile; 3] = [Tile::T64, Tile::T32, Tile::T16];

    /// Outputs along each side of the tile.
    pub fn side(self) -> usize {
        match self {
            Tile::T64 => 64,
            Tile::T32 => 32,
            Tile::T16 => 16,
        }
    }

    /// Workgroups of an `[m, n]` output in this tile.
    pub fn workgroups(self, m: usize, n: usize) -> usize {
        m.div_ceil(self.side()).max(1) * n.div_ceil(self.side()).max(1)
    }

    /// Workgroups that keep a large GPU busy: about one per compute unit of a big discrete GPU (an H100 has 132).
    pub const BUSY_WORKGROUPS: usize = 128;

    /// Invocations per workgroup (16 × 16, every tile).
    pub const INVOCATIONS: u32 = 256;

    /// Workgroup memory of the kernels: two stages of 16 × (64 + 1) f32 (sized for the largest tile), plus the
    /// reduction scratch of `fused.wgsl`.
    pub const WORKGROUP_BYTES: u32 = (2 * 1040 + 2 * 256 + 2) * 4;
}

impl TileRule {
    /// The rule for an adapter (`software` or not) whose device was opened with `limits`.
    pub fn new(software: bool, limits: &wgpu::Limits) -> Self {
        TileRule {
            software,
            max_invocations: limits.max_compute_invocations_per_workgroup,
            workgroup_storage: limits.max_compute_workgroup_storage_size,
        }
    }

    /// Whether a plain linear of `[m, n]` with inner size `k` should use `matmul_large.wgsl`: on hardware, when the
    /// shape fits it and it still launches [`Tile::BUSY_WORKGROUPS`] of its 128 × 128 tiles (4096 × 4096 gives
    /// 1024; a 64-row batch never qualifies).
    pub fn large(&self, m: usize, n: usize, k: usize) -> bool {
        !self.software
            && large_linear_fits(m, n, k)
            && (m / LARGE_TILE) * (n / LARGE_TILE) >= Tile::BUSY_WORKGROUPS
            && self.max_invocations >= Tile::INVOCATIONS
            && self.workgroup_storage >= Self::LARGE_WORKGROUP_BYTES
    }

    /// Workgroup memory of `matmul_large.wgsl`: 2 operands × 2 stage buffers × 8 × 128 f32.
    pub const LARGE_WORKGROUP_BYTES: u32 = (2 * 2 * LARGE_TK * LARGE_TILE * 4) as u32;

    /// The tile of one dispatch computing the `products` (`[m, n]` outputs) together, whose outputs must keep rows
    /// of at least `min_side` columns in one tile (a loss head's classes; 0 for none). The rule:
    ///
    /// 1. a software adapter always gets the 64-wide tile (on lavapipe's 2 cores a 64 × 784 × 64 linear takes 25 ms
    ///    in one 64 × 64 tile and 40 ms in four 32 × 32 ones);
    /// 2. otherwise the largest tile whose workgroups, summed over the products, reach [`Tile::BUSY_WORKGROUPS`]
    ///    (the most reuse per loaded value that still fills the GPU);
    /// 3. failing that, the smallest tile (the most workgroups);
    ///
    /// always among the tiles at least `min_side` wide. `None` if the adapter's limits admit no tile (fewer than 256
    /// invocations or too little workgroup memory), or no tile is wide enough.
    pub fn choose(&self, products: &[(usize, usize)], min_side: usize) -> Option<Tile> {
        if self.max_invocations < Tile::INVOCATIONS || self.workgroup_storage < Tile::WORKGROUP_BYTES {
            return None;
        }
        let fits: Vec<Tile> = Tile::ALL.into_iter().filter(|t| t.side() >= min_side).collect();
        if self.software {
            return fits.first().copied();
        }
        let total = |t: Tile| products.iter().map(|&(m, n)| t.workgroups(m, n)).sum::<usize>();
        fits.iter().copied().find(|&t| total(t) >= Tile::BUSY_WORKGROUPS).or_else(|| fits.last().copied())
    }
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
    /// `bias_grad.wgsl`: [`crate::plan::Op::BiasGrad`].
    BiasGrad,
    /// `optim.wgsl` `sgd`: [`crate::plan::Op::Update`] with plain SGD.
    Sgd,
    /// `optim.wgsl` `momentum`.
    Momentum,
    /// `optim.wgsl` `adam`.
    Adam,
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
    pub const ALL: [Kernel; 21] = [
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
        Kernel::BiasGrad,
        Kernel::Sgd,
        Kernel::Momentum,
        Kernel::Adam,
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
            Kernel::SoftmaxXent | Kernel::QuadraticCost => "loss.wgsl",
            Kernel::BiasGrad => "bias_grad.wgsl",
            Kernel::Sgd | Kernel::Momentum | Kernel::Adam => "optim.wgsl",
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
            Kernel::BiasGrad => "bias_grad",
            Kernel::Sgd => "sgd",
            Kernel::Momentum => "momentum",
            Kernel::Adam => "adam",
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
            Kernel::SoftmaxXent | Kernel::QuadraticCost | Kernel::Sgd | Kernel::Momentum | Kernel::Adam => [256, 1, 1],
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
            // c, a, b, e, params
            Kernel::Linear(_) | Kernel::InputGrad(_) | Kernel::LinearLarge => {
                &[(0, ReadWrite), (1, ReadWrite), (2, ReadWrite), (3, ReadWrite), (4, Uniform)]
            }
            // c, a, b, params (no epilogue operand)
            Kernel::WeightGrad(_) => &[(0, ReadWrite), (1, ReadWrite), (2, ReadWrite), (4, Uniform)],
            // dz, out, labels, counters, params
            Kernel::SoftmaxXent | Kernel::QuadraticCost => {
                &[(0, ReadWrite), (1, ReadWrite), (2, Read), (3, ReadWrite), (4, Uniform)]
            }
            // db, dz, params
            Kernel::BiasGrad => &[(0, ReadWrite), (1, ReadWrite), (2, Uniform)],
            // param, grad, counters, params
            Kernel::Sgd => &[(0, ReadWrite), (3, ReadWrite), (4, Read), (5, Uniform)],
            // param, velocity, grad, counters, params
            Kernel::Momentum => &[(0, ReadWrite), (1, ReadWrite), (3, ReadWrite), (4, Read), (5, Uniform)],
            // param, m, v, grad, counters, params
            Kernel::Adam => &[(0, ReadWrite), (1, ReadWrite), (2, ReadWrite), (3, ReadWrite), (4, Read), (5, Uniform)],
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
    pub fn new(ctx: &GpuContext, shader_dir: Option<&Path>) -> Result<Self> {
        let device = ctx.device();
        if let Some(dir) = shader_dir {
            shader_overrides(dir)?;
        }
        let activation = shader_text(&ACTIVATION_FILE, shader_dir)?;
        let reduce = if ctx.has_subgroups() { &REDUCE_SUBGROUP_FILE } else { &REDUCE_TREE_FILE };
        let reduce_text = shader_text(reduce, shader_dir)?;
        let mut modules = Vec::new();
        // Modules: the files that hold entry points (the others are prepended to them).
        for file in SHADER_FILES.iter().filter(|f| Kernel::ALL.iter().any(|k| k.file() == f.name)) {
            // Module: the composed source, validated by wgpu's WGSL front end.
            let text = shader_text(file, shader_dir)?;
            let built_in = matches!(text, Cow::Borrowed(_));
            let source = compose_text(file, &text, &activation, &reduce_text);
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
            let pipeline = ctx.scoped(&what, || {
                // Explicit layout: the bindings this entry point uses, nothing else.
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
                let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(kernel.entry()),
                    entries: &entries,
                });
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
            })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An H100-class discrete GPU as wgpu reports it (Vulkan): 1024 invocations, 48 KiB of workgroup memory.
    const DISCRETE: TileRule = TileRule { software: false, max_invocations: 1024, workgroup_storage: 49152 };
    /// lavapipe: a software adapter.
    const LAVAPIPE: TileRule = TileRule { software: true, max_invocations: 1024, workgroup_storage: 32768 };

    #[test]
    fn small_batches_get_small_tiles_on_a_discrete_gpu() {
        // The default model at batch 64: the hidden products fill 128 workgroups only with 16-wide tiles…
        assert_eq!(DISCRETE.choose(&[(64, 512)], 0), Some(Tile::T16));
        assert_eq!(Tile::T16.workgroups(64, 512), 128);
        // … the weight gradients are large enough for the largest tile…
        assert_eq!(DISCRETE.choose(&[(512, 512), (512, 784)], 0), Some(Tile::T64));
        // … a stage's products count together…
        assert_eq!(DISCRETE.choose(&[(10, 512), (64, 512)], 0), Some(Tile::T16));
        assert_eq!(DISCRETE.choose(&[(256, 512), (256, 512)], 0), Some(Tile::T32));
        // … batch 256 moves to larger tiles, and a huge product takes the largest.
        assert_eq!(DISCRETE.choose(&[(256, 512)], 0), Some(Tile::T32));
        assert_eq!(DISCRETE.choose(&[(4096, 4096)], 0), Some(Tile::T64));
        // A product too small to fill the GPU with any tile gets the most workgroups.
        assert_eq!(DISCRETE.choose(&[(1, 1)], 0), Some(Tile::T16));
    }

    #[test]
    fn a_loss_head_keeps_its_row_in_one_tile() {
        assert_eq!(DISCRETE.choose(&[(64, 10)], 10), Some(Tile::T16));
        assert_eq!(DISCRETE.choose(&[(64, 20)], 20), Some(Tile::T32));
        assert_eq!(DISCRETE.choose(&[(64, 40)], 40), Some(Tile::T64));
        assert_eq!(DISCRETE.choose(&[(64, 65)], 65), None);
    }

    #[test]
    fn a_software_adapter_always_gets_the_largest_tile() {
        for products in [&[(64, 512)][..], &[(1, 1)], &[(4096, 4096)], &[(10, 512), (64, 512)]] {
            assert_eq!(LAVAPIPE.choose(products, 0), Some(Tile::T64), "{products:?}");
        }
        assert_eq!(LAVAPIPE.choose(&[(64, 10)], 10), Some(Tile::T64));
    }

    /// The index arithmetic of `matmul_large.wgsl`, written out again here and walked over every workgroup,
    /// invocation and stage of several accepted shapes: every global index stays below its binding's length and
    /// every workgroup index below 512. With `large_linear_fits` refusing every other shape, this is what makes
    /// compiling the kernel without bounds checks sound.
    #[test]
    fn large_linear_indices_stay_in_range() {
        const ROW_VECS: usize = LARGE_TILE / 4;
        for (m, n, k) in [(128, 128, 8), (256, 384, 784), (128, 128, 4096), (384, 256, 64)] {
            assert!(large_linear_fits(m, n, k));
            let (kv, nv, stages) = (k / 4, n / 4, k / LARGE_TK);
            let (x_len, w_len, y_len, b_len) = (m * kv, n * kv, m * nv, nv);
            for (wy, wx) in (0..m / LARGE_TILE).flat_map(|y| (0..n / LARGE_TILE).map(move |x| (y, x))) {
                let (row0, col0) = (wy * LARGE_TILE, wx * LARGE_TILE);
                for t in 0..256 {
                    let (tx, ty, li, lq) = (t % 16, t / 16, t / 2, t % 2);
                    let (x_at, w_at) = ((row0 + li) * kv + lq, (col0 + li) * kv + lq);
                    for s in 0..stages {
                        assert!(x_at + s * 2 < x_len && w_at + s * 2 < w_len, "{m}x{n}x{k}: load at stage {s}");
                    }
                    for (buf, q, c) in (0..2).flat_map(|b| (0..4).map(move |c| (b, lq, c))) {
                        assert!((buf * LARGE_TK + 4 * q + c) * ROW_VECS + li / 4 < 512, "store");
                    }
                    for (buf, p) in (0..2).flat_map(|b| (0..LARGE_TK).map(move |p| (b, p))) {
                        let base = (buf * LARGE_TK + p) * ROW_VECS;
                        assert!(base + 2 * ty + 1 < 512 && base + 2 * tx + 1 < 512, "read");
                    }
                    for (r, h) in (0..8).flat_map(|r| (0..2).map(move |h| (r, h))) {
                        let (i, jv) = (row0 + 8 * ty + r, (col0 + 8 * tx) / 4 + h);
                        assert!(i * nv + jv < y_len && jv < b_len, "{m}x{n}x{k}: epilogue");
                    }
                }
            }
        }
        for (m, n, k) in [(0, 128, 8), (100, 128, 8), (128, 130, 8), (128, 128, 12), (64, 512, 784)] {
            assert!(!large_linear_fits(m, n, k), "{m}x{n}x{k}");
        }
    }

    #[test]
    fn the_large_kernel_is_for_large_products_on_hardware() {
        assert!(DISCRETE.large(4096, 4096, 4096));
        assert!(DISCRETE.large(2048, 1024, 784));
        assert!(!DISCRETE.large(64, 512, 784), "a batch of 64 is not large");
        assert!(!DISCRETE.large(4000, 4096, 4096), "a shape it does not fit");
        assert!(!LAVAPIPE.large(4096, 4096, 4096), "software adapters keep the rule's tile");
        assert!(!TileRule { workgroup_storage: 8192, ..DISCRETE }.large(4096, 4096, 4096));
    }

    #[test]
    fn limits_below_the_kernels_needs_admit_no_tile() {
        let small = TileRule { max_invocations: 128, ..DISCRETE };
        assert_eq!(small.choose(&[(64, 512)], 0), None);
        let tight = TileRule { workgroup_storage: 8192, ..DISCRETE };
        assert_eq!(tight.choose(&[(64, 512)], 0), None);
        let downlevel = wgpu::Limits::downlevel_defaults();
        assert!(TileRule::new(false, &downlevel).choose(&[(64, 512)], 0).is_some(), "WebGPU's defaults suffice");
    }
}
