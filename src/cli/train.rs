//! `gpu-mnist train`: train, print a line per epoch, write metrics.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::{ArgMatches, Args};
use gpu_mnist::metrics::MetricsWriter;
use gpu_mnist::model::Activation;
use gpu_mnist::plan::Split;
use gpu_mnist::plot;
use gpu_mnist::train::{batch_size_name, parse_batch_size, EarlyStop, EpochMetrics, Shuffle, TrainConfig, Trainer};

use super::{out, paths};
use indicatif::{ProgressBar, ProgressStyle};

use super::perceptron::{self, ModelKind};
use super::resume::{self, CheckpointArgs};
use super::train_data::{check_table, data_line, normalization};
use super::{load_data, make_backend, BackendArg, DataArgs, ModelArgs, OptimArgs, EVAL_BATCH};

#[derive(Args)]
pub struct TrainArgs {
    /// Where to train.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub data: DataArgs,
    /// What to train: an MLP as the other flags describe it, or scikit-learn's Perceptron (no hidden layer, --loss
    /// perceptron, --optimizer sgd with --lr as eta0, --batch-size 1, --lr-schedule constant, --init zeros, one output
    /// unit for two classes; flags that contradict it are refused).
    #[arg(long = "model", value_enum, default_value_t = ModelKind::Mlp)]
    pub kind: ModelKind,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub optim: OptimArgs,
    /// Normalise the pixels as PyTorch's transforms.Normalize((mean,), (std,)) does: (u/255 − mean) / std, with the
    /// training pixels' mean and deviation (MNIST: 0.1307, 0.3081). Kept in the checkpoint for eval and predict.
    #[arg(long)]
    pub normalize: bool,
    /// Passes over the training set (scikit-learn's max_iter).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Stop early once the mean train loss has not fallen below the best so far minus TOL for --n-iter-no-change
    /// epochs in a row (scikit-learn's tol); default: run every epoch.
    #[arg(long, value_name = "TOL", value_parser = parse_tol, allow_negative_numbers = true)]
    pub tol: Option<f32>,
    /// With --tol: how many epochs without improvement end the run (scikit-learn's n_iter_no_change).
    #[arg(long, default_value_t = 5, value_name = "N", requires = "tol", value_parser = clap::value_parser!(u32).range(1..))]
    pub n_iter_no_change: u32,
    /// Dropout on every hidden layer while training: the probability of dropping a unit (inverted, as PyTorch's
    /// nn.Dropout(p) after each hidden activation; evaluation uses every unit). 0: none.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub dropout: f32,
    /// Dropout on the input pixels while training: the probability of dropping a pixel (inverted, as PyTorch's
    /// nn.Dropout(p) before the first layer; Hinton et al. 2012 drop 0.2 of MNIST's). 0: none.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub input_dropout: f32,
    /// Samples per step: a number (1 = per-sample SGD) or `full` (full-batch gradient descent: one step per epoch
    /// over the whole training split).
    #[arg(long, default_value = "64", value_parser = parse_batch_size, value_name = "N|full")]
    pub batch_size: usize,
    /// Rows per pass of a training step: a step of more rows runs in chunks of this many, their gradients summed
    /// before its one update (default: as many as fit 128 MiB of buffers; for tests of the chunked path).
    #[arg(long, hide = true, value_name = "N")]
    pub chunk_rows: Option<usize>,
    /// Samples per evaluation step (no gradients: large is fast; smaller needs less memory with very wide layers or
    /// large images).
    #[arg(long, default_value_t = EVAL_BATCH)]
    pub eval_batch: usize,
    /// Seed of the initial weights and of the shuffles: the same seed gives the same run.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How each epoch's order is drawn from the seed: gpu-mnist's own (`chacha8`), or scikit-learn's SGDClassifier and
    /// Perceptron shuffle (`sklearn-sgd`: --seed S visits the rows as random_state=S does there).
    #[arg(long, value_enum, default_value_t = Shuffle::Chacha8)]
    pub shuffle: Shuffle,
    /// Write per-epoch metrics: CSV with a header if PATH ends in .csv, JSON lines otherwise; `-` (or /dev/stdout):
    /// JSON lines on standard output, everything else then on standard error.
    #[arg(long, value_name = "PATH")]
    pub metrics: Option<PathBuf>,
    /// Draw the loss and accuracy curves (train and test, per epoch) into this SVG file, rewritten after every
    /// epoch so that a stopped run still leaves its plot.
    #[arg(long, value_name = "PATH.svg")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub ckpt: CheckpointArgs,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// One line per epoch, the way Keras and PyTorch loops print it.
fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    format!(
        "epoch {}/{epochs}  train loss {:.4} acc {:.2}%  test loss {:.4} acc {:.2}%  {:.2} s  {:.0} samples/s",
        m.epoch,
        m.train_loss,
        100.0 * m.train_acc,
        m.test_loss,
        100.0 * m.test_acc,
        m.seconds,
        m.samples_per_sec
    )
}

