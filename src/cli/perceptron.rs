//! `train --model perceptron`: scikit-learn's `Perceptron` (`SGDClassifier(loss="perceptron", eta0,
//! learning_rate="constant", penalty=None)`) as the flags of this trainer: no hidden layer, `--loss perceptron`,
//! plain SGD at a constant rate (`--lr` is eta0), one sample per step in each epoch's shuffled order, zero initial
//! weights and bias, one output unit for two classes (one per class, one-vs-rest, for more). The flags it sets need
//! not be given; given with another value, they are refused, each named with the value it was given.

use anyhow::Result;
use clap::{ArgMatches, ValueEnum};
use gpu_mnist::model::{Init, Loss, OutputUnits};
use gpu_mnist::optim::{Hyper, LrSchedule, Rule};

use super::resume::given;
use super::train::TrainArgs;

/// What kind of model `train` builds (`--model`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// A multi-layer perceptron as the other flags describe it.
    #[default]
    Mlp,
    /// scikit-learn's Perceptron: no hidden layer, --loss perceptron, --optimizer sgd (--lr is eta0), --batch-size 1,
    /// --lr-schedule constant, --init zeros, one output unit for two classes.
    Perceptron,
}

/// What `--model perceptron` sets, as it would be written on the command line (for its messages).
const SETS: &str = "--hidden \"\" --loss perceptron --optimizer sgd --lr-schedule constant --batch-size 1 --init zeros";

/// Sets the flags `--model perceptron` implies in `args`; `matches` tells which were given, and a flag given with
/// another value is refused, with every such flag named in one error. `--model mlp` changes nothing.
pub fn apply(kind: ModelKind, args: &mut TrainArgs, matches: Option<&ArgMatches>) -> Result<()> {
    if kind == ModelKind::Mlp {
        return Ok(());
    }
    anyhow::ensure!(
        args.ckpt.resume.is_none(),
        "--model perceptron with --resume: a resumed run takes its model from the checkpoint; drop --model"
    );
    let given = |id: &str| given(matches, id);
    let (model, optim) = (&args.model, &args.optim);
    let mut wrong: Vec<String> = Vec::new();
    if given("hidden") && !model.hidden.0.is_empty() {
        let widths: Vec<String> = model.hidden.0.iter().map(usize::to_string).collect();
        wrong.push(format!("--hidden {} (the perceptron has no hidden layer)", widths.join(",")));
    }
    if given("activation") {
        wrong.push(format!("--activation {} (there is no hidden layer to activate)", model.activation.name()));
    }
    if given("leaky_slope") {
        wrong.push(format!("--leaky-slope {} (there is no hidden layer to activate)", model.leaky_slope));
    }
    if given("loss") && model.loss != Loss::Perceptron {
        wrong.push(format!("--loss {} (its loss is perceptron)", model.loss.name()));
    }
    if let Some(init) = model.init.filter(|&i| i != Init::Zeros) {
        wrong.push(format!("--init {} (its weights start at zeros)", init.name()));
    }
    if given("optimizer") && optim.optimizer != Rule::Sgd {
        wrong.push(format!("--optimizer {} (it learns by plain sgd)", optim.optimizer.name()));
    }
    if given("lr_schedule") && optim.lr_schedule != LrSchedule::Constant {
        wrong.push(format!("--lr-schedule {} (its rate is constant)", optim.lr_schedule.name()));
    }
    for &h in Hyper::ALL.iter().filter(|&&h| h != Hyper::Lr) {
        if let Some(v) = optim.given(h).filter(|&v| !(h == Hyper::WeightDecay && v == 0.0)) {
            wrong.push(format!("--{} {v} (its only hyper-parameter is --lr, scikit-learn's eta0)", h.name()));
        }
    }
    if given("batch_size") && args.batch_size != 1 {
        wrong.push(format!("--batch-size {} (it learns from one sample at a time)", args.batch_size));
    }
    if given("dropout") && args.dropout != 0.0 {
        wrong.push(format!("--dropout {} (it has no hidden units to drop)", args.dropout));
    }
    if given("input_dropout") && args.input_dropout != 0.0 {
        wrong.push(format!("--input-dropout {} (scikit-learn's Perceptron drops nothing)", args.input_dropout));
    }
    anyhow::ensure!(
        wrong.is_empty(),
        "--model perceptron is scikit-learn's Perceptron ({SETS}), which {} contradict{}: drop {}, or use --model mlp",
        wrong.join(", "),
        if wrong.len() == 1 { "s" } else { "" },
        if wrong.len() == 1 { "it" } else { "them" }
    );
    args.model.hidden.0.clear();
    (args.model.loss, args.model.init) = (Loss::Perceptron, Some(Init::Zeros));
    (args.optim.optimizer, args.optim.lr_schedule) = (Rule::Sgd, LrSchedule::Constant);
    args.batch_size = 1;
    Ok(())
}

/// Refuses `--output-units` against `--model perceptron` on `classes` classes: one unit for two classes (scikit-learn's
/// single weight vector), one per class for more.
pub fn check_output_units(kind: ModelKind, asked: Option<OutputUnits>, classes: usize) -> Result<()> {
    let wanted = Loss::Perceptron.default_output_units(classes);
    match (kind, asked) {
        (ModelKind::Perceptron, Some(units)) if units != wanted => anyhow::bail!(
            "--model perceptron on {classes} classes has --output-units {}, which --output-units {} contradicts: drop \
             it, or use --model mlp",
            wanted.name(),
            units.name()
        ),
        _ => Ok(()),
    }
}
