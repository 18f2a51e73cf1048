//! Checkpoint files: an exact round trip, atomic writes, and one clear error per kind of bad file.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use gpu_mnist::checkpoint::{self, Checkpoint};
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::csv::Table;
use gpu_mnist::files;
use gpu_mnist::model::{Activation, Layer, Loss, ModelConfig, OutputUnits, Params, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{Hyper, Optimizer, Rule};
use gpu_mnist::train::{TrainConfig, Trainer};
use gpu_mnist::Error;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

mod common;

/// A data digest of the right form (no data set has it).
const DIGEST: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn adam() -> Optimizer {
    Optimizer::of(Rule::Adam, &[(Hyper::Lr, 1e-3), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)])
        .unwrap()
}

fn model() -> ModelConfig {
    ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 6,
        hidden: vec![4],
        classes: 3,
        activation: Activation::Tanh,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    }
}

/// Awkward but finite values: negative zero, subnormals, extremes, fractions without a short decimal form.
fn values(n: usize, salt: u32) -> Vec<f32> {
    let special = [-0.0, f32::MIN_POSITIVE / 3.0, f32::MAX, f32::MIN, 1.0 / 3.0, -7.25e-12];
    (0..n).map(|i| if i < special.len() { special[i] } else { (i as f32 * 0.731 + salt as f32).sin() }).collect()
}

/// A hand-made checkpoint of `model()` trained with `optimizer`.
fn sample(optimizer: Optimizer) -> Checkpoint {
    sample_of(model(), optimizer)
}

/// A hand-made checkpoint of `model` trained with `optimizer`.
fn sample_of(model: ModelConfig, optimizer: Optimizer) -> Checkpoint {
    let layers = model
        .layer_shapes()
        .into_iter()
        .enumerate()
        .map(|(l, (inputs, outputs))| Layer {
            weight: values(inputs * outputs, l as u32),
            bias: values(outputs, 10 + l as u32),
            inputs,
            outputs,
        })
        .collect();
    let state = checkpoint::state_tensors(&model, &optimizer)
        .iter()
        .enumerate()
        .map(|(i, (_, shape))| values(shape.iter().product(), 100 + i as u32))
        .collect();
    Checkpoint {
        model,
        optimizer,
        params: Params { layers },
        state,
        epoch: 3,
        steps_done: 12_345_678_901,
        seed: u64::MAX - 1,
        batch_size: 64,
        dataset: "mnist, or a folder: with \"odd\" names".into(),
        data_digest: Some(DIGEST.into()),
        train_samples: 60_000,
        lr_schedule: gpu_mnist::optim::LrSchedule::Constant,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: gpu_mnist::train::Shuffle::SklearnSgd,
        epoch_so_far: None,
        table: None,
        normalize: None,
    }
}

