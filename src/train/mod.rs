//! The training loop, generic over the [`Backend`]: shuffled minibatches each epoch, evaluation on the test set
//! after every epoch, one [`EpochMetrics`] per epoch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use web_time::Instant;

mod chunks;
mod config;
mod early_stop;
mod shuffle;
mod steps;
mod stepwise;

pub use chunks::{next_chunk, CHUNK_SECONDS};
pub use config::{
    batch_size_name, parse_batch_size, EpochMetrics, EpochSoFar, Progress, TrainConfig, FULL_BATCH, PASS_BYTES,
};
pub use early_stop::EarlyStop;
pub use shuffle::Shuffle;
pub use steps::{prepare_chunked, prepare_steps, run_steps, StepPlans};
pub use stepwise::EpochInSteps;

use crate::backend::{Backend, PlanId, Stats, WorkCounts};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{self, Init, ModelConfig, Params};
use crate::optim::LrSchedule;
use crate::plan::{Layout, PlanForm, Split};

/// The seeded initial parameters of `model` (stream 0 of the seed), each layer initialised as suits its activation:
/// the same on every backend.
pub fn initial_params(model: &ModelConfig, seed: u64) -> Result<Params> {
    Params::init(model, &mut model::rng(seed))
}

/// [`initial_params`] with the `init` scheme for every layer (`None`: as suits each layer's activation).
pub fn initial_params_with(model: &ModelConfig, init: Option<Init>, seed: u64) -> Result<Params> {
    Params::init_with(model, init, &mut model::rng(seed))
}

/// A mean training loss above this means the run has diverged even while the numbers are still finite: with softmax
/// cross-entropy it takes the right class's logit 1000 below the largest one, which no learning run comes back from;
/// the quadratic cost of a sigmoid output never exceeds classes/2 and is caught only when it is not finite.
pub const DIVERGED_LOSS: f32 = 1e3;

/// A backend with its prepared plans and the state of a training run.
pub struct Trainer<B: Backend> {
    /// The backend doing the work.
    pub backend: B,
    /// The buffers of the model.
    pub layout: Layout,
    /// The run's settings.
    pub config: TrainConfig,
    data: Arc<Dataset>,
    /// The plans of a full training step (its chunks', if it runs in chunks) and of the short last one.
    train_full: StepPlans,
    train_rest: Option<StepPlans>,
    eval_full: PlanId,
    eval_rest: Option<PlanId>,
    /// Epochs completed.
    pub epoch: usize,
    /// The step count when the current epoch began: the steps of the completed epochs (what a resumed run's
    /// checkpoint says; it need not be `epoch` × this run's steps per epoch if the data set's size changed).
    pub epoch_start_steps: u64,
    /// What the current epoch's steps trained before this run measured (from a checkpoint written mid-epoch).
    pub epoch_so_far: EpochSoFar,
    /// When this run began training the current epoch (to measure its part of the epoch on an interruption).
    part_started: Option<Instant>,
    /// The form of the plans it runs.
    form: PlanForm,
    /// What the backend did in the last [`Trainer::epoch`]: its training, then its evaluation.
    pub last_epoch_work: (WorkCounts, WorkCounts),
    stop: Option<Arc<AtomicBool>>,
}

impl<B: Backend> Trainer<B> {
    /// Prepares the step plans on `backend` and loads the seeded initial weights.
    pub fn new(backend: B, mut layout: Layout, data: Arc<Dataset>, config: TrainConfig) -> Result<Self> {
        let (n_train, n_test) = (data.train.len(), data.test.len());
        if n_train == 0 || n_test == 0 {
            return Err(Error::Config(format!("need training and test samples, got {n_train} and {n_test}")));
        }
        let b = config.batch_size.min(n_train);
        // The decay spans the whole run, so the plans' updates know its length in steps.
        layout.decay_steps = match config.lr_schedule {
            LrSchedule::Linear => {
                (config.epochs as u64).checked_mul(n_train.div_ceil(b.max(1)) as u64).ok_or_else(|| {
                    Error::Config(format!(
                    "--epochs {} is too many to count the run's steps in 64 bits (for the learning-rate decay); give \
                     fewer epochs",
                    config.epochs
                ))
                })?
            }
            LrSchedule::Constant => 0,
        };
        let none = PlanId(usize::MAX);
        let mut trainer = Trainer {
            backend,
            layout,
            config,
            data,
            train_full: vec![none],
            train_rest: None,
            eval_full: none,
            eval_rest: None,
            epoch: 0,
            epoch_start_steps: 0,
            epoch_so_far: EpochSoFar::default(),
            part_started: None,
            form: PlanForm::Fused,
            last_epoch_work: Default::default(),
            stop: None,
        };
        trainer.use_plans(PlanForm::Fused)?;
        trainer.backend.write_params(&initial_params_with(
            &trainer.layout.model,
            trainer.config.init,
            trainer.config.seed,
        )?)?;
        Ok(trainer)
    }

