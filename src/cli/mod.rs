//! Flags shared by the subcommands, and the pieces they have in common (loading data, building the model).
//! This module belongs to the binary: `anyhow` errors, printing. The library does the work.

pub mod bench;
pub mod check;
pub mod devices;
pub mod eval;
mod model_args;
pub mod out;
pub mod paths;
mod perceptron;
pub mod predict;
pub mod resume;
pub mod show;
pub mod train;
mod train_data;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, ValueEnum};
use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{self, DataSource, Dataset, IdxErrorKind, Known, LoadOptions};
use gpu_mnist::gpu::{self, BackendChoice, GpuBackend};
use gpu_mnist::optim::{Hyper, LrSchedule, Optimizer, Rule};
use gpu_mnist::plan::Layout;

pub use model_args::ModelArgs;

/// Samples per evaluation step, unless the hidden `--eval-batch` says otherwise.
pub const EVAL_BATCH: usize = 1000;

/// Where the work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// The CPU reference (matrixmultiply GEMM, all cores).
    Cpu,
    /// The best hardware GPU through wgpu (any API); the CPU backend, with a notice, if there is none.
    Auto,
    /// Vulkan through wgpu (software Vulkan such as lavapipe is accepted when named).
    Vulkan,
    /// Metal through wgpu.
    Metal,
    /// Direct3D 12 through wgpu.
    Dx12,
    /// OpenGL ES through wgpu (compute needs GLES 3.1).
    Gl,
}

/// The data sets known by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DatasetArg {
    /// The handwritten digits (embedded in the binary).
    Mnist,
    /// Zalando's Fashion-MNIST: 28×28 pictures of 10 kinds of clothing (Debian: dataset-fashion-mnist).
    Fashion,
    /// Any MNIST-format (IDX) data set in --data-dir: the classes counted from the labels, the image size taken
    /// from the files.
    Idx,
}

#[derive(Args)]
pub struct DataArgs {
    /// Which data set: mnist (embedded in the binary), fashion (Fashion-MNIST, read from
    /// /usr/share/datasets/fashion-mnist unless --data-dir says where), or idx (any IDX set in --data-dir)
    /// [default: mnist].
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetArg>,
    /// A folder holding the four MNIST-format files (train-images-idx3-ubyte[.gz] …); default: the MNIST embedded
    /// in the binary. They must hold 10 classes of 28×28 images unless --dataset idx.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Train on the first N training samples only (quick runs); the test set stays whole.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// A table to learn instead of images: its training rows as CSV (a header row; numeric feature columns and the
    /// --label column; optionally gzipped). The features are standardised with these rows' means and deviations.
    #[arg(long = "train", value_name = "FILE.csv", requires_all = ["test_file", "label"], conflicts_with_all = ["dataset", "data_dir"])]
    pub train_file: Option<PathBuf>,
    /// The table's test rows (with --train): the same columns, labels among the training file's.
    #[arg(long = "test", value_name = "FILE.csv", requires = "train_file")]
    pub test_file: Option<PathBuf>,
    /// The table's label column (with --train): integers or strings, each distinct value a class.
    #[arg(long, value_name = "COLUMN", requires = "train_file")]
    pub label: Option<String>,
    /// With --train: keep the table's values as they are (scikit-learn without a StandardScaler) instead of
    /// standardising each feature with the training rows' mean and deviation.
    #[arg(long, requires = "train_file")]
    pub no_standardize: bool,
}

/// The help of a hyper-parameter's flag, from the optimizer table: what it is, which rules read it and their
/// defaults (`[default: momentum 0.9, rmsprop 0]`).
fn hyper_help(h: Hyper) -> String {
    let what = match h {
        Hyper::Lr => "Learning rate",
        Hyper::Momentum => "Momentum factor μ",
        Hyper::Beta1 => "Adam's β1",
        Hyper::Beta2 => "Adam's β2",
        Hyper::Alpha => "RMSprop's smoothing constant α (Keras's rho)",
        Hyper::Eps => "ε added to the denominator",
        Hyper::WeightDecay => "Weight decay λ (L2 added to the gradient; decoupled for adamw)",
        Hyper::Centered => "RMSprop: normalise by the gradient's estimated variance",
        Hyper::EpsInSqrt => "RMSprop: ε inside the square root, √(s + ε), as Keras and TensorFlow (PyTorch: √s + ε)",
    };
    let defaults: Vec<String> = Rule::ALL
        .iter()
        .filter_map(|r| r.row().hypers.iter().find(|(g, _)| *g == h).map(|(_, v)| format!("{} {v}", r.name())))
        .collect();
    format!("{what} [default: {}]", defaults.join(", "))
}

