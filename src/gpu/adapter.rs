//! Adapter discovery: which graphics API to ask ([`BackendChoice`]), the adapters it offers, best first, and the one
//! a context opens its device on; and [`list_adapters`] for the `devices` command.

use std::fmt;

use crate::error::{Error, Result};

/// Which graphics API to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// The best hardware adapter of any API; no software rasterisers.
    Auto,
    /// Vulkan (Linux, Windows, Android; lavapipe/llvmpipe as a software fallback).
    Vulkan,
    /// Metal (macOS, iOS).
    Metal,
    /// Direct3D 12 (Windows).
    Dx12,
    /// OpenGL ES / WebGL through ANGLE or the native driver (compute needs GLES 3.1).
    Gl,
}

impl BackendChoice {
    /// The wgpu backends this choice enumerates.
    pub fn backends(self) -> wgpu::Backends {
        match self {
            BackendChoice::Auto => wgpu::Backends::all(),
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Vulkan => "vulkan",
            BackendChoice::Metal => "metal",
            BackendChoice::Dx12 => "dx12",
            BackendChoice::Gl => "gl",
        }
    }
}

/// One adapter as the `devices` command lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Vulkan, Metal, Dx12, Gl.
    pub backend: String,
    /// Discrete GPU, integrated GPU, CPU (software)…
    pub device_type: String,
    /// The adapter's name, e.g. `NVIDIA GeForce RTX 4090`.
    pub name: String,
    /// The driver and its version.
    pub driver: String,
    /// Whether it is a software rasteriser (device type `Cpu`).
    pub software: bool,
    /// Whether it can run compute shaders at all.
    pub compute: bool,
    /// Largest storage-buffer binding, in bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, in bytes.
    pub max_buffer_size: u64,
    /// Workgroup memory per workgroup, in bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        AdapterSummary {
            backend: format!("{:?}", info.backend),
            device_type: device_type_name(info.device_type).into(),
            name: info.name.clone(),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            software: info.device_type == wgpu::DeviceType::Cpu,
            compute: can_compute(adapter),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
        }
    }
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b / (1 << 20);
        write!(
            f,
            "{}: {} ({}{}), driver {}; max storage binding {} MiB, max buffer {} MiB, workgroup memory {} KiB, {} \
             invocations per workgroup",
            self.backend.to_lowercase(),
            self.name,
            self.device_type,
            if self.compute { "" } else { ", NO COMPUTE" },
            if self.driver.is_empty() { "unknown" } else { &self.driver },
            mib(self.max_storage_buffer_binding_size),
            mib(self.max_buffer_size),
            self.max_compute_workgroup_storage_size / 1024,
            self.max_compute_invocations_per_workgroup,
        )
    }
}

/// How the `devices` command and error messages name a device type.
pub(crate) fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "software, runs on the CPU",
        wgpu::DeviceType::Other => "other",
    }
}

/// Whether the adapter runs compute shaders (every Vulkan, Metal and DX12 adapter; GL only from GLES 3.1).
fn can_compute(adapter: &wgpu::Adapter) -> bool {
    adapter.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
}

/// Preference order: hardware before software, then the native APIs before GL.
fn rank(adapter: &wgpu::Adapter) -> (u8, u8) {
    let info = adapter.get_info();
    let device = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::Other => 2,
        wgpu::DeviceType::VirtualGpu => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let api = u8::from(info.backend == wgpu::Backend::Gl);
    (device, api)
}

/// An instance for `backend`, with wgpu's debug flags taken from the environment (`WGPU_DEBUG`, `WGPU_VALIDATION`).
pub(crate) fn instance(backend: BackendChoice) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backend.backends();
    desc.flags = wgpu::InstanceFlags::from_build_config().with_env();
    wgpu::Instance::new(desc)
}

/// The adapters of `backend`, best first by [`rank`]. For `auto`, GL is only asked when the native APIs offer nothing:
/// probing it on a headless machine prints warnings and it is the weakest of the APIs for compute.
pub(crate) fn enumerate(instance: &wgpu::Instance, backend: BackendChoice) -> Vec<wgpu::Adapter> {
    let mut adapters = if backend != BackendChoice::Auto {
        pollster::block_on(instance.enumerate_adapters(backend.backends()))
    } else {
        let mut native = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
        if !native.iter().any(can_compute) {
            native.extend(pollster::block_on(instance.enumerate_adapters(wgpu::Backends::SECONDARY)));
        }
        native
    };
    adapters.sort_by_key(rank);
    adapters
}

/// Every adapter of `backend` on this machine (for the `devices` command), best first.
pub fn list_adapters(backend: BackendChoice) -> Vec<AdapterSummary> {
    let instance = instance(backend);
    let adapters = enumerate(&instance, backend);
    adapters.iter().map(AdapterSummary::of).collect()
}

/// The adapter a context opens its device on: the best of `adapters` (already ranked) that runs compute shaders and,
/// unless `allow_software`, is not a software rasteriser.
///
/// Errors (as [`Error::Gpu`], saying what to do) when `backend` offers no adapter, or only software ones that are
/// not allowed (so `--backend auto` can fall back to the CPU backend with a notice).
pub(crate) fn pick(adapters: &[wgpu::Adapter], backend: BackendChoice, allow_software: bool) -> Result<&wgpu::Adapter> {
    let api = backend.name();
    if adapters.is_empty() {
        let hint = match backend {
            BackendChoice::Auto => "check the driver (`vulkaninfo --summary`); ",
            BackendChoice::Vulkan => {
                "install a Vulkan driver (e.g. `apt-get install mesa-vulkan-drivers` on Debian or Ubuntu; \
                 `vulkaninfo --summary` shows what the loader finds); "
            }
            BackendChoice::Metal => "Metal exists only on macOS and iOS; ",
            BackendChoice::Dx12 => "Direct3D 12 exists only on Windows; ",
            BackendChoice::Gl => "check the OpenGL ES / EGL driver; ",
        };
        return Err(Error::Gpu(format!(
            "no GPU adapter found for --backend {api}; {hint}try another --backend, or use --backend cpu"
        )));
    }
    let usable = adapters
        .iter()
        .filter(|a| can_compute(a))
        .find(|a| allow_software || a.get_info().device_type != wgpu::DeviceType::Cpu);
    usable.ok_or_else(|| {
        let found: Vec<String> = adapters
            .iter()
            .map(|a| {
                let info = a.get_info();
                format!("{} ({:?}, {})", info.name, info.backend, device_type_name(info.device_type))
            })
            .collect();
        Error::Gpu(format!(
            "no hardware GPU adapter with compute shaders for --backend {api}, only {}; a software adapter is \
             much slower than the CPU backend (name its API, e.g. --backend vulkan, to use it anyway)",
            found.join("; ")
        ))
    })
}
