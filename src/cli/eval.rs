//! `gpu-mnist eval`: a saved checkpoint on the test set — loss, accuracy, per-class accuracy, confusion matrix.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{out, paths};
use anyhow::{Context, Result};
use clap::Args;
use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::data::{self, DataSource, Dataset, LabeledImages, LoadOptions};
use gpu_mnist::eval::{evaluate_detailed, Evaluation};
use gpu_mnist::files;
use gpu_mnist::imaging;
use gpu_mnist::model::ModelConfig;
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::Layout;

use super::{known_source, make_backend, note_name_only, BackendArg, EVAL_BATCH};

#[derive(Args)]
pub struct EvalArgs {
    /// The checkpoint to evaluate (written by `gpu-mnist train --save`).
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// Where to evaluate.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    pub backend: BackendArg,
    /// A folder holding the four MNIST-format files; default: the data set the checkpoint was trained on, known by
    /// its content (the embedded MNIST, or Fashion-MNIST from /usr/share/datasets/fashion-mnist). Other data needs
    /// this flag.
    #[arg(long, value_name = "DIR", conflicts_with = "test_file")]
    pub data_dir: Option<PathBuf>,
    /// For a model trained on a table: the CSV file of test rows, read with the checkpoint's columns, classes and
    /// standardisation.
    #[arg(long = "test", value_name = "FILE.csv")]
    pub test_file: Option<PathBuf>,
    /// Also write the confusion matrix as CSV (rows: true class, columns: predicted class); `-` (or /dev/stdout):
    /// on standard output, everything else then on standard error.
    #[arg(long, value_name = "PATH.csv")]
    pub confusion: Option<PathBuf>,
    /// Also draw the confusion matrix as a heat map (PNG): cells coloured by the share of their row, counts written
    /// in, true classes down the left, predicted classes along the top.
    #[arg(long, value_name = "PATH.png")]
    pub confusion_png: Option<PathBuf>,
    /// Samples per evaluation step (as in training, so the loss sums the same way).
    #[arg(long, default_value_t = EVAL_BATCH, hide = true)]
    pub eval_batch: usize,
}