/// The message of the `Error::Checkpoint` that loading `path` gives (fails the test on success or another error).
fn load_error(path: &Path) -> String {
    match Checkpoint::load(path) {
        Err(Error::Checkpoint { path: p, msg }) => {
            assert_eq!(p, path, "the error names the file");
            msg
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

/// One raw tensor for [`write_raw`].
struct Raw {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn f32_raw(name: &str, shape: &[usize], data: &[f32]) -> Raw {
    Raw {
        name: name.into(),
        dtype: Dtype::F32,
        shape: shape.to_vec(),
        bytes: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

/// The tensors of `ck` as raw F32 tensors, to be altered.
fn raw_tensors(ck: &Checkpoint) -> Vec<Raw> {
    let names =
        checkpoint::param_tensors(&ck.model).into_iter().chain(checkpoint::state_tensors(&ck.model, &ck.optimizer));
    let data = ck.params.tensors().into_iter().chain(ck.state.iter().map(Vec::as_slice));
    names.zip(data).map(|((name, shape), d)| f32_raw(&name, &shape, d)).collect()
}

/// Writes tensors and metadata with the safetensors crate directly (as another program would).
fn write_raw(path: &Path, tensors: &[Raw], metadata: Option<HashMap<String, String>>) {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|t| (t.name.clone(), TensorView::new(t.dtype, t.shape.clone(), &t.bytes).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, metadata).unwrap()).unwrap();
}

#[test]
fn round_trip_is_exact_for_every_optimizer() {
    let dir = tempfile::tempdir().unwrap();
    for optimizer in [Optimizer::sgd(0.1).unwrap(), Optimizer::momentum(0.05, 0.9).unwrap(), adam()] {
        let ck = sample(optimizer);
        let path = dir.path().join(format!("{}.safetensors", optimizer.name()));
        ck.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        // Bit for bit, including -0.0 and subnormals.
        let bits = |c: &Checkpoint| -> Vec<u32> {
            c.params
                .tensors()
                .iter()
                .chain(c.state.iter().map(|s| s.as_slice()).collect::<Vec<_>>().iter())
                .flat_map(|t| t.iter().map(|x| x.to_bits()))
                .collect()
        };
        assert_eq!(bits(&back), bits(&ck));
        assert_eq!(back, ck);
        // The bytes depend only on the contents (the metadata map is written sorted).
        let bytes = std::fs::read(&path).unwrap();
        assert!((0..5).all(|_| ck.to_bytes().unwrap() == bytes));
        assert_eq!(back.state.len(), 2 * 2 * optimizer.state_tensors());
    }
}

/// What a PyTorch user sees: `nn.Linear` names and shapes in F32, the optimizer state under `optimizer.`, and
/// readable metadata.
#[test]
fn file_has_pytorch_names_shapes_and_readable_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    sample(adam()).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<&str> = st.names();
    names.sort();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight",
            "optimizer.layers.0.bias.exp_avg",
            "optimizer.layers.0.bias.exp_avg_sq",
            "optimizer.layers.0.weight.exp_avg",
            "optimizer.layers.0.weight.exp_avg_sq",
            "optimizer.layers.1.bias.exp_avg",
            "optimizer.layers.1.bias.exp_avg_sq",
            "optimizer.layers.1.weight.exp_avg",
            "optimizer.layers.1.weight.exp_avg_sq",
        ]
    );
    let w = st.tensor("layers.0.weight").unwrap();
    assert_eq!((w.dtype(), w.shape()), (Dtype::F32, &[4usize, 6][..]));
    assert_eq!(st.tensor("layers.1.bias").unwrap().shape(), &[3]);
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    let expect = [
        ("format", "gpu-mnist"),
        ("format_version", "1"),
        ("architecture", "6,4,3"),
        ("activation", "tanh"),
        ("leaky_slope", "0.01"),
        ("loss", "xent"),
        ("optimizer", "adam"),
        ("lr", "0.001"),
        ("beta1", "0.9"),
        ("beta2", "0.999"),
        ("eps", "0.00000001"),
        ("epoch", "3"),
        ("steps_done", "12345678901"),
        ("seed", "18446744073709551614"),
        ("batch_size", "64"),
        ("classes", "3"),
        ("train_samples", "60000"),
        ("data_digest", DIGEST),
    ];
    for (k, v) in expect {
        assert_eq!(meta.get(k).map(String::as_str), Some(v), "metadata {k}");
    }
}

#[test]
fn capture_and_restore_through_a_trainer() {
    let data = common::mnist_subset(300, 200);
    let model = ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 784,
        hidden: vec![16],
        classes: 10,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    let config = TrainConfig {
        chunk_rows: None,
        epochs: 1,
        batch_size: 32,
        seed: 9,
        eval_batch: 100,
        lr_schedule: Default::default(),
        init: None,
        dropout: 0.0,
        input_dropout: 0.0,
        shuffle: Default::default(),
    };
    let layout = config.layout(&model, adam()).unwrap();
    let mut t =
        Trainer::new(CpuBackend::new(&layout, data.clone()).unwrap(), layout.clone(), data.clone(), config.clone())
            .unwrap();
    t.epoch(&mut |_| {}).unwrap();
    let ck = Checkpoint::capture(&mut t).unwrap();
    assert_eq!((ck.epoch, ck.steps_done, ck.seed, ck.batch_size), (1, 10, 9, 32));
    assert_eq!((ck.dataset.as_str(), ck.train_samples), ("mnist", 300));
    // The digest is that of the whole data set, not of the 300 samples trained on.
    assert_eq!(ck.data_digest.as_deref(), Some(gpu_mnist::data::identity::MNIST_DIGEST));
    assert!(ck.state.iter().flatten().any(|&x| x != 0.0), "Adam state was captured");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    ck.save(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();
    let mut fresh =
        Trainer::new(CpuBackend::new(&layout, data.clone()).unwrap(), layout.clone(), data.clone(), config.clone())
            .unwrap();
    loaded.restore(&mut fresh).unwrap();
    assert_eq!(Checkpoint::capture(&mut fresh).unwrap(), ck);

    // A trainer of another shape refuses it.
    let other = ModelConfig { hidden: vec![8], ..model };
    let cfg = config;
    let lay = cfg.layout(&other, adam()).unwrap();
    let mut wrong = Trainer::new(CpuBackend::new(&lay, data.clone()).unwrap(), lay, data, cfg).unwrap();
    let err = loaded.restore(&mut wrong).unwrap_err().to_string();
    assert!(err.contains("--hidden \"8\" differs from the checkpoint's hidden layers \"16\""), "{err}");
}

#[test]
fn saving_again_replaces_the_file_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut ck = sample(adam());
    ck.save(&path).unwrap();
    ck.epoch = 4;
    ck.params.layers[0].weight[7] = 42.0;
    ck.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap(), ck);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["m.safetensors"]);
}

