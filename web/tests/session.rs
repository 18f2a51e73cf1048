//! The page's run ([`gpu_mnist_web::session::Session`]) natively, on the CPU reference: advanced turn by turn as the
//! page's loop advances it, it trains exactly the run `gpu-mnist train` trains (the same metrics every epoch, the
//! same weights), and the checkpoint it writes is the library's, continuing where it stopped.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;

use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::data::{self, DataSource, LoadOptions};
use gpu_mnist::train::Trainer;
use gpu_mnist_web::session::{Phase, RunParts, Session, Settings};

fn settings() -> Settings {
    Settings {
        hidden: vec![24],
        activation: "relu".into(),
        loss: "xent".into(),
        optimizer: "adam".into(),
        hypers: BTreeMap::from([("lr".into(), 0.002)]),
        init: None,
        lr_schedule: "linear".into(),
        batch_size: 50,
        epochs: 2,
        seed: 9,
        dropout: 0.1,
        input_dropout: 0.2,
        train_samples: 1234,
    }
}

#[test]
fn the_pages_run_should_equal_the_training_loop() {
    let mnist = data::load(&DataSource::Embedded, &LoadOptions::default()).unwrap();
    // The loop `gpu-mnist train` runs.
    let parts = RunParts::from_settings(&settings(), &mnist).unwrap();
    let layout = parts.layout().unwrap();
    let cpu = gpu_mnist::cpu::CpuBackend::new(&layout, parts.data.clone()).unwrap();
    let mut trainer = Trainer::new(cpu, layout, parts.data.clone(), parts.config.clone()).unwrap();
    let want: Vec<_> = (0..2).map(|_| trainer.epoch(&mut |_| {}).unwrap()).collect();

    // The page's: one turn at a time until it says it is finished.
    let mut session = Session::new(RunParts::from_settings(&settings(), &mnist).unwrap(), None, None).unwrap();
    let mut turns = 0;
    let report = loop {
        let r = session.advance().unwrap();
        turns += 1;
        assert!(turns < 10_000, "the run never finished: {r:?}");
        if r.finished {
            break r;
        }
    };
    assert_eq!(report.phase, Phase::Idle);
    assert_eq!(report.history.len(), 2);
    for (got, want) in report.history.iter().zip(&want) {
        assert_eq!(
            (got.train_loss, got.train_acc, got.test_loss, got.test_acc),
            (want.train_loss, want.train_acc, want.test_loss, want.test_acc)
        );
    }
    let params = pollster::block_on(session.params()).unwrap();
    assert_eq!(params, gpu_mnist::backend::Backend::read_params(&mut trainer.backend).unwrap());
    println!("the page's run: {turns} turns, epochs {:?}", report.history);

    // Its checkpoint is the library's, and a session resumed from it trains a third epoch as the loop does.
    let bytes = pollster::block_on(session.checkpoint_bytes()).unwrap();
    let ck = Checkpoint::load_bytes(std::path::Path::new("page.safetensors"), &bytes).unwrap();
    assert_eq!((ck.epoch, ck.train_samples, ck.params.clone()), (2, 1234, params));
    let mut resumed = Session::new(RunParts::from_checkpoint(&ck, 3, &mnist).unwrap(), None, Some(&ck)).unwrap();
    let third = loop {
        let r = resumed.advance().unwrap();
        if r.finished {
            break r;
        }
    };
    trainer.config.epochs = 3;
    trainer.continue_at(2, trainer.epoch_start_steps).unwrap();
    let want3 = trainer.epoch(&mut |_| {}).unwrap();
    let got3 = &third.history[0];
    assert_eq!((got3.epoch, got3.test_loss, got3.test_acc), (3, want3.test_loss, want3.test_acc));
}
