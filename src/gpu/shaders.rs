//! The WGSL sources: every file of `shaders/` (compiled into the binary, so it runs from any directory), how the host
//! composes them (WGSL has no includes: the counter constants, `activation.wgsl`, `optimizer.wgsl` and a reduction are prepended to the
//! files that need them), and the `--shaders` directory whose files replace the built-in ones.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, Result};
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
    /// Whether `optimizer.wgsl`, after the optimizer table's declarations ([`crate::optim::wgsl_declarations`]), is
    /// prepended to it.
    pub needs_optimizer: bool,
    /// Whether `dropout_mask.wgsl` (dropout's draws) is prepended to it.
    pub needs_dropout: bool,
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

/// A file with nothing prepended, compiled with bounds checks: what each entry below starts from.
const PLAIN: ShaderFile = ShaderFile {
    name: "",
    source: "",
    needs_activation: false,
    needs_optimizer: false,
    needs_dropout: false,
    needs_counters: false,
    trusted: false,
    needs_reduce: false,
    needs_subgroups: false,
};

/// `activation.wgsl`: the activation functions, prepended to the files that need them.
const ACTIVATION_WGSL: &str = include_str!("../../shaders/activation.wgsl");

/// `activation.wgsl` as a file of its own (validated alone, replaceable by a `--shaders` directory).
pub(crate) const ACTIVATION_FILE: ShaderFile = ShaderFile { name: "activation.wgsl", source: ACTIVATION_WGSL, ..PLAIN };

/// `optimizer.wgsl`: the update rules, prepended to the files that update parameters.
const OPTIMIZER_WGSL: &str = include_str!("../../shaders/optimizer.wgsl");

/// `optimizer.wgsl` as a file of its own (validated alone, replaceable by a `--shaders` directory).
pub(crate) const OPTIMIZER_FILE: ShaderFile = ShaderFile { name: "optimizer.wgsl", source: OPTIMIZER_WGSL, ..PLAIN };

/// `dropout_mask.wgsl`: dropout's draws, prepended to the files that drop units.
const DROPOUT_MASK_WGSL: &str = include_str!("../../shaders/dropout_mask.wgsl");

/// `dropout_mask.wgsl` as a file of its own (validated alone, replaceable by a `--shaders` directory).
pub(crate) const DROPOUT_MASK_FILE: ShaderFile =
    ShaderFile { name: "dropout_mask.wgsl", source: DROPOUT_MASK_WGSL, ..PLAIN };

/// `reduce_tree.wgsl`: `workgroup_sums` without subgroup operations (the fallback).
pub const REDUCE_TREE_FILE: ShaderFile =
    ShaderFile { name: "reduce_tree.wgsl", source: include_str!("../../shaders/reduce_tree.wgsl"), ..PLAIN };

/// `reduce_subgroup.wgsl`: `workgroup_sums` with subgroup operations.
pub const REDUCE_SUBGROUP_FILE: ShaderFile = ShaderFile {
    name: "reduce_subgroup.wgsl",
    source: include_str!("../../shaders/reduce_subgroup.wgsl"),
    needs_subgroups: true,
    ..PLAIN
};

/// Every file of `shaders/`, each with how it is composed.
pub const SHADER_FILES: [ShaderFile; 15] = [
    ACTIVATION_FILE,
    OPTIMIZER_FILE,
    DROPOUT_MASK_FILE,
    ShaderFile {
        name: "dropout.wgsl",
        source: include_str!("../../shaders/dropout.wgsl"),
        needs_dropout: true,
        needs_counters: true,
        ..PLAIN
    },
    REDUCE_TREE_FILE,
    REDUCE_SUBGROUP_FILE,
    ShaderFile {
        name: "matmul.wgsl",
        source: include_str!("../../shaders/matmul.wgsl"),
        needs_activation: true,
        ..PLAIN
    },
    ShaderFile {
        name: "matmul_large.wgsl",
        source: include_str!("../../shaders/matmul_large.wgsl"),
        needs_activation: true,
        trusted: true,
        ..PLAIN
    },
    ShaderFile { name: "loss.wgsl", source: include_str!("../../shaders/loss.wgsl"), needs_counters: true, ..PLAIN },
    ShaderFile { name: "bias_grad.wgsl", source: include_str!("../../shaders/bias_grad.wgsl"), ..PLAIN },
    ShaderFile { name: "accumulate.wgsl", source: include_str!("../../shaders/accumulate.wgsl"), ..PLAIN },
    ShaderFile {
        name: "optim.wgsl",
        source: include_str!("../../shaders/optim.wgsl"),
        needs_optimizer: true,
        needs_counters: true,
        ..PLAIN
    },
    ShaderFile {
        name: "gather.wgsl",
        source: include_str!("../../shaders/gather.wgsl"),
        needs_counters: true,
        ..PLAIN
    },
    ShaderFile {
        name: "fused.wgsl",
        source: include_str!("../../shaders/fused.wgsl"),
        needs_activation: true,
        needs_optimizer: true,
        needs_dropout: true,
        needs_counters: true,
        needs_reduce: true,
        ..PLAIN
    },
    ShaderFile {
        name: "counters.wgsl",
        source: include_str!("../../shaders/counters.wgsl"),
        needs_counters: true,
        ..PLAIN
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
    compose_text(file, file.source, ACTIVATION_WGSL, OPTIMIZER_WGSL, DROPOUT_MASK_WGSL, reduce.source)
}

/// [`compose_for`] with the texts of `file`, `activation.wgsl`, `optimizer.wgsl`, `dropout_mask.wgsl` and the
/// reduction file given (read
/// from a `--shaders` directory).
pub(crate) fn compose_text(
    file: &ShaderFile,
    text: &str,
    activation: &str,
    optimizer: &str,
    dropout_mask: &str,
    reduce_text: &str,
) -> String {
    let mut source = String::new();
    if file.needs_counters {
        source.push_str("// counter layout, from src/gpu/counters.rs\n");
        source.push_str(&counters::wgsl_constants());
    }
    // The activation codes come from Rust (one source of truth); activation.wgsl alone needs them too.
    if file.needs_activation || file.name == ACTIVATION_FILE.name {
        source.push_str(&crate::model::Activation::wgsl_constants());
    }
    if file.needs_activation {
        source.push_str(activation);
    }
    // The optimizer table's codes and fields come from Rust too; optimizer.wgsl alone needs them.
    if file.needs_optimizer || file.name == OPTIMIZER_FILE.name {
        source.push_str(&crate::optim::wgsl_declarations());
    }
    if file.needs_optimizer {
        source.push_str(optimizer);
    }
    if file.needs_dropout {
        source.push_str(dropout_mask);
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
pub(crate) fn shader_text(file: &ShaderFile, dir: Option<&Path>) -> Result<Cow<'static, str>> {
    let Some(path) = dir.map(|d| d.join(file.name)).filter(|p| p.exists()) else {
        return Ok(Cow::Borrowed(file.source));
    };
    std::fs::read_to_string(&path)
        .map(Cow::Owned)
        .map_err(|e| Error::Gpu(format!("{}: {e}; give --shaders a directory of readable WGSL files", path.display())))
}