    /// Prepares and from now on runs the training and evaluation plans of `form` (the fused ones by default).
    pub fn use_plans(&mut self, form: PlanForm) -> Result<()> {
        self.form = form;
        let (n_train, n_test) = (self.data.train.len(), self.data.test.len());
        let (b, e) = (self.batch_size(), self.config.eval_batch.min(n_test));
        let layout = &self.layout;
        (self.train_full, self.train_rest) = match layout.chunk_rows {
            // A step with more rows than one pass holds: its chunks' plans (the reference ops whatever the form).
            Some(c) if b > c => prepare_chunked(&mut self.backend, layout, n_train, b, c)?,
            _ => {
                let (full, rest) = prepare_steps(&mut self.backend, n_train, b, |rows| form.train_step(layout, rows))?;
                (vec![full], rest.map(|r| vec![r]))
            }
        };
        (self.eval_full, self.eval_rest) =
            prepare_steps(&mut self.backend, n_test, e, |rows| form.eval_step(layout, Split::Test, rows))?;
        Ok(())
    }

    /// The prepared plan of a full training step, its first chunk's if it runs in chunks (for reports on what it
    /// launches).
    pub fn train_plan(&self) -> PlanId {
        self.train_full[0]
    }

    /// Continues a run at `epoch` completed epochs that ended at step `epoch_start_steps` (a resumed checkpoint's):
    /// the next epoch skips the steps already taken beyond that, and a linear learning-rate decay is stretched to end
    /// with this run's last step — the steps already taken plus this run's remaining epochs at its own steps per
    /// epoch, which differ from the checkpoint's when the training data changed size.
    pub fn continue_at(&mut self, epoch: usize, epoch_start_steps: u64) -> Result<()> {
        self.epoch = epoch;
        self.epoch_start_steps = epoch_start_steps;
        if self.config.lr_schedule == LrSchedule::Linear {
            let per_epoch = self.data.train.len().div_ceil(self.batch_size()) as u64;
            let left = self.config.epochs.saturating_sub(epoch) as u64;
            self.layout.decay_steps =
                left.checked_mul(per_epoch).and_then(|s| s.checked_add(epoch_start_steps)).ok_or_else(|| {
                    Error::Config(format!("a run of {} epochs is too long to count its steps", self.config.epochs))
                })?;
            self.use_plans(self.form)?;
        }
        Ok(())
    }

    /// The data set it trains and evaluates on.
    pub fn data(&self) -> &Arc<Dataset> {
        &self.data
    }

    /// Makes [`Trainer::train_epoch`] stop with [`Error::Interrupted`] at the first check (after the current step or
    /// chunk of steps) once `flag` is set — how Ctrl-C ends a run cleanly.
    pub fn stop_when(&mut self, flag: Arc<AtomicBool>) {
        self.stop = Some(flag);
    }

    /// Training samples in one epoch.
    pub fn samples_per_epoch(&self) -> usize {
        self.data.train.len()
    }

    /// What the current epoch's training measured up to now, the steps trained before a resume included (for a
    /// checkpoint written mid-epoch, after an interruption): `None` at an epoch boundary.
    pub fn epoch_so_far_now(&mut self) -> Result<Option<EpochSoFar>> {
        // The host's count of the steps queued (the device's own count is a read-back, which the caller makes).
        if self.backend.queued_steps() == self.epoch_start_steps {
            return Ok(None);
        }
        // This run's part: since it began the epoch (nothing if it has not trained yet).
        let (stats, seconds) = match self.part_started {
            Some(started) => (self.backend.stats(Split::Train)?, started.elapsed().as_secs_f64()),
            None => (Stats::default(), 0.0),
        };
        Ok(Some(EpochSoFar { stats: self.epoch_so_far.stats + stats, seconds: self.epoch_so_far.seconds + seconds }))
    }

    /// Training steps per epoch (the last one may be smaller than the batch size).
    pub fn steps_per_epoch(&self) -> usize {
        self.data.train.len().div_ceil(self.batch_size())
    }

