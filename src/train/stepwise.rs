//! An epoch driven from outside, a piece at a time, by a caller that does its own waiting — a browser's event loop,
//! where a blocking wait is impossible (a GPU buffer is mapped only after control returns to the loop). The same
//! order, steps, plans and statistics as [`Trainer::epoch`]; nothing here waits.
//!
//! The caller's loop: [`Trainer::begin_training`], then [`Trainer::queue_training`] a chunk at a time, asking for
//! the statistics ([`Backend::request_stats`]) and taking them as they arrive ([`Backend::poll_stats`]) between
//! chunks; once every step is queued, [`Trainer::queue_evaluation`]; then [`Trainer::end_epoch`] with the final
//! statistics of both, read when the caller's wait for them is over.

use web_time::Instant;

use crate::backend::{Backend, Stats};
use crate::error::{Error, Result};
use crate::plan::Split;
use crate::train::{run_steps, EpochMetrics, EpochSoFar, Trainer};

/// Where a stepwise epoch's training stands.
#[derive(Clone, Copy, Debug)]
pub struct EpochInSteps {
    /// Full-size steps in the epoch, and how many are queued.
    full_steps: usize,
    queued: usize,
    /// Whether the short last step (if the epoch has one) is still to queue.
    rest_left: bool,
    started: Instant,
}

impl EpochInSteps {
    /// Training steps still to queue in this epoch.
    pub fn steps_left(&self) -> usize {
        self.full_steps - self.queued + usize::from(self.rest_left)
    }

    /// Seconds since the epoch's training began.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl<B: Backend> Trainer<B> {
    /// Begins the next epoch's training: its shuffled order (the one [`Trainer::epoch`] uses), its statistics reset.
    /// A run continued at an epoch boundary only: a checkpoint written mid-epoch is continued by [`Trainer::epoch`].
    pub fn begin_training(&mut self) -> Result<EpochInSteps> {
        let (n, b) = (self.data.train.len(), self.batch_size());
        if self.backend.queued_steps() != self.epoch_start_steps {
            return Err(Error::Config("the epoch was begun already: continue it, or end it first".into()));
        }
        let order = self.config.shuffle.epoch_order(self.config.seed, self.epoch, n);
        self.backend.begin_epoch(Split::Train, &order)?;
        self.epoch_so_far = EpochSoFar::default();
        let started = Instant::now();
        self.part_started = Some(started);
        Ok(EpochInSteps { full_steps: n / b, queued: 0, rest_left: self.train_rest.is_some(), started })
    }

    /// Queues up to `most` (at least 1) of the epoch's remaining training steps, the full-size ones first, and
    /// returns how many it queued. Nothing is waited for.
    pub fn queue_training(&mut self, epoch: &mut EpochInSteps, most: usize) -> Result<usize> {
        let steps = most.max(1).min(epoch.full_steps - epoch.queued);
        if steps > 0 {
            run_steps(&mut self.backend, &self.train_full, steps)?;
            epoch.queued += steps;
            return Ok(steps);
        }
        match (&self.train_rest, epoch.rest_left) {
            (Some(rest), true) => {
                run_steps(&mut self.backend, rest, 1)?;
                epoch.rest_left = false;
                Ok(1)
            }
            _ => Ok(0),
        }
    }

    /// Queues the whole evaluation on the test set (its statistics reset first); nothing is waited for.
    pub fn queue_evaluation(&mut self) -> Result<()> {
        let (_, full) = self.begin_evaluation()?;
        self.backend.run(self.eval_full, full)?;
        if let Some(rest) = self.eval_rest {
            self.backend.run(rest, 1)?;
        }
        Ok(())
    }

