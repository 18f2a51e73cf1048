//! What a training step and an epoch cost, as each backend counts it: at most 2L + 1 dispatches per step, at most
//! two blocking waits per epoch (its end and the evaluation), progress that arrives without waiting, and an
//! evaluation that reads its outputs back once, not after every batch. Counted from what the backends really
//! encode, submit and wait for ([`Backend::work_counts`]).

mod common;

use std::sync::Arc;

use gpu_mnist::backend::{Backend, Stats};
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Dataset;
use gpu_mnist::eval::evaluate_detailed;
use gpu_mnist::gpu::GpuBackend;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::plan::{Layout, Split};
use gpu_mnist::train::{TrainConfig, Trainer};

fn config() -> TrainConfig {
    TrainConfig {
        chunk_rows: None,
        epochs: 2,
        batch_size: 8,
        seed: 3,
        eval_batch: 30,
        lr_schedule: Default::default(),
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    }
}

/// A 784-32-16-10 model (L = 3) on 650 training samples: 81 steps of 8 and one of 2, so a GPU runs two chunks of 50
/// steps and the short step; 100 test samples in evaluation steps of 30 and a last one of 10.
fn setup() -> (ModelConfig, Optimizer, Layout, Arc<Dataset>) {
    let model = ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 784,
        hidden: vec![32, 16],
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    let optimizer = Optimizer::momentum(0.05, 0.9).unwrap();
    let layout = config().layout(&model, optimizer).unwrap();
    (model, optimizer, layout, common::mnist_subset(650, 100))
}

fn backends(layout: &Layout, data: &Arc<Dataset>) -> Vec<Box<dyn Backend>> {
    let mut all: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend::new(layout, Arc::clone(data)).unwrap())];
    if let Some(ctx) = common::gpu() {
        all.push(Box::new(GpuBackend::new(&ctx, layout, Arc::clone(data)).unwrap()));
    }
    all
}

#[test]
fn an_epoch_should_take_at_most_2l_plus_1_dispatches_per_step_and_two_waits() {
    let (_, _, layout, data) = setup();
    for backend in backends(&layout, &data) {
        let name = backend.describe();
        let mut trainer = Trainer::new(backend, layout.clone(), Arc::clone(&data), config()).unwrap();
        for epoch in 1..=2 {
            let mut progress = Vec::new();
            // The training's reports (the evaluation's follow them).
            let m = trainer.epoch(&mut |p| progress.extend((p.split == Split::Train).then_some(p.samples))).unwrap();
            let (train, eval) = trainer.last_epoch_work;
            println!("{name} epoch {epoch}: train {train:?}, eval {eval:?}, progress at {progress:?}");
            assert_eq!(train.steps, 82, "{name}");
            // The fused step: 6 stages for 3 layers (7 is the budget); the short last step too.
            assert_eq!(train.dispatches, 82 * 6, "{name}");
            // Evaluation: 4 steps of L + 1 = 4 stages.
            assert_eq!((eval.steps, eval.dispatches), (4, 16), "{name}");
            assert!(train.blocking_waits + eval.blocking_waits <= 2, "{name}: {train:?} {eval:?}");
            if name.starts_with("cpu") {
                assert_eq!(train.blocking_waits + eval.blocking_waits, 0, "{name}");
            } else {
                // One pass and one submission per chunk of at most 64 steps, plus the read-back requests.
                assert!(train.passes <= 4 && train.submits <= 8, "{name}: {train:?}");
                assert!(train.encode_ns > 0, "{name}: encoding was not timed");
            }
            assert_eq!(progress.last(), Some(&650), "{name}: the last report covers the epoch");
            assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{name}: progress went backwards");
            assert!(m.train_acc > 0.0, "{name}");
        }
    }
}

