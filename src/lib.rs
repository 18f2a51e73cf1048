//! gpu-mnist: train MLPs on MNIST with WGSL compute shaders through wgpu, every GPU kernel checked against a CPU
//! reference.
//!
//! The flow: [`data`] parses the IDX files; [`model`] describes the MLP and initialises it; [`plan`] turns the model
//! into one description of the training step (a list of ops over named buffers); a [`backend::Backend`] executes that
//! description — [`cpu`] directly (the reference), [`gpu`] as WGSL compute shaders through wgpu; [`train`] drives
//! epochs over any backend.
//!
//! Around it: [`plot`] draws the training curves (SVG), [`imaging`] makes pictures (digit grids, confusion heat maps)
//! and turns any picture of a digit or a piece of clothing into an input made the way MNIST or Fashion-MNIST was,
//! [`predict`] classifies inputs on the CPU.

pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod error;
pub mod eval;
pub mod files;
pub mod gpu;
pub mod imaging;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod plan;
pub mod plot;
pub mod predict;
pub mod train;

pub use error::{Error, Result};
