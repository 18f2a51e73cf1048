//! The cost functions ([`Loss`]) and how the output layer encodes a class ([`OutputUnits`]): one unit per class, or
//! one unit for a two-class problem.

use crate::activation::Activation;

impl crate::names::Named for Loss {
    const WHAT: &'static str = "loss";

    fn name(self) -> &'static str {
        Loss::name(self)
    }
}

/// The cost function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Softmax cross-entropy on the output logits (PyTorch's `CrossEntropyLoss`).
    Xent,
    /// The quadratic cost ½‖σ(z) − y‖² on a sigmoid output layer: y one-hot over the classes (Nielsen's
    /// `network.py`), or y = the label (0 or 1) on [one output unit](OutputUnits::One).
    Mse,
    /// Binary cross-entropy of one output logit z against y = the label (0 or 1), computed from z as PyTorch's
    /// `BCEWithLogitsLoss`: max(z, 0) − z·y + log(1 + e^−|z|). Always [one output unit](OutputUnits::One).
    Bce,
    /// The perceptron criterion Σ_units max(0, −y·z) of the output scores z (identity output), y = ±1: scikit-learn's
    /// `Perceptron` (`SGDClassifier(loss="perceptron")`). On [one output unit](OutputUnits::One) y = +1 for class 1
    /// and −1 for class 0; with one unit per class, one-vs-rest: y = +1 on the label's unit, −1 on the others. Its
    /// gradient is −y where y·z ≤ 0 (a mistake; a tie at 0 counts as one), else 0: plain SGD on it is the
    /// perceptron rule w += lr·y·x, b += lr·y on every mistake.
    Perceptron,
}

// A loss left out of this list, or named twice, does not compile.
listed_exhaustively!(Loss {
    /// Every loss.
    ALL: [Xent, Mse, Bce, Perceptron]
});

impl Loss {
    /// The activation of the output layer that goes with this loss.
    pub fn output_activation(self) -> Activation {
        match self {
            Loss::Xent | Loss::Bce | Loss::Perceptron => Activation::Identity,
            Loss::Mse => Activation::Sigmoid,
        }
    }

    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Xent => "xent",
            Loss::Mse => "mse",
            Loss::Bce => "bce",
            Loss::Perceptron => "perceptron",
        }
    }

    /// The output units this loss has when none are asked for, for a problem of `classes` classes: one for binary
    /// cross-entropy; for the perceptron one for two classes (scikit-learn's single weight vector) and one per class
    /// (one-vs-rest) for more; one per class for the others.
    pub fn default_output_units(self, classes: usize) -> OutputUnits {
        match self {
            Loss::Bce => OutputUnits::One,
            Loss::Perceptron if classes == 2 => OutputUnits::One,
            Loss::Xent | Loss::Mse | Loss::Perceptron => OutputUnits::Classes,
        }
    }

    /// Whether the loss works on `units` output units: softmax cross-entropy needs one per class (the softmax of
    /// one logit is always 1), binary cross-entropy exactly one, the quadratic cost and the perceptron either.
    pub fn takes(self, units: OutputUnits) -> bool {
        match (self, units) {
            (Loss::Xent, OutputUnits::Classes) | (Loss::Bce, OutputUnits::One) | (Loss::Mse | Loss::Perceptron, _) => {
                true
            }
            (Loss::Xent, OutputUnits::One) | (Loss::Bce, OutputUnits::Classes) => false,
        }
    }

    /// Whether the outputs are read as probabilities (softmax, σ): not the perceptron's, whose scores give a class
    /// and nothing more.
    pub fn gives_probabilities(self) -> bool {
        match self {
            Loss::Xent | Loss::Mse | Loss::Bce => true,
            Loss::Perceptron => false,
        }
    }
}

/// Every loss with each kind of output units it takes ([`Loss::takes`]): what a test of every loss head runs.
pub fn heads() -> Vec<(Loss, OutputUnits)> {
    let units = [OutputUnits::Classes, OutputUnits::One];
    Loss::ALL.iter().flat_map(|&l| units.into_iter().filter(move |&u| l.takes(u)).map(move |u| (l, u))).collect()
}

/// How many units the output layer has (`--output-units`): one per class, or one for two classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputUnits {
    /// One unit per class, the target one-hot (softmax cross-entropy; the quadratic cost by default).
    #[default]
    #[value(name = "classes")]
    Classes,
    /// One unit for two classes: a sigmoid unit, σ(z) = P(class 1), the target the label itself (0 or 1), for
    /// binary cross-entropy or the quadratic cost with `--output-units 1`; a score z, class 1 iff z > 0, for the
    /// perceptron.
    #[value(name = "1")]
    One,
}

impl OutputUnits {
    /// The name used on the command line and in checkpoints: `classes` or `1`.
    pub fn name(self) -> &'static str {
        match self {
            OutputUnits::Classes => "classes",
            OutputUnits::One => "1",
        }
    }

    /// The width of the output layer of a model of `classes` classes.
    pub fn width(self, classes: usize) -> usize {
        match self {
            OutputUnits::Classes => classes,
            OutputUnits::One => 1,
        }
    }
}

impl crate::names::Named for OutputUnits {
    const WHAT: &'static str = "output units";

    fn name(self) -> &'static str {
        OutputUnits::name(self)
    }
}