/// Runs `gpu-mnist train`.
/// `matches` tells which flags were given (a resumed run takes the others from its checkpoint).
pub fn run(mut args: TrainArgs, matches: Option<&ArgMatches>) -> Result<()> {
    anyhow::ensure!(args.epochs > 0, "--epochs must be at least 1");
    perceptron::apply(args.kind, &mut args, matches)?;
    let optimizer = args.optim.optimizer()?;
    let ignored = args.optim.ignored_flags();
    if !ignored.is_empty() && args.ckpt.resume.is_none() {
        errln!(
            "warning: {} {} not used by --optimizer {}",
            ignored.join(", "),
            if ignored.len() == 1 { "is" } else { "are" },
            optimizer.name()
        );
    }
    let unused_slope = args.model.activation != Activation::LeakyRelu && args.ckpt.resume.is_none();
    if resume::given(matches, "leaky_slope") && unused_slope {
        errln!("warning: --leaky-slope is not used by --activation {}", args.model.activation.name());
    }
    // Outputs that are inputs (or each other) would destroy them: refuse before any work. --save may replace its own
    // --resume checkpoint (written atomically), and a resumed --metrics file is read and rewritten on purpose.
    // `--metrics -` writes to standard output, which is no file to compare (for the other flags `-` is a file name).
    let metrics_file = args.metrics.clone().filter(|p| !out::is_stdout(p));
    let named = |flag: &'static str, p: &Option<PathBuf>| p.clone().map(|p| (flag, p));
    let inputs: Vec<(&str, PathBuf)> = named("--resume", &args.ckpt.resume).into_iter().collect();
    let outputs: Vec<(&str, PathBuf)> =
        [named("--save", &args.ckpt.save), named("--metrics", &metrics_file), named("--plot", &args.plot)]
            .into_iter()
            .flatten()
            .collect();
    paths::check_distinct(&paths::refs(&inputs), &paths::refs(&outputs), &[("--save", "--resume")])?;
    let resumed = args.ckpt.prepare()?;
    if args.ckpt.resume.is_some() && args.ckpt.save.is_none() {
        errln!("warning: resuming without --save: the epochs trained now will not be saved anywhere");
    }
    // Open the metrics file first: a path that cannot be written should fail now, not after an hour of training.
    // A resumed run keeps the records of the epochs its checkpoint holds, so the file and the plot cover the whole run.
    let (mut metrics, earlier) = match (&args.metrics, &resumed) {
        (Some(path), _) if out::is_stdout(path) => {
            // The records alone on standard output (for a pipe); everything else goes to standard error.
            out::reserve_stdout_for_data();
            (Some(MetricsWriter::to_stream("standard output", Box::new(out::DataOut))), Vec::new())
        }
        (Some(path), Some(ck)) => {
            let (writer, kept) = MetricsWriter::resume(path, ck.epoch)?;
            (Some(writer), kept)
        }
        (Some(path), None) => (Some(MetricsWriter::create(path)?), Vec::new()),
        (None, _) => (None, Vec::new()),
    };
    let mut data = load_data(&args.data)?;
    perceptron::check_output_units(args.kind, args.model.output_units, data.classes)?;
    data.normalize = normalization(args.normalize, resumed.as_ref(), &data)?;
    check_table(resumed.as_ref(), &data)?;
    let data = Arc::new(data);
    // The run's settings: a resumed run's come from its checkpoint, checked against the flags given.
    let (model, optimizer, config) = match &resumed {
        Some(ck) => {
            let flags = resume::RunFlags {
                path: args.ckpt.resume.as_deref().unwrap_or(std::path::Path::new("?")),
                model: &args.model,
                optim: &args.optim,
                seed: args.seed,
                shuffle: args.shuffle,
                batch_size: args.batch_size,
                epochs: args.epochs,
                eval_batch: args.eval_batch,
                dropout: args.dropout,
                input_dropout: args.input_dropout,
            };
            let (model, optimizer, config) = resume::settings(ck, &flags, matches, &data)?;
            (model, optimizer, TrainConfig { chunk_rows: args.chunk_rows, ..config })
        }
        None => {
            let config = TrainConfig {
                chunk_rows: args.chunk_rows,
                epochs: args.epochs,
                batch_size: args.batch_size,
                seed: args.seed,
                eval_batch: args.eval_batch,
                lr_schedule: args.optim.lr_schedule,
                init: args.model.init,
                dropout: args.dropout,
                input_dropout: args.input_dropout,
                shuffle: args.shuffle,
            };
            (args.model.model(&data), optimizer, config)
        }
    };
    let layout = config.layout_for(&model, optimizer, &data)?;
    let backend = make_backend(args.backend, &layout, data.clone())?;
    let title = format!("{}: {}, {}", data.name, model.describe(), optimizer.describe());
    let mut history = earlier;
    // The empty axes now: a plot path that cannot be written should fail before training, like --metrics.
    if let Some(path) = &args.plot {
        plot_path_is_svg(path)?;
        plot::write_training_plot(path, &history, &title)?;
    }
    // Ctrl-C from here on stops the run cleanly (before the header, so a signal sent on seeing it is never fatal).
    // The bar being drawn, if any: the signal handler prints through it so its notice does not tear the bar.
    let live_bar: Arc<Mutex<Option<ProgressBar>>> = Arc::default();
    let stop = stop_on_signal(live_bar.clone())?;
    let describe_backend = backend.describe();
    let mut trainer = Trainer::new(backend, layout, data.clone(), config)?;
    if let Some(ck) = &resumed {
        ck.restore(&mut trainer)?;
    }
    // The header, once the run's length in steps is known (a resumed linear decay is stretched over what is left).
    let config = &trainer.config;
    outln!("backend: {describe_backend}");
    let init = config.init.map(|i| format!(", init {}", i.name())).unwrap_or_default();
    let mut dropout = if config.dropout > 0.0 { format!(", dropout {}", config.dropout) } else { String::new() };
    if config.input_dropout > 0.0 {
        dropout += &format!(", input dropout {}", config.input_dropout);
    }
    outln!("model:   {}{init}{dropout}", model.describe());
    outln!(
        "optim:   {}, {}, batch {}, {} epoch{}, seed {}{}",
        optimizer.describe(),
        config.lr_schedule.describe(trainer.layout.decay_steps),
        batch_size_name(config.batch_size),
        config.epochs,
        if config.epochs == 1 { "" } else { "s" },
        config.seed,
        match config.shuffle {
            Shuffle::Chacha8 => String::new(),
            other => format!(", shuffle {}", other.name()),
        }
    );
    outln!("data:    {}", data_line(&data));
    if let (Some(ck), Some(_), None) = (&resumed, &args.plot, &metrics_file) {
        outln!(
            "note:    the plot starts at epoch {}; give --metrics the run's metrics file to plot the whole run",
            ck.epoch + 1
        );
    }
    trainer.stop_when(stop);
    if let (Some(ck), Some(path)) = (&resumed, &args.ckpt.resume) {
        // Steps within the epoch, as the progress bar and the interrupt messages count them.
        let step = ck.steps_done.saturating_sub(ck.epoch_start_steps()?);
        match step {
            0 => outln!("resumed: {} at epoch {}/{}", path.display(), ck.epoch, args.epochs),
            _ => outln!(
                "resumed: {} at epoch {}/{}, step {step} of {} of epoch {}",
                path.display(),
                ck.epoch,
                args.epochs,
                trainer.steps_per_epoch(),
                ck.epoch + 1
            ),
        }
    }
    // scikit-learn's early stopping, primed with the epochs a resumed run's metrics file holds.
    let mut early = args.tol.map(|tol| EarlyStop::new(f64::from(tol), args.n_iter_no_change as usize));
    if let Some(e) = early.as_mut() {
        history.iter().for_each(|m| _ = e.observe(f64::from(m.train_loss)));
    }
    for _ in trainer.epoch..args.epochs {
        let bar = progress_bar(args.quiet, data.train.len(), trainer.epoch + 1, args.epochs);
        set_live(&live_bar, Some(bar.clone()));
        let (epoch, mut evaluating) = (trainer.epoch + 1, false);
        let result = trainer.epoch(&mut |p| {
            if p.split == Split::Test && !evaluating {
                // The same bar goes on through the test set, so a long evaluation is seen to move.
                evaluating = true;
                bar.set_prefix(format!("{epoch}/{} test", args.epochs));
                bar.set_length(p.total as u64);
                bar.reset();
            }
            bar.set_position(p.samples as u64);
            // Running loss and accuracy, as Keras shows them; no mean before the first sample has arrived.
            let (loss, acc) = (p.stats.loss(), 100.0 * p.stats.accuracy());
            let so_far = if p.stats.samples == 0 { "loss -".into() } else { format!("loss {loss:.4} acc {acc:.2}%") };
            let rate = p.samples as f64 / bar.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{so_far}  {rate:.0} samples/s"));
        });
        // The bar is cleared before anything is printed, so the lines and the bar never tear each other.
        set_live(&live_bar, None);
        bar.finish_and_clear();
        let m = match result {
            Err(e @ gpu_mnist::Error::Interrupted { .. }) => {
                // The step in flight has finished: keep the work (checkpoint; the metrics file already holds every
                // completed epoch) and let main exit with 130.
                args.ckpt.on_interrupt(&mut trainer)?;
                return Err(e.into());
            }
            r => r?,
        };
        outln!("{}", epoch_line(&m, args.epochs));
        if let Some(w) = metrics.as_mut() {
            if let Err(e) = w.write(&m) {
                // The metrics file failed (a full disk…): keep the model — save it now if --save is given — and
                // stop with the error; the metrics file is cut back to the whole records written before.
                args.ckpt.on_interrupt(&mut trainer)?;
                return Err(anyhow::Error::new(e).context("--metrics could not be written"));
            }
        }
        history.push(m);
        if let Some(path) = &args.plot {
            // A plot that fails now (disk full…) is not worth losing the run for: say so and go on.
            if let Err(e) = plot::write_training_plot(path, &history, &title) {
                errln!("warning: the plot was not updated: {e}");
            }
        }
        let stop_early =
            early.as_mut().is_some_and(|e| history.last().is_some_and(|m| e.observe(f64::from(m.train_loss))));
        args.ckpt.after_epoch(&mut trainer, args.epochs, stop_early)?;
        if let (true, Some(tol)) = (stop_early, args.tol) {
            outln!(
                "stopped: the train loss improved by less than --tol {tol} for {} epochs in a row (--n-iter-no-change)",
                args.n_iter_no_change
            );
            break;
        }
    }
    // Where everything went, as `eval` says it.
    for (what, path) in [("metrics", &metrics_file), ("plot", &args.plot)] {
        if let Some(path) = path {
            outln!("wrote:   {what} {}", path.display());
        }
    }
    Ok(())
}

