//! Resuming is exact on the CPU: 2 epochs in one run equal 1 epoch, a checkpoint, and 1 more epoch in a new
//! trainer (or a new process) — the same weights, optimizer state and metrics, bit for bit.

use std::path::Path;
use std::sync::Arc;

use gpu_mnist::backend::Backend;
use gpu_mnist::checkpoint::Checkpoint;
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::Dataset;
use gpu_mnist::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{Hyper, Optimizer, Rule};
use gpu_mnist::train::{EpochMetrics, TrainConfig, Trainer};

mod common;
mod support;
use support::{fails, ok};

fn trainer(data: &Arc<Dataset>, optimizer: Optimizer, config: TrainConfig) -> Trainer<CpuBackend> {
    let model = ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 784,
        hidden: vec![32],
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    let layout = config.layout(&model, optimizer).unwrap();
    Trainer::new(CpuBackend::new(&layout, data.clone()).unwrap(), layout, data.clone(), config).unwrap()
}

/// One epoch's metrics without the wall-clock fields.
fn epoch(t: &mut Trainer<CpuBackend>) -> EpochMetrics {
    let mut m = t.epoch(&mut |_| {}).unwrap();
    (m.seconds, m.samples_per_sec) = (0.0, 0.0);
    m
}

#[test]
fn resuming_through_the_library_is_bit_exact() {
    let data = common::mnist_subset(1000, 500);
    let dir = tempfile::tempdir().unwrap();
    let adam =
        Optimizer::of(Rule::Adam, &[(Hyper::Lr, 2e-3), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)])
            .unwrap();
    // With dropout too (of the hidden layer, and of the input pixels): the checkpoint keeps both p, and the resumed
    // epoch draws the masks the uninterrupted one drew.
    let momentum = Optimizer::momentum(0.05, 0.9).unwrap();
    for (optimizer, dropout, input_dropout) in [(adam, 0.0, 0.0), (momentum, 0.0, 0.0), (adam, 0.25, 0.2)] {
        // Batch 48 does not divide 1000: the short last step is part of the state too.
        let config = TrainConfig {
            chunk_rows: None,
            epochs: 2,
            batch_size: 48,
            seed: 3,
            eval_batch: 200,
            lr_schedule: Default::default(),
            init: None,
            dropout,
            input_dropout,
            shuffle: Default::default(),
        };
        let mut straight = trainer(&data, optimizer, config.clone());
        let expected = [epoch(&mut straight), epoch(&mut straight)];
        let end = Checkpoint::capture(&mut straight).unwrap();

        let mut first = trainer(&data, optimizer, config.clone());
        assert_eq!(epoch(&mut first), expected[0]);
        let path = dir.path().join(format!("{}-{dropout}.safetensors", optimizer.name()));
        Checkpoint::capture(&mut first).unwrap().save(&path).unwrap();
        drop(first);

        let ck = Checkpoint::load(&path).unwrap();
        assert_eq!((ck.epoch, ck.steps_done, ck.dropout, ck.input_dropout), (1, 21, dropout, input_dropout));
        let mut second = trainer(&data, ck.optimizer, ck.train_config(2, 200));
        ck.restore(&mut second).unwrap();
        assert_eq!(epoch(&mut second), expected[1], "{}", optimizer.name());
        let resumed = Checkpoint::capture(&mut second).unwrap();
        assert_eq!(resumed, end, "weights, optimizer state and counters after the resumed epoch");

        // The optimizer state matters: without it the second epoch differs (so the test could fail).
        let mut forgetful = trainer(&data, optimizer, config);
        forgetful.backend.write_params(&ck.params).unwrap();
        forgetful.backend.set_steps_done(ck.steps_done).unwrap();
        forgetful.epoch = 1;
        assert_ne!(epoch(&mut forgetful), expected[1]);
    }
}

/// The CSV rows without the wall-clock columns (seconds, samples_per_sec).
fn csv_rows(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().skip(1).map(|l| l.split(',').take(5).collect::<Vec<_>>().join(",")).collect()
}

/// The losses and accuracies of the epoch lines (without the epoch count and the timing).
fn epoch_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .map(|l| l.split("  ").skip(1).take(2).collect::<Vec<_>>().join("  "))
        .collect()
}

