//! Facts about the training loop that comparing our code with itself cannot see: each epoch trains a fresh
//! permutation of the data fixed by the seed (pinned by a golden prefix), one step changes every parameter and every
//! optimizer state tensor, and the 64-bit step counter carries past 2³² the same way on every backend.

mod common;

use std::sync::Arc;
use std::time::Duration;

use gpu_mnist::backend::{Backend, PlanId, Stats};
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{Dataset, LabeledImages};
use gpu_mnist::error::Result;
use gpu_mnist::gpu::GpuBackend;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{Hyper, LrSchedule, Optimizer, Rule};
use gpu_mnist::plan::{BufId, Layout, Plan, Split};
use gpu_mnist::train::{initial_params, TrainConfig, Trainer};

/// `n` samples of `features` pixels in 1..=255 (no zero pixel, so every weight gets a gradient) and labels cycling
/// through `classes`; the test split is the first 10 of them.
fn synthetic(n: usize, features: usize, classes: usize) -> Arc<Dataset> {
    let images = (0..n * features).map(|i| (i * 37 % 255 + 1) as u8).collect();
    let labels = (0..n).map(|i| (i * 7 % classes) as u8).collect();
    let train = LabeledImages::from_pixels(images, labels, 1, features);
    let mut test = train.clone();
    test.truncate(10);
    Arc::new(Dataset::new("synthetic", train, test, classes))
}

fn model(inputs: usize, hidden: Vec<usize>, classes: usize, activation: Activation, loss: Loss) -> ModelConfig {
    ModelConfig {
        output_units: OutputUnits::Classes,
        inputs,
        hidden,
        classes,
        activation,
        loss,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    }
}

/// A backend that records the order of every training epoch it is given and the steps of every `run`, may ask the
/// loop to look at the statistics every `chunk` steps, and otherwise is `inner`.
struct Recording<B> {
    inner: B,
    train_orders: Vec<Vec<u32>>,
    runs: Vec<(PlanId, usize)>,
    chunk: Option<usize>,
}

impl<B> Recording<B> {
    fn new(inner: B) -> Self {
        Recording { inner, train_orders: vec![], runs: vec![], chunk: None }
    }
}

impl<B: Backend> Backend for Recording<B> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn prepare(&mut self, plan: &Plan) -> Result<PlanId> {
        self.inner.prepare(plan)
    }
    fn begin_epoch(&mut self, split: Split, order: &[u32]) -> Result<()> {
        if split == Split::Train {
            self.train_orders.push(order.to_vec());
        }
        self.inner.begin_epoch(split, order)
    }
    fn run(&mut self, plan: PlanId, steps: usize) -> Result<()> {
        self.runs.push((plan, steps));
        self.inner.run(plan, steps)
    }
    fn stats(&mut self, split: Split) -> Result<Stats> {
        self.inner.stats(split)
    }
    fn run_collect(&mut self, plan: PlanId, steps: usize, id: BufId, len: usize) -> Result<()> {
        self.runs.push((plan, steps));
        self.inner.run_collect(plan, steps, id, len)
    }
    fn take_collected(&mut self) -> Result<Vec<f32>> {
        self.inner.take_collected()
    }
    fn request_stats(&mut self, split: Split) -> Result<()> {
        self.inner.request_stats(split)
    }
    fn poll_stats(&mut self) -> Result<Option<(Split, Stats)>> {
        self.inner.poll_stats()
    }
    fn queued_steps(&self) -> u64 {
        self.inner.queued_steps()
    }
    fn work_counts(&self) -> gpu_mnist::backend::WorkCounts {
        self.inner.work_counts()
    }
    fn workgroups(&self, plan: PlanId) -> Result<Option<Vec<u64>>> {
        self.inner.workgroups(plan)
    }
    fn profile(&mut self, plan: PlanId, steps: usize) -> Result<Option<Vec<Duration>>> {
        self.inner.profile(plan, steps)
    }
    fn layout(&self) -> &Layout {
        self.inner.layout()
    }
    fn read_buffer(&mut self, id: BufId) -> Result<Vec<f32>> {
        self.inner.read_buffer(id)
    }
    fn write_buffer(&mut self, id: BufId, data: &[f32]) -> Result<()> {
        self.inner.write_buffer(id, data)
    }
    fn steps_done(&mut self) -> Result<u64> {
        self.inner.steps_done()
    }
    fn set_steps_done(&mut self, steps: u64) -> Result<()> {
        self.inner.set_steps_done(steps)
    }
    fn steps_per_check(&self) -> usize {
        self.chunk.unwrap_or_else(|| self.inner.steps_per_check())
    }
}