/// A write that fails half-way (a full disk, a crash) leaves the previous checkpoint whole and no debris.
#[test]
fn failed_write_leaves_the_old_checkpoint_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let old = sample(adam());
    old.save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();

    let mut new = sample(adam());
    new.epoch = 9;
    let bytes = new.to_bytes().unwrap();
    let err = files::write_atomically(&path, |f| {
        f.write_all(&bytes[..bytes.len() / 2])?;
        Err(std::io::Error::other("No space left on device (simulated)"))
    })
    .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the old checkpoint is untouched");
    assert_eq!(Checkpoint::load(&path).unwrap(), old);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["m.safetensors"], "the temporary file was removed");

    // A non-finite model is refused before anything is written: a diverged run cannot replace a good checkpoint.
    new.params.layers[1].bias[0] = f32::NAN;
    assert!(new.save(&path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// The rename step fails (the target is a directory): the error names it, nothing is left behind.
#[test]
fn failed_rename_leaves_the_directory_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"precious").unwrap();
    let err = files::write_atomically(&target, |f| f.write_all(b"data")).unwrap_err();
    assert!(matches!(&err, Error::Io { path, .. } if path == &target), "{err:?}");
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"precious");
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["taken"]);
}

#[test]
fn unwritable_save_paths_are_found_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("m.safetensors");
    files::ensure_writable(&ok).unwrap();
    assert!(!ok.exists(), "the probe file is removed");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    for bad in [dir.path().to_path_buf(), dir.path().join("missing/m.safetensors"), file.join("m.safetensors")] {
        assert!(files::ensure_writable(&bad).is_err(), "{}", bad.display());
        assert!(sample(adam()).save(&bad).is_err(), "{}", bad.display());
    }
    assert!(!dir.path().join("missing").exists());
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn truncated_files_are_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    sample(adam()).save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // In the data, in the header, in the length prefix, empty.
    for cut in [bytes.len() - 1, 8 + header + (bytes.len() - 8 - header) / 2, 8 + header / 2, 5, 0] {
        let path = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let msg = load_error(&path);
        assert!(msg.contains("truncated"), "cut at {cut}: {msg}");
    }
}

