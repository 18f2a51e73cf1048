//! gpu-mnist: train MLPs on MNIST with WGSL compute shaders through wgpu, every GPU kernel checked against a CPU
//! reference.
//!
//! The flow: [`data`] parses the IDX files; [`model`] describes the MLP and initialises it; [`plan`] turns the model
//! into one description of the training step (a list of ops over named buffers); a [`backend::Backend`] executes that
//! description — [`cpu`] directly (the reference), [`gpu`] as WGSL compute shaders through wgpu; [`train`] drives epochs over any backend.

pub mod backend;
pub mod bench;
pub mod cpu;
pub mod data;
pub mod error;
pub mod gpu;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod plan;
pub mod train;

pub use error::{Error, Result};
