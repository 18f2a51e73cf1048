//! Every hidden activation and its derivative against PyTorch: `tests/fixtures/activations.safetensors`
//! (written by `tests/fixtures/make_activations.py`) holds `torch.nn.functional`'s values and autograd's derivatives
//! in float64 and float32, on a grid of inputs from −12 to 12 (steps of 1/128) and out to ±100. The CPU's scalar
//! functions (`cpu::ops::activate`, `activation_grad`, the derivative taken from the output or from z as the
//! activation says) must match PyTorch's float64 results within 1e-6 (relative above 1; GELU absolute everywhere),
//! and its float32 ones within 1e-6 plus their own error. For GELU, which neither Rust nor WGSL can compute exactly
//! (no erf), that is the accuracy of the erf approximation the two backends share (`cpu::ops::normal_cdf`). The
//! kernel checks then hold the WGSL functions to these.

use std::collections::HashMap;

use clap::ValueEnum;
use gpu_mnist::cpu::ops;
use gpu_mnist::model::{Act, Activation};
use safetensors::{Dtype, SafeTensors};

/// `|ours − PyTorch in float64| ≤ TOL`, absolute.
/// The errors are measured as `|ours − PyTorch| / max(1, |PyTorch|)`: absolute for values up to 1, relative above
/// (an f32 near 11 is itself only within 4.8e-7 of its float64 value, so 1e-6 absolute there asks for two ulps; SiLU
/// at 11.1 is 1.05e-6 off). GELU, whose value never exceeds |z|·1 and whose erf is approximated, is also held to 1e-6
/// absolute over the whole grid ([`GELU_ABS`]).
const TOL: f64 = 1e-6;

/// GELU's (both forms') absolute bound against PyTorch in float64.
const GELU_ABS: f64 = 1e-6;

/// Against PyTorch's float32 results: those are themselves up to 8.4e-7 off its float64 ones (GELU's value) and
/// 1.03e-6 (the tanh approximation's derivative, where 1 ± tanh cancels), so the bound is TOL plus that.
const TOL_F32: f64 = 2.1e-6;

/// The fixture's tensors, as f64.
fn fixture() -> HashMap<String, Vec<f64>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/activations.safetensors");
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let values: Vec<f64> = match view.dtype() {
            Dtype::F32 => {
                view.data().chunks_exact(4).map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap()))).collect()
            }
            Dtype::F64 => view.data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect(),
            other => panic!("{name}: dtype {other}"),
        };
        out.insert(name, values);
    }
    out
}

/// The largest |ours − want|, divided by `max(1, |want|)` if `scaled`, and where.
fn worst(x: &[f64], ours: &[f64], want: &[f64], scaled: bool) -> (f64, f64) {
    let err = |o: f64, w: f64| (o - w).abs() / if scaled { w.abs().max(1.0) } else { 1.0 };
    x.iter().zip(ours).zip(want).map(|((&x, &o), &w)| (err(o, w), x)).fold(
        (0.0, 0.0),
        |m, e| {
            if e.0 > m.0 {
                e
            } else {
                m
            }
        },
    )
}

#[test]
fn every_activation_and_its_derivative_should_match_pytorch() {
    let fx = fixture();
    let x = &fx["x"];
    assert!(x.len() > 3000 && x.contains(&-100.0) && x.contains(&100.0));
    let mut failures = Vec::new();
    for &activation in Activation::value_variants() {
        let name = activation.name();
        let act = Act::from(activation);
        let y: Vec<f64> = x.iter().map(|&x| f64::from(ops::activate(x as f32, act))).collect();
        // The derivative from what the backward pass keeps: z, or the output.
        let saved = |x: f64, y: f64| if act.needs_pre_activation() { x as f32 } else { y as f32 };
        let dy: Vec<f64> = x.iter().zip(&y).map(|(&x, &y)| f64::from(ops::activation_grad(saved(x, y), act))).collect();
        for bits in ["64", "32"] {
            let get = |key: &str| {
                fx.get(&format!("{name}/{key}{bits}")).unwrap_or_else(|| {
                    panic!("no PyTorch values for {name}: add it to tests/fixtures/make_activations.py and run it")
                })
            };
            let (ey, at_y) = worst(x, &y, get("y"), true);
            let (edy, at_dy) = worst(x, &dy, get("dy"), true);
            println!("{name:10} vs PyTorch float{bits}, scaled: value {ey:.2e} (at {at_y}), derivative {edy:.2e}");
            let tol = if bits == "64" { TOL } else { TOL_F32 };
            if ey > tol || edy > tol {
                failures.push(format!("{name} vs float{bits}: value {ey:e} at {at_y}, derivative {edy:e} at {at_dy}"));
            }
            if bits == "64" && matches!(activation, Activation::Gelu | Activation::GeluTanh) {
                let (ay, at_y) = worst(x, &y, get("y"), false);
                let (ady, at_dy) = worst(x, &dy, get("dy"), false);
                println!("{name:10} vs PyTorch float64, absolute: value {ay:.2e} (at {at_y}), derivative {ady:.2e}");
                if ay > GELU_ABS || ady > GELU_ABS {
                    failures.push(format!("{name}: absolute error {ay:e} at {at_y}, derivative {ady:e} at {at_dy}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "off PyTorch by more than {TOL} (float64), {TOL_F32} (float32):\n{}",
        failures.join("\n")
    );
}

/// Φ, the normal CDF GELU is built on, at points known to 1e-9: its approximation stays within 1e-7 plus a rounding,
/// in both tails too (relative to Φ itself there).
#[test]
fn normal_cdf_should_be_accurate_in_both_tails() {
    // Φ(z) for z = 0, ±1, ±2, ±3, −5, −8 (Abramowitz & Stegun, table 26.1; the tails from erfc).
    let known = [
        (0.0, 0.5),
        (1.0, 0.841_344_746),
        (-1.0, 0.158_655_254),
        (2.0, 0.977_249_868),
        (-2.0, 0.022_750_132),
        (3.0, 0.998_650_102),
        (-3.0, 0.001_349_898),
        (-5.0, 2.866_515_7e-7),
        (-8.0, 6.220_960_6e-16),
    ];
    for (z, want) in known {
        let got = f64::from(ops::normal_cdf(z as f32));
        let err = (got - want).abs();
        assert!(err <= 1.5e-7 && err <= 1e-5 * want.max(1e-2), "Φ({z}) = {got:e}, want {want:e}");
    }
    assert_eq!(ops::normal_cdf(100.0), 1.0);
    assert_eq!(ops::normal_cdf(-100.0), 0.0);
}
