//! Fuzzing of the two parsers of untrusted files: the checkpoint loader ([`Checkpoint::load`]) and the IDX parser
//! ([`read_idx_bytes`]), as proptest properties.
//!
//! - Arbitrary bytes are never a checkpoint: `load` answers an [`Error::Checkpoint`] naming the file, never panics.
//! - A valid checkpoint mutated (bytes flipped anywhere, the 8-byte header length rewritten, the JSON header spliced
//!   or replaced, metadata values and tensor entries changed, the file cut or extended) loads only if it still
//!   validates (then every tensor is finite and of its shape, and it saves and loads back the same), else it is an
//!   `Error::Checkpoint`.
//! - Random tiny models save and load back bit for bit.
//! - The IDX parser, on arbitrary and on mutated valid files (raw and gzipped), agrees with a 20-line reference
//!   reader of the format, and never panics.
//!
//! Every parse runs under an allocation probe (this binary's global allocator records the largest single allocation
//! of the thread): no parse may allocate more than a small multiple of the bytes it was given (plus what the data
//! really decompresses to), so a length field claiming 2^60 bytes can never make it reserve them.
//!
//! `cargo test` runs a few hundred cases of each. The `#[ignore]`d `long_fuzz_*` tests run `FUZZ_CASES` (default
//! 100 000) cases of each property with a fresh random seed and print what they saw:
//!
//! ```text
//! FUZZ_CASES=1000000 cargo test --release --test fuzz_checkpoint -- --ignored --nocapture
//! ```
//!
//! A failure prints the minimal input proptest shrank it to; keep it as a regression test below (`regression_*`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use clap::ValueEnum;
use flate2::read::MultiGzDecoder;
use gpu_mnist::backend::Stats;
use gpu_mnist::checkpoint::{self, Checkpoint};
use gpu_mnist::data::{read_idx_bytes, IdxLimits};
use gpu_mnist::model::{Activation, Layer, Loss, ModelConfig, OutputUnits, Params, DEFAULT_LEAKY_SLOPE};
use gpu_mnist::optim::{Hyper, LrSchedule, Optimizer, Range, Rule};
use gpu_mnist::train::{EpochSoFar, Shuffle};
use gpu_mnist::Error;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{json, Map, Value};

mod support;
use support::{gzip, idx};

// ---------------------------------------------------------------------------------------------------------------
// The allocation probe.

/// The system allocator, recording the largest single allocation (or reallocation) each thread asks for.
struct Probe;

thread_local! {
    // `const` and `Copy`: no lazy initialisation and no destructor, so it is safe to touch from the allocator.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Probe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static PROBE: Probe = Probe;

/// Runs `f` and returns its value with the largest single allocation it made on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let value = f();
    (value, LARGEST.with(Cell::get))
}

/// What loading an `n`-byte checkpoint may allocate at once: the file itself, the parsed header (a few words per
/// header byte) and the tensors (as large as the file), never anything a length field asks for.
fn checkpoint_allocation_bound(n: usize) -> usize {
    64 * n + (1 << 20)
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoints: strategies.

fn model() -> impl Strategy<Value = ModelConfig> {
    let activation = select(<Activation as clap::ValueEnum>::value_variants().to_vec());
    let loss = select(vec![Loss::Xent, Loss::Mse]);
    (1usize..=6, vec(1usize..=5, 0..=2), 2usize..=5, activation, loss).prop_map(
        |(inputs, hidden, classes, activation, loss)| ModelConfig {
            output_units: OutputUnits::Classes,
            inputs,
            hidden,
            classes,
            activation,
            loss,
            leaky_slope: DEFAULT_LEAKY_SLOPE,
        },
    )
}

/// A learning rate or ε the loader accepts: positive, normal, below `f32::MAX`.
fn positive() -> impl Strategy<Value = f32> {
    prop_oneof![1e-6f32..10.0, f32::MIN_POSITIVE..f32::MAX, Just(f32::MIN_POSITIVE), Just(1e-8)]
}

/// A factor in [0, 1): momentum, β1, β2.
fn unit() -> impl Strategy<Value = f32> {
    prop_oneof![0.0f32..1.0, Just(0.0), Just(0.999_999_94)]
}

/// A value of `range` the loader accepts.
fn value_in(range: Range) -> BoxedStrategy<f32> {
    match range {
        Range::Positive => positive().boxed(),
        Range::Fraction => unit().boxed(),
        Range::NonNegative => prop_oneof![0.0f32..1.0, Just(0.0), 0.0f32..f32::MAX, Just(f32::MAX)].boxed(),
        Range::Switch => select(vec![0.0f32, 1.0]).boxed(),
    }
}

/// Any rule of the optimizer table with every hyper-parameter it reads drawn from its range.
fn optimizer() -> impl Strategy<Value = Optimizer> {
    select(Rule::ALL.to_vec()).prop_flat_map(|rule| {
        let hypers: Vec<Hyper> = rule.row().hypers.iter().map(|&(h, _)| h).collect();
        let values: Vec<BoxedStrategy<f32>> = hypers.iter().map(|h| value_in(h.range())).collect();
        values.prop_map(move |v| {
            let pairs: Vec<(Hyper, f32)> = hypers.iter().copied().zip(v).collect();
            Optimizer::of(rule, &pairs).expect("values drawn from their ranges")
        })
    })
}

/// Any finite f32, bit patterns included (subnormals, -0.0, the extremes), or an ordinary weight.
fn finite() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1.0f32..1.0,
        // NaN and the infinities have an all-ones exponent: clearing its lowest bit makes them finite.
        any::<u32>().prop_map(|b| {
            let x = f32::from_bits(b);
            if x.is_finite() {
                x
            } else {
                f32::from_bits(b & !(1 << 23))
            }
        }),
    ]
}

/// Everything of a checkpoint but its model, optimizer and tensors.
#[derive(Clone, Debug)]
struct Progress {
    epoch: usize,
    steps_done: u64,
    seed: u64,
    batch_size: usize,
    dataset: String,
    data_digest: Option<String>,
    train_samples: usize,
    lr_schedule: LrSchedule,
    dropout: f32,
    input_dropout: f32,
    shuffle: Shuffle,
    epoch_so_far: Option<EpochSoFar>,
}