#[test]
fn random_bytes_are_not_a_safetensors_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.safetensors");
    let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&path, noise).unwrap();
    let msg = load_error(&path);
    assert!(msg.contains("not a safetensors file"), "{msg}");
    // A header that is not JSON.
    let mut bad = 16u64.to_le_bytes().to_vec();
    bad.extend(b"this is not json");
    std::fs::write(&path, bad).unwrap();
    let msg = load_error(&path);
    assert!(msg.contains("not a safetensors file"), "{msg}");
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let path = Path::new("/nonexistent/dir/m.safetensors");
    let err = Checkpoint::load(path).unwrap_err();
    assert!(matches!(&err, Error::Io { path: p, .. } if p == path), "{err:?}");
}

#[test]
fn wrong_shape_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shape.safetensors");
    let ck = sample(adam());
    let mut t = raw_tensors(&ck);
    t[0].shape = vec![6, 4]; // transposed weight: same size, wrong shape
    write_raw(&path, &t, Some(ck.metadata()));
    let msg = load_error(&path);
    assert!(msg.contains("tensor `layers.0.weight` has shape [6, 4], but architecture 6,4,3 needs [4, 6]"), "{msg}");

    // The metadata says one architecture, the tensors hold another.
    let mut meta = ck.metadata();
    meta.insert("architecture".into(), "6,5,3".into());
    write_raw(&path, &raw_tensors(&ck), Some(meta));
    let msg = load_error(&path);
    assert!(msg.contains("layers.0.weight") && msg.contains("[5, 6]"), "{msg}");
}

#[test]
fn wrong_dtype_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dtype.safetensors");
    let ck = sample(adam());
    for (dtype, bytes_per) in [(Dtype::F64, 8), (Dtype::F16, 2), (Dtype::BF16, 2), (Dtype::I32, 4)] {
        let mut t = raw_tensors(&ck);
        let n = ck.params.layers[0].bias.len();
        t[1] = Raw { name: "layers.0.bias".into(), dtype, shape: vec![n], bytes: vec![0; n * bytes_per] };
        write_raw(&path, &t, Some(ck.metadata()));
        let msg = load_error(&path);
        assert!(msg.contains(&format!("tensor `layers.0.bias` has dtype {dtype}")) && msg.contains("F32"), "{msg}");
    }
}

#[test]
fn non_finite_values_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.safetensors");
    let ck = sample(adam());
    for (bad, shown) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (f32::NEG_INFINITY, "-inf")] {
        // In a parameter and in an optimizer state tensor.
        for index in [2, 5] {
            let mut t = raw_tensors(&ck);
            t[index].bytes[4..8].copy_from_slice(&bad.to_le_bytes());
            write_raw(&path, &t, Some(ck.metadata()));
            let msg = load_error(&path);
            assert!(msg.contains(&format!("tensor `{}` holds {shown} at index 1", t[index].name)), "{msg}");
        }
    }
}

#[test]
fn missing_and_unexpected_tensors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.safetensors");
    let ck = sample(adam());
    let mut t = raw_tensors(&ck);
    t.retain(|r| r.name != "layers.1.bias");
    write_raw(&path, &t, Some(ck.metadata()));
    assert!(load_error(&path).contains("missing tensor `layers.1.bias`"));

    let mut t = raw_tensors(&ck);
    t.retain(|r| !r.name.ends_with("exp_avg_sq"));
    write_raw(&path, &t, Some(ck.metadata()));
    assert!(load_error(&path).contains("missing tensor `optimizer.layers.0.weight.exp_avg_sq`"));

    // Adam state in a file that says momentum.
    let mut meta = ck.metadata();
    meta.insert("optimizer".into(), "momentum".into());
    meta.insert("momentum".into(), "0.9".into());
    write_raw(&path, &raw_tensors(&ck), Some(meta));
    let msg = load_error(&path);
    assert!(msg.contains("missing tensor `optimizer.layers.0.weight.momentum_buffer`"), "{msg}");

    let mut t = raw_tensors(&ck);
    t.push(f32_raw("layers.2.weight", &[1], &[1.0]));
    write_raw(&path, &t, Some(ck.metadata()));
    assert!(load_error(&path).contains("unexpected tensor `layers.2.weight`"));
}

