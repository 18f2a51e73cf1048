//! Needs no GPU: every WGSL file, composed exactly as the host composes it, parses and validates with naga (wgpu's
//! own shader compiler front end), every file in `shaders/` is known to the host, and every kernel's explicit bind
//! group layout and workgroup size match what its entry point declares.

use std::collections::BTreeSet;

use gpu_mnist::gpu::kernels::{compose, compose_for, shader_file, Access, Kernel, ShaderFile, SHADER_FILES};
use wgpu::naga;

/// Parses and validates a composed file, panicking with naga's annotated message.
fn module(name: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let file = shader_file(name).unwrap_or_else(|| panic!("{name} is not in SHADER_FILES"));
    validate(file, &compose(file))
}

/// Parses and validates `source` (the composed `file`), with the subgroup capability where the file uses it.
fn validate(file: &ShaderFile, source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let name = file.name;
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(source)));
    let mut capabilities = naga::valid::Capabilities::default();
    if file.needs_subgroups || source.contains("subgroupAdd") {
        capabilities |= naga::valid::Capabilities::SUBGROUP;
    }
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} does not validate:\n{}", e.emit_to_string(source)));
    (module, info)
}

#[test]
fn every_shader_parses_and_validates() {
    for file in &SHADER_FILES {
        module(file.name);
    }
}

/// The kernels that reduce validate with either `workgroup_sums`: the tree and the subgroup one.
#[test]
fn every_shader_validates_with_subgroup_reductions_too() {
    let reducing: Vec<&ShaderFile> = SHADER_FILES.iter().filter(|f| f.needs_reduce).collect();
    assert!(!reducing.is_empty());
    for file in reducing {
        let source = compose_for(file, true);
        assert!(source.contains("subgroupAdd"), "{}: the subgroup reduction was not prepended", file.name);
        validate(file, &source);
    }
}

#[test]
fn every_file_in_shaders_is_composed_by_the_host() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let on_disk: BTreeSet<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let known: BTreeSet<String> = SHADER_FILES.iter().map(|f| f.name.to_string()).collect();
    assert_eq!(on_disk, known, "shaders/ and SHADER_FILES (src/gpu/kernels.rs) must list the same files");
    for file in &SHADER_FILES {
        let text = std::fs::read_to_string(format!("{dir}/{}", file.name)).unwrap();
        assert_eq!(text, file.source, "{} differs from the embedded copy", file.name);
        assert!(text.starts_with("// "), "{} must open with a header comment giving its bindings", file.name);
    }
}

#[test]
fn every_kernel_binds_exactly_what_its_entry_point_uses() {
    for kernel in Kernel::ALL {
        let (module, info) = module(kernel.file());
        let (index, _) = module
            .entry_points
            .iter()
            .enumerate()
            .find(|(_, e)| e.name == kernel.entry())
            .unwrap_or_else(|| panic!("{} has no entry point {}", kernel.file(), kernel.entry()));
        let uses = info.get_entry_point(index);
        let mut used = BTreeSet::new();
        for (handle, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else {
                continue;
            };
            if uses[handle].is_empty() {
                continue;
            }
            assert_eq!(binding.group, 0, "{kernel:?}: only group 0 is bound");
            let access = match var.space {
                naga::AddressSpace::Uniform => Access::Uniform,
                naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE) => {
                    Access::ReadWrite
                }
                naga::AddressSpace::Storage { .. } => Access::Read,
                other => panic!("{kernel:?}: unexpected address space {other:?}"),
            };
            used.insert((binding.binding, format!("{access:?}")));
        }
        let declared: BTreeSet<(u32, String)> = kernel.bindings().iter().map(|(b, a)| (*b, format!("{a:?}"))).collect();
        assert_eq!(used, declared, "{kernel:?}: Kernel::bindings() must match the bindings `{}` uses", kernel.entry());
    }
}

#[test]
fn every_kernel_declares_the_workgroup_size_the_host_dispatches_for() {
    for kernel in Kernel::ALL {
        let (module, _) = module(kernel.file());
        let entry = module
            .entry_points
            .iter()
            .find(|e| e.name == kernel.entry())
            .unwrap_or_else(|| panic!("{} has no entry point {}", kernel.file(), kernel.entry()));
        assert_eq!(
            entry.workgroup_size,
            kernel.workgroup_size(),
            "{kernel:?}: Kernel::workgroup_size() must match `{}`'s @workgroup_size",
            kernel.entry()
        );
    }
}