fn progress() -> impl Strategy<Value = Progress> {
    (
        any::<usize>(),
        any::<u64>(),
        any::<u64>(),
        1usize..=usize::MAX,
        prop_oneof![Just("mnist".to_owned()), any::<String>()],
        proptest::option::of("[0-9a-f]{64}"),
        any::<usize>(),
        select(vec![LrSchedule::Linear, LrSchedule::Constant]),
        (prop_oneof![Just(0.0f32), 0.0f32..1.0], prop_oneof![Just(0.0f32), 0.0f32..1.0]),
        select(Shuffle::value_variants().to_vec()),
        proptest::option::of(epoch_so_far()),
    )
        .prop_map(
            |(
                epoch,
                steps_done,
                seed,
                batch_size,
                dataset,
                data_digest,
                train_samples,
                lr_schedule,
                (dropout, input_dropout),
                shuffle,
                epoch_so_far,
            )| {
                Progress {
                    epoch,
                    steps_done,
                    seed,
                    batch_size,
                    dataset,
                    data_digest,
                    train_samples,
                    lr_schedule,
                    dropout,
                    input_dropout,
                    shuffle,
                    epoch_so_far,
                }
            },
        )
}

/// What part of an epoch measured: counts that agree, a finite loss sum and duration (what `save` writes).
fn epoch_so_far() -> impl Strategy<Value = EpochSoFar> {
    (any::<u32>(), any::<u32>(), 0f32..f32::MAX, 0f64..1e12).prop_map(|(a, b, loss_sum, seconds)| EpochSoFar {
        stats: Stats { loss_sum, correct: a.min(b), samples: a.max(b) },
        seconds,
    })
}

/// The number of values of every tensor of `model` with `optimizer`: parameters, then optimizer state.
fn tensor_sizes(model: &ModelConfig, optimizer: &Optimizer) -> Vec<usize> {
    checkpoint::param_tensors(model)
        .into_iter()
        .chain(checkpoint::state_tensors(model, optimizer))
        .map(|(_, shape)| shape.iter().product())
        .collect()
}

/// The one place a `Checkpoint` is built field by field.
fn assemble(model: ModelConfig, optimizer: Optimizer, mut tensors: Vec<Vec<f32>>, p: Progress) -> Checkpoint {
    let shapes = model.layer_shapes();
    let state = tensors.split_off(2 * shapes.len());
    let mut it = tensors.into_iter();
    let layers = shapes
        .into_iter()
        .map(|(inputs, outputs)| Layer {
            weight: it.next().unwrap_or_default(),
            bias: it.next().unwrap_or_default(),
            inputs,
            outputs,
        })
        .collect();
    Checkpoint {
        model,
        optimizer,
        params: Params { layers },
        state,
        epoch: p.epoch,
        steps_done: p.steps_done,
        seed: p.seed,
        batch_size: p.batch_size,
        dataset: p.dataset,
        data_digest: p.data_digest,
        train_samples: p.train_samples,
        lr_schedule: p.lr_schedule,
        dropout: p.dropout,
        input_dropout: p.input_dropout,
        shuffle: p.shuffle,
        epoch_so_far: p.epoch_so_far,
        table: None,
        normalize: None,
    }
}