    /// Samples per training step: the configured batch size, or the whole training split if that is smaller.
    pub fn batch_size(&self) -> usize {
        self.config.batch_size.min(self.data.train.len())
    }

    /// Runs `steps` training steps (at most one epoch) to warm the backend up, then puts the initial weights, zeroed
    /// optimizer state and a zero step counter back, so what follows is the same run as without the warm-up.
    pub fn warm_up(&mut self, steps: usize) -> Result<()> {
        let n = self.data.train.len();
        let steps = steps.min(n / self.batch_size());
        if steps == 0 {
            return Ok(());
        }
        let order: Vec<u32> = (0..n as u32).collect();
        self.backend.begin_epoch(Split::Train, &order)?;
        run_steps(&mut self.backend, &self.train_full, steps)?;
        self.backend.finish()?;
        self.backend.write_params(&initial_params_with(&self.layout.model, self.config.init, self.config.seed)?)?;
        for id in self.layout.state_buffers() {
            self.backend.write_buffer(id, &vec![0.0; self.layout.buffers[id].len])?;
        }
        self.backend.set_steps_done(0)
    }

    /// Trains one epoch and evaluates on the test set.
    /// A run resumed mid-epoch measures the whole epoch: its record adds what the steps trained before the
    /// interruption measured ([`Trainer::epoch_so_far`]), seconds included.
    pub fn epoch(&mut self, on_progress: &mut dyn FnMut(Progress)) -> Result<EpochMetrics> {
        let (start, before) = (Instant::now(), self.backend.work_counts());
        let train = self.train_epoch(on_progress)?;
        let seconds = start.elapsed().as_secs_f64() + self.epoch_so_far.seconds;
        let trained = self.backend.work_counts();
        let test = self.evaluate_reporting(on_progress)?;
        self.last_epoch_work = (trained.since(&before), self.backend.work_counts().since(&trained));
        Ok(self.close_epoch(train, test, seconds))
    }

    /// The epoch is done: counts it, the next one starts at this step count with nothing measured yet, and returns
    /// its metrics (what [`Trainer::epoch`] and [`Trainer::end_epoch`] end with).
    fn close_epoch(&mut self, train: Stats, test: Stats, seconds: f64) -> EpochMetrics {
        self.epoch += 1;
        self.epoch_start_steps = self.backend.queued_steps();
        self.epoch_so_far = EpochSoFar::default();
        self.part_started = None;
        EpochMetrics {
            epoch: self.epoch,
            train_loss: train.loss(),
            train_acc: train.accuracy(),
            test_loss: test.loss(),
            test_acc: test.accuracy(),
            seconds,
            samples_per_sec: train.samples as f64 / seconds.max(1e-9),
        }
    }