/// Refuses a `--plot` path that is not an SVG file name (once the path itself is known to be writable): the plot
/// is an SVG drawing, and a `.png` holding one is a broken picture.
fn plot_path_is_svg(path: &std::path::Path) -> Result<()> {
    gpu_mnist::files::output_target(path)?;
    anyhow::ensure!(
        path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg")),
        "--plot {} would hold an SVG drawing: give a path ending in .svg",
        path.display()
    );
    Ok(())
}

/// Records which progress bar is on screen (`None` between epochs).
fn set_live(slot: &Mutex<Option<ProgressBar>>, bar: Option<ProgressBar>) {
    // A poisoned lock only means a panic elsewhere; the slot itself is always valid.
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

/// A flag set by the first Ctrl-C (SIGINT) or SIGTERM, so training stops cleanly after the current step; a second
/// signal exits at once with 130. The notice goes through the bar on screen (`live_bar`), if any, so it does not tear
/// it.
fn stop_on_signal(live_bar: Arc<Mutex<Option<ProgressBar>>>) -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            // Quit now, but leave no partial file: a save in progress loses its temporary file, and its target keeps
            // what it held before.
            for tmp in gpu_mnist::files::remove_unfinished_writes() {
                errln!("interrupt: quitting at once; removed the unfinished {}", tmp.display());
            }
            std::process::exit(130);
        }
        let notice = || errln!("interrupt: finishing the current step (press Ctrl-C again to quit at once)");
        match live_bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(bar) => bar.suspend(notice),
            None => notice(),
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(flag)
}

/// A bar on stderr, drawn only when stderr is a terminal (indicatif hides it otherwise) and not `--quiet`.
fn progress_bar(quiet: bool, total: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    // The bar takes whatever width the rest leaves, so the line never wraps on an 80-column terminal.
    let style = ProgressStyle::with_template("epoch {prefix} [{wide_bar}] {pos}/{len}  {msg}  eta {eta}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(total as u64).with_style(style).with_prefix(format!("{epoch}/{epochs}")).with_message("loss -")
}

/// `--tol`: a finite number, 0 or above.
fn parse_tol(s: &str) -> std::result::Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("'{s}' is not a tolerance: give a number of 0 or more, like 1e-3")),
    }
}