/// A random valid checkpoint of a tiny model.
fn checkpoint() -> impl Strategy<Value = Checkpoint> {
    (model(), optimizer(), progress()).prop_flat_map(|(model, optimizer, progress)| {
        let tensors: Vec<_> = tensor_sizes(&model, &optimizer).into_iter().map(|n| vec(finite(), n)).collect();
        (Just(model), Just(optimizer), tensors, Just(progress))
            .prop_map(|(model, optimizer, tensors, progress)| assemble(model, optimizer, tensors, progress))
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoints: mutations.

/// Every metadata key a checkpoint holds, and a few it does not.
const META_KEYS: [&str; 32] = [
    "format",
    "format_version",
    "architecture",
    "activation",
    "loss",
    "optimizer",
    "lr",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "alpha",
    "weight_decay",
    "centered",
    "eps_in_sqrt",
    "leaky_slope",
    "dropout",
    "shuffle",
    "epoch",
    "steps_done",
    "seed",
    "batch_size",
    "dataset",
    "data_digest",
    "classes",
    "train_samples",
    "lr_schedule",
    "epoch_loss_sum",
    "epoch_correct",
    "epoch_samples",
    "epoch_seconds",
    "unknown_key",
];

/// Metadata values on the edges of what each key accepts.
const META_VALUES: [&str; 43] = [
    "",
    " ",
    "0",
    "1",
    "2",
    "-1",
    " 3 ",
    "1e40",
    "1e-40",
    "3.4028235e38",
    "1.1754944e-38",
    "NaN",
    "inf",
    "-inf",
    "0.9999999",
    "1.0",
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "99999999999999999999999999",
    "gpu-mnist",
    "safetensors",
    "sgd",
    "momentum",
    "adam",
    "relu",
    "identity",
    "xent",
    "mse",
    "linear",
    "constant",
    "784,512,512,10",
    "1,1",
    "1",
    "0,1",
    "1,0,2",
    ",,",
    "1,4294967295,2",
    "1,18446744073709551615,2",
    "\u{0}\u{ffff}é",
    gpu_mnist::data::identity::MNIST_DIGEST,
    "A8021D85A75DCC62471D121661E80195AB37E3F4DB8503562E088A72BBD0EE52",
    "a8021d85a75dcc62471d121661e80195ab37e3f4db8503562e088a72bbd0ee5",
];

fn meta_value() -> impl Strategy<Value = String> {
    prop_oneof![
        select(META_VALUES.to_vec()).prop_map(str::to_owned),
        any::<String>(),
        any::<u64>().prop_map(|v| v.to_string()),
        any::<f32>().prop_map(|v| v.to_string()),
        vec(prop_oneof![0u64..8, any::<u64>()], 0..5).prop_map(|w| w
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")),
        vec(Just("1"), 1000..3000).prop_map(|w| w.join(",")),
    ]
}

/// A JSON value for a tensor's `dtype`, `shape` or `data_offsets`, plausible or not.
fn tensor_field_value() -> impl Strategy<Value = Value> {
    let number = prop_oneof![0u64..64, Just(u64::MAX), Just(1 << 32), Just(1 << 62), Just(1 << 63), any::<u64>()];
    prop_oneof![
        select(vec!["F32", "F64", "F16", "BF16", "I32", "U8", "BOOL", "F8_E4M3", "f32", ""]).prop_map(Value::from),
        vec(number.clone(), 0..4).prop_map(Value::from),
        (number.clone(), number).prop_map(|(a, b)| json!([a, b])),
        select(vec![json!(null), json!(-1), json!(1.5), json!("x"), json!([-1, 2]), json!({}), json!([[1]])]),
    ]
}

/// Arbitrary JSON, to replace a header with.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-zA-Z0-9_.]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![Just("__metadata__".to_owned()), "[a-z_.0-9]{0,16}"],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One change to a checkpoint file. Positions are taken modulo the region they fall in.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR one byte anywhere in the file.
    Flip { at: usize, xor: u8 },
    /// XOR one byte of the 8-byte header length.
    FlipLength { byte: usize, xor: u8 },
    /// Overwrite the header length.
    SetLength(u64),
    /// XOR one byte of the JSON header.
    FlipHeader { at: usize, xor: u8 },
    /// Cut the file.
    Truncate { at: usize },
    /// Add junk at the end.
    Append(Vec<u8>),
    /// Remove and insert bytes inside the JSON header, fixing the length prefix or not.
    SpliceHeader { at: usize, remove: usize, insert: Vec<u8>, fix_length: bool },
    /// Replace the JSON header with other text (the length prefix fits it).
    ReplaceHeader(String),
    /// Set one metadata value (the header is rewritten, the data kept).
    SetMeta { key: String, value: String },
    /// Remove one metadata key, or the whole metadata map.
    RemoveMeta(Option<String>),
    /// Set the `dtype`, `shape` or `data_offsets` of the tensor entry at this index (in name order).
    SetTensorField { tensor: usize, field: &'static str, value: Value },
    /// Remove a tensor entry.
    RemoveTensor(usize),
    /// Add a copy of a tensor entry under another name (or the name of another tensor, overwriting it).
    CopyTensor { tensor: usize, name: String },
    /// XOR one byte of the tensor data (after the header).
    FlipData { at: usize, xor: u8 },
}

/// Changes to the bytes: most leave a file that is not safetensors any more.
fn byte_mutation_of_checkpoint() -> impl Strategy<Value = Mutation> {
    let xor = 1u8..=255;
    let junk = vec(any::<u8>(), 1..64);
    let length = prop_oneof![
        any::<u64>(),
        0u64..16,
        Just(1 << 60),
        Just(u64::MAX),
        Just(1 << 63),
        Just(100_000_001),
        Just(u64::from(u32::MAX) + 1),
    ];
    prop_oneof![
        3 => (any::<usize>(), xor.clone()).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        2 => (0usize..8, xor.clone()).prop_map(|(byte, xor)| Mutation::FlipLength { byte, xor }),
        2 => length.prop_map(Mutation::SetLength),
        3 => (any::<usize>(), xor).prop_map(|(at, xor)| Mutation::FlipHeader { at, xor }),
        2 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        1 => junk.clone().prop_map(Mutation::Append),
        2 => (any::<usize>(), 0usize..16, prop_oneof![junk, "[\\[\\]{}\",:0-9a-z ]{1,8}".prop_map(String::into_bytes)],
              any::<bool>())
            .prop_map(|(at, remove, insert, fix_length)| Mutation::SpliceHeader { at, remove, insert, fix_length }),
        1 => prop_oneof![json_value().prop_map(|v| v.to_string()), any::<String>()].prop_map(Mutation::ReplaceHeader),
    ]
}

/// Changes that keep a well-formed safetensors file: metadata, tensor entries, tensor data.
fn semantic_mutation() -> impl Strategy<Value = Mutation> {
    let tensor_name = prop_oneof![
        "layers\\.[0-3]\\.(weight|bias)",
        "optimizer\\.layers\\.[0-3]\\.(weight|bias)\\.(momentum_buffer|exp_avg|exp_avg_sq)",
        "[a-z.]{0,10}",
    ];
    prop_oneof![
        6 => (prop_oneof![select(META_KEYS.to_vec()).prop_map(str::to_owned), "[a-z_]{1,12}"], meta_value())
            .prop_map(|(key, value)| Mutation::SetMeta { key, value }),
        1 => proptest::option::of(select(META_KEYS.to_vec()).prop_map(str::to_owned)).prop_map(Mutation::RemoveMeta),
        4 => (any::<usize>(), select(vec!["dtype", "shape", "data_offsets"]), tensor_field_value())
            .prop_map(|(tensor, field, value)| Mutation::SetTensorField { tensor, field, value }),
        1 => any::<usize>().prop_map(Mutation::RemoveTensor),
        1 => (any::<usize>(), tensor_name).prop_map(|(tensor, name)| Mutation::CopyTensor { tensor, name }),
        3 => (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Mutation::FlipData { at, xor }),
    ]
}

/// A few mutations: only semantic ones (to reach the loader's own checks), or any.
fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let any_mutation = prop_oneof![byte_mutation_of_checkpoint(), semantic_mutation()];
    prop_oneof![vec(semantic_mutation(), 1..=4), vec(any_mutation, 1..=4)]
}

/// The declared header length of a safetensors file, if it has the 8 bytes.
fn header_len(bytes: &[u8]) -> Option<u64> {
    bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// The JSON header region (clamped to the file) of a safetensors file.
fn header_region(bytes: &[u8]) -> std::ops::Range<usize> {
    let n = header_len(bytes).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    8.min(bytes.len())..8usize.saturating_add(n).min(bytes.len())
}

/// The parsed header object and the data after it, when the file has a well-formed one.
fn parse_header(bytes: &[u8]) -> Option<(Map<String, Value>, Vec<u8>)> {
    let r = header_region(bytes);
    if r.end - r.start != usize::try_from(header_len(bytes)?).ok()? {
        return None;
    }
    match serde_json::from_slice(&bytes[r.clone()]) {
        Ok(Value::Object(map)) => Some((map, bytes[r.end..].to_vec())),
        _ => None,
    }
}

/// A file with this header text (padded to 8 bytes as safetensors writes it) and data.
fn with_header(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut json = header.to_vec();
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out.extend(data);
    out
}

/// The names of the tensor entries of a header, sorted.
fn tensor_names(header: &Map<String, Value>) -> Vec<String> {
    header.keys().filter(|k| *k != "__metadata__").cloned().collect()
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::Flip { at, xor } if len > 0 => bytes[at % len] ^= xor,
        Mutation::FlipLength { byte, xor } if len >= 8 => bytes[byte % 8] ^= xor,
        Mutation::SetLength(n) if len >= 8 => bytes[..8].copy_from_slice(&n.to_le_bytes()),
        Mutation::FlipHeader { at, xor } => {
            let r = header_region(bytes);
            if !r.is_empty() {
                bytes[r.start + at % r.len()] ^= xor;
            }
        }
        Mutation::Truncate { at } => bytes.truncate(at % (len + 1)),
        Mutation::Append(junk) => bytes.extend(junk),
        Mutation::SpliceHeader { at, remove, insert, fix_length } => {
            let r = header_region(bytes);
            let at = r.start + at % (r.len() + 1);
            let end = (at + remove).min(r.end);
            bytes.splice(at..end, insert.iter().copied());
            if *fix_length && bytes.len() >= 8 {
                let n = (r.len() - (end - at) + insert.len()) as u64;
                bytes[..8].copy_from_slice(&n.to_le_bytes());
            }
        }
        Mutation::FlipData { at, xor } => {
            let start = header_region(bytes).end;
            if start < len {
                bytes[start + at % (len - start)] ^= xor;
            }
        }
        Mutation::ReplaceHeader(text) => {
            let data = bytes.get(header_region(bytes).end..).unwrap_or_default().to_vec();
            *bytes = with_header(text.as_bytes(), &data);
        }
        semantic => {
            let Some((mut header, data)) = parse_header(bytes) else { return };
            let names = tensor_names(&header);
            match semantic {
                Mutation::SetMeta { key, value } => {
                    let meta = header.entry("__metadata__").or_insert_with(|| json!({}));
                    if let Value::Object(meta) = meta {
                        meta.insert(key.clone(), Value::from(value.as_str()));
                    }
                }
                Mutation::RemoveMeta(None) => {
                    header.remove("__metadata__");
                }
                Mutation::RemoveMeta(Some(key)) => {
                    if let Some(Value::Object(meta)) = header.get_mut("__metadata__") {
                        meta.remove(key);
                    }
                }
                Mutation::SetTensorField { tensor, field, value } if !names.is_empty() => {
                    if let Some(Value::Object(entry)) = header.get_mut(&names[tensor % names.len()]) {
                        entry.insert((*field).to_owned(), value.clone());
                    }
                }
                Mutation::RemoveTensor(tensor) if !names.is_empty() => {
                    header.remove(&names[tensor % names.len()]);
                }
                Mutation::CopyTensor { tensor, name } if !names.is_empty() => {
                    let entry = header[&names[tensor % names.len()]].clone();
                    header.insert(name.clone(), entry);
                }
                _ => return,
            }
            let text = serde_json::to_vec(&Value::Object(header)).unwrap_or_default();
            *bytes = with_header(&text, &data);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoints: properties.

/// Tallies of what a property saw, printed by the long runs.
#[derive(Default)]
struct Tally {
    cases: u64,
    loaded: u64,
    /// First words of each error message, with counts.
    errors: BTreeMap<String, u64>,
    /// The largest single allocation of one parse, and its share of the bound.
    largest: usize,
    largest_share: f64,
}

impl Tally {
    fn error(&mut self, msg: &str) {
        // The message up to its first value, numbers folded to N: one line per kind of refusal.
        let head = msg.split(['=', '(', '"', ':', '[', ';']).next().unwrap_or(msg);
        let words = head.split_whitespace().map(|w| {
            if w.starts_with("0x") {
                return "0xN".to_owned();
            }
            let mut folded = String::new();
            for c in w.chars() {
                let c = if c.is_ascii_digit() { 'N' } else { c };
                if !(c == 'N' && folded.ends_with('N')) {
                    folded.push(c);
                }
            }
            folded
        });
        let kind: String = words.collect::<Vec<_>>().join(" ").chars().take(60).collect();
        *self.errors.entry(kind.trim().to_owned()).or_default() += 1;
    }

    fn print(&self, name: &str, started: Instant) {
        println!(
            "{name}: {} cases in {:.1} s, {} accepted; largest single allocation {} bytes, at most {:.1}% of the bound",
            self.cases,
            started.elapsed().as_secs_f64(),
            self.loaded,
            self.largest,
            100.0 * self.largest_share
        );
        let mut errors: Vec<_> = self.errors.iter().collect();
        errors.sort_by(|a, b| b.1.cmp(a.1));
        for (kind, n) in errors.iter().take(40) {
            println!("    {n:>8}  {kind}");
        }
        if errors.len() > 40 {
            println!("    … and {} more kinds", errors.len() - 40);
        }
    }
}

/// Everything a loaded checkpoint must satisfy: a valid model, tensors of its shapes, all finite, and a file that
/// saves and loads back the same.
fn check_loaded(ck: &Checkpoint, scratch: &Path) -> Result<(), TestCaseError> {
    prop_assert!(ck.model.validate().is_ok(), "loaded an invalid model {:?}", ck.model);
    prop_assert!(ck.batch_size > 0);
    let shapes = ck.model.layer_shapes();
    prop_assert_eq!(ck.params.layers.len(), shapes.len());
    for (layer, &(inputs, outputs)) in ck.params.layers.iter().zip(&shapes) {
        prop_assert_eq!((layer.inputs, layer.outputs), (inputs, outputs));
        prop_assert_eq!(layer.weight.len(), inputs * outputs);
        prop_assert_eq!(layer.bias.len(), outputs);
    }
    let state: Vec<usize> =
        checkpoint::state_tensors(&ck.model, &ck.optimizer).iter().map(|(_, shape)| shape.iter().product()).collect();
    prop_assert_eq!(ck.state.iter().map(Vec::len).collect::<Vec<_>>(), state);
    let mut values = ck.params.tensors().into_iter().chain(ck.state.iter().map(Vec::as_slice)).flatten();
    prop_assert!(values.all(|x| x.is_finite()), "loaded a non-finite value");
    // What was loaded saves, and loads back the same.
    match ck.save(scratch) {
        Ok(()) => {
            let back = Checkpoint::load(scratch);
            prop_assert!(back.as_ref().is_ok_and(|b| b == ck), "saved and loaded back as {:?}", back);
        }
        Err(e) => prop_assert!(false, "a loaded checkpoint cannot be saved: {}", e),
    }
    Ok(())
}

/// Writes `bytes` to `path`, loads it, and checks the answer: a valid checkpoint, or an `Error::Checkpoint` naming
/// `path`; the allocation bound either way. Returns whether it loaded.
fn check_load(bytes: &[u8], path: &Path, tally: &RefCell<Tally>) -> Result<bool, TestCaseError> {
    std::fs::write(path, bytes).map_err(|e| TestCaseError::fail(format!("cannot write {}: {e}", path.display())))?;
    let (result, largest) = largest_allocation(|| Checkpoint::load(path));
    let bound = checkpoint_allocation_bound(bytes.len());
    prop_assert!(largest <= bound, "loading {} bytes allocated {largest} at once (bound {bound})", bytes.len());
    let mut t = tally.borrow_mut();
    t.cases += 1;
    t.largest = t.largest.max(largest);
    t.largest_share = t.largest_share.max(largest as f64 / bound as f64);
    match result {
        Ok(ck) => {
            t.loaded += 1;
            drop(t);
            check_loaded(&ck, &path.with_extension("resaved"))?;
            Ok(true)
        }
        Err(Error::Checkpoint { path: p, msg }) => {
            prop_assert_eq!(&p, path, "the error names the file");
            prop_assert!(!msg.trim().is_empty(), "an empty message");
            t.error(&msg);
            Ok(false)
        }
        Err(other) => Err(TestCaseError::fail(format!("expected an Error::Checkpoint, got {other:?}"))),
    }
}

/// Arbitrary bytes: a few shapes of noise, some with a plausible length prefix and JSON-looking text.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..4096),
        (0u64..4096, vec(any::<u8>(), 0..4096)).prop_map(|(n, rest)| {
            let mut b = n.to_le_bytes().to_vec();
            b.extend(rest);
            b
        }),
        (json_value(), vec(any::<u8>(), 0..256)).prop_map(|(v, data)| with_header(v.to_string().as_bytes(), &data)),
        "\\{[\"a-z_:,{}\\[\\]0-9 ]{0,200}".prop_map(|s| with_header(s.as_bytes(), &[])),
    ]
}

fn arbitrary_bytes_property(runner: &mut TestRunner, tally: &RefCell<Tally>) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("noise.safetensors");
    report(runner.run(&noise(), |bytes| {
        let loaded = check_load(&bytes, &path, tally)?;
        prop_assert!(!loaded, "noise loaded as a checkpoint");
        Ok(())
    }))
}

fn mutation_property(runner: &mut TestRunner, tally: &RefCell<Tally>) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("mutated.safetensors");
    report(runner.run(&(checkpoint(), mutations()), |(ck, mutations)| {
        let mut bytes = ck.to_bytes().map_err(|e| TestCaseError::fail(format!("to_bytes: {e}")))?;
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check_load(&bytes, &path, tally)?;
        Ok(())
    }))
}

fn round_trip_property(runner: &mut TestRunner, tally: &RefCell<Tally>) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("model.safetensors");
    report(runner.run(&checkpoint(), |ck| {
        ck.save(&path).map_err(|e| TestCaseError::fail(format!("save: {e}")))?;
        let bytes = std::fs::read(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(check_load(&bytes, &path, tally)?, "a saved checkpoint did not load");
        let back = Checkpoint::load(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &ck);
        // Bit for bit: -0.0 is not 0.0, and a subnormal stays itself.
        let bits = |c: &Checkpoint| -> Vec<u32> {
            let params = c.params.tensors().into_iter().flatten();
            params.chain(c.state.iter().flatten()).map(|x| x.to_bits()).collect()
        };
        prop_assert_eq!(bits(&back), bits(&ck));
        // The bytes depend only on the contents.
        prop_assert_eq!(back.to_bytes().ok(), Some(bytes));
        Ok(())
    }))
}

/// A runner of `cases` cases that keeps nothing on disk (a failure prints its minimal input instead).
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

fn report<T: std::fmt::Debug>(result: Result<(), TestError<T>>) -> Result<(), String> {
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, input)) => Err(format!("{reason}\nminimal failing input: {input:#?}")),
        Err(TestError::Abort(reason)) => Err(format!("aborted: {reason}")),
    }
}