    /// One pass over the training set in this epoch's shuffled order; stops with [`Error::Diverged`] as soon as the
    /// loss is seen to be not finite or above [`DIVERGED_LOSS`], and with [`Error::Interrupted`] when asked to stop.
    /// If the backend's step counter says part of this epoch was already trained (a run resumed from a checkpoint
    /// written mid-epoch), those steps are skipped: the order is rebuilt from the seed, so the run continues where it
    /// stopped.
    ///
    /// The host never waits for the backend inside the epoch: after each chunk of steps it asks for the statistics
    /// ([`Backend::request_stats`]) and reports whichever have arrived ([`Backend::poll_stats`]), so a GPU's
    /// progress and divergence are seen a chunk or two late while the next chunks are already queued. The one wait
    /// is for the epoch's final statistics.
    pub fn train_epoch(&mut self, on_progress: &mut dyn FnMut(Progress)) -> Result<Stats> {
        let (n, b) = (self.data.train.len(), self.batch_size());
        let order = self.config.shuffle.epoch_order(self.config.seed, self.epoch, n);
        let full_steps = n / b;
        let trained = self.backend.queued_steps().saturating_sub(self.epoch_start_steps);
        let skipped = trained.min(full_steps as u64) as usize;
        // Every step, the short last one included, was trained before the interruption (in the evaluation).
        let all_trained = trained >= self.steps_per_epoch() as u64;
        if trained == 0 {
            self.epoch_so_far = EpochSoFar::default();
        }
        let so_far = self.epoch_so_far.stats;
        self.part_started = Some(Instant::now());
        self.backend.begin_epoch(Split::Train, &order[skipped * b..])?;
        // Chunks of about CHUNK_SECONDS: start at the backend's size, then scale by the time the last chunk took
        // (with the throttle of `request_stats`, the host's pace is the GPU's).
        let most = self.backend.steps_per_check().max(1);
        let mut chunk = most;
        let mut done = skipped;
        while done < full_steps {
            let steps = chunk.min(full_steps - done);
            let started = Instant::now();
            run_steps(&mut self.backend, &self.train_full, steps)?;
            done += steps;
            self.backend.request_stats(Split::Train)?;
            if let Some((Split::Train, stats)) = self.backend.poll_stats()? {
                let seen = skipped + stats.samples as usize / b;
                self.check_divergence(stats, seen)?;
                on_progress(Progress {
                    split: Split::Train,
                    samples: skipped * b + stats.samples as usize,
                    total: n,
                    stats: so_far + stats,
                });
            }
            if self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                let steps = self.steps_per_epoch();
                return Err(Error::Interrupted { epoch: self.epoch + 1, step: done, steps, evaluating: false });
            }
            chunk = next_chunk(chunk, steps, started.elapsed().as_secs_f64(), most);
        }
        if let (Some(rest), false) = (&self.train_rest, all_trained) {
            run_steps(&mut self.backend, rest, 1)?;
        }
        let stats = self.backend.stats(Split::Train)?;
        self.check_divergence(stats, done + 1)?;
        let stats = so_far + stats;
        on_progress(Progress { split: Split::Train, samples: n, total: n, stats });
        Ok(stats)
    }

    /// [`Error::Diverged`] if the loss of `stats` (after `step` steps of this epoch) is not finite or too large.
    fn check_divergence(&self, stats: Stats, step: usize) -> Result<()> {
        if !stats.loss_sum.is_finite() || stats.loss() > DIVERGED_LOSS {
            return Err(Error::Diverged { epoch: self.epoch + 1, step, loss: stats.loss() });
        }
        Ok(())
    }

    /// Loss and accuracy on the whole test set with the current weights: every evaluation step queued in chunks of
    /// about [`CHUNK_SECONDS`] (a stop request takes effect between chunks, with [`Error::Interrupted`]), then one
    /// read of the statistics.
    pub fn evaluate(&mut self) -> Result<Stats> {
        self.evaluate_reporting(&mut |_| {})
    }

    /// [`Trainer::evaluate`], reporting its progress: once at the start, then whenever the statistics of a chunk
    /// arrive (a chunk or two late on a GPU, as in training).
    pub fn evaluate_reporting(&mut self, on_progress: &mut dyn FnMut(Progress)) -> Result<Stats> {
        let (n, full_steps) = self.begin_evaluation()?;
        on_progress(Progress { split: Split::Test, samples: 0, total: n, stats: Stats::default() });
        let most = self.backend.steps_per_check().max(1);
        let (mut chunk, mut done) = (most, 0);
        while done < full_steps {
            let steps = chunk.min(full_steps - done);
            let started = Instant::now();
            self.backend.run(self.eval_full, steps)?;
            done += steps;
            if done < full_steps {
                self.backend.request_stats(Split::Test)?;
                if let Some((Split::Test, stats)) = self.backend.poll_stats()? {
                    on_progress(Progress { split: Split::Test, samples: stats.samples as usize, total: n, stats });
                }
                if self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                    // The epoch's training is done; its evaluation was cut short.
                    let steps = self.steps_per_epoch();
                    return Err(Error::Interrupted { epoch: self.epoch + 1, step: steps, steps, evaluating: true });
                }
            }
            chunk = next_chunk(chunk, steps, started.elapsed().as_secs_f64(), most);
        }
        if let Some(rest) = self.eval_rest {
            self.backend.run(rest, 1)?;
        }
        let _ = self.backend.poll_stats()?;
        let stats = self.backend.stats(Split::Test)?;
        on_progress(Progress { split: Split::Test, samples: n, total: n, stats });
        Ok(stats)
    }

    /// Begins a pass over the test set in file order, its statistics reset: returns its samples and its full-size
    /// evaluation steps (the short last one, if any, is `eval_rest`'s).
    fn begin_evaluation(&mut self) -> Result<(usize, usize)> {
        let n = self.data.test.len();
        let order: Vec<u32> = (0..n as u32).collect();
        self.backend.begin_epoch(Split::Test, &order)?;
        Ok((n, n / self.config.eval_batch.min(n)))
    }
}