#[test]
fn missing_or_unparsable_metadata_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.safetensors");
    let ck = sample(adam());
    write_raw(&path, &raw_tensors(&ck), None);
    assert!(load_error(&path).contains("no metadata"));

    for key in ["epoch", "architecture", "seed", "lr", "beta2", "activation", "format_version", "classes"] {
        let mut meta = ck.metadata();
        meta.remove(key);
        write_raw(&path, &raw_tensors(&ck), Some(meta));
        let msg = load_error(&path);
        assert!(msg.contains(&format!("metadata `{key}` is missing")), "{key}: {msg}");
    }
    let cases = [
        ("seed", "-1", "metadata `seed` = \"-1\" cannot be parsed"),
        ("steps_done", "ten", "metadata `steps_done` = \"ten\" cannot be parsed"),
        ("lr", "fast", "metadata `lr` = \"fast\" cannot be parsed"),
        ("lr", "-0.1", "metadata `lr` = -0.1 is out of range: it must be a positive number"),
        ("beta1", "1.5", "metadata `beta1` = 1.5 is out of range: it must be in [0, 1)"),
        ("weight_decay", "-1", "metadata `weight_decay` = -1 is out of range: it must be a finite number ≥ 0"),
        ("architecture", "784,,10", "metadata `architecture` = \"784,,10\" is not a list of layer widths"),
        ("activation", "mish", "metadata `activation`: activation \"mish\" is not one of relu, sigmoid, tanh"),
        ("loss", "hinge", "metadata `loss`: loss \"hinge\" is not one of xent, mse"),
        (
            "optimizer",
            "lbfgs",
            "metadata `optimizer`: optimizer \"lbfgs\" is not one of sgd, momentum, adam, adamw, rmsprop",
        ),
        ("format_version", "2", "format version 2; this build of gpu-mnist reads version 1 only"),
        ("format", "other", "metadata `format` is \"other\""),
        ("classes", "7", "metadata `classes` = 7 but architecture 6,4,3 has 3 outputs"),
        ("batch_size", "0", "metadata `batch_size`: '0' is not a batch size"),
        ("batch_size", "half", "metadata `batch_size`: 'half' is not a batch size"),
        ("leaky_slope", "-0.5", "metadata `leaky_slope` = -0.5 is out of range (0.0..=1.0)"),
        ("leaky_slope", "NaN", "metadata `leaky_slope` = NaN is out of range"),
        ("leaky_slope", "steep", "metadata `leaky_slope` = \"steep\" cannot be parsed"),
        (
            "data_digest",
            "mnist",
            "metadata `data_digest` = \"mnist\" is not a SHA-256 digest (64 lowercase hex digits)",
        ),
        ("data_digest", &DIGEST.to_uppercase(), "is not a SHA-256 digest"),
    ];
    for (key, value, expected) in cases {
        let mut meta = ck.metadata();
        meta.insert(key.into(), value.into());
        write_raw(&path, &raw_tensors(&ck), Some(meta));
        let msg = load_error(&path);
        assert!(msg.contains(expected), "{key}={value}: {msg}");
    }
}

