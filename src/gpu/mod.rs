//! The GPU backend: the training step's ops as WGSL compute shaders (`shaders/`) run through wgpu.
//!
//! - [`context`]: adapter and device selection, limits, error reporting, read-back.
//! - [`kernels`]: the shader sources, how they are composed, and their pipelines (created once per device).
//! - [`counters`]: the GPU-resident cursors, step count and statistics.
//! - [`params`]: the kernels' uniform structs.
//! - [`readback`]: statistics read back without waiting (a ring of mappable copies).
//! - [`backend`]: [`GpuBackend`], the [`crate::backend::Backend`] that runs plans on the GPU.
//! - [`check`]: every kernel compared with its CPU twin in [`crate::cpu::ops`] (the `check` command and the tests),
//!   the fused kernel stage by stage.

pub mod backend;
pub mod check;
pub mod context;
pub mod counters;
pub mod kernels;
pub mod params;
pub mod readback;

pub use backend::{GpuBackend, MatmulVariant};
pub use context::{list_adapters, AdapterSummary, BackendChoice, ContextOptions, GpuContext};