/// A trainer of `model` with `optimizer` over `data` as `config` says, on the CPU backend wrapped in [`Recording`].
fn recording_trainer(
    data: &Arc<Dataset>,
    config: &TrainConfig,
    model: &ModelConfig,
    optimizer: Optimizer,
) -> Trainer<Recording<CpuBackend>> {
    let layout = config.layout(model, optimizer).unwrap();
    let backend = Recording::new(CpuBackend::new(&layout, Arc::clone(data)).unwrap());
    Trainer::new(backend, layout, Arc::clone(data), config.clone()).unwrap()
}

/// The training order of each of `epochs` epochs of a run with `seed` over 1000 samples in batches of 100.
fn epoch_orders(seed: u64, epochs: usize) -> Vec<Vec<u32>> {
    let data = synthetic(1000, 4, 3);
    let config = TrainConfig {
        chunk_rows: None,
        epochs,
        batch_size: 100,
        seed,
        eval_batch: 10,
        lr_schedule: LrSchedule::Constant,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let model = model(4, vec![], 3, Activation::Relu, Loss::Xent);
    let mut trainer = recording_trainer(&data, &config, &model, Optimizer::sgd(0.1).unwrap());
    for _ in 0..epochs {
        trainer.epoch(&mut |_| {}).unwrap();
    }
    trainer.backend.train_orders
}

#[test]
fn each_epoch_trains_a_fresh_permutation_fixed_by_the_seed() {
    let orders = epoch_orders(42, 3);
    assert_eq!(orders.len(), 3, "one training order per epoch");
    for (e, order) in orders.iter().enumerate() {
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().copied().eq(0..1000), "epoch {}: not a permutation of the 1000 samples", e + 1);
        assert!(order.iter().copied().ne(0..1000), "epoch {}: the data set's own order, not shuffled", e + 1);
    }
    assert_ne!(orders[0], orders[1], "epochs 1 and 2 trained in the same order");
    assert_ne!(orders[1], orders[2], "epochs 2 and 3 trained in the same order");
    assert_ne!(orders[0], orders[2], "epochs 1 and 3 trained in the same order");
    // Golden prefixes for seed 42 (ChaCha8, stream epoch + 1, then Fisher–Yates): a change of generator, stream or
    // shuffle would make old seeds mean other runs and break resuming from older checkpoints.
    assert_eq!(orders[0][..8], [8, 764, 645, 80, 832, 654, 851, 628], "epoch 1 of seed 42");
    assert_eq!(orders[1][..8], [29, 513, 783, 760, 833, 988, 875, 500], "epoch 2 of seed 42");
    // The same seed gives the same orders; another seed other orders.
    assert_eq!(epoch_orders(42, 3), orders);
    let other = epoch_orders(43, 2);
    assert_ne!(other[0], orders[0]);
    assert_ne!(other[1], orders[1]);
}

