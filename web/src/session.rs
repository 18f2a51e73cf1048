//! The page's training run (`web/www/`): a [`Trainer`] on the browser's GPU (or the CPU reference compiled to wasm)
//! advanced a chunk at a time from the page's event loop, never waiting: each [`Session::advance`] takes what has
//! arrived, queues the next chunk of steps and asks for the statistics it will leave, then returns, and the page
//! awaits its next animation frame (that is where the browser maps buffers). What it reports, what it predicts for
//! a drawn digit and the checkpoint it writes are the library's own, so that `gpu-mnist eval` and `predict` give the
//! same numbers natively.

use std::path::Path;

use gpu_mnist::backend::{Backend, Stats};
use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Features;
use gpu_mnist::gpu::GpuBackend;
use gpu_mnist::imaging::{self, Preprocess};
use gpu_mnist::model::{ModelConfig, Params};
use gpu_mnist::plan::Split;
use gpu_mnist::predict;
use gpu_mnist::train::{EpochInSteps, EpochMetrics, Trainer};
use web_time::Instant;

pub use crate::settings::{RunParts, Settings};

/// The run's trainer on one of the two backends.
pub enum Engine {
    Cpu(Box<Trainer<CpuBackend>>),
    Gpu(Box<Trainer<GpuBackend>>),
}

/// `$body` with `$t` bound to the trainer, whichever backend it runs on.
macro_rules! on_trainer {
    ($engine:expr, $t:ident => $body:expr) => {
        match $engine {
            Engine::Cpu($t) => $body,
            Engine::Gpu($t) => $body,
        }
    };
}

/// Where the current epoch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Between epochs (or all done).
    Idle,
    Training,
    Evaluating,
}

/// What [`Session::advance`] reports to the page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub phase: Phase,
    /// Epochs completed, and in all.
    pub epoch: usize,
    pub epochs: usize,
    /// Training samples of the current epoch whose statistics have arrived, of `total`.
    pub samples: usize,
    pub total: usize,
    /// Mean training loss and accuracy of those samples.
    pub train_loss: f32,
    pub train_acc: f32,
    /// Every completed epoch's metrics (those of `gpu-mnist train --metrics`).
    pub history: Vec<EpochMetrics>,
    /// Training samples per second over the whole run so far (completed and current epochs).
    pub samples_per_sec: f64,
    /// Whether every epoch is done.
    pub finished: bool,
}

/// The seconds a chunk of training steps should take: short enough for smooth curves and a prompt stop, long
/// enough that the waiting between chunks costs little.
const CHUNK_SECONDS: f64 = 0.25;

/// A training run driven by the page.
pub struct Session {
    pub engine: Engine,
    epoch: Option<EpochInSteps>,
    phase: Phase,
    /// A statistics request not answered yet (at most one is in flight, so the ring never has to wait).
    in_flight: bool,
    latest_train: Stats,
    train_final: Option<Stats>,
    history: Vec<EpochMetrics>,
    /// Steps in the next chunk; the last chunk's size and when it was queued (to size the next).
    chunk: usize,
    last_chunk: Option<(usize, Instant)>,
    /// Seconds of training in completed epochs, and when the current stretch of advancing began.
    trained_seconds: f64,
    samples_trained: usize,
}

/// `e` as an error message.
pub(crate) fn text(e: gpu_mnist::Error) -> String {
    e.to_string()
}

