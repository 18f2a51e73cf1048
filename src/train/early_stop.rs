//! Stopping a run once its training loss stops improving, with scikit-learn's rule (`tol`, `n_iter_no_change` of
//! `Perceptron` and `SGDClassifier`): an epoch whose loss is not below the best so far minus `tol` counts as no
//! improvement, and `patience` such epochs in a row end the run. scikit-learn compares sums of the per-sample loss
//! with `tol · n_samples`; the mean loss compared with `tol` is the same test.

/// The early-stopping rule and its state.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStop {
    /// The least improvement of the mean training loss that counts.
    pub tol: f64,
    /// Epochs without improvement that end the run (scikit-learn's `n_iter_no_change`, 5 by default).
    pub patience: usize,
    best: f64,
    stale: usize,
}

impl EarlyStop {
    /// The rule with no epoch seen yet.
    pub fn new(tol: f64, patience: usize) -> Self {
        EarlyStop { tol, patience, best: f64::INFINITY, stale: 0 }
    }

    /// Records an epoch's mean training loss; `true` when the run should stop after it.
    pub fn observe(&mut self, train_loss: f64) -> bool {
        if train_loss > self.best - self.tol {
            self.stale += 1;
        } else {
            self.stale = 0;
        }
        if train_loss < self.best {
            self.best = train_loss;
        }
        self.stale >= self.patience
    }

    /// Epochs in a row without improvement so far.
    pub fn stale(&self) -> usize {
        self.stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scikit-learn's loop over a loss sequence: improvements reset the count, a loss within `tol` of the best
    /// does not, and the count reaching the patience stops.
    #[test]
    fn stops_after_patience_epochs_without_improvement_by_tol() {
        let mut stop = EarlyStop::new(0.1, 3);
        let losses = [1.0, 0.5, 0.45, 0.3, 0.25, 0.26, 0.19, 0.15];
        let stops: Vec<bool> = losses.iter().map(|&l| stop.observe(l)).collect();
        // 0.45 is within 0.1 of 0.5 (stale 1); 0.3 improves (0); 0.25, 0.26 stale (1, 2); 0.19 is not below
        // 0.25 − 0.1 (3: stop).
        assert_eq!(stops, [false, false, false, false, false, false, true, true]);
        // The first epoch always improves on +∞; with a tolerance of 0 an equal loss is no worse (scikit-learn's
        // strict `>`), a higher one is.
        let mut zero = EarlyStop::new(0.0, 1);
        assert!(!zero.observe(5.0) && !zero.observe(4.9) && !zero.observe(4.9) && zero.observe(4.95));
    }
}