#[test]
fn architecture_mismatch_names_the_flag() {
    let path = Path::new("run.safetensors");
    let ck = sample(adam());
    let check = |model: ModelConfig, optimizer: Optimizer| match ck.check_compatible(path, &model, &optimizer) {
        Err(Error::Checkpoint { path: p, msg }) => {
            assert_eq!(p, path);
            msg
        }
        other => panic!("expected a mismatch, got {other:?}"),
    };
    assert!(ck.check_compatible(path, &model(), &adam()).is_ok());
    // Hyper-parameters may change (fine-tuning with a lower learning rate), the rule may not.
    assert!(ck
        .check_compatible(
            path,
            &model(),
            &Optimizer::of(
                Rule::Adam,
                &[(Hyper::Lr, 1e-4), (Hyper::Beta1, 0.8), (Hyper::Beta2, 0.99), (Hyper::Eps, 1e-7)]
            )
            .unwrap()
        )
        .is_ok());
    let msg = check(ModelConfig { hidden: vec![4, 4], ..model() }, adam());
    assert!(
        msg.contains("architecture mismatch: --hidden \"4,4\" differs from the checkpoint's hidden layers \"4\""),
        "{msg}"
    );
    let msg = check(ModelConfig { activation: Activation::Relu, ..model() }, adam());
    assert!(msg.contains("--activation relu differs from the checkpoint's tanh"), "{msg}");
    let msg = check(ModelConfig { loss: Loss::Mse, ..model() }, adam());
    assert!(msg.contains("--loss mse differs from the checkpoint's xent"), "{msg}");
    let msg = check(ModelConfig { inputs: 784, ..model() }, adam());
    assert!(msg.contains("takes 6 inputs, but the data has 784 pixels"), "{msg}");
    let msg = check(ModelConfig { classes: 10, ..model() }, adam());
    assert!(msg.contains("has 3 classes, but the data has 10"), "{msg}");
    let msg = check(model(), Optimizer::sgd(0.1).unwrap());
    assert!(msg.contains("--optimizer sgd differs from the checkpoint's adam"), "{msg}");
    // Leaky ReLU's slope is part of a leaky ReLU model, and of no other.
    assert!(ck.check_compatible(path, &ModelConfig { leaky_slope: 0.3, ..model() }, &adam()).is_ok());
    let leaky =
        Checkpoint { model: ModelConfig { activation: Activation::LeakyRelu, leaky_slope: 0.2, ..model() }, ..ck };
    let msg = match leaky.check_compatible(path, &ModelConfig { leaky_slope: 0.3, ..leaky.model.clone() }, &adam()) {
        Err(Error::Checkpoint { msg, .. }) => msg,
        other => panic!("expected a mismatch, got {other:?}"),
    };
    assert!(msg.contains("--leaky-slope 0.3 differs from the checkpoint's 0.2"), "{msg}");
}

/// Leaky ReLU's slope is saved and loaded exactly; a checkpoint written before it was a setting (no `leaky_slope`
/// key) loads with the slope it was trained with, PyTorch's default 0.01.
/// `--input-dropout` is saved (its key only when above 0) and loaded exactly; a checkpoint without the key dropped no
/// pixels; a value that is not a probability is refused, naming the key.
#[test]
fn input_dropout_round_trips_and_defaults_for_older_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input-dropout.safetensors");
    let ck = Checkpoint { input_dropout: 0.2, dropout: 0.3, ..sample(adam()) };
    ck.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap(), ck);
    assert_eq!(ck.metadata().get("input_dropout").map(String::as_str), Some("0.2"));
    assert_eq!(sample(adam()).metadata().get("input_dropout"), None);
    let mut meta = ck.metadata();
    meta.remove("input_dropout");
    write_raw(&path, &raw_tensors(&ck), Some(meta.clone()));
    assert_eq!(Checkpoint::load(&path).unwrap().input_dropout, 0.0);
    meta.insert("input_dropout".into(), "1.5".into());
    write_raw(&path, &raw_tensors(&ck), Some(meta));
    let err = load_error(&path);
    assert!(err.contains("metadata `input_dropout` = 1.5 is not a probability in [0, 1)"), "{err}");
}

