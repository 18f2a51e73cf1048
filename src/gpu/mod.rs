//! The GPU backend: the training step's ops as WGSL compute shaders (`shaders/`) run through wgpu.
//!
//! Opening a device:
//! - [`adapter`]: which API, the adapters it offers (best first), the one a context opens.
//! - [`context`]: the device and queue, their limits, error reporting, read-back.
//!
//! The kernels:
//! - [`shaders`]: the WGSL sources and how they are composed.
//! - [`tiles`]: which matmul kernel and tile computes a product on an adapter.
//! - [`kernels`]: the entry points, the buffers each binds, and their pipelines (created once per device).
//! - [`counters`]: the GPU-resident cursors, step count and statistics.
//! - [`params`]: the kernels' uniform structs.
//!
//! The backend, from the bottom up:
//! - [`arena`]: where the layout's buffers and the data sit in GPU memory (sizes and offsets).
//! - `upload.rs`: the buffers a backend keeps on the GPU, and the data set uploaded into them.
//! - `dispatch.rs`: one op ready to encode, and what building one takes (bindings, uniform, grid).
//! - `compile_ops.rs`, `compile_fused.rs`: each op of a reference plan as its own kernel; each stage of a fused plan
//!   as one dispatch of `fused.wgsl`.
//! - `compile.rs`: a plan prepared once: a dispatch per stage.
//! - [`readback`]: statistics read back without waiting (a ring of mappable copies).
//! - `collect.rs`: evaluation outputs copied step by step and read with one wait.
//! - `profile.rs`: per-kernel timing with timestamp queries (`bench --profile`).
//! - [`backend`]: [`GpuBackend`], the [`crate::backend::Backend`] that runs plans on the GPU.
//!
//! The checks:
//! - [`check`]: every kernel compared with its CPU twin in [`crate::cpu::ops`] (the `check` command and the tests),
//!   the fused kernel stage by stage.

pub mod adapter;
pub mod arena;
pub mod backend;
pub mod check;
mod collect;
mod compile;
mod compile_fused;
mod compile_ops;
pub mod context;
pub mod counters;
mod dispatch;
pub mod kernels;
pub mod params;
mod profile;
mod read_async;
pub mod readback;
pub mod shaders;
pub mod tiles;
mod upload;

pub use adapter::{list_adapters, AdapterSummary, BackendChoice};
pub use backend::{GpuBackend, MatmulVariant};
pub use context::{ContextOptions, GpuContext};