#[test]
fn resuming_through_the_binary_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let common = ["train", "--backend", "cpu", "--limit", "2000", "-q"];
    // A constant rate: with the default linear decay a run's schedule spans its --epochs, so "1 epoch, then resume
    // to 2" is a different run from "2 epochs" (the Ctrl-C test in tests/interrupt.rs covers the decaying schedule:
    // resumed with the same --epochs, it is exact).
    let model = ["--hidden", "32", "--optimizer", "adam", "--lr", "0.002", "--batch-size", "50", "--seed", "11"];
    // Input dropout too: the resumed run takes it from the checkpoint.
    let model: Vec<&str> = model.into_iter().chain(["--lr-schedule", "constant", "--input-dropout", "0.2"]).collect();
    let straight: Vec<&str> = common
        .iter()
        .chain(&model)
        .chain(&["--epochs", "2", "--metrics", "a.csv", "--save", "a.safetensors"])
        .copied()
        .collect();
    let out_a = ok(d, &straight);
    let first: Vec<&str> = common
        .iter()
        .chain(&model)
        .chain(&["--epochs", "1", "--metrics", "b1.csv", "--save", "b.safetensors"])
        .copied()
        .collect();
    let out_b1 = ok(d, &first);
    assert!(out_b1.contains("saved:   b.safetensors (epoch 1)"), "{out_b1}");
    // The resumed run repeats none of the model, optimizer, seed or batch flags.
    let second: Vec<&str> = common
        .iter()
        .chain(&["--epochs", "2", "--resume", "b.safetensors", "--metrics", "b2.csv", "--save", "b2.safetensors"])
        .copied()
        .collect();
    let out_b2 = ok(d, &second);
    assert!(out_b2.contains("model:   784-32-10 relu xent"), "{out_b2}");
    assert!(out_b2.contains(", input dropout 0.2\n"), "{out_b2}");
    assert!(
        out_b2.contains("optim:   adam lr=0.002 betas=(0.9, 0.999) eps=1e-8, lr constant, batch 50, 2 epochs, seed 11"),
        "{out_b2}"
    );
    assert!(out_b2.contains("resumed: b.safetensors at epoch 1/2\n"), "{out_b2}");

    let a = csv_rows(&d.join("a.csv"));
    let b: Vec<String> = csv_rows(&d.join("b1.csv")).into_iter().chain(csv_rows(&d.join("b2.csv"))).collect();
    assert_eq!(a.len(), 2);
    assert_eq!(a, b, "metrics of the straight and the resumed run");
    let lines_b: Vec<String> = epoch_lines(&out_b1).into_iter().chain(epoch_lines(&out_b2)).collect();
    assert_eq!(epoch_lines(&out_a), lines_b);
    assert!(out_b2.contains("\nepoch 2/2  train loss"), "{out_b2}");

    let end_a = Checkpoint::load(&d.join("a.safetensors")).unwrap();
    let end_b = Checkpoint::load(&d.join("b2.safetensors")).unwrap();
    assert_eq!(end_a, end_b, "weights and optimizer state");
    assert_eq!(std::fs::read(d.join("a.safetensors")).unwrap(), std::fs::read(d.join("b2.safetensors")).unwrap());
    assert_eq!((end_a.epoch, end_a.steps_done), (2, 80));
}