/// An epoch of 107 samples in batches of 5 (21 full steps and a last one of 2), the statistics looked at every 8 steps
/// as a GPU backend asks: runs of 8, 8 and 5 full steps, then the last one; every sample counted once.
#[test]
fn an_epoch_runs_exactly_its_steps_in_chunks() {
    let data = synthetic(107, 4, 3);
    let config = TrainConfig {
        chunk_rows: None,
        epochs: 2,
        batch_size: 5,
        seed: 1,
        eval_batch: 10,
        lr_schedule: LrSchedule::Linear,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let model = model(4, vec![3], 3, Activation::Tanh, Loss::Xent);
    let mut trainer = recording_trainer(&data, &config, &model, Optimizer::sgd(0.1).unwrap());
    trainer.backend.chunk = Some(8);
    // The linear schedule decays over the whole run: 2 epochs of ⌈107 / 5⌉ = 22 steps.
    assert_eq!(trainer.layout.decay_steps, 44);
    let mut seen = Vec::new();
    let stats = trainer.train_epoch(&mut |p| seen.push(p.samples)).unwrap();
    assert_eq!(stats.samples, 107);
    assert_eq!(seen, [40, 80, 105, 107], "progress after each chunk, then the last step");
    let steps: Vec<usize> = trainer.backend.runs.iter().map(|&(_, s)| s).collect();
    assert_eq!(steps, [8, 8, 5, 1]);
    assert_eq!(trainer.backend.steps_done().unwrap(), 22);
}

/// A finite mean loss above `DIVERGED_LOSS` already stops the run (it need not wait for an infinity or a NaN).
#[test]
fn a_run_stops_once_its_loss_passes_the_divergence_limit() {
    let data = synthetic(200, 4, 3);
    let config = TrainConfig {
        chunk_rows: None,
        epochs: 1,
        batch_size: 5,
        seed: 1,
        eval_batch: 10,
        lr_schedule: LrSchedule::Constant,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let model = model(4, vec![8], 3, Activation::Relu, Loss::Xent);
    let mut trainer = recording_trainer(&data, &config, &model, Optimizer::sgd(1e3).unwrap());
    match trainer.train_epoch(&mut |_| {}) {
        Err(gpu_mnist::Error::Diverged { loss, step, .. }) => {
            assert!(loss.is_finite() && loss > gpu_mnist::train::DIVERGED_LOSS, "loss {loss} at step {step}");
        }
        other => panic!("expected divergence, got {other:?}"),
    }
}

/// `warm_up` runs training steps (so pipelines and caches are warm) and then puts the run back where it started: the
/// initial weights, zero optimizer state, a zero step counter; the epoch after it equals an epoch without it.
#[test]
fn warm_up_runs_steps_then_restores_the_start() {
    let data = synthetic(40, 4, 3);
    let config = TrainConfig {
        chunk_rows: None,
        epochs: 1,
        batch_size: 5,
        seed: 9,
        eval_batch: 10,
        lr_schedule: LrSchedule::Linear,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let model = model(4, vec![3], 3, Activation::Tanh, Loss::Xent);
    let optimizer =
        Optimizer::of(Rule::Adam, &[(Hyper::Lr, 1e-2), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)])
            .unwrap();
    let layout = config.layout(&model, optimizer).unwrap();
    let trainer = |warm: usize| {
        let mut trainer = recording_trainer(&data, &config, &model, optimizer);
        trainer.warm_up(warm).unwrap();
        trainer
    };
    let mut warmed = trainer(3);
    assert_eq!(warmed.backend.runs.iter().map(|&(_, s)| s).collect::<Vec<_>>(), [3], "the warm-up ran 3 steps");
    assert_eq!(warmed.backend.read_params().unwrap(), initial_params(&model, 9).unwrap());
    for id in layout.state_buffers() {
        assert!(warmed.backend.read_buffer(id).unwrap().iter().all(|&v| v == 0.0), "{}", layout.buffers[id].name);
    }
    assert_eq!(warmed.backend.steps_done().unwrap(), 0);
    let mut cold = trainer(0);
    let (a, b) = (warmed.train_epoch(&mut |_| {}).unwrap(), cold.train_epoch(&mut |_| {}).unwrap());
    assert_eq!(a, b);
    assert_eq!(warmed.backend.read_params().unwrap(), cold.backend.read_params().unwrap());
}

/// One step from the initial weights on `backend`: every parameter tensor and every optimizer state tensor must
/// change in every element (the data has no zero pixel and tanh has no dead units, so every gradient is non-zero).
fn one_step_changes_every_tensor<B: Backend>(make: &dyn Fn(&Layout, Arc<Dataset>) -> B) {
    let data = synthetic(7, 6, 3);
    for loss in [Loss::Xent, Loss::Mse] {
        for optimizer in [
            Optimizer::sgd(0.1).unwrap(),
            Optimizer::momentum(0.05, 0.9).unwrap(),
            Optimizer::of(
                Rule::Adam,
                &[(Hyper::Lr, 1e-3), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)],
            )
            .unwrap(),
        ] {
            let model = model(6, vec![5, 4], 3, Activation::Tanh, loss);
            let layout = Layout::new(&model, optimizer, 7);
            let mut backend = make(&layout, Arc::clone(&data));
            let before = initial_params(&model, 3).unwrap();
            backend.write_params(&before).unwrap();
            let plan = backend.prepare(&layout.train_step(7).unwrap()).unwrap();
            backend.begin_epoch(Split::Train, &[3, 1, 4, 0, 5, 2, 6]).unwrap();
            backend.run(plan, 1).unwrap();
            let after = backend.read_params().unwrap();
            let what = format!("{} {:?} {}", backend.describe(), loss, optimizer.name());
            for (t, (b, a)) in before.tensors().iter().zip(after.tensors()).enumerate() {
                let same: Vec<usize> = (0..b.len()).filter(|&i| b[i] == a[i]).collect();
                assert!(same.is_empty(), "{what}: parameter tensor {t} kept its value at {same:?}");
            }
            for id in layout.state_buffers() {
                let state = backend.read_buffer(id).unwrap();
                let name = &layout.buffers[id].name;
                assert!(state.iter().all(|&s| s != 0.0), "{what}: state {name} still zero somewhere: {state:?}");
            }
        }
    }
}

#[test]
fn cpu_one_step_changes_every_parameter_and_state_tensor() {
    one_step_changes_every_tensor(&|layout, data| CpuBackend::new(layout, data).unwrap());
}

#[test]
fn gpu_one_step_changes_every_parameter_and_state_tensor() {
    let Some(ctx) = common::gpu() else { return };
    one_step_changes_every_tensor(&|layout, data| GpuBackend::new(&ctx, layout, data).unwrap());
}

/// Four Adam steps after `start` steps from a state that has run for a long time. Started at 2³² − 2, the step
/// counter's low word wraps: t runs 2³² − 1, 2³², 2³² + 1, 2³² + 2. Adam's bias correction reads t, so a lost carry
/// (t back to 1) changes the update.
fn four_adam_steps<B: Backend>(backend: &mut B, layout: &Layout, start: u64) -> (Vec<Vec<f32>>, u64) {
    let model = &layout.model;
    backend.write_params(&initial_params(model, 5).unwrap()).unwrap();
    // A state that has run for a long time: m and v non-zero.
    for id in layout.state_buffers() {
        let len = layout.buffers[id].len;
        backend.write_buffer(id, &(0..len).map(|i| 1e-3 * (1 + i % 5) as f32).collect::<Vec<_>>()).unwrap();
    }
    backend.set_steps_done(start).unwrap();
    let plan = backend.prepare(&layout.train_step(5).unwrap()).unwrap();
    let order: Vec<u32> = (0..20).collect();
    backend.begin_epoch(Split::Train, &order).unwrap();
    backend.run(plan, 4).unwrap();
    let mut tensors: Vec<Vec<f32>> = backend.read_params().unwrap().tensors().iter().map(|t| t.to_vec()).collect();
    for id in layout.state_buffers() {
        tensors.push(backend.read_buffer(id).unwrap());
    }
    (tensors, backend.steps_done().unwrap())
}

#[test]
fn a_run_across_two_to_the_32_steps_should_match_reference() {
    let data = synthetic(20, 6, 3);
    let model = model(6, vec![5], 3, Activation::Tanh, Loss::Xent);
    let optimizer =
        Optimizer::of(Rule::Adam, &[(Hyper::Lr, 1e-2), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)])
            .unwrap();
    let layout = Layout::new(&model, optimizer, 5);
    let mut cpu = CpuBackend::new(&layout, Arc::clone(&data)).unwrap();
    let start = (1 << 32) - 2;
    let (want, cpu_steps) = four_adam_steps(&mut cpu, &layout, start);
    assert_eq!(cpu_steps, (1 << 32) + 2, "cpu step count");
    // The test can tell: the same steps with t = 1..=4 (what a counter that lost its carry would give after the
    // wrap) end far outside the tolerance below.
    let (wrapped, _) = four_adam_steps(&mut CpuBackend::new(&layout, Arc::clone(&data)).unwrap(), &layout, 0);
    let apart = want.iter().flatten().zip(wrapped.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(apart > 1e-2, "t = 1..4 and t ≈ 2³² end only {apart:e} apart");
    let Some(ctx) = common::gpu() else { return };
    let mut gpu = GpuBackend::new(&ctx, &layout, data).unwrap();
    let (got, gpu_steps) = four_adam_steps(&mut gpu, &layout, start);
    assert_eq!(gpu_steps, (1 << 32) + 2, "gpu step count (the carry into the high word)");
    for (t, (g, w)) in got.iter().zip(&want).enumerate() {
        for (i, (&g, &w)) in g.iter().zip(w).enumerate() {
            assert!((g - w).abs() <= 1e-5 + 1e-4 * w.abs(), "tensor {t}[{i}]: gpu {g:e}, cpu {w:e}");
        }
    }
}

/// A stop request during the evaluation takes effect after the chunk of evaluation steps in flight, not after the
/// whole test set: the run ends with `Interrupted`, having queued one chunk.
#[test]
fn a_stop_during_evaluation_takes_effect_after_the_chunk_in_flight() {
    let data = synthetic(40, 4, 3);
    let config = TrainConfig {
        chunk_rows: None,
        epochs: 1,
        batch_size: 5,
        seed: 9,
        eval_batch: 2,
        lr_schedule: LrSchedule::Constant,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let model = model(4, vec![3], 3, Activation::Relu, Loss::Xent);
    let mut trainer = recording_trainer(&data, &config, &model, Optimizer::sgd(0.1).unwrap());
    trainer.backend.chunk = Some(2);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(true));
    trainer.stop_when(stop);
    match trainer.evaluate() {
        Err(gpu_mnist::Error::Interrupted { .. }) => {}
        other => panic!("expected an interruption, got {other:?}"),
    }
    // 10 test samples in steps of 2 are 5 steps; one chunk of 2 ran.
    let steps: Vec<usize> = trainer.backend.runs.iter().map(|&(_, s)| s).collect();
    assert_eq!(steps, [2], "{steps:?}");
}

/// Chunks are scaled towards about a second each: a fast chunk grows (at most doubling), a slow one shrinks, always
/// within 1..=the backend's size.
#[test]
fn chunks_are_sized_to_about_a_second() {
    use gpu_mnist::train::next_chunk;
    assert_eq!(next_chunk(8, 8, 0.001, 50), 16, "fast: doubles");
    assert_eq!(next_chunk(50, 50, 0.001, 50), 50, "capped at the backend's size");
    assert_eq!(next_chunk(50, 50, 10.0, 50), 5, "10 s for 50 steps: 5 steps a second");
    assert_eq!(next_chunk(5, 5, 100.0, 50), 1, "never below one step");
    assert_eq!(next_chunk(7, 3, 0.0, 50), 7, "no time measured: unchanged");
}

/// A run stopped in an epoch's evaluation (every training step done, the short last one included) and resumed from
/// its checkpoint trains no step twice and measures the whole epoch: the same records, weights and step count as the
/// run never stopped. 107 samples in batches of 5: 21 full steps and one of 2.
#[test]
fn a_run_stopped_in_its_evaluation_should_resume_without_repeating_a_step() {
    let data = synthetic(107, 4, 3);
    let config = TrainConfig {
        chunk_rows: None,
        epochs: 2,
        batch_size: 5,
        seed: 4,
        eval_batch: 2,
        lr_schedule: LrSchedule::Linear,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let model = model(4, vec![6], 3, Activation::Relu, Loss::Xent);
    let optimizer =
        Optimizer::of(Rule::Adam, &[(Hyper::Lr, 1e-2), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)])
            .unwrap();
    let mut whole = recording_trainer(&data, &config, &model, optimizer);
    let want: Vec<_> = (0..2).map(|_| whole.epoch(&mut |_| {}).unwrap()).collect();

    let mut cut = recording_trainer(&data, &config, &model, optimizer);
    cut.backend.chunk = Some(2);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    cut.stop_when(stop.clone());
    // The stop comes as the training's last progress is reported: the evaluation is what it cuts short.
    let result = cut.epoch(&mut |p| {
        if p.samples == p.total {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    match result {
        Err(gpu_mnist::Error::Interrupted { evaluating: true, step: 22, steps: 22, .. }) => {}
        other => panic!("expected an interruption in the evaluation, got {other:?}"),
    }
    let ck = gpu_mnist::checkpoint::Checkpoint::capture(&mut cut).unwrap();
    assert_eq!((ck.epoch, ck.steps_done), (0, 22));
    assert_eq!(ck.epoch_so_far.map(|s| s.stats.samples), Some(107), "the epoch's training statistics are kept");

    let mut resumed = recording_trainer(&data, &config, &model, optimizer);
    ck.restore(&mut resumed).unwrap();
    let got: Vec<_> = (0..2).map(|_| resumed.epoch(&mut |_| {}).unwrap()).collect();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (g.epoch, g.train_loss, g.train_acc, g.test_loss, g.test_acc),
            (w.epoch, w.train_loss, w.train_acc, w.test_loss, w.test_acc)
        );
    }
    assert_eq!(resumed.backend.steps_done().unwrap(), 44, "no step trained twice");
    assert_eq!(resumed.backend.read_params().unwrap(), whole.backend.read_params().unwrap());
}

/// An epoch reports its evaluation too: a first report at 0 test samples, then as chunks' statistics arrive, the
/// last at the whole test set with its statistics; the training reports come first, all of them.
#[test]
fn an_epoch_should_report_its_evaluation_after_its_training() {
    let data = synthetic(40, 4, 3);
    let config = TrainConfig {
        chunk_rows: None,
        epochs: 1,
        batch_size: 5,
        seed: 9,
        eval_batch: 2,
        lr_schedule: LrSchedule::Constant,
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let model = model(4, vec![3], 3, Activation::Relu, Loss::Xent);
    let mut trainer = recording_trainer(&data, &config, &model, Optimizer::sgd(0.1).unwrap());
    let mut seen = Vec::new();
    let m = trainer.epoch(&mut |p| seen.push((p.split, p.samples, p.total, p.stats))).unwrap();
    let first_test = seen.iter().position(|s| s.0 == Split::Test).expect("the evaluation is reported");
    assert!(seen[..first_test].iter().all(|s| s.0 == Split::Train), "{seen:?}");
    assert!(seen[first_test..].iter().all(|s| s.0 == Split::Test), "{seen:?}");
    let n = data.test.len();
    assert_eq!((seen[first_test].1, seen[first_test].2), (0, n));
    let last = seen.last().unwrap();
    assert_eq!((last.1, last.2), (n, n));
    assert_eq!((last.3.loss(), last.3.accuracy()), (m.test_loss, m.test_acc));
    let counts: Vec<usize> = seen[first_test..].iter().map(|s| s.1).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]) && counts.len() > 2, "{counts:?}");
}