impl Session {
    /// The run of `parts`, on the GPU of `ctx` or (`None`) on the CPU reference, from its seeded initial weights or,
    /// with `ck`, continuing the checkpoint `parts` came from.
    pub fn new(
        parts: RunParts,
        ctx: Option<&gpu_mnist::gpu::GpuContext>,
        ck: Option<&Checkpoint>,
    ) -> Result<Self, String> {
        let layout = parts.layout()?;
        let RunParts { config, data, .. } = parts;
        let mut engine = match ctx {
            Some(ctx) => Engine::Gpu(Box::new(
                Trainer::new(GpuBackend::new(ctx, &layout, data.clone()).map_err(text)?, layout, data, config)
                    .map_err(text)?,
            )),
            None => Engine::Cpu(Box::new(
                Trainer::new(CpuBackend::new(&layout, data.clone()).map_err(text)?, layout, data, config)
                    .map_err(text)?,
            )),
        };
        if let Some(ck) = ck {
            if ck.epoch_so_far.is_some() {
                return Err("the checkpoint was saved in the middle of an epoch: continue it with `gpu-mnist train \
                            --resume`, or load one saved between epochs"
                    .into());
            }
            on_trainer!(&mut engine, t => {
                ck.restore(&mut **t).map_err(text)?;
                t.continue_at(ck.epoch, ck.epoch_start_steps().map_err(text)?).map_err(text)?;
            });
        }
        Ok(Session {
            engine,
            epoch: None,
            phase: Phase::Idle,
            in_flight: false,
            latest_train: Stats::default(),
            train_final: None,
            history: Vec::new(),
            chunk: 1,
            last_chunk: None,
            trained_seconds: 0.0,
            samples_trained: 0,
        })
    }

    /// One turn of the page's loop, never waiting: takes the statistics that have arrived, and queues what comes next
    /// — the next chunk of training steps, the evaluation once they are all trained, the next epoch once that is
    /// measured (on the turn after the one that ends an epoch, so the page sees every boundary). Returns where the
    /// run stands.
    pub fn advance(&mut self) -> Result<Report, String> {
        let ended = self.take_arrived()?;
        if !self.in_flight && !ended {
            self.queue_next()?;
        }
        Ok(self.report())
    }

    /// Takes the statistics that have arrived: the training's so far, or an epoch's end (then `true`).
    fn take_arrived(&mut self) -> Result<bool, String> {
        let arrived = on_trainer!(&mut self.engine, t => t.backend.poll_stats().map_err(text)?);
        let Some((split, stats)) = arrived else { return Ok(false) };
        self.in_flight = false;
        let (n_train, n_test) = on_trainer!(&self.engine, t => (t.data().train.len(), t.data().test.len()));
        match (split, self.phase) {
            (Split::Train, Phase::Training) => {
                self.latest_train = stats;
                if let Some((steps, queued)) = self.last_chunk.take() {
                    let seconds = queued.elapsed().as_secs_f64().max(1e-3);
                    self.chunk = ((steps as f64 * CHUNK_SECONDS / seconds).round() as usize).clamp(1, steps * 2);
                }
                if stats.samples as usize == n_train {
                    self.train_final = Some(stats);
                }
            }
            (Split::Test, Phase::Evaluating) if stats.samples as usize == n_test => {
                let (Some(epoch), Some(train)) = (self.epoch.take(), self.train_final.take()) else {
                    return Err("an evaluation ended without its epoch".into());
                };
                let m = on_trainer!(&mut self.engine, t => t.end_epoch(epoch, train, stats).map_err(text)?);
                self.trained_seconds += m.seconds;
                self.samples_trained += n_train;
                self.history.push(m);
                self.phase = Phase::Idle;
                self.latest_train = Stats::default();
                return Ok(true);
            }
            _ => {}
        }
        Ok(false)
    }

    /// Queues the next piece of work and asks for the statistics it will leave.
    fn queue_next(&mut self) -> Result<(), String> {
        let (epochs, done) = on_trainer!(&self.engine, t => (t.config.epochs, t.epoch));
        match self.phase {
            Phase::Idle if done < epochs => {
                self.epoch = Some(on_trainer!(&mut self.engine, t => t.begin_training().map_err(text)?));
                self.phase = Phase::Training;
                self.queue_next()
            }
            Phase::Idle => Ok(()),
            Phase::Training => {
                let Some(epoch) = self.epoch.as_mut() else { return Err("training without an epoch".into()) };
                if epoch.steps_left() == 0 {
                    if self.train_final.is_none() {
                        // Every step is queued; the last request's answer (the whole epoch) is still to come.
                        on_trainer!(&mut self.engine, t => t.backend.request_stats(Split::Train).map_err(text)?);
                        self.in_flight = true;
                        return Ok(());
                    }
                    on_trainer!(&mut self.engine, t => {
                        t.queue_evaluation().map_err(text)?;
                        t.backend.request_stats(Split::Test).map_err(text)?;
                    });
                    self.phase = Phase::Evaluating;
                    self.in_flight = true;
                    return Ok(());
                }
                let chunk = self.chunk;
                let steps = on_trainer!(&mut self.engine, t => t.queue_training(epoch, chunk).map_err(text)?);
                on_trainer!(&mut self.engine, t => t.backend.request_stats(Split::Train).map_err(text)?);
                self.last_chunk = Some((steps, Instant::now()));
                self.in_flight = true;
                Ok(())
            }
            Phase::Evaluating => {
                on_trainer!(&mut self.engine, t => t.backend.request_stats(Split::Test).map_err(text)?);
                self.in_flight = true;
                Ok(())
            }
        }
    }

