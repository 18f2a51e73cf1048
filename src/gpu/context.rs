//! The GPU context: instance → adapter → device and queue, built once per process and shared by every backend and
//! check on it. It also turns wgpu's asynchronous failure reports (uncaptured errors, device loss) into
//! [`Error::Gpu`] results, and lists the adapters for the `devices` command.

use std::fmt;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::kernels::{self, Kernels};
use crate::plan::Layout;

/// How long a read-back waits for its mapping callback after the GPU finished.
const MAP_TIMEOUT: Duration = Duration::from_secs(60);

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

/// What to ask of the GPU when building a [`GpuContext`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextOptions {
    /// Which API.
    pub backend: BackendChoice,
    /// Whether a software adapter (device type `Cpu`: lavapipe, llvmpipe, WARP) may be used. Off for `auto`, so the
    /// caller can fall back to the (much faster) CPU backend; on when the user named an API.
    pub allow_software: bool,
    /// The largest buffer any kernel binds, in bytes (the resident data set or the largest layout buffer). Limits
    /// above WebGPU's defaults are requested only if this needs them.
    pub max_binding_bytes: u64,
    /// A directory whose `*.wgsl` files replace the built-in ones of the same name (`gpu-mnist check --shaders DIR`:
    /// check an edited kernel against the CPU without rebuilding); `None`: the shaders compiled into the binary.
    pub shader_dir: Option<PathBuf>,
    /// Whether to use subgroup operations where the adapter has them (the default); off, the kernels use their
    /// fallbacks everywhere (the checks run both).
    pub subgroups: bool,
}

impl ContextOptions {
    /// Options for `backend`: software adapters allowed unless `auto`, default binding sizes.
    pub fn new(backend: BackendChoice) -> Self {
        ContextOptions {
            backend,
            allow_software: backend != BackendChoice::Auto,
            max_binding_bytes: 0,
            shader_dir: None,
            subgroups: true,
        }
    }

    /// Raises `max_binding_bytes` to what training `layout` over `data` binds.
    pub fn for_run(mut self, layout: &Layout, data: &Dataset) -> Self {
        let largest_layout_buffer = Some(crate::gpu::backend::arena_offsets(layout).1.saturating_mul(4) as usize);
        let largest_split =
            [&data.train, &data.test].iter().map(|s| crate::gpu::backend::split_words(s.len(), s.pixels()) * 4).max();
        let need = largest_layout_buffer.max(largest_split).unwrap_or(0) as u64;
        self.max_binding_bytes = self.max_binding_bytes.max(need);
        self
    }
}

/// Failures wgpu reports outside any call's return value, collected until the next [`GpuContext::check`].
#[derive(Default)]
struct Faults {
    errors: Mutex<Vec<String>>,
    lost: Mutex<Option<String>>,
}

impl Faults {
    fn push_error(&self, message: String) {
        if let Ok(mut errors) = self.errors.lock() {
            errors.push(message);
        }
    }