/// Runs `gpu-mnist eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    anyhow::ensure!(args.eval_batch > 0, "--eval-batch must be at least 1");
    // Outputs that are the model (or each other) would destroy it: refuse before any work.
    // `--confusion -` writes to standard output, which is no file to compare or probe.
    let to_stdout = args.confusion.as_deref().is_some_and(out::is_stdout);
    let confusion_file = args.confusion.as_deref().filter(|_| !to_stdout);
    let outputs: Vec<paths::Named> =
        [("--confusion", confusion_file), ("--confusion-png", args.confusion_png.as_deref())]
            .into_iter()
            .filter_map(|(flag, p)| p.map(|p| (flag, p)))
            .collect();
    paths::check_distinct(&[("--model", args.model.as_path())], &outputs, &[])?;
    let ck = Checkpoint::load(&args.model)?;
    if let Some(path) = confusion_file {
        files::ensure_writable(path).context("--confusion: cannot write there")?;
    }
    if to_stdout {
        // The CSV alone on standard output (for a pipe); the report goes to standard error.
        out::reserve_stdout_for_data();
    }
    if let Some(path) = &args.confusion_png {
        files::ensure_writable(path).context("--confusion-png: cannot write there")?;
    }
    note_name_only(&ck, &args.model);
    let mut data = test_data(&ck, &args)?;
    // Pixels are read as the model was trained to read them.
    data.normalize = ck.normalize;
    let data = Arc::new(data);
    let model = ModelConfig { inputs: data.test.pixels(), classes: data.classes, ..ck.model.clone() };
    // Plain SGD: evaluation needs no optimizer state buffers.
    ck.check_compatible(&args.model, &model, &ck.optimizer)?;
    let layout = Layout::new(&model, Optimizer::default(), args.eval_batch.min(data.test.len()));
    let mut backend = make_backend(args.backend, &layout, data.clone())?;
    backend.write_params(&ck.params)?;
    outln!("backend: {}", backend.describe());
    outln!("model:   {} from {}", model.describe(), args.model.display());
    outln!(
        "trained: {} epoch{} on {} ({} samples), {}, batch {}, seed {}",
        ck.epoch,
        if ck.epoch == 1 { "" } else { "s" },
        ck.dataset,
        ck.train_samples,
        ck.optimizer.describe(),
        gpu_mnist::train::batch_size_name(ck.batch_size),
        ck.seed
    );
    outln!("data:    {}: {} test samples", data.name, data.test.len());
    // A table's test file was read by the checkpoint's own columns and classes; the digest of images says the rest.
    if data.table.is_none() && !ck.trained_on(&data) {
        errln!("warning: the checkpoint was trained on {}, this is {}", ck.describe_data(), data.describe());
    }
    // The evaluation is queued whole and read back once, so there is no count to show: a spinner says it runs (on a
    // terminal only; indicatif draws nothing otherwise).
    let spinner = indicatif::ProgressBar::new_spinner().with_message(format!(
        "evaluating {} test samples on {}",
        data.test.len(),
        backend.describe()
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    let ev = evaluate_detailed(&mut backend, &layout, &data.test, args.eval_batch);
    spinner.finish_and_clear();
    let ev = ev?;
    if ev.trace() != ev.stats.correct {
        errln!("warning: {} correct by the outputs read back, {} by the loss kernel", ev.trace(), ev.stats.correct);
    }
    outln!("test loss {:.4} acc {:.2}% ({}/{})", ev.loss(), 100.0 * ev.accuracy(), ev.stats.correct, ev.stats.samples);
    out!("{}", report(&ev, data.class_names().as_deref()));
    if to_stdout {
        std::io::Write::write_all(&mut out::DataOut, confusion_csv(&ev).as_bytes())?;
    } else if let Some(path) = &args.confusion {
        write_confusion(path, &ev)?;
        outln!("wrote:   {}", path.display());
    }
    if let Some(path) = &args.confusion_png {
        imaging::save_image(&imaging::confusion_image(&ev.confusion).into(), path)?;
        outln!("wrote:   {}", path.display());
    }
    Ok(())
}

/// The test data to evaluate `ck` on: the folder `--data-dir` gives, or else the data set the checkpoint was trained
/// on where gpu-mnist knows it (embedded MNIST, Fashion-MNIST's installed folder); other data without --data-dir is
/// an error saying to give it. The files must fit the model: its classes and its input size.
fn test_data(ck: &Checkpoint, args: &EvalArgs) -> Result<Dataset> {
    let model = &args.model;
    match (&ck.table, &args.test_file) {
        (Some(table), Some(path)) => {
            let test = table.read_split(path, &data::IdxLimits::default())?;
            let train = LabeledImages::empty(test.pixels());
            let mut data = Dataset::new(ck.dataset.clone(), train, test, table.classes.len());
            data.table = Some(table.clone());
            return Ok(data);
        }
        (Some(table), None) => anyhow::bail!(
            "{}: the model learned a table (label column {}, features {}): give its test rows with --test FILE.csv",
            model.display(),
            table.label,
            table.features.join(", ")
        ),
        (None, Some(_)) => anyhow::bail!(
            "{}: --test is for a model trained on a table; this one learned {} (use --data-dir for other images)",
            model.display(),
            ck.describe_data()
        ),
        (None, None) => {}
    }
    let source = match (args.data_dir.as_deref(), ck.known_data()) {
        (Some(dir), _) => DataSource::Dir(dir.to_owned()),
        (None, Some(known)) => known_source(known)?,
        (None, None) => anyhow::bail!(
            "{}: the checkpoint was trained on {}, which is not a data set gpu-mnist knows by its content (MNIST, \
             Fashion-MNIST): give its folder with --data-dir DIR (the folder it was trained from was called `{}`)",
            model.display(),
            ck.describe_data(),
            ck.dataset
        ),
    };
    let opts = LoadOptions { classes: Some(ck.model.classes), input_size: Some(ck.model.inputs), ..Default::default() };
    Ok(data::load(&source, &opts)?)
}

/// The per-class table (with the class names where the data set has them) and the confusion matrix, as printed.
fn report(ev: &Evaluation, names: Option<&[&str]>) -> String {
    let mut s = String::from("\nclass  samples  correct     acc\n");
    for (c, acc) in ev.per_class_accuracy().into_iter().enumerate() {
        let acc = acc.map_or("-".to_owned(), |a| format!("{:.2}%", 100.0 * a));
        let name = names.and_then(|n| n.get(c)).map(|n| format!("  {n}")).unwrap_or_default();
        s += &format!("{c:>5}  {:>7}  {:>7}  {acc:>7}{name}\n", ev.class_samples(c), ev.class_correct(c));
    }
    let width = ev.confusion.iter().flatten().max().map_or(1, |m| m.to_string().len()).max(3);
    s += "\nconfusion matrix (rows: true class, columns: predicted)\n";
    s += &format!("{:>5}", "");
    for c in 0..ev.classes() {
        s += &format!(" {c:>width$}");
    }
    s.push('\n');
    for (c, row) in ev.confusion.iter().enumerate() {
        s += &format!("{c:>5}");
        for n in row {
            s += &format!(" {n:>width$}");
        }
        s.push('\n');
    }
    s
}

/// The confusion matrix as CSV: a header `true,0,1,…`, then one row per true class.
fn confusion_csv(ev: &Evaluation) -> String {
    let mut text = String::from("true");
    for c in 0..ev.classes() {
        text += &format!(",{c}");
    }
    text.push('\n');
    for (c, row) in ev.confusion.iter().enumerate() {
        text += &c.to_string();
        for n in row {
            text += &format!(",{n}");
        }
        text.push('\n');
    }
    text
}

/// Writes [`confusion_csv`] to `path` atomically.
fn write_confusion(path: &Path, ev: &Evaluation) -> Result<()> {
    let text = confusion_csv(ev);
    files::write_atomically(path, |f| std::io::Write::write_all(f, text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}