#[test]
fn resume_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = ["train", "--limit", "500", "--hidden", "16", "--epochs", "1", "-q"];
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--optimizer", "momentum", "--save", "m.safetensors"]);
    ok(d, &args);

    let resume = ["train", "--limit", "500", "-q", "--resume", "m.safetensors"];
    let conflicts: [(&[&str], &str); 7] = [
        (&["--hidden", "64"], "--hidden \"64\" differs from the checkpoint's hidden layers \"16\""),
        (&["--activation", "tanh"], "--activation tanh differs from the checkpoint's relu"),
        (&["--loss", "mse"], "--loss mse differs from the checkpoint's xent"),
        (&["--optimizer", "adam"], "--optimizer adam differs from the checkpoint's momentum"),
        (&["--seed", "7"], "--seed 7 differs from the checkpoint's 42"),
        (&["--batch-size", "32"], "--batch-size 32 differs from the checkpoint's 64"),
        (&["--epochs", "0"], "--epochs must be at least 1"),
    ];
    for (flags, expected) in conflicts {
        let args: Vec<&str> = resume.iter().chain(flags).copied().collect();
        let (stdout, stderr) = fails(d, &args);
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
        assert!(!stdout.contains("epoch 1"), "{flags:?} trained anyway: {stdout}");
    }

    // Flags that agree with the checkpoint are fine; a new learning rate is taken, and said.
    let args: Vec<&str> =
        resume.iter().chain(&["--hidden", "16", "--seed", "42", "--epochs", "2", "--lr", "0.01"]).copied().collect();
    let out = ok(d, &args);
    assert!(
        out.contains("the optimizer changes from the checkpoint's momentum lr=0.05 momentum=0.9 to momentum lr=0.01"),
        "{out}"
    );
    assert!(out.contains("epoch 2/2"), "{out}");
    // So are new dropouts, each named with its flag.
    let args: Vec<&str> =
        resume.iter().chain(&["--epochs", "2", "--dropout", "0.2", "--input-dropout", "0.1"]).copied().collect();
    let out = ok(d, &args);
    assert!(out.contains("note:    dropout changes from the checkpoint's 0 to 0.2 (--dropout)\n"), "{out}");
    let input = "note:    input dropout changes from the checkpoint's 0 to 0.1 (--input-dropout)\n";
    assert!(out.contains(input), "{out}");

    // --epochs counts all epochs: already done is a no-op, fewer than done is an error.
    let args: Vec<&str> = resume.iter().chain(&["--epochs", "1"]).copied().collect();
    let out = ok(d, &args);
    assert!(out.contains("nothing to train"), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("epoch ")), "{out}");
    let args = ["train", "--limit", "500", "--hidden", "16", "--epochs", "3", "-q"];
    let args: Vec<&str> = args.iter().chain(&["--save", "three.safetensors", "--save-every", "2"]).copied().collect();
    let out = ok(d, &args);
    assert!(
        out.contains("saved:   three.safetensors (epoch 2)") && out.contains("saved:   three.safetensors (epoch 3)"),
        "{out}"
    );
    assert!(!out.contains("(epoch 1)"), "{out}");
    let (_, stderr) = fails(d, &["train", "--resume", "three.safetensors", "--epochs", "2", "-q", "--limit", "500"]);
    assert!(stderr.contains("already trained 3 epochs, more than --epochs 2"), "{stderr}");

    // A bad --save path fails before any training; so does a bad --resume file.
    let (stdout, stderr) = fails(d, &["train", "--limit", "500", "--save", "no/such/dir/m.safetensors"]);
    assert!(stderr.contains("--save") && stderr.contains("no/such/dir"), "{stderr}");
    assert!(!stdout.contains("epoch 1"), "{stdout}");
    let (_, stderr) = fails(d, &["train", "--limit", "500", "--save-every", "1"]);
    assert!(stderr.contains("--save"), "{stderr}");
    std::fs::write(d.join("junk.safetensors"), b"not a checkpoint at all, just some text").unwrap();
    let (_, stderr) = fails(d, &["train", "--limit", "500", "--resume", "junk.safetensors"]);
    assert!(stderr.contains("checkpoint junk.safetensors: not a safetensors file"), "{stderr}");
}

/// The records of a metrics file (either format) without the wall-clock fields.
fn records(path: &Path) -> Vec<EpochMetrics> {
    let mut all = gpu_mnist::metrics::read(path).unwrap();
    for m in &mut all {
        (m.seconds, m.samples_per_sec) = (0.0, 0.0);
    }
    all
}

