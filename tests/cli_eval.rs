//! `gpu-mnist eval` reports what training reported: the same test loss and accuracy, from the saved checkpoint;
//! and the library's detailed evaluation agrees with the training loop's.

use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::eval::evaluate_detailed;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::Optimizer;
use gpu_mnist::train::{TrainConfig, Trainer};

mod common;
mod support;
use support::{fails, ok};

/// "test loss 0.1234 acc 95.67%" from a line of output.
fn test_part(line: &str) -> &str {
    let start = line.find("test loss ").unwrap();
    let end = line[start..].find('%').unwrap();
    &line[start..start + end + 1]
}

#[test]
fn eval_reports_the_accuracy_training_printed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = ["train", "--limit", "2000", "--hidden", "32", "--epochs", "1", "-q", "--save", "m.safetensors"];
    let train = ok(d, &args);
    let epoch_line = train.lines().find(|l| l.starts_with("epoch 1/1")).unwrap();

    let eval = ok(d, &["eval", "--model", "m.safetensors", "--backend", "cpu", "--confusion", "confusion.csv"]);
    let result = eval.lines().find(|l| l.starts_with("test loss")).unwrap();
    assert_eq!(test_part(result), test_part(epoch_line), "eval:\n{eval}\ntrain:\n{train}");
    assert!(eval.contains("model:   784-32-10 relu xent"), "{eval}");
    assert!(eval.contains("trained: 1 epoch on mnist (2000 samples)"), "{eval}");
    assert!(eval.contains("class  samples  correct     acc"), "{eval}");
    assert!(eval.contains("confusion matrix (rows: true class, columns: predicted)"), "{eval}");
    // MNIST's test set has 980 zeros and 1135 ones.
    assert!(eval.lines().any(|l| l.starts_with("    0      980  ")), "{eval}");
    assert!(eval.lines().any(|l| l.starts_with("    1     1135  ")), "{eval}");

    let csv = std::fs::read_to_string(d.join("confusion.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("true,0,1,2,3,4,5,6,7,8,9"));
    let rows: Vec<Vec<u32>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows.iter().map(|r| r[1..].iter().sum::<u32>()).sum::<u32>(), 10_000);
    let correct: u32 = (0..10).map(|c| rows[c][c + 1]).sum();
    assert!(result.contains(&format!("({correct}/10000)")), "{result} vs trace {correct}");
    assert!(result.contains(&format!("acc {:.2}%", correct as f64 / 100.0)), "{result}");
}

#[test]
fn eval_of_a_bad_checkpoint_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bad.safetensors"), [0u8; 4]).unwrap();
    for (args, expected) in [
        (&["eval", "--model", "bad.safetensors"][..], "checkpoint bad.safetensors: truncated"),
        (&["eval", "--model", "missing.safetensors"][..], "missing.safetensors"),
    ] {
        let (_, stderr) = fails(d, args);
        assert!(stderr.contains("evaluation failed") && stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn detailed_evaluation_agrees_with_the_training_loop() {
    // Every loss head; one output unit on digits 5–9 against 0–4, whose confusion matrix (2 × 2) counts the host's
    // reading of each row's one output (class 1 above its threshold) against the kernels' count of correct rows.
    for (loss, output_units) in gpu_mnist::model::heads() {
        let classes = if output_units == OutputUnits::One { 2 } else { 10 };
        let data = common::mnist_for(classes, 600, 1234); // 1234: not a multiple of the eval batch, a short last step
        let model = ModelConfig {
            output_units,
            inputs: 784,
            hidden: vec![24],
            classes,
            activation: Activation::Sigmoid,
            loss,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
        };
        let config = TrainConfig {
            chunk_rows: None,
            epochs: 1,
            batch_size: 20,
            seed: 1,
            eval_batch: 500,
            lr_schedule: Default::default(),
            init: None,
            dropout: 0.0,
            input_dropout: 0.0,
            shuffle: Default::default(),
        };
        let optimizer = Optimizer::sgd(if loss == Loss::Mse { 3.0 } else { 0.1 }).unwrap();
        let layout = config.layout(&model, optimizer).unwrap();
        let mut t = Trainer::new(CpuBackend::new(&layout, data.clone()).unwrap(), layout.clone(), data.clone(), config)
            .unwrap();
        let m = t.epoch(&mut |_| {}).unwrap();
        let ev = evaluate_detailed(&mut t.backend, &layout, &data.test, 500).unwrap();
        assert_eq!((ev.loss(), ev.accuracy()), (m.test_loss, m.test_acc), "{loss:?}");
        assert_eq!(ev.stats, t.evaluate().unwrap());
        assert_eq!(ev.trace(), ev.stats.correct);
        assert_eq!(ev.stats.samples, 1234);
        assert_eq!(ev.classes(), classes);
        for c in 0..classes {
            let n = data.test.labels.iter().filter(|&&l| l as usize == c).count() as u32;
            assert_eq!(ev.class_samples(c), n);
        }
        assert!(ev.per_class_accuracy().iter().all(|a| a.is_some_and(|a| (0.0..=1.0).contains(&a))));
        // And from a saved checkpoint, in a backend built for evaluation only.
        let ck = Checkpoint::capture(&mut t).unwrap();
        let eval_layout = gpu_mnist::plan::Layout::new(&ck.model, Optimizer::sgd(0.1).unwrap(), 500);
        let mut backend = CpuBackend::new(&eval_layout, data.clone()).unwrap();
        gpu_mnist::backend::Backend::write_params(&mut backend, &ck.params).unwrap();
        let again = evaluate_detailed(&mut backend, &eval_layout, &data.test, 500).unwrap();
        assert_eq!(again, ev);
    }
}
