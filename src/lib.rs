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
//!
//! # Training from Rust
//!
//! One epoch of a 784-64-10 ReLU network with SGD and momentum on 5000 training samples of the MNIST embedded in the library, on
//! the CPU and, when one is found, on a GPU, reading the metrics the way `gpu-mnist train` prints them:
//!
//! ```
//! use std::sync::Arc;
//!
//! use gpu_mnist::cpu::CpuBackend;
//! use gpu_mnist::data::{self, DataSource, LoadOptions};
//! use gpu_mnist::gpu::{BackendChoice, GpuBackend};
//! use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
//! use gpu_mnist::optim::{LrSchedule, Optimizer};
//! use gpu_mnist::train::{TrainConfig, Trainer};
//!
//! # fn main() -> gpu_mnist::Result<()> {
//! // The data: 60000 + 10000 MNIST digits (checked as they are parsed), cut to 5000 for a quick epoch.
//! let mut mnist = data::load(&DataSource::Embedded, &LoadOptions::default())?;
//! mnist.train.truncate(5000);
//! let data = Arc::new(mnist);
//!
//! // The model, the optimizer and the run: PyTorch's names and defaults.
//! let model = ModelConfig {
//!     inputs: 784,
//!     hidden: vec![64],
//!     classes: 10,
//!     activation: Activation::Relu,
//!     leaky_slope: DEFAULT_LEAKY_SLOPE, // leaky ReLU's (PyTorch's default); unused by a ReLU
//!     loss: Loss::Xent,
//!     output_units: OutputUnits::Classes, // one per class (OutputUnits::One: one sigmoid unit for two classes)
//! };
//! let optimizer = Optimizer::momentum(0.05, 0.9)?;
//! let config = TrainConfig { epochs: 1, batch_size: 32, seed: 42, eval_batch: 1000, lr_schedule: LrSchedule::Linear, init: None, dropout: 0.0, input_dropout: 0.0, chunk_rows: None, shuffle: Default::default() };
//! // The buffers one training step needs, sized to the data.
//! let layout = config.layout_for(&model, optimizer, &data)?;
//!
//! // The CPU backend always works.
//! let cpu = CpuBackend::new(&layout, data.clone())?;
//! let mut trainer = Trainer::new(cpu, layout.clone(), data.clone(), config.clone())?;
//! let m = trainer.epoch(&mut |_| {})?;
//! println!("cpu: train loss {:.4}, test accuracy {:.2}%", m.train_loss, 100.0 * m.test_acc);
//! assert!(m.test_acc > 0.85);
//!
//! // The same run on a GPU, if this machine has one (any of Vulkan, Metal, DX12, GL).
//! if let Ok(gpu) = GpuBackend::open(BackendChoice::Auto, &layout, data.clone()) {
//!     let mut trainer = Trainer::new(gpu, layout, data, config)?;
//!     let g = trainer.epoch(&mut |_| {})?;
//!     println!("gpu: train loss {:.4}, test accuracy {:.2}%", g.train_loss, 100.0 * g.test_acc);
//!     assert!((g.test_acc - m.test_acc).abs() < 0.01, "the GPU trains the same model");
//! }
//! # Ok(())
//! # }
//! ```

/// Declares `$ty::ALL`, every value of an enum, from one list, and from the same list a `match` that fails to compile
/// where the list misses a value (non-exhaustive patterns) or names one twice (unreachable pattern, denied): a value
/// added to the enum cannot be left out of `ALL` silently. Values may carry one payload (`Activation(Activation::Relu)`),
/// whose own variants the match then covers too.
macro_rules! listed_exhaustively {
    ($ty:ident { $(#[$doc:meta])* ALL: [$($variant:ident $(($value:path))?),+ $(,)?] }) => {
        impl $ty {
            $(#[$doc])*
            pub const ALL: &'static [$ty] = &[$($ty::$variant $(($value))?),+];
        }

        #[deny(unreachable_patterns)]
        const _: fn($ty) = |v| match v {
            $($ty::$variant $(($value))? => {})+
        };
    };
}

pub mod activation;
pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod cpu;
pub mod data;
pub mod dropout;
pub mod error;
pub mod eval;
pub mod files;
pub mod gpu;
pub mod imaging;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod names;
pub mod optim;
pub mod plan;
pub mod plot;
pub mod predict;
pub mod train;

pub use error::{Error, Result};