#[derive(Args)]
pub struct OptimArgs {
    /// Update rule (PyTorch's: SGD, SGD with momentum, Adam, AdamW, RMSprop).
    #[arg(long, value_enum, default_value_t = Rule::Momentum)]
    pub optimizer: Rule,
    #[arg(long, allow_negative_numbers = true, help = hyper_help(Hyper::Lr))]
    pub lr: Option<f32>,
    #[arg(long, allow_negative_numbers = true, help = hyper_help(Hyper::Momentum))]
    pub momentum: Option<f32>,
    #[arg(long, allow_negative_numbers = true, help = hyper_help(Hyper::Beta1))]
    pub beta1: Option<f32>,
    #[arg(long, allow_negative_numbers = true, help = hyper_help(Hyper::Beta2))]
    pub beta2: Option<f32>,
    #[arg(long, allow_negative_numbers = true, help = hyper_help(Hyper::Alpha))]
    pub alpha: Option<f32>,
    #[arg(long, allow_negative_numbers = true, help = hyper_help(Hyper::Eps))]
    pub eps: Option<f32>,
    #[arg(long, allow_negative_numbers = true, help = hyper_help(Hyper::WeightDecay))]
    pub weight_decay: Option<f32>,
    #[arg(long, help = hyper_help(Hyper::Centered))]
    pub centered: bool,
    #[arg(long, help = hyper_help(Hyper::EpsInSqrt))]
    pub eps_in_sqrt: bool,
    /// Learning-rate schedule: linear decay from --lr to 0 over the run's steps, or constant.
    #[arg(long, value_enum, default_value_t = LrSchedule::Linear)]
    pub lr_schedule: LrSchedule,
}

impl OptimArgs {
    /// The value given on the command line for `h`, if any.
    fn given(&self, h: Hyper) -> Option<f32> {
        match h {
            Hyper::Lr => self.lr,
            Hyper::Momentum => self.momentum,
            Hyper::Beta1 => self.beta1,
            Hyper::Beta2 => self.beta2,
            Hyper::Alpha => self.alpha,
            Hyper::Eps => self.eps,
            Hyper::WeightDecay => self.weight_decay,
            Hyper::Centered => self.centered.then_some(1.0),
            Hyper::EpsInSqrt => self.eps_in_sqrt.then_some(1.0),
        }
    }

    /// The hyper-parameter flags given on the command line that the chosen update rule does not use (a warning, not
    /// an error: a script may pass them for every optimizer).
    pub fn ignored_flags(&self) -> Vec<String> {
        Hyper::ALL
            .iter()
            .filter(|&&h| self.given(h).is_some() && !self.optimizer.uses(h))
            .map(|h| format!("--{}", h.name()))
            .collect()
    }

    /// The optimizer the flags ask for: `--optimizer` with the table's defaults, and the values given.
    pub fn optimizer(&self) -> Result<Optimizer> {
        self.applied_to(Optimizer::new(self.optimizer))
    }

    /// `base` with every hyper-parameter flag given that its rule reads; an error naming the flag for a value out
    /// of range.
    pub fn applied_to(&self, base: Optimizer) -> Result<Optimizer> {
        let mut optimizer = base;
        for &(h, _) in base.rule().row().hypers {
            if let Some(v) = self.given(h) {
                let range = h.range();
                anyhow::ensure!(range.contains(v), "--{} {v} must be {}", h.name(), range.describe());
                optimizer = optimizer.with(h, v)?;
            }
        }
        Ok(optimizer)
    }
}

/// Where a known data set is found without `--data-dir`: embedded, or in its installed folder (an error saying how
/// to install it, or to give --data-dir, when that folder is missing).
pub fn known_source(known: &Known) -> Result<DataSource> {
    let Some(dir) = known.dir else { return Ok(DataSource::Embedded) };
    anyhow::ensure!(
        Path::new(dir).is_dir(),
        "{} is not installed at {dir}: install it with `{}`, or give the folder holding its four files with --data-dir",
        known.name,
        known.install
    );
    Ok(DataSource::Dir(dir.into()))
}

/// Says, in one `note:` line, that a checkpoint written before data digests existed knows its data set by name only.
pub fn note_name_only(ck: &Checkpoint, path: &Path) {
    if ck.data_digest.is_none() {
        errln!(
            "note:    {} was saved before gpu-mnist recorded what its data was: its data set is identified by its name \
             only ({})",
            path.display(),
            ck.dataset
        );
    }
}

/// The known data set `--dataset mnist|fashion` names.
fn named_known(arg: DatasetArg) -> Option<&'static Known> {
    let name = match arg {
        DatasetArg::Mnist => data::MNIST_NAME,
        DatasetArg::Fashion => data::FASHION_MNIST_NAME,
        DatasetArg::Idx => return None,
    };
    data::KNOWN.iter().find(|k| k.name == name)
}