    fn set_lost(&self, message: String) {
        if let Ok(mut lost) = self.lost.lock() {
            lost.get_or_insert(message);
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

/// The optional features a device is opened with, where the adapter has them: timestamp queries (`bench --profile`
/// times each kernel with them) and, unless the options turn them off, subgroup operations (the reductions' faster
/// path). Nothing else needs an optional feature.
fn wanted_features(opts: &ContextOptions) -> wgpu::Features {
    let mut features = wgpu::Features::TIMESTAMP_QUERY;
    if opts.subgroups {
        features |= wgpu::Features::SUBGROUP;
    }
    features
}

fn device_type_name(t: wgpu::DeviceType) -> &'static str {
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
fn instance(backend: BackendChoice) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backend.backends();
    desc.flags = wgpu::InstanceFlags::from_build_config().with_env();
    wgpu::Instance::new(desc)
}

/// The adapters of `backend`, best first by [`rank`]. For `auto`, GL is only asked when the native APIs offer nothing:
/// probing it on a headless machine prints warnings and it is the weakest of the APIs for compute.
fn enumerate(instance: &wgpu::Instance, backend: BackendChoice) -> Vec<wgpu::Adapter> {
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

/// A device and its queue, with the adapter it came from. Cheap to clone (all handles are shared).
#[derive(Clone)]
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    faults: Arc<Faults>,
    kernels: Arc<OnceLock<Arc<Kernels>>>,
    shader_dir: Option<PathBuf>,
}

impl GpuContext {
    /// Picks an adapter as `opts` says and opens a device on it with the limits the run needs.
    ///
    /// Errors (as [`Error::Gpu`], saying what to do) when there is no adapter of that API, when only a software one
    /// exists and `opts.allow_software` is off (so `--backend auto` can fall back to the CPU backend with a notice),
    /// or when the adapter's limits fall short of what the model and the data set need.
    pub fn new(opts: &ContextOptions) -> Result<Self> {
        // Adapter: enumerate every adapter of the API and take the best by our own ranking, so that the software
        // ones can be told apart (wgpu's request_adapter would silently return lavapipe on a machine without a GPU).
        let instance = instance(opts.backend);
        let adapters = enumerate(&instance, opts.backend);
        let api = opts.backend.name();
        if adapters.is_empty() {
            let hint = match opts.backend {
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
        let usable: Vec<&wgpu::Adapter> = adapters
            .iter()
            .filter(|a| can_compute(a))
            .filter(|a| opts.allow_software || a.get_info().device_type != wgpu::DeviceType::Cpu)
            .collect();
        let Some(adapter) = usable.first() else {
            let found: Vec<String> = adapters
                .iter()
                .map(|a| {
                    let info = a.get_info();
                    format!("{} ({:?}, {})", info.name, info.backend, device_type_name(info.device_type))
                })
                .collect();
            return Err(Error::Gpu(format!(
                "no hardware GPU adapter with compute shaders for --backend {api}, only {}; a software adapter is \
                 much slower than the CPU backend (name its API, e.g. --backend vulkan, to use it anyway)",
                found.join("; ")
            )));
        };
        let info = adapter.get_info();

        // Limits: WebGPU's downlevel defaults, raised only where this program needs more (storage buffers per
        // kernel, the largest buffer), and checked against the adapter so a shortfall names the limit.
        let mut required = wgpu::Limits::downlevel_defaults();
        required.max_storage_buffers_per_shader_stage =
            required.max_storage_buffers_per_shader_stage.max(kernels::max_storage_buffers());
        required.max_storage_buffer_binding_size = required.max_storage_buffer_binding_size.max(opts.max_binding_bytes);
        required.max_buffer_size = required.max_buffer_size.max(opts.max_binding_bytes);
        let mut short = Vec::new();
        required.check_limits_with_fail_fn(&adapter.limits(), false, |name, want, have| {
            short.push(format!("{name}: need {want}, the adapter allows {have}"))
        });
        if !short.is_empty() {
            return Err(Error::Gpu(format!(
                "{} ({:?}) falls short of this run's needs: {}; use a smaller model, batch or data set, another \
                 --backend, or --backend cpu",
                info.name,
                info.backend,
                short.join(", ")
            )));
        }

        // Device and queue: those limits, and timestamp queries where the adapter has them (`bench --profile` times
        // each kernel with them; nothing else needs an optional feature).
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("gpu-mnist"),
            required_features: adapter.features() & wanted_features(opts),
            required_limits: required,
            ..Default::default()
        }))
        .map_err(|e| {
            Error::Gpu(format!(
                "opening a device on {} ({:?}) failed: {e}; update the driver or use --backend cpu",
                info.name, info.backend
            ))
        })?;

        // Failure reports: wgpu delivers validation errors outside error scopes, and device loss, through
        // callbacks; store them so the next check() turns them into an Err instead of a panic or a silent NaN.
        let faults = Arc::new(Faults::default());
        let sink = Arc::clone(&faults);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| sink.push_error(e.to_string())));
        // `Destroyed` too: after `Device::destroy()` every later call must fail saying so (wgpu reports it at the
        // next poll), or the backend would carry on against a dead device.
        let sink = Arc::clone(&faults);
        device.set_device_lost_callback(move |reason, message| {
            sink.set_lost(if message.is_empty() { format!("{reason:?}") } else { format!("{reason:?}: {message}") });
        });

