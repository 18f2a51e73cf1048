//! Detailed evaluation on the test set: loss and accuracy (the numbers the training loop reports), accuracy per
//! class and the confusion matrix, from the network's outputs, read back once after the last evaluation step.

use crate::backend::{Backend, Stats};
use crate::cpu::ops::predicted_class;
use crate::data::LabeledImages;
use crate::error::{Error, Result};
use crate::plan::{Layout, Split};
use crate::train::prepare_steps;

/// The result of [`evaluate_detailed`].
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The backend's loss statistics over the test set: the same numbers as [`crate::train::Trainer::evaluate`].
    pub stats: Stats,
    /// `confusion[true][predicted]`: how many test samples of class `true` the model predicted as `predicted`.
    pub confusion: Vec<Vec<u32>>,
}

impl Evaluation {
    /// Mean loss per test sample.
    pub fn loss(&self) -> f32 {
        self.stats.loss()
    }

    /// Fraction of correct predictions, 0..1, as the training loop reports it.
    pub fn accuracy(&self) -> f32 {
        self.stats.accuracy()
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.confusion.len()
    }

    /// Test samples of class `c`.
    pub fn class_samples(&self, c: usize) -> u32 {
        self.confusion.get(c).map_or(0, |row| row.iter().sum())
    }

    /// Correct predictions for class `c` (the diagonal of the confusion matrix).
    pub fn class_correct(&self, c: usize) -> u32 {
        self.confusion.get(c).and_then(|row| row.get(c)).copied().unwrap_or(0)
    }

    /// Accuracy on each class (recall), `None` for a class without test samples.
    pub fn per_class_accuracy(&self) -> Vec<Option<f32>> {
        (0..self.classes())
            .map(|c| match self.class_samples(c) {
                0 => None,
                n => Some(self.class_correct(c) as f32 / n as f32),
            })
            .collect()
    }

    /// Correct predictions counted from the confusion matrix (its trace); equals `stats.correct` unless the
    /// outputs hold NaNs.
    pub fn trace(&self) -> u32 {
        (0..self.classes()).map(|c| self.class_correct(c)).sum()
    }
}

/// Evaluates the parameters held by `backend` on the whole `test` split (which must be the test split the
/// backend was built over), in steps of `eval_batch` samples in file order, exactly as the training loop does,
/// and builds the confusion matrix from the outputs, all read back at the end (no read-back between batches).
pub fn evaluate_detailed<B: Backend + ?Sized>(
    backend: &mut B,
    layout: &Layout,
    test: &LabeledImages,
    eval_batch: usize,
) -> Result<Evaluation> {
    let n = test.len();
    if n == 0 || eval_batch == 0 {
        return Err(Error::Config(format!("nothing to evaluate: {n} test samples, batch {eval_batch}")));
    }
    let e = eval_batch.min(n);
    // One output per class, or one unit for two classes.
    let (classes, width) = (layout.model.classes, layout.model.output_width());
    let (full, rest) = prepare_steps(backend, n, e, |rows| layout.eval_step(Split::Test, rows))?;
    let order: Vec<u32> = (0..n as u32).collect();
    backend.begin_epoch(Split::Test, &order)?;
    // Run: every step queued, each step's outputs kept; then one read of them all.
    backend.run_collect(full, n / e, layout.output(), e * width)?;
    if let Some(rest) = rest {
        backend.run_collect(rest, 1, layout.output(), (n % e) * width)?;
    }
    let out = backend.take_collected()?;
    if out.len() != n * width {
        return Err(Error::Config(format!("collected {} output values, need {}", out.len(), n * width)));
    }
    let mut confusion = vec![vec![0u32; classes]; classes];
    for (row, &label) in out.chunks_exact(width).zip(&test.labels) {
        let label = usize::from(label);
        let predicted = predicted_class(layout.model.loss, row);
        let cell = confusion.get_mut(label).and_then(|l| l.get_mut(predicted));
        let Some(cell) = cell else {
            return Err(Error::Config(format!("test label {label} is not below {classes} classes")));
        };
        *cell += 1;
    }
    let stats = backend.stats(Split::Test)?;
    Ok(Evaluation { stats, confusion })
}
