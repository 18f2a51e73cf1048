//! The training step against PyTorch itself: golden fixtures written by `tests/fixtures/make_golden.py` hold, for
//! tiny MLPs, the initial parameters, the batches, and after each of three steps the loss, the correct predictions,
//! every parameter and every optimizer state tensor, as computed by `torch.nn`, autograd and `torch.optim` (with
//! `LambdaLR` for the linear schedule). Every activation × loss × optimizer × schedule is covered (checked below, so a
//! new variant without fixtures fails here), at batch sizes 1 and 7, with one and two hidden layers and with 784
//! inputs; one output unit for two classes (binary cross-entropy, the quadratic cost on one sigmoid unit) in a file
//! of its own, and input dropout in another.
//!
//! Unlike the CPU/GPU parity tests, which compare two executions of the same plan, this catches a mistake in the plan
//! itself or one made the same way in the Rust and the WGSL: a missing bias update, a wrong derivative, a schedule off
//! by one step, a bias correction left out. Each step is run through the plan on the CPU reference, and on the GPU
//! when there is one, and must match within `1e-5·max(1, |want|)`.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use clap::ValueEnum;
use gpu_mnist::backend::Backend;
use gpu_mnist::checkpoint::{param_tensors, state_tensors};
use gpu_mnist::cpu::CpuBackend;
use gpu_mnist::data::{Dataset, LabeledImages};
use gpu_mnist::gpu::GpuBackend;
use gpu_mnist::model::{Activation, Layer, Loss, ModelConfig, OutputUnits, Params, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{Hyper, LrSchedule, Optimizer, Rule};
use gpu_mnist::plan::{Layout, PlanForm, Split};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

/// The fixture files, written by `tests/fixtures/make_golden.py`.
const FILES: [&str; 5] = ["tiny_5-4-3", "deep_6-5-4-3", "mnist_784-16-10", "one_unit", "input_dropout"];

/// `|got − want| ≤ TOL·max(1, |want|)`: absolute for the small values of these models, relative for large ones.
/// Measured: the CPU reference is within 2.5e-7 of PyTorch over every fixture, lavapipe within 8.4e-7.
const TOL: f32 = 1e-5;

/// One case as the generator describes it in the file's metadata.
#[derive(Clone, Debug, Deserialize)]
struct Case {
    name: String,
    widths: Vec<usize>,
    activation: String,
    /// Leaky ReLU's slope, where the case sets one (PyTorch's default otherwise).
    leaky_slope: Option<f32>,
    loss: String,
    optimizer: String,
    schedule: String,
    batch: usize,
    decay_steps: u64,
    steps: usize,
    lr: f32,
    momentum: Option<f32>,
    beta1: Option<f32>,
    beta2: Option<f32>,
    alpha: Option<f32>,
    eps: Option<f32>,
    weight_decay: Option<f32>,
    dropout: Option<f32>,
    /// Dropout of the input pixels (`--input-dropout`), keyed by `dropout_seed` too.
    input_dropout: Option<f32>,
    dropout_seed: Option<u64>,
    centered: Option<f32>,
    /// "1" for one output unit (then `classes` is 2); one unit per class where absent.
    output_units: Option<String>,
    classes: Option<usize>,
}

impl Case {
    fn model(&self) -> ModelConfig {
        let value = |s: &str| -> Activation { ValueEnum::from_str(s, false).expect("activation name") };
        let units = self.output_units.as_deref().map(|u| gpu_mnist::names::parse::<OutputUnits>(u).expect("units"));
        ModelConfig {
            output_units: units.unwrap_or(OutputUnits::Classes),
            inputs: self.widths[0],
            hidden: self.widths[1..self.widths.len() - 1].to_vec(),
            classes: self.classes.unwrap_or(*self.widths.last().expect("widths")),
            activation: value(&self.activation),
            leaky_slope: self.leaky_slope.unwrap_or(DEFAULT_LEAKY_SLOPE),
            loss: ValueEnum::from_str(&self.loss, false).expect("loss name"),
        }
    }

    /// The optimizer: the rule by its name (parsed as the command line parses it) with every hyper-parameter the
    /// fixture gives; the table's default for the others (the fixtures move every one away from it).
    fn optimizer(&self) -> Optimizer {
        let rule: Rule = gpu_mnist::names::parse(&self.optimizer).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        let given = [
            (Hyper::Lr, Some(self.lr)),
            (Hyper::Momentum, self.momentum),
            (Hyper::Beta1, self.beta1),
            (Hyper::Beta2, self.beta2),
            (Hyper::Alpha, self.alpha),
            (Hyper::Eps, self.eps),
            (Hyper::WeightDecay, self.weight_decay),
            (Hyper::Centered, self.centered),
        ];
        let values: Vec<(Hyper, f32)> = given.into_iter().filter_map(|(h, v)| v.map(|v| (h, v))).collect();
        Optimizer::of(rule, &values).unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

/// A fixture file: its cases and its tensors by name.
struct Fixture {
    cases: Vec<Case>,
    f32s: HashMap<String, Vec<f32>>,
    u8s: HashMap<String, Vec<u8>>,
}

fn load(file: &str) -> Fixture {
    let path = format!("{}/tests/fixtures/golden/{file}.safetensors", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let st = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    let meta = header.metadata().as_ref().expect("metadata");
    let cases: Vec<Case> = serde_json::from_str(&meta["cases"]).expect("cases");
    let (mut f32s, mut u8s) = (HashMap::new(), HashMap::new());
    for (name, view) in st.tensors() {
        match view.dtype() {
            Dtype::F32 => {
                let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                f32s.insert(name, values.collect());
            }
            Dtype::U8 => {
                u8s.insert(name, view.data().to_vec());
            }
            other => panic!("{path}: tensor {name} has dtype {other}"),
        }
    }
    Fixture { cases, f32s, u8s }
}

impl Fixture {
    fn f32(&self, name: &str) -> &[f32] {
        self.f32s.get(name).unwrap_or_else(|| panic!("fixture tensor {name} is missing"))
    }
    fn u8(&self, name: &str) -> &[u8] {
        self.u8s.get(name).unwrap_or_else(|| panic!("fixture tensor {name} is missing"))
    }
}

/// The largest error of one case and the first values outside the tolerance.
#[derive(Default)]
struct Report {
    max_err: f32,
    compared: usize,
    failures: Vec<String>,
}

impl Report {
    fn compare(&mut self, what: &str, got: &[f32], want: &[f32]) {
        if got.len() != want.len() {
            self.failures.push(format!("{what}: {} values, want {}", got.len(), want.len()));
            return;
        }
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let err = if g.is_nan() { f32::INFINITY } else { (g - w).abs() };
            self.max_err = self.max_err.max(err);
            self.compared += 1;
            let within = err <= TOL * w.abs().max(1.0);
            if !within && self.failures.len() < 4 {
                self.failures.push(format!("{what}[{i}]: got {g:e}, PyTorch {w:e}"));
            }
        }
    }
}

/// Runs one case's steps on `make(layout, data)`'s backend and compares every tensor after every step.
fn run_case<B: Backend>(
    fx: &Fixture,
    case: &Case,
    form: PlanForm,
    make: &dyn Fn(&Layout, Arc<Dataset>) -> B,
) -> Report {
    let (model, optimizer, b) = (case.model(), case.optimizer(), case.batch);
    let n = b * case.steps;
    let name = &case.name;
    let split = LabeledImages::from_pixels(
        fx.u8(&format!("{name}/pixels")).to_vec(),
        fx.u8(&format!("{name}/labels")).to_vec(),
        1,
        model.inputs,
    );
    assert_eq!(split.len(), n, "{name}: samples");
    let data = Arc::new(Dataset::new("golden", split.clone(), split, model.classes));
    let seed = case.dropout_seed.unwrap_or(0);
    let mut layout = Layout::new(&model, optimizer, b)
        .with_dropout(case.dropout.unwrap_or(0.0), seed)
        .with_input_dropout(case.input_dropout.unwrap_or(0.0), seed);
    layout.decay_steps = case.decay_steps;
    let mut backend = make(&layout, data);

    let init = |l: usize, kind: &str| fx.f32(&format!("{name}/init/layers.{l}.{kind}")).to_vec();
    let layers = (model.layer_shapes().into_iter().enumerate())
        .map(|(l, (inputs, outputs))| Layer { weight: init(l, "weight"), bias: init(l, "bias"), inputs, outputs })
        .collect();
    backend.write_params(&Params { layers }).unwrap();
    let plan = backend.prepare(&form.train_step(&layout, b).unwrap()).unwrap();
    let order: Vec<u32> = (0..n as u32).collect();
    let (losses, correct) = (fx.f32(&format!("{name}/loss")), fx.f32(&format!("{name}/correct")));

    let mut report = Report::default();
    let tensors: Vec<(String, Vec<usize>)> =
        param_tensors(&model).into_iter().chain(state_tensors(&model, &optimizer)).collect();
    let n_states = optimizer.state_tensors();
    for k in 0..case.steps {
        // Each step reads its own batch: the statistics restart, so they are this step's alone.
        backend.begin_epoch(Split::Train, &order[k * b..]).unwrap();
        backend.run(plan, 1).unwrap();
        let stats = backend.stats(Split::Train).unwrap();
        let step = k + 1;
        report.compare(&format!("step {step} loss"), &[stats.loss_sum / b as f32], &losses[k..=k]);
        report.compare(&format!("step {step} correct"), &[stats.correct as f32], &correct[k..=k]);
        // The parameters, then each packed state buffer cut into its tensors: the checkpoint's tensors in order.
        let mut got: Vec<Vec<f32>> =
            layout.param_buffers().into_iter().map(|id| backend.read_buffer(id).unwrap()).collect();
        for id in layout.state_buffers() {
            let packed = backend.read_buffer(id).unwrap();
            got.extend(packed.chunks_exact(packed.len() / n_states).map(<[f32]>::to_vec));
        }
        assert_eq!(tensors.len(), got.len());
        for ((tensor, _), got) in tensors.iter().zip(&got) {
            report.compare(&format!("step {step} {tensor}"), got, fx.f32(&format!("{name}/step{step}/{tensor}")));
        }
    }
    assert_eq!(backend.steps_done().unwrap(), case.steps as u64, "{name}: steps done");
    report
}

/// Every case of every file on one backend; fails listing each case that differs from PyTorch.
fn every_case_should_match_pytorch<B: Backend>(backend: &str, make: &dyn Fn(&Layout, Arc<Dataset>) -> B) {
    let (mut failed, mut cases, mut worst) = (Vec::new(), 0, 0.0f32);
    for file in FILES {
        let fx = load(file);
        // Both forms of the step: the fused plan that training runs, and the reference plan that defines it.
        for (case, form) in fx.cases.iter().flat_map(|c| [(c, PlanForm::Fused), (c, PlanForm::Reference)]) {
            let report = run_case(&fx, case, form, make);
            assert!(report.compared > 0, "{}: nothing compared", case.name);
            worst = worst.max(report.max_err);
            cases += 1;
            if !report.failures.is_empty() {
                failed.push(format!(
                    "{} {form:?} (max error {:.1e}):\n    {}",
                    case.name,
                    report.max_err,
                    report.failures.join("\n    ")
                ));
            }
        }
    }
    println!("{backend}: {cases} PyTorch cases × plan forms, largest error {worst:.2e}");
    assert!(
        failed.is_empty(),
        "{backend}: {} of {cases} cases differ from PyTorch:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn cpu_should_match_pytorch() {
    every_case_should_match_pytorch("cpu", &|layout, data| CpuBackend::new(layout, data).unwrap());
}

#[test]
fn gpu_should_match_pytorch() {
    let Some(ctx) = common::gpu() else { return };
    every_case_should_match_pytorch(&ctx.describe(), &|layout, data| GpuBackend::new(&ctx, layout, data).unwrap());
}

/// The command-line names of every variant of `E` (hidden ones, such as the output layer's identity, left out).
fn names<E: ValueEnum>() -> Vec<String> {
    E::value_variants().iter().filter_map(E::to_possible_value).map(|p| p.get_name().to_string()).collect()
}

/// Whether PyTorch is the oracle of `loss`. The perceptron criterion is scikit-learn's (`Perceptron`), not
/// PyTorch's, which has no module for it: `tests/cli_perceptron.rs` holds it to scikit-learn's own run
/// (`tests/fixtures/sklearn_perceptron.json`). A new loss must say which it is here.
fn pytorch_has(loss: Loss) -> bool {
    match loss {
        Loss::Xent | Loss::Mse | Loss::Bce => true,
        Loss::Perceptron => false,
    }
}

/// The fixtures cover every activation × loss × optimizer × schedule there is (every loss PyTorch has:
/// [`pytorch_has`]), at batch sizes 1 and 7: a variant added to the code without fixtures fails here.
#[test]
fn fixtures_cover_every_activation_loss_optimizer_and_schedule() {
    let cases: Vec<Case> = FILES.iter().flat_map(|f| load(f).cases).collect();
    let (activations, schedules) = (names::<Activation>(), names::<LrSchedule>());
    let losses: Vec<String> = Loss::ALL.iter().filter(|&&l| pytorch_has(l)).map(|l| l.name().to_string()).collect();
    assert_eq!(names::<Loss>().len(), Loss::ALL.len(), "every loss is on the command line");
    for a in &activations {
        for l in &losses {
            for o in Rule::ALL.iter().map(|r| r.name()) {
                for s in &schedules {
                    for b in [1, 7] {
                        assert!(
                            cases.iter().any(|c| {
                                (&c.activation, &c.loss, c.optimizer.as_str(), &c.schedule, c.batch) == (a, l, o, s, b)
                            }),
                            "no PyTorch fixture for {a} {l} {o} {s} batch {b}: add it to tests/fixtures/make_golden.py"
                        );
                    }
                }
            }
        }
    }
    // Dropout, with masks drawn in Python the way gpu-mnist draws them, for every activation and loss.
    for a in &activations {
        for l in &losses {
            assert!(
                cases.iter().any(|c| (&c.activation, &c.loss) == (a, l) && c.dropout.is_some_and(|p| p > 0.0)),
                "no PyTorch fixture for {a} {l} with dropout: add it to tests/fixtures/make_golden.py"
            );
        }
    }
    // Every loss head (each loss with each kind of output units it takes), for every activation, without and with
    // dropout.
    for (loss, units) in gpu_mnist::model::heads().into_iter().filter(|&(l, _)| pytorch_has(l)) {
        for a in &activations {
            for dropped in [false, true] {
                assert!(
                    cases.iter().any(|c| {
                        let m = c.model();
                        (&c.activation, m.loss, m.output_units, c.dropout.is_some_and(|p| p > 0.0))
                            == (a, loss, units, dropped)
                    }),
                    "no PyTorch fixture for {a} {} on {} output units (dropout: {dropped}): add it to \
                     tests/fixtures/make_golden.py",
                    loss.name(),
                    units.name()
                );
            }
        }
    }
    // And every case's hyper-parameters make sense (a NaN or missing field would compare nothing).
    for c in &cases {
        let _ = c.optimizer();
        assert!(c.steps == 3 && c.lr > 0.0, "{}: steps {} lr {}", c.name, c.steps, c.lr);
    }
}