        let shader_dir = opts.shader_dir.clone();
        Ok(GpuContext { device, queue, info, faults, kernels: Arc::new(OnceLock::new()), shader_dir })
    }

    /// `vulkan: NVIDIA GeForce RTX 4090 (discrete GPU)` style description.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} ({})",
            format!("{:?}", self.info.backend).to_lowercase(),
            self.info.name,
            device_type_name(self.info.device_type)
        )
    }

    /// Whether the adapter is a software rasteriser.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Whether the kernels use subgroup operations (the device has `Features::SUBGROUP` and the options allowed it).
    pub fn has_subgroups(&self) -> bool {
        self.device.features().contains(wgpu::Features::SUBGROUP)
    }

    /// Whether compute passes can write timestamps (`Features::TIMESTAMP_QUERY`), which kernel timing needs.
    pub fn has_timestamps(&self) -> bool {
        self.device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Every kernel's pipeline, compiled on first use and then shared.
    pub fn kernels(&self) -> Result<Arc<Kernels>> {
        if let Some(k) = self.kernels.get() {
            return Ok(Arc::clone(k));
        }
        let built = Arc::new(Kernels::new(self, self.shader_dir.as_deref())?);
        Ok(Arc::clone(self.kernels.get_or_init(|| built)))
    }

    /// Fails with the first error wgpu reported since the last check (or the device loss), naming `what` was
    /// being done.
    pub fn check(&self, what: &str) -> Result<()> {
        self.check_lost(what)?;
        let errors = match self.faults.errors.lock() {
            Ok(mut errors) => std::mem::take(&mut *errors),
            Err(_) => Vec::new(),
        };
        match errors.first() {
            None => Ok(()),
            Some(first) => Err(Error::Gpu(format!(
                "{what}: {first}{}",
                match errors.len() {
                    1 => String::new(),
                    n => format!(" (and {} more errors)", n - 1),
                }
            ))),
        }
    }

    /// Fails if the device was lost, after a non-blocking poll so that a loss wgpu has noticed is reported now.
    fn check_lost(&self, what: &str) -> Result<()> {
        let _ = self.device.poll(wgpu::PollType::Poll);
        match self.faults.lost.lock().ok().and_then(|l| l.clone()) {
            None => Ok(()),
            Some(lost) => Err(Error::Gpu(format!(
                "{what}: the GPU device was lost ({lost}); the driver may have reset it (a kernel ran too long or \
                 memory ran out): try a smaller --batch-size or --backend cpu"
            ))),
        }
    }

    /// Runs `f` inside validation, internal and out-of-memory error scopes; any error they catch becomes an
    /// [`Error::Gpu`] naming `what`. Refuses to run `f` on a lost device.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        self.check_lost(what)?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        // Pop in reverse order of pushing.
        let caught = [validation.pop(), internal.pop(), oom.pop()]
            .into_iter()
            .filter_map(pollster::block_on)
            .map(|e| e.to_string())
            .collect::<Vec<_>>();
        match caught.first() {
            None => Ok(value),
            Some(first) => Err(Error::Gpu(format!("{what}: {first}"))),
        }
    }

    /// Copies `bytes` bytes from the start of `src` into `staging` (a `MAP_READ | COPY_DST` buffer at least that
    /// large), waits, and returns them. `src` needs `COPY_SRC` usage.
    pub fn read_back(&self, src: &wgpu::Buffer, staging: &wgpu::Buffer, bytes: u64, what: &str) -> Result<Vec<u8>> {
        self.read_back_at(src, 0, staging, bytes, what)
    }

    /// [`GpuContext::read_back`] of the `bytes` bytes of `src` that start at byte `offset` (a multiple of 4).
    pub fn read_back_at(
        &self,
        src: &wgpu::Buffer,
        offset: u64,
        staging: &wgpu::Buffer,
        bytes: u64,
        what: &str,
    ) -> Result<Vec<u8>> {
        // On a lost device the wait below fails with wgpu's message about submission indices: say what happened.
        self.check_lost(what)?;
        // Copy: the only way to read a storage buffer is through a mappable staging buffer.
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(what) });
        encoder.copy_buffer_to_buffer(src, offset, staging, 0, bytes);
        let submission = self.queue.submit([encoder.finish()]);
        // Map: request it, then wait for that submission. Another thread polling the same device may be the one
        // that runs our callback, a moment after our own poll returns, so wait on the channel too (polling again
        // while waiting, in case no one else is).
        let (tx, rx) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
            let _ = tx.send(r);
        });
        let wait = wgpu::PollType::Wait { submission_index: Some(submission), timeout: None };
        self.device.poll(wait).map_err(|e| Error::Gpu(format!("{what}: waiting for the GPU failed: {e}")))?;
        let started = Instant::now();
        let mapped = loop {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(r) => break r,
                // `check` polls without blocking too, which runs the callback if no one else is polling.
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < MAP_TIMEOUT => self.check(what)?,
                Err(_) => {
                    return Err(Error::Gpu(format!(
                        "{what}: the GPU finished but the result was not mapped within {} s; the driver may be \
                         stuck: retry, or use --backend cpu",
                        MAP_TIMEOUT.as_secs()
                    )))
                }
            }
        };
        self.check(what)?;
        mapped.map_err(|e| Error::Gpu(format!("{what}: mapping the result failed: {e}")))?;
        // Read: copy out of the mapping, then unmap so the staging buffer can be reused.
        let data = staging
            .get_mapped_range(0..bytes)
            .map(|view| view.to_vec())
            .map_err(|e| Error::Gpu(format!("{what}: reading the mapped result failed: {e}")));
        staging.unmap();
        data
    }

    /// Reads the first `bytes` bytes of `src` through a staging buffer made for this one read (tests, checkpoints).
    pub fn read_bytes(&self, src: &wgpu::Buffer, bytes: u64, what: &str) -> Result<Vec<u8>> {
        self.read_bytes_at(src, 0, bytes, what)
    }

    /// [`GpuContext::read_bytes`] of the `bytes` bytes of `src` that start at byte `offset` (a multiple of 4).
    pub fn read_bytes_at(&self, src: &wgpu::Buffer, offset: u64, bytes: u64, what: &str) -> Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back staging"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.read_back_at(src, offset, &staging, bytes, what)
    }
}

impl fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.describe()).finish_non_exhaustive()
    }
}