    /// Where the run stands.
    pub fn report(&self) -> Report {
        let (epochs, epoch, total) = on_trainer!(&self.engine, t => (t.config.epochs, t.epoch, t.data().train.len()));
        let s = self.latest_train;
        let seconds = self.trained_seconds + self.epoch.map_or(0.0, |e| e.seconds());
        Report {
            phase: self.phase,
            epoch,
            epochs,
            samples: s.samples as usize,
            total,
            // Nothing measured yet: 0 rather than 0/0 (JSON has no NaN).
            train_loss: if s.samples == 0 { 0.0 } else { s.loss() },
            train_acc: if s.samples == 0 { 0.0 } else { s.accuracy() },
            history: self.history.clone(),
            samples_per_sec: (self.samples_trained + s.samples as usize) as f64 / seconds.max(1e-9),
            finished: epoch >= epochs && self.phase == Phase::Idle,
        }
    }

    /// Whether the run is between epochs (what a checkpoint, a prediction or a new setting needs).
    pub fn at_epoch_boundary(&self) -> bool {
        self.phase == Phase::Idle && !self.in_flight
    }

    /// The trained parameters (awaited from the GPU), between epochs only.
    pub async fn params(&mut self) -> Result<Params, String> {
        self.boundary()?;
        match &mut self.engine {
            Engine::Cpu(t) => t.backend.read_params().map_err(text),
            Engine::Gpu(t) => t.backend.read_params_async().await.map_err(text),
        }
    }

    /// The run as a checkpoint file (safetensors, as `gpu-mnist train --save` writes it), between epochs only.
    pub async fn checkpoint_bytes(&mut self) -> Result<Vec<u8>, String> {
        self.boundary()?;
        let ck = match &mut self.engine {
            Engine::Cpu(t) => Checkpoint::capture(&mut **t).map_err(text)?,
            Engine::Gpu(t) => {
                let params = t.backend.read_params_async().await.map_err(text)?;
                let mut packed = Vec::new();
                for id in t.layout.state_buffers() {
                    packed.push(t.backend.read_buffer_async(id).await.map_err(text)?);
                }
                let steps = t.backend.steps_done_async().await.map_err(text)?;
                Checkpoint::of_trainer(&**t, params, packed, steps, None)
            }
        };
        ck.to_bytes().map_err(text)
    }

    fn boundary(&self) -> Result<(), String> {
        match self.at_epoch_boundary() {
            true => Ok(()),
            false => Err("the run is in the middle of an epoch: let it finish the epoch first".into()),
        }
    }

    /// The model and how its data set's pictures were made (for [`predict_png`]).
    pub fn model(&self) -> (&ModelConfig, Preprocess, Option<gpu_mnist::data::Normalize>) {
        on_trainer!(&self.engine, t => (&t.layout.model, Preprocess::for_data(&t.data().name), t.data().normalize))
    }
}

/// The class probabilities of a picture of a digit (PNG bytes, as the page's canvas exports it), made into the
/// model's input exactly as `gpu-mnist predict` makes it ([`imaging::decode_image`], then `preprocess`), all classes
/// most probable first.
pub fn predict_png(
    model: &ModelConfig,
    params: &Params,
    preprocess: Preprocess,
    normalize: Option<gpu_mnist::data::Normalize>,
    png: &[u8],
) -> Result<Vec<(usize, f32)>, String> {
    let img = imaging::decode_image(Path::new("canvas.png"), png).map_err(text)?;
    let pixels = preprocess.apply(&img).map_err(text)?;
    let probs = predict::probabilities(model, params, &Features::Pixels(pixels), normalize, 1).map_err(text)?;
    Ok(predict::top_k(&probs, model.classes))
}