/// Loads the data set the flags name, cut to `--limit` (its digest is that of the whole set).
///
/// MNIST-shaped sets (the default, `--dataset mnist|fashion`, or a bare `--data-dir`) must hold 10 classes of 28×28
/// images, so a corrupt label file is caught. A data set known by its content takes its own name whatever its folder
/// is called ([`data::identity`]); `--dataset mnist|fashion` names any other data in `--data-dir` `mnist` or
/// `fashion-mnist` (the user's word for a variant; Fashion-MNIST's class names come with it), and warns when the
/// files are known to be the other one. `--dataset idx` takes any IDX set from `--data-dir`, its classes counted
/// from the labels and its image size from the files.
pub fn load_data(args: &DataArgs) -> Result<Dataset> {
    if let (Some(train), Some(test), Some(label)) = (&args.train_file, &args.test_file, &args.label) {
        let mut data = data::csv::load_table(train, test, label, !args.no_standardize, &data::IdxLimits::default())?;
        limit(&mut data, args.limit)?;
        return Ok(data);
    }
    let mnist_shaped = LoadOptions::default();
    let named = args.dataset.and_then(named_known);
    let (source, opts) = match (args.dataset, &args.data_dir) {
        (Some(DatasetArg::Idx), Some(dir)) => {
            let opts = LoadOptions { classes: None, input_size: None, ..LoadOptions::default() };
            (DataSource::Dir(dir.clone()), opts)
        }
        (Some(DatasetArg::Idx), None) => {
            anyhow::bail!("--dataset idx needs --data-dir DIR: the folder holding the four IDX files")
        }
        (_, Some(dir)) => (DataSource::Dir(dir.clone()), mnist_shaped),
        (_, None) => (named.map_or(Ok(DataSource::Embedded), known_source)?, mnist_shaped),
    };
    let mut data = match data::load(&source, &opts) {
        Ok(data) => data,
        // A set that is fine but not MNIST-shaped: say how to take it as it is.
        Err(e)
            if args.dataset.is_none()
                && matches!(e.kind, IdxErrorKind::LabelOutOfRange { .. } | IdxErrorKind::WrongImageSize { .. }) =>
        {
            return Err(anyhow::Error::new(e)
                .context("not MNIST-shaped (add --dataset idx to take any number of classes and any image size)"));
        }
        Err(e) => return Err(e.into()),
    };
    match (named, data.known()) {
        (Some(flag), Some(content)) if flag.name != content.name => errln!(
            "warning: --dataset names {}, but these files hold {} (known by their content): they are taken as {}",
            flag.name,
            content.name,
            content.name
        ),
        (Some(flag), None) => data.name = flag.name.to_owned(),
        _ => {}
    }
    limit(&mut data, args.limit)?;
    Ok(data)
}

/// Cuts the training split to `--limit N` samples.
fn limit(data: &mut Dataset, limit: Option<usize>) -> Result<()> {
    if let Some(n) = limit {
        anyhow::ensure!(n > 0, "--limit {n}: give at least 1 training sample");
        data.train.truncate(n);
    }
    Ok(())
}

impl BackendArg {
    /// The backends that can run on this machine.
    pub fn available() -> Vec<BackendArg> {
        let adapters = gpu::list_adapters(BackendChoice::Auto);
        let hardware_gpu = adapters.iter().any(|a| a.compute && !a.software);
        // Software adapters are left out by default (they run on the CPU, far slower than the CPU backend): say so,
        // and how to include one.
        for a in adapters.iter().filter(|a| a.compute && a.software) {
            errln!(
                "note:    leaving out {} ({}, a software adapter running on the CPU); name it to include it, e.g. \
                 --backends cpu,{}",
                a.name,
                a.backend,
                a.backend.to_lowercase()
            );
        }
        if hardware_gpu {
            vec![BackendArg::Cpu, BackendArg::Auto]
        } else {
            vec![BackendArg::Cpu]
        }
    }

    /// The GPU API this flag names, or `None` for the CPU backend.
    pub fn gpu(self) -> Option<BackendChoice> {
        match self {
            BackendArg::Cpu => None,
            BackendArg::Auto => Some(BackendChoice::Auto),
            BackendArg::Vulkan => Some(BackendChoice::Vulkan),
            BackendArg::Metal => Some(BackendChoice::Metal),
            BackendArg::Dx12 => Some(BackendChoice::Dx12),
            BackendArg::Gl => Some(BackendChoice::Gl),
        }
    }
}

/// The backend the flag names, over `layout` and `data`. `auto` without a hardware GPU falls back to the CPU.
pub fn make_backend(arg: BackendArg, layout: &Layout, data: Arc<Dataset>) -> Result<Box<dyn Backend>> {
    let Some(choice) = arg.gpu() else {
        return Ok(Box::new(CpuBackend::new(layout, data)?));
    };
    match GpuBackend::open(choice, layout, data.clone()) {
        Ok(gpu) => Ok(Box::new(gpu)),
        Err(e) if choice == BackendChoice::Auto => {
            errln!("notice: {e}; using the CPU backend");
            Ok(Box::new(CpuBackend::new(layout, data)?))
        }
        Err(e) => Err(e.into()),
    }
}