#[test]
fn leaky_slope_round_trips_and_defaults_for_older_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaky.safetensors");
    let mut ck = sample(adam());
    ck.model = ModelConfig { activation: Activation::LeakyRelu, leaky_slope: 0.2, ..model() };
    ck.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back.model.leaky_slope, 0.2);
    assert_eq!(back, ck);
    assert_eq!(ck.metadata().get("leaky_slope").map(String::as_str), Some("0.2"));
    // An older file: no key.
    let mut meta = ck.metadata();
    meta.remove("leaky_slope");
    write_raw(&path, &raw_tensors(&ck), Some(meta));
    let old = Checkpoint::load(&path).unwrap();
    assert_eq!(old.model.leaky_slope, DEFAULT_LEAKY_SLOPE);
    assert_eq!(old.model, ModelConfig { leaky_slope: 0.01, ..ck.model.clone() });
}

/// One output unit for two classes (binary cross-entropy, the perceptron, or the quadratic cost with `--output-units
/// 1`) is saved and loaded exactly: the architecture ends in 1, `output_units` says 1 and `classes` 2 (the perceptron
/// with one unit per class too). A checkpoint written before the key existed has one unit per class; a key that
/// contradicts the architecture is refused; resuming with other output units names the flag.
#[test]
fn one_output_unit_round_trips_and_older_checkpoints_have_one_per_class() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.safetensors");
    for loss in [Loss::Bce, Loss::Mse, Loss::Perceptron] {
        let one = ModelConfig { classes: 2, loss, output_units: OutputUnits::One, ..model() };
        let ck = sample_of(one.clone(), adam());
        ck.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back, ck);
        assert_eq!(back.params.layers[1].weight.len(), 4, "{loss:?}: a 6-4-1 model");
        let meta = ck.metadata();
        assert_eq!(meta.get("architecture").map(String::as_str), Some("6,4,1"));
        assert_eq!(meta.get("output_units").map(String::as_str), Some("1"));
        assert_eq!(meta.get("classes").map(String::as_str), Some("2"));
        // `output_units` = classes with an architecture ending in 1 is a one-class model: refused.
        let mut meta = ck.metadata();
        meta.insert("output_units".into(), "classes".into());
        write_raw(&path, &raw_tensors(&ck), Some(meta));
        let msg = load_error(&path);
        assert!(msg.contains("describes an invalid model"), "{msg}");
    }
    // The perceptron with one unit per class (one-vs-rest) too.
    let ck = sample_of(ModelConfig { loss: Loss::Perceptron, ..model() }, adam());
    ck.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap(), ck);
    assert_eq!(ck.metadata().get("loss").map(String::as_str), Some("perceptron"));
    // One unit per class, and an older file without the key: the same model.
    let ck = sample(adam());
    assert_eq!(ck.metadata().get("output_units").map(String::as_str), Some("classes"));
    let mut meta = ck.metadata();
    meta.remove("output_units");
    write_raw(&path, &raw_tensors(&ck), Some(meta));
    assert_eq!(Checkpoint::load(&path).unwrap().model.output_units, OutputUnits::Classes);
    // `output_units` = 1 with an architecture of 3 outputs (and 3 classes) contradicts it.
    let ck = sample_of(ModelConfig { loss: Loss::Mse, ..model() }, adam());
    let mut meta = ck.metadata();
    meta.insert("output_units".into(), "1".into());
    write_raw(&path, &raw_tensors(&ck), Some(meta));
    let msg = load_error(&path);
    assert!(msg.contains("separates 2 classes"), "{msg}");
    // Resuming a one-unit model with one unit per class names --output-units.
    let one = ModelConfig { classes: 2, loss: Loss::Mse, output_units: OutputUnits::One, ..model() };
    let per_class = ModelConfig { output_units: OutputUnits::Classes, ..one.clone() };
    match sample_of(one, adam()).check_compatible(Path::new("one.safetensors"), &per_class, &adam()) {
        Err(Error::Checkpoint { msg, .. }) => {
            assert!(msg.contains("--output-units classes differs from the checkpoint's 1"), "{msg}")
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

/// The optimizer tensors are named in the order of the layout's state buffers, each packed buffer cut into the
/// rule's tensors (PyTorch's names, from the optimizer table), with matching sizes — for every rule.
#[test]
fn state_tensor_names_follow_the_layout() {
    let model = model();
    for &rule in Rule::ALL {
        let optimizer = Optimizer::new(rule);
        let states = rule.row().states;
        let layout = gpu_mnist::plan::Layout::new(&model, optimizer, 8);
        let named = checkpoint::state_tensors(&model, &optimizer);
        let buffers = layout.state_buffers();
        assert_eq!(named.len(), buffers.len() * states.len(), "{rule:?}");
        for (chunk, id) in named.chunks(states.len().max(1)).zip(buffers) {
            let buf = &layout.buffers[id];
            // `layers.0.weight.state` ↔ `optimizer.layers.0.weight.exp_avg`, `optimizer.layers.0.weight.exp_avg_sq`
            let param = buf.name.strip_suffix(".state").unwrap();
            for ((name, shape), state) in chunk.iter().zip(states) {
                assert_eq!(buf.len, shape.iter().product::<usize>() * states.len(), "{name} vs {}", buf.name);
                assert_eq!(name, &format!("optimizer.{param}.{state}"));
            }
        }
    }
}

/// A table's columns, classes and standardisation are saved and loaded exactly (awkward names and values included);
/// a `table` that does not fit the model or scales by 0 is refused naming the key.
#[test]
fn a_table_round_trips_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("table.safetensors");
    let mut ck = sample(adam());
    let table = Table {
        label: "kind, \"quoted\"".into(),
        features: (0..6).map(|i| format!("f{i} é")).collect(),
        classes: vec!["a".into(), "b, c".into(), "-1".into()],
        mean: values(6, 7),
        scale: vec![1.0, 0.5, 3.0e-30, 2.0, 1e30, 1.0 / 3.0],
    };
    ck.table = Some(table.clone());
    ck.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back, ck);
    assert_eq!(back.class_names(), Some(vec!["a", "b, c", "-1"]));
    let broken = [
        (Table { scale: vec![1.0, 0.0, 1.0, 1.0, 1.0, 1.0], ..table.clone() }, "a scale of 0"),
        (Table { classes: vec!["a".into(), "b".into()], ..table.clone() }, "2 class names for a model of 3 classes"),
        (Table { features: vec!["x".into()], ..table.clone() }, "1 feature names, 6 means and 6 scales"),
    ];
    for (bad, why) in broken {
        let mut meta = ck.metadata();
        meta.insert("table".into(), serde_json::to_string(&bad).unwrap());
        write_raw(&path, &raw_tensors(&ck), Some(meta));
        let err = load_error(&path);
        assert!(err.contains("metadata `table`") && err.contains(why), "{why}: {err}");
    }
    let mut meta = ck.metadata();
    meta.insert("table".into(), "{\"label\": 3}".into());
    write_raw(&path, &raw_tensors(&ck), Some(meta));
    assert!(load_error(&path).contains("metadata `table` is not a table"), "{}", load_error(&path));
}

/// `--normalize`'s mean and deviation are saved and loaded exactly; one key without the other, or a deviation of 0,
/// is refused naming the keys.
#[test]
fn normalization_round_trips_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("normalized.safetensors");
    let mut ck = sample(adam());
    ck.normalize = Some(gpu_mnist::data::Normalize { mean: 0.130_660_72, std: 0.308_107_6 });
    ck.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap(), ck);
    for (key, value, why) in [("input_std", None, "given together"), ("input_std", Some("0"), "the deviation above 0")]
    {
        let mut meta = ck.metadata();
        match value {
            Some(v) => meta.insert(key.into(), v.into()),
            None => meta.remove(key),
        };
        write_raw(&path, &raw_tensors(&ck), Some(meta));
        let err = load_error(&path);
        assert!(err.contains(why), "{why}: {err}");
    }
}