    /// Ends the epoch whose training and evaluation were all queued, with their final statistics (`train`: every
    /// training sample; `test`: every test sample), as [`Trainer::epoch`] ends one: its metrics, the next epoch's
    /// step count; its seconds are from [`Trainer::begin_training`] to now (its training and its evaluation, as a
    /// caller that waits for both sees them). [`Error::Diverged`] if the training loss is not finite or above
    /// [`crate::train::DIVERGED_LOSS`].
    pub fn end_epoch(&mut self, epoch: EpochInSteps, train: Stats, test: Stats) -> Result<EpochMetrics> {
        if epoch.steps_left() > 0 {
            return Err(Error::Config(format!(
                "{} training steps of the epoch are not queued yet",
                epoch.steps_left()
            )));
        }
        let (n_train, n_test) = (self.data.train.len() as u64, self.data.test.len() as u64);
        if (u64::from(train.samples), u64::from(test.samples)) != (n_train, n_test) {
            return Err(Error::Config(format!(
                "statistics of {} training and {} test samples given to end an epoch of {n_train} and {n_test}",
                train.samples, test.samples
            )));
        }
        self.check_divergence(train, epoch.queued + 1)?;
        Ok(self.close_epoch(train, test, epoch.seconds()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::backend::Backend;
    use crate::cpu::CpuBackend;
    use crate::data::{self, DataSource, LoadOptions};
    use crate::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
    use crate::optim::{LrSchedule, Optimizer};
    use crate::plan::Split;
    use crate::train::{Shuffle, TrainConfig, Trainer};

    fn trainer() -> Trainer<CpuBackend> {
        let mut mnist = data::load(&DataSource::Embedded, &LoadOptions::default()).unwrap();
        mnist.train.truncate(250);
        mnist.test.truncate(130);
        let data = Arc::new(mnist);
        let model = ModelConfig {
            inputs: 784,
            hidden: vec![16],
            classes: 10,
            activation: Activation::Relu,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
            loss: Loss::Xent,
            output_units: OutputUnits::Classes,
        };
        let config = TrainConfig {
            epochs: 2,
            batch_size: 32,
            seed: 5,
            eval_batch: 50,
            lr_schedule: LrSchedule::Linear,
            init: None,
            dropout: 0.1,
            input_dropout: 0.2,
            chunk_rows: None,
            shuffle: Shuffle::Chacha8,
        };
        let optimizer = Optimizer::momentum(0.05, 0.9).unwrap();
        let layout = config.layout_for(&model, optimizer, &data).unwrap();
        let cpu = CpuBackend::new(&layout, data.clone()).unwrap();
        Trainer::new(cpu, layout, data, config).unwrap()
    }

    /// Two epochs taken three steps at a time give exactly the metrics and weights of [`Trainer::epoch`]'s (250
    /// samples in batches of 32: seven full steps and a short one; 130 test samples: two full batches and a rest).
    #[test]
    fn stepwise_epochs_should_equal_the_loop() {
        let mut whole = trainer();
        let want: Vec<_> = (0..2).map(|_| whole.epoch(&mut |_| {}).unwrap()).collect();
        let mut stepwise = trainer();
        for want in &want {
            let mut epoch = stepwise.begin_training().unwrap();
            let mut queued = 0;
            while epoch.steps_left() > 0 {
                queued += stepwise.queue_training(&mut epoch, 3).unwrap();
            }
            assert_eq!(queued, 8);
            assert_eq!(stepwise.queue_training(&mut epoch, 3).unwrap(), 0);
            let train = stepwise.backend.stats(Split::Train).unwrap();
            stepwise.queue_evaluation().unwrap();
            let test = stepwise.backend.stats(Split::Test).unwrap();
            let got = stepwise.end_epoch(epoch, train, test).unwrap();
            assert_eq!(
                (got.epoch, got.train_loss, got.train_acc, got.test_loss, got.test_acc),
                (want.epoch, want.train_loss, want.train_acc, want.test_loss, want.test_acc)
            );
        }
        assert_eq!(stepwise.backend.read_params().unwrap(), whole.backend.read_params().unwrap());
        assert_eq!(stepwise.epoch_start_steps, whole.epoch_start_steps);
    }

    /// An epoch cannot end before all its steps are queued, nor with statistics of part of it.
    #[test]
    fn an_unfinished_epoch_should_not_end() {
        let mut t = trainer();
        let mut epoch = t.begin_training().unwrap();
        t.queue_training(&mut epoch, 2).unwrap();
        let stats = t.backend.stats(Split::Train).unwrap();
        assert!(t.end_epoch(epoch, stats, stats).unwrap_err().to_string().contains("not queued"));
        assert!(t.begin_training().is_err(), "an epoch begun twice");
    }
}