/// Requested statistics arrive without a wait and equal the blocking read of the same moment.
#[test]
fn requested_stats_should_match_the_blocking_read() {
    let (_, _, layout, data) = setup();
    for mut backend in backends(&layout, &data) {
        let name = backend.describe();
        let plan = backend.prepare(&layout.train_step(8).unwrap()).unwrap();
        let order: Vec<u32> = (0..650).collect();
        backend.begin_epoch(Split::Train, &order).unwrap();
        backend.run(plan, 5).unwrap();
        assert_eq!(backend.queued_steps(), 5, "{name}: the host counts what it queued");
        backend.request_stats(Split::Train).unwrap();
        let blocking = backend.stats(Split::Train).unwrap();
        let waits = backend.work_counts().blocking_waits;
        // After the blocking read the copy has certainly arrived; polling never blocks.
        let mut arrived: Option<(Split, Stats)> = None;
        for _ in 0..1000 {
            arrived = backend.poll_stats().unwrap();
            if arrived.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(arrived, Some((Split::Train, blocking)), "{name}");
        assert_eq!(blocking.samples, 40, "{name}");
        assert_eq!(backend.work_counts().blocking_waits, waits, "{name}: polling waited");
        assert_eq!(backend.poll_stats().unwrap(), None, "{name}: the same copy twice");
        assert_eq!(backend.steps_done().unwrap(), 5, "{name}");
    }
}

/// `evaluate_detailed` (the `eval` command) reads the outputs back once for the whole test set, plus the statistics:
/// two waits for four batches; its confusion matrix agrees with the statistics.
#[test]
fn a_detailed_evaluation_should_read_back_once() {
    let (model, _, layout, data) = setup();
    for mut backend in backends(&layout, &data) {
        let name = backend.describe();
        backend.write_params(&gpu_mnist::train::initial_params(&model, 3).unwrap()).unwrap();
        let before = backend.work_counts();
        let e = evaluate_detailed(&mut backend, &layout, &data.test, 30).unwrap();
        let work = backend.work_counts().since(&before);
        assert_eq!(work.steps, 4, "{name}");
        if !name.starts_with("cpu") {
            assert_eq!(work.blocking_waits, 2, "{name}: {work:?}");
        }
        assert_eq!(e.stats.samples, 100, "{name}");
        assert_eq!(e.trace(), e.stats.correct, "{name}");
        assert_eq!((0..10).map(|c| e.class_samples(c)).sum::<u32>(), 100, "{name}");
    }
}

/// More requests than the ring holds: copies that have already arrived free their slots without a wait; only a
/// copy still in flight is waited for (a throttle, counted apart from the waits that drain the GPU), at most once per
/// request beyond the ring. The newest copy is the one handed out. Lavapipe finishes each submission before the next
/// request, so there it must never wait (before this was fixed, a full ring of arrived copies waited for the whole
/// queue); on a GPU with copies in flight the throttle may.
#[test]
fn requests_beyond_the_ring_should_wait_only_for_copies_in_flight_and_keep_the_newest() {
    let (_, _, layout, data) = setup();
    let Some(ctx) = common::gpu() else { return };
    let software = ctx.is_software();
    let mut gpu = GpuBackend::new(&ctx, &layout, Arc::clone(&data)).unwrap();
    let plan = gpu.prepare(&layout.train_step(8).unwrap()).unwrap();
    gpu.begin_epoch(Split::Train, &(0..650).collect::<Vec<u32>>()).unwrap();
    let (requests, steps) = (8, 10);
    let before = gpu.work_counts();
    for _ in 0..requests {
        gpu.run(plan, steps).unwrap();
        gpu.request_stats(Split::Train).unwrap();
    }
    let work = gpu.work_counts().since(&before);
    assert_eq!(work.blocking_waits, 0, "{work:?}");
    assert!(work.throttle_waits <= (requests - gpu_mnist::gpu::readback::RING_SLOTS) as u64, "{work:?}");
    if software {
        assert_eq!(work.throttle_waits, 0, "every copy had arrived: no wait was needed: {work:?}");
    }
    gpu.finish().unwrap();
    let (split, stats) = gpu.poll_stats().unwrap().expect("the copies have arrived");
    let all = (requests * steps * 8) as u32;
    assert_eq!((split, stats.samples), (Split::Train, all), "the newest copy: after all the steps");
}