#[test]
fn a_resumed_run_continues_its_metrics_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = ["train", "--limit", "500", "--hidden", "16", "--lr-schedule", "constant", "-q"];
    for file in ["m.csv", "m.jsonl"] {
        let straight = format!("straight-{file}");
        ok(d, &[&run[..], &["--epochs", "2", "--metrics", &straight]].concat());
        ok(d, &[&run[..], &["--epochs", "1", "--metrics", file, "--save", "c.safetensors"]].concat());
        // A record of an epoch the checkpoint does not hold (as after a crash between --save-every saves): the
        // resumed run trains that epoch again and must replace the record, not keep both.
        let path = d.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let last = text.lines().last().unwrap();
        let stale = match file.ends_with(".csv") {
            true => format!("2{}", &last[1..]),
            false => last.replace("\"epoch\":1,", "\"epoch\":2,"),
        };
        std::fs::write(&path, format!("{text}{}\n", stale.replace("0.", "9."))).unwrap();
        assert_eq!(records(&path).len(), 2);

        let out = ok(d, &[&run[..], &["--epochs", "2", "--resume", "c.safetensors", "--metrics", file]].concat());
        let got = records(&path);
        assert_eq!(got, records(&d.join(&straight)), "{file}: the whole run, as a straight run writes it");
        assert!(!out.contains("the plot starts"), "{out}");
        // The kept record is the one the first run wrote, to the byte.
        let first_record = text.lines().last().unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains(first_record), "{file}");
    }

    // Without --metrics, a resumed --plot says it starts at the resumed epoch.
    let out = ok(d, &[&run[..], &["--epochs", "2", "--resume", "c.safetensors", "--plot", "p.svg"]].concat());
    assert!(out.contains("note:    the plot starts at epoch 2"), "{out}");

    // A --metrics file that is not one of ours is refused, named, and left as it was.
    std::fs::write(d.join("notes.csv"), "my,own\nnotes,here\n").unwrap();
    let (stdout, stderr) =
        fails(d, &[&run[..], &["--epochs", "2", "--resume", "c.safetensors", "--metrics", "notes.csv"]].concat());
    assert!(stderr.contains("notes.csv") && stderr.contains("not a gpu-mnist metrics record"), "{stderr}");
    assert!(!stdout.contains("epoch 2/2"), "{stdout}");
    assert_eq!(std::fs::read_to_string(d.join("notes.csv")).unwrap(), "my,own\nnotes,here\n");
}

/// A resumed run rewrites its metrics file with the records of the epochs its checkpoint holds; those must stay as
/// they were written, to the byte, whatever the float formatting (a float parsed and printed again need not come
/// back the same: 241322.05876674774 once came back as …777, and `0.10`, `1e-7` or `3` are valid but not canonical).
#[test]
fn resuming_keeps_the_kept_metrics_records_to_the_byte() {
    use gpu_mnist::metrics::{read, MetricsWriter};
    let dir = tempfile::tempdir().unwrap();
    let header = "epoch,train_loss,train_acc,test_loss,test_acc,seconds,samples_per_sec\n";
    let csv = [
        "1,0.1,0.10,1e-7,1.5E3,3,241322.05876674774\n",
        "2,2.3025851,0.30000001192092896,-0.0,0.1,0.1,241322.05876674774\n",
        "3,0.1,0.1,0.1,0.1,1234.5678901234567,241322.05876674774\n",
    ];
    let json = [
        "{\"epoch\":1,\"train_loss\":0.1,\"train_acc\":0.10,\"test_loss\":1e-7,\"test_acc\":1.5E3,\"seconds\":3,\
         \"samples_per_sec\":241322.05876674774}\n",
        "{\"samples_per_sec\": 241322.05876674774, \"epoch\": 2, \"train_loss\": 2.3025851, \"train_acc\": \
         0.30000001192092896, \"test_loss\": -0.0, \"test_acc\": 0.1, \"seconds\": 0.1}\n",
        // As serde_json writes it, with floats serde_json's own parser reads 1 ulp off.
        "{\"epoch\":3,\"train_loss\":0.1,\"train_acc\":0.1,\"test_loss\":0.1,\"test_acc\":0.1,\
         \"seconds\":1234.5678901234567,\"samples_per_sec\":241322.05876674774}\n",
    ];
    for (name, head, lines) in [("m.csv", header, csv), ("m.jsonl", "", json)] {
        let path = dir.path().join(name);
        let whole = format!("{head}{}", lines.concat());
        std::fs::write(&path, &whole).unwrap();
        let all = read(&path).unwrap();
        assert_eq!(all.iter().map(|m| m.epoch).collect::<Vec<_>>(), [1, 2, 3], "{name}");
        assert_eq!(all[1].test_loss.to_bits(), (-0.0f32).to_bits(), "{name}");

        for epoch in 0..=3 {
            std::fs::write(&path, &whole).unwrap();
            let (mut writer, kept) = MetricsWriter::resume(&path, epoch).unwrap();
            assert_eq!(kept, all[..epoch], "{name} after epoch {epoch}: the kept records, parsed");
            let expected = format!("{head}{}", lines[..epoch].concat());
            assert_eq!(std::fs::read_to_string(&path).unwrap(), expected, "{name} after epoch {epoch}");
            // The resumed run appends after them.
            writer.write(&all[2]).unwrap();
            drop(writer);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.starts_with(&expected), "{name} after epoch {epoch}: {text}");
            let epochs: Vec<usize> = read(&path).unwrap().iter().map(|m| m.epoch).collect();
            assert_eq!(epochs, [&[1, 2, 3][..epoch], &[3]].concat(), "{name} after epoch {epoch}: {text}");
        }

        // A file whose last line has no newline: kept as it is, and the next record goes on a line of its own.
        std::fs::write(&path, whole.trim_end()).unwrap();
        let (mut writer, kept) = MetricsWriter::resume(&path, 3).unwrap();
        assert_eq!(kept, all, "{name}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole, "{name}");
        writer.write(&all[0]).unwrap();
        assert_eq!(read(&path).unwrap().len(), 4, "{name}");
    }
}

