//! The GPU context: instance → adapter → device and queue, built once per process and shared by every backend and
//! check on it. It also turns wgpu's asynchronous failure reports (uncaptured errors, device loss) into
//! [`Error::Gpu`] results, and reads buffers back. Finding the adapters is [`crate::gpu::adapter`]'s job.

use std::fmt;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use web_time::Instant;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::adapter::{self, device_type_name};
use crate::gpu::arena;
use crate::gpu::kernels::{self, Kernels, PipelineDevice};
use crate::plan::Layout;

// The adapter types at their paths from before the adapter module was split off.
pub use crate::gpu::adapter::{list_adapters, AdapterSummary, BackendChoice};

/// How long a read-back waits for its mapping callback after the GPU finished.
const MAP_TIMEOUT: Duration = Duration::from_secs(60);

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
        let largest_layout_buffer = Some(arena::arena_offsets(layout).1.saturating_mul(4) as usize);
        let largest_split = [&data.train, &data.test].iter().map(|s| arena::words_of(s) * 4).max();
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

    /// Registers the device's callbacks for uncaptured errors and device loss, which store what they report here.
    fn watch(device: &wgpu::Device) -> Arc<Faults> {
        let faults = Arc::new(Faults::default());
        let sink = Arc::clone(&faults);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| sink.push_error(e.to_string())));
        // `Destroyed` too: after `Device::destroy()` every later call must fail saying so (wgpu reports it at the
        // next poll), or the backend would carry on against a dead device.
        let sink = Arc::clone(&faults);
        device.set_device_lost_callback(move |reason, message| {
            sink.set_lost(if message.is_empty() { format!("{reason:?}") } else { format!("{reason:?}: {message}") });
        });
        faults
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

/// The limits a device is opened with: WebGPU's downlevel defaults, raised only where this program needs more
/// (storage buffers per kernel, the largest buffer), and checked against the adapter so a shortfall names the limit.
fn required_limits(adapter: &wgpu::Adapter, info: &wgpu::AdapterInfo, opts: &ContextOptions) -> Result<wgpu::Limits> {
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
    Ok(required)
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
        let instance = adapter::instance(opts.backend);
        let adapters = adapter::enumerate(&instance, opts.backend);
        let adapter = adapter::pick(&adapters, opts.backend, opts.allow_software)?;
        pollster::block_on(GpuContext::on_adapter(adapter, opts))
    }

    /// Opens a device on `adapter` with the limits `opts` need. Awaited: a browser answers the request from its
    /// event loop ([`GpuContext::new`] waits for it with `pollster` on a native thread).
    pub async fn on_adapter(adapter: &wgpu::Adapter, opts: &ContextOptions) -> Result<Self> {
        let info = adapter.get_info();

        // Limits: what the kernels and this run's buffers need, checked against the adapter.
        let required = required_limits(adapter, &info, opts)?;

        // Device and queue: those limits, and timestamp queries where the adapter has them (`bench --profile` times
        // each kernel with them; nothing else needs an optional feature).
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("gpu-mnist"),
                required_features: adapter.features() & wanted_features(opts),
                required_limits: required,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Error::Gpu(format!(
                    "opening a device on {} ({:?}) failed: {e}; update the driver or use --backend cpu",
                    info.name, info.backend
                ))
            })?;

        // Failure reports: wgpu delivers validation errors outside error scopes, and device loss, through
        // callbacks; store them so the next check() turns them into an Err instead of a panic or a silent NaN.
        let faults = Faults::watch(&device);

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
    ///
    /// In a browser (wasm32) a scope's result arrives only from the event loop, which a synchronous call cannot wait
    /// for: there `f` runs unscoped and its errors come through the uncaptured-error callback, reported by the next
    /// [`GpuContext::check`].
    #[cfg(target_arch = "wasm32")]
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        self.check_lost(what)?;
        let value = f();
        self.check(what)?;
        Ok(value)
    }

    /// Runs `f` inside validation, internal and out-of-memory error scopes; any error they catch becomes an
    /// [`Error::Gpu`] naming `what`. Refuses to run `f` on a lost device.
    #[cfg(not(target_arch = "wasm32"))]
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
        let submission = self.queue_copy(src, offset, staging, bytes, what);
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
        self.take_mapped(mapped, staging, bytes, what)
    }

    /// Reads the first `bytes` bytes of `src` through a staging buffer made for this one read (tests, checkpoints).
    pub fn read_bytes(&self, src: &wgpu::Buffer, bytes: u64, what: &str) -> Result<Vec<u8>> {
        self.read_bytes_at(src, 0, bytes, what)
    }

    /// [`GpuContext::read_bytes`] of the `bytes` bytes of `src` that start at byte `offset` (a multiple of 4).
    pub fn read_bytes_at(&self, src: &wgpu::Buffer, offset: u64, bytes: u64, what: &str) -> Result<Vec<u8>> {
        self.read_back_at(src, offset, &self.staging_buffer(bytes), bytes, what)
    }
}

/// The context is the device the pipelines are created on (see [`GpuContext::kernels`]).
impl PipelineDevice for GpuContext {
    fn device(&self) -> &wgpu::Device {
        &self.device
    }

    fn has_subgroups(&self) -> bool {
        GpuContext::has_subgroups(self)
    }

    fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        GpuContext::scoped(self, what, f)
    }
}

impl fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.describe()).finish_non_exhaustive()
    }
}