/// Runs `property` with `cases` cases, printing its tally when `verbose`.
fn fuzz(
    name: &str,
    cases: u32,
    verbose: bool,
    property: fn(&mut TestRunner, &RefCell<Tally>) -> Result<(), String>,
) -> Result<(), String> {
    let tally = RefCell::new(Tally::default());
    let started = Instant::now();
    let result = property(&mut runner(cases), &tally);
    if verbose || result.is_err() {
        tally.borrow().print(name, started);
    }
    result.map_err(|e| format!("{name}: {e}"))
}

fn fuzz_cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

#[test]
fn arbitrary_bytes_are_never_a_checkpoint() {
    fuzz("arbitrary bytes", 256, false, arbitrary_bytes_property).unwrap();
}

#[test]
fn mutated_checkpoints_load_only_if_valid() {
    fuzz("mutated checkpoints", 512, false, mutation_property).unwrap();
}

#[test]
fn random_tiny_models_round_trip_bit_for_bit() {
    fuzz("round trip", 128, false, round_trip_property).unwrap();
}

#[test]
#[ignore = "long fuzz run: FUZZ_CASES=100000 cargo test --release --test fuzz_checkpoint -- --ignored --nocapture"]
fn long_fuzz_checkpoint_loader() {
    let cases = fuzz_cases();
    let failures: Vec<String> = [
        fuzz("checkpoint: arbitrary bytes", cases, true, arbitrary_bytes_property),
        fuzz("checkpoint: mutated valid files", cases, true, mutation_property),
        fuzz("checkpoint: round trip", (cases / 10).max(1), true, round_trip_property),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoints: hand-made hostile files (and the place for the fuzzer's finds).

/// A valid checkpoint's bytes.
fn sample_bytes() -> Vec<u8> {
    let model = ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 3,
        hidden: vec![2],
        classes: 2,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    let optimizer =
        Optimizer::of(Rule::Adam, &[(Hyper::Lr, 1e-3), (Hyper::Beta1, 0.9), (Hyper::Beta2, 0.999), (Hyper::Eps, 1e-8)])
            .unwrap();
    let tensors = tensor_sizes(&model, &optimizer).into_iter().map(|n| vec![0.5; n]).collect();
    let progress = Progress {
        epoch: 1,
        steps_done: 10,
        seed: 7,
        batch_size: 32,
        dataset: "mnist".into(),
        data_digest: Some(gpu_mnist::data::identity::MNIST_DIGEST.into()),
        train_samples: 100,
        lr_schedule: LrSchedule::Constant,
        dropout: 0.0,
        input_dropout: 0.2,
        shuffle: Shuffle::SklearnSgd,
        // Saved mid-epoch, so the mutations reach the optional epoch_* keys too.
        epoch_so_far: Some(EpochSoFar { stats: Stats { loss_sum: 1.5, correct: 20, samples: 64 }, seconds: 0.25 }),
    };
    assemble(model, optimizer, tensors, progress).to_bytes().unwrap()
}

/// Loads `bytes` from a file: it must fail with an `Error::Checkpoint` naming the file, within the allocation bound.
fn refused(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let (result, largest) = largest_allocation(|| Checkpoint::load(&path));
    assert!(largest <= checkpoint_allocation_bound(bytes.len()), "allocated {largest} bytes at once");
    match result {
        Err(Error::Checkpoint { path: p, msg }) => {
            assert_eq!(p, path);
            msg
        }
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

#[test]
fn regression_header_lengths_past_the_file_allocate_nothing() {
    let good = sample_bytes();
    let n = header_len(&good).unwrap();
    let file = good.len() as u64;
    for claimed in [1 << 60, u64::MAX, 1 << 63, 100_000_001, 1 << 32, file - 7, file, n + 1, 0, 1, 7] {
        let mut bytes = good.clone();
        bytes[..8].copy_from_slice(&claimed.to_le_bytes());
        let msg = refused(&bytes);
        assert!(msg.contains("truncated") || msg.contains("not a safetensors file"), "length {claimed}: {msg}");
    }
}

#[test]
fn regression_tensor_entries_claiming_huge_sizes_allocate_nothing() {
    let (header, data) = parse_header(&sample_bytes()).unwrap();
    let huge = [json!([1u64 << 62]), json!([u64::MAX, 2]), json!([1u64 << 32, 1u64 << 32]), json!([0, 0, 0])];
    for shape in huge {
        for offsets in [json!([0, 1u64 << 60]), json!([0, u64::MAX]), json!([8, 0]), json!([0, 8])] {
            let mut h = header.clone();
            h["layers.0.bias"]["shape"] = shape.clone();
            h["layers.0.bias"]["data_offsets"] = offsets;
            let bytes = with_header(&serde_json::to_vec(&h).unwrap(), &data);
            refused(&bytes);
        }
    }
    // An architecture far larger than the tensors: the shapes differ, nothing is allocated for the claimed size.
    for arch in ["3,4294967295,2", "3,18446744073709551615,2", "18446744073709551615,2", "3,2,2,2,2,2,2,2,2,2,2"] {
        let mut h = header.clone();
        h["__metadata__"]["architecture"] = json!(arch);
        let msg = refused(&with_header(&serde_json::to_vec(&h).unwrap(), &data));
        assert!(msg.contains("architecture") || msg.contains("tensor"), "{arch}: {msg}");
    }
}

/// Found by the round-trip property run over the hyper-parameters `gpu-mnist train` accepts (`--lr` finite and
/// positive, `--eps` positive, infinity included): `save` writes them, `load` refuses them (it wants normal numbers
/// below `f32::MAX`), so `train --save` succeeds and the later `--resume` or `eval` of that file fails, e.g.
/// `gpu-mnist train --optimizer adam --eps 1e-40 --save m.safetensors` then `--resume m.safetensors`:
/// "metadata `eps` = 0.0000…01 is out of range". Fixed: `save`, `--lr` and `--eps` now refuse what `load` refuses
/// (`checkpoint::RATES`), so every saved checkpoint loads back. Since the optimizer table, an `Optimizer` is checked
/// against its ranges when it is made, and `load` reads it through the same check.
#[test]
fn regression_saved_hyper_parameters_always_load_back() {
    let model = ModelConfig {
        output_units: OutputUnits::Classes,
        inputs: 2,
        hidden: vec![],
        classes: 2,
        activation: Activation::Relu,
        loss: Loss::Xent,
        leaky_slope: DEFAULT_LEAKY_SLOPE,
    };
    let subnormal = f32::MIN_POSITIVE / 4.0;
    let hyper_parameters = [
        (Rule::Sgd, Hyper::Lr, subnormal),
        (Rule::Sgd, Hyper::Lr, f32::MAX),
        (Rule::Adam, Hyper::Eps, subnormal),
        (Rule::Adam, Hyper::Eps, f32::INFINITY),
        (Rule::Adam, Hyper::Eps, f32::MAX),
        (Rule::Rmsprop, Hyper::WeightDecay, f32::INFINITY),
        (Rule::Rmsprop, Hyper::Centered, 0.5),
        (Rule::Rmsprop, Hyper::EpsInSqrt, 2.0),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut failures = Vec::new();
    for (rule, hyper, value) in hyper_parameters {
        // An optimizer is checked when it is made: a value refused there is never saved (consistent).
        let Ok(optimizer) = Optimizer::of(rule, &[(hyper, value)]) else { continue };
        let tensors = tensor_sizes(&model, &optimizer).into_iter().map(|n| vec![0.25; n]).collect();
        let progress = Progress {
            epoch: 1,
            steps_done: 1,
            seed: 1,
            batch_size: 1,
            dataset: "mnist".into(),
            data_digest: None,
            train_samples: 1,
            lr_schedule: LrSchedule::Constant,
            dropout: 0.0,
            input_dropout: 0.0,
            shuffle: Shuffle::Chacha8,
            epoch_so_far: None,
        };
        let ck = assemble(model.clone(), optimizer, tensors, progress);
        if ck.save(&path).is_err() {
            continue; // refused when saving: consistent
        }
        match Checkpoint::load(&path) {
            Ok(back) if back == ck => {}
            other => failures.push(format!("{optimizer:?} saved, but loads as {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------------
// IDX files.

/// The format, read the obvious way: `Some((dims, payload))` exactly when `bytes` is a valid IDX file of `ndims`
/// dimensions whose payload is at most `cap` bytes.
fn reference_idx(bytes: &[u8], ndims: usize, cap: u64) -> Option<(Vec<usize>, &[u8])> {
    if bytes.len() < 4 || bytes[..3] != [0, 0, 0x08] || usize::from(bytes[3]) != ndims {
        return None;
    }
    let head = 4 + 4 * ndims;
    let dims: Vec<u32> =
        bytes.get(4..head)?.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
    let declared = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))?;
    if declared > cap || (bytes.len() - head) as u64 != declared {
        return None;
    }
    Some((dims.into_iter().map(|d| d as usize).collect(), &bytes[head..]))
}

/// What a gzip stream decompresses to (all members), read no further than `limit` bytes; `None` if it is corrupt
/// before that.
fn gunzip(bytes: &[u8], limit: u64) -> Option<Vec<u8>> {
    if bytes.get(..2) != Some(&[0x1f, 0x8b][..]) {
        return None;
    }
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).take(limit).read_to_end(&mut out).ok()?;
    Some(out)
}

/// One change to an IDX file, raw or gzipped. Positions are taken modulo the length.
#[derive(Clone, Debug)]
enum ByteMutation {
    Flip {
        at: usize,
        xor: u8,
    },
    /// Set one of the 4 bytes of the magic, type and dimension count.
    SetHeaderByte {
        at: usize,
        value: u8,
    },
    /// Overwrite the big-endian word of dimension `index` (raw files only).
    SetDim {
        index: usize,
        value: u32,
    },
    Truncate {
        at: usize,
    },
    Append(Vec<u8>),
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Remove {
        at: usize,
        n: usize,
    },
}

fn byte_mutation() -> impl Strategy<Value = ByteMutation> {
    let dim = prop_oneof![0u32..64, any::<u32>(), Just(u32::MAX), Just(1 << 16), Just(1 << 27)];
    prop_oneof![
        3 => (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| ByteMutation::Flip { at, xor }),
        2 => (0usize..4, prop_oneof![0u8..5, Just(0x08), any::<u8>()])
            .prop_map(|(at, value)| ByteMutation::SetHeaderByte { at, value }),
        3 => (0usize..4, dim).prop_map(|(index, value)| ByteMutation::SetDim { index, value }),
        2 => any::<usize>().prop_map(|at| ByteMutation::Truncate { at }),
        1 => vec(any::<u8>(), 1..32).prop_map(ByteMutation::Append),
        1 => (any::<usize>(), vec(any::<u8>(), 1..8)).prop_map(|(at, bytes)| ByteMutation::Insert { at, bytes }),
        1 => (any::<usize>(), 1usize..8).prop_map(|(at, n)| ByteMutation::Remove { at, n }),
    ]
}

fn apply_bytes(bytes: &mut Vec<u8>, m: &ByteMutation) {
    let len = bytes.len();
    match m {
        ByteMutation::Flip { at, xor } if len > 0 => bytes[at % len] ^= xor,
        ByteMutation::SetHeaderByte { at, value } if *at < len => bytes[*at] = *value,
        ByteMutation::SetDim { index, value } => {
            let at = 4 + 4 * index;
            if let Some(word) = bytes.get_mut(at..at + 4) {
                word.copy_from_slice(&value.to_be_bytes());
            }
        }
        ByteMutation::Truncate { at } => bytes.truncate(at % (len + 1)),
        ByteMutation::Append(junk) => bytes.extend(junk),
        ByteMutation::Insert { at, bytes: ins } => {
            let at = at % (len + 1);
            bytes.splice(at..at, ins.iter().copied());
        }
        ByteMutation::Remove { at, n } if len > 0 => {
            let at = at % len;
            bytes.drain(at..(at + n).min(len));
        }
        _ => {}
    }
}

/// One IDX parse to check: the file's bytes, whether it is gzipped, the dimensions the caller expects, the cap.
#[derive(Clone, Debug)]
struct IdxCase {
    bytes: Vec<u8>,
    gzipped: bool,
    ndims: usize,
    cap: u64,
}

/// A 4 KiB cap (which random headers often exceed), or the default 128 MiB (which makes the parser trust a header
/// whose payload is absent: it must not reserve it).
fn cap() -> impl Strategy<Value = u64> {
    prop_oneof![Just(4096), Just(IdxLimits::DEFAULT_MAX_BYTES)]
}

fn arbitrary_idx() -> impl Strategy<Value = IdxCase> {
    let bytes = prop_oneof![
        vec(any::<u8>(), 0..4096),
        // Past the magic and type checks, so the dimensions and payload code sees the junk.
        (0u8..5, vec(any::<u8>(), 0..2048)).prop_map(|(n, rest)| [&[0, 0, 0x08, n][..], &rest].concat()),
        // Past the gzip magic, so the decoder sees the junk.
        vec(any::<u8>(), 0..2048).prop_map(|rest| [&[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff][..], &rest].concat()),
    ];
    (bytes, any::<bool>(), 0usize..5, cap()).prop_map(|(bytes, gzipped, ndims, cap)| IdxCase {
        bytes,
        gzipped,
        ndims,
        cap,
    })
}

/// A valid IDX file (labels or images), mutated before and after gzipping.
fn mutated_idx() -> impl Strategy<Value = IdxCase> {
    let dims = prop_oneof![
        (0u32..64).prop_map(|n| vec![n]),
        (0u32..8, 0u32..12, 0u32..12).prop_map(|(n, r, c)| vec![n, r, c]),
        vec(0u32..6, 0..5),
    ];
    (dims, any::<bool>(), vec(byte_mutation(), 0..3), vec(byte_mutation(), 0..3), 0usize..8, cap())
        .prop_flat_map(|(dims, gzipped, before, after, other_ndims, cap)| {
            let n: u32 = dims.iter().product();
            (Just((dims, gzipped, before, after, other_ndims, cap)), vec(any::<u8>(), n as usize))
        })
        .prop_map(|((dims, gzipped, before, after, other_ndims, cap), payload)| {
            let mut raw = idx(&dims, &payload);
            for m in &before {
                apply_bytes(&mut raw, m);
            }
            let mut bytes = if gzipped { gzip(&raw) } else { raw };
            for m in after.iter().filter(|_| gzipped) {
                apply_bytes(&mut bytes, m);
            }
            // Mostly the dimension count the file was made with; sometimes one it does not have.
            let ndims = if other_ndims < 5 { dims.len() } else { other_ndims - 5 };
            IdxCase { bytes, gzipped, ndims, cap }
        })
}

fn check_idx(case: &IdxCase, tally: &RefCell<Tally>) -> Result<(), TestCaseError> {
    let IdxCase { bytes, gzipped, ndims, cap } = case;
    let limits = IdxLimits { max_bytes: *cap };
    let (result, largest) = largest_allocation(|| read_idx_bytes("fuzz", bytes, *gzipped, *ndims, &limits));
    // The reference: the decompressed stream (read no further than any valid file could be), then the format.
    let longest = 4 + 4 * *ndims as u64 + cap + 1;
    let plain = if *gzipped { gunzip(bytes, longest) } else { Some(bytes.clone()) };
    let expected = plain.as_deref().and_then(|p| reference_idx(p, *ndims, *cap));
    // Allocations follow the bytes really there: the input, and what it really decompresses to.
    let present = plain.as_ref().map_or(0, Vec::len);
    let bound = 2 * bytes.len() + 2 * present + (1 << 20);
    prop_assert!(largest <= bound, "parsing {} bytes allocated {largest} at once (bound {bound})", bytes.len());
    let mut t = tally.borrow_mut();
    t.cases += 1;
    t.largest = t.largest.max(largest);
    t.largest_share = t.largest_share.max(largest as f64 / bound as f64);
    match (&result, expected) {
        (Ok(arr), Some((dims, payload))) => {
            t.loaded += 1;
            prop_assert_eq!(&arr.dims, &dims);
            prop_assert_eq!(&arr.data[..], payload);
        }
        (Err(e), None) => {
            prop_assert_eq!(e.path.to_str(), Some("fuzz"));
            t.error(&e.kind.to_string());
        }
        (Ok(arr), None) => prop_assert!(false, "accepted an invalid file as {:?} ({} bytes)", arr.dims, arr.data.len()),
        (Err(e), Some((dims, _))) => prop_assert!(false, "refused a valid file of dims {:?}: {}", dims, e),
    }
    Ok(())
}

fn arbitrary_idx_property(runner: &mut TestRunner, tally: &RefCell<Tally>) -> Result<(), String> {
    report(runner.run(&arbitrary_idx(), |case| check_idx(&case, tally)))
}

fn mutated_idx_property(runner: &mut TestRunner, tally: &RefCell<Tally>) -> Result<(), String> {
    report(runner.run(&mutated_idx(), |case| check_idx(&case, tally)))
}

#[test]
fn idx_arbitrary_bytes_agree_with_the_reference() {
    fuzz("idx: arbitrary bytes", 256, false, arbitrary_idx_property).unwrap();
}

#[test]
fn idx_mutated_files_agree_with_the_reference() {
    fuzz("idx: mutated valid files", 512, false, mutated_idx_property).unwrap();
}

#[test]
#[ignore = "long fuzz run: FUZZ_CASES=100000 cargo test --release --test fuzz_checkpoint -- --ignored --nocapture"]
fn long_fuzz_idx_parser() {
    let cases = fuzz_cases();
    let failures: Vec<String> = [
        fuzz("idx: arbitrary bytes", cases, true, arbitrary_idx_property),
        fuzz("idx: mutated valid files", cases, true, mutated_idx_property),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn regression_idx_headers_claiming_the_cap_allocate_nothing() {
    // A 20-byte file whose header declares just under the default cap: the parser may believe it, but must not
    // reserve the 128 MiB before seeing the payload is not there.
    let limits = IdxLimits::default();
    for dims in [[2048u32, 256, 256], [1, 1, 134_217_728], [65_535, 2048, 1]] {
        let raw = idx(&dims, &[]);
        for (bytes, gz) in [(raw.clone(), false), (gzip(&raw), true)] {
            let (result, largest) = largest_allocation(|| read_idx_bytes("claim", &bytes, gz, 3, &limits));
            assert!(result.is_err(), "{dims:?}");
            assert!(largest < 1 << 20, "{dims:?} gz={gz}: allocated {largest} bytes at once");
        }
    }
}