/// What `metrics::read` (and so a resumed run) says about files that are not gpu-mnist metrics: the line and the
/// reason, and the advice to move the file or choose another path; the file is left as it was.
#[test]
fn a_foreign_metrics_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let header = "epoch,train_loss,train_acc,test_loss,test_acc,seconds,samples_per_sec\n";
    let record = "{\"epoch\":1,\"train_loss\":0.1,\"train_acc\":0.1,\"test_loss\":0.1,\"test_acc\":0.1,\
                  \"seconds\":0.1,\"samples_per_sec\":0.1}";
    let not_header = "the header is not epoch,train_loss,train_acc,test_loss,test_acc,seconds,samples_per_sec";
    let cases: [(&str, Vec<u8>, &str, String); 8] = [
        ("a.csv", b"my,own\nnotes,here\n".to_vec(), "line 1", format!("({not_header})")),
        ("b.csv", Vec::new(), "line 1", format!("({not_header})")),
        (
            "c.csv",
            format!("{header}1,0.1,0.1,0.1,0.1,0.1,0.1\n2,0.1,x,0.1,0.1,0.1,0.1\n").into_bytes(),
            "line 3",
            "(CSV deserialize error: record 2 (line: 3, byte: 96): field 2: invalid float literal)".into(),
        ),
        (
            "d.csv",
            format!("{header}1,0.1,0.1,0.1,0.1,0.1,0.1\n\n2,0.1,0.1\n").into_bytes(),
            "line 3",
            "(CSV error: record 2 (line: 3, byte: 96): found record with 3 fields, but the previous record has 7 \
             fields)"
                .into(),
        ),
        (
            "e.jsonl",
            format!("{record}\n\n{{\"epoch\":2\n").into_bytes(),
            "line 3",
            "(EOF while parsing an object at line 1 column 10)".into(),
        ),
        (
            "f.jsonl",
            format!("{record}\r\nnot json\r\n").into_bytes(),
            "line 2",
            "(expected ident at line 1 column 2)".into(),
        ),
        (
            "g.jsonl",
            format!("{record}\n{{\"a\":1}}").into_bytes(),
            "line 2",
            "(missing field `epoch` at line 1 column 7)".into(),
        ),
        ("h.jsonl", [record.as_bytes(), b"\n\xff\xfe\n"].concat(), "", String::new()),
    ];
    for (name, bytes, line, why) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let expected = match line {
            "" => format!("{}: stream did not contain valid UTF-8", path.display()),
            _ => format!(
                "{}: {line} is not a gpu-mnist metrics record {why}; move the file away or choose another --metrics \
                 path",
                path.display()
            ),
        };
        assert_eq!(gpu_mnist::metrics::read(&path).unwrap_err().to_string(), expected, "{name}");
        let resumed = gpu_mnist::metrics::MetricsWriter::resume(&path, 5).err().unwrap().to_string();
        assert_eq!(resumed, expected, "{name}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}: left as it was");
    }
}
