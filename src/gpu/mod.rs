//! The GPU backend: the training step's ops as WGSL compute shaders (`shaders/`) run through wgpu.
//!
//! - [`adapter`]: which API, the adapters it offers (best first), the one a context opens.
//! - [`arena`]: where the layout's buffers and the data sit in GPU memory (sizes and offsets).
//! - [`context`]: the device and queue, their limits, error reporting, read-back.
//! - [`shaders`]: the WGSL sources and how they are composed.
//! - [`tiles`]: which matmul kernel and tile computes a product on an adapter.
//! - [`kernels`]: the entry points, the buffers each binds, and their pipelines (created once per device).
//! - [`counters`]: the GPU-resident cursors, step count and statistics.
//! - [`params`]: the kernels' uniform structs.
//! - [`readback`]: statistics read back without waiting (a ring of mappable copies).
//! - [`backend`]: [`GpuBackend`], the [`crate::backend::Backend`] that runs plans on the GPU.
//! - [`check`]: every kernel compared with its CPU twin in [`crate::cpu::ops`] (the `check` command and the tests).
//! - [`check_fused`]: the fused kernel's stages compared with their CPU twins.

pub mod adapter;
pub mod arena;
pub mod backend;
pub mod check;
pub mod check_fused;
pub mod context;
pub mod counters;
pub mod kernels;
pub mod params;
pub mod readback;
pub mod shaders;
pub mod tiles;

pub use adapter::{list_adapters, AdapterSummary, BackendChoice};
pub use backend::{GpuBackend, MatmulVariant};
pub use context::{ContextOptions, GpuContext};
