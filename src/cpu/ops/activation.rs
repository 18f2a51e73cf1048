//! The activations and their derivatives, one scalar at a time.

use crate::model::{Act, Activation};

/// a = act(z)
pub fn activate(z: f32, act: Act) -> f32 {
    match act.activation {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::LeakyRelu => {
            if z > 0.0 {
                z
            } else {
                act.leaky_slope * z
            }
        }
        Activation::Gelu => z * normal_cdf(z),
        // ½z(1 + tanh u) = z·σ(2u): the same value without the cancellation of 1 + tanh u where u ≪ 0.
        Activation::GeluTanh => z * stable_sigmoid(2.0 * gelu_tanh_inner(z)),
        Activation::Silu => z * stable_sigmoid(z),
    }
}

/// act′(z) written in terms of `saved`: the pre-activation z where `act`
/// [needs it](Activation::needs_pre_activation), else the output a = act(z): relu a > 0, sigmoid a(1 − a),
/// tanh 1 − a², leaky relu 1 or the slope (a > 0 exactly where z > 0, the slope being within
/// [`crate::model::LEAKY_SLOPES`]); gelu Φ(z) + z·φ(z), gelu-tanh the derivative of its formula, silu
/// σ(z)(1 + z(1 − σ(z))).
pub fn activation_grad(saved: f32, act: Act) -> f32 {
    let a = saved;
    match act.activation {
        Activation::Identity => 1.0,
        Activation::Relu => {
            if a > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Sigmoid => a * (1.0 - a),
        Activation::Tanh => 1.0 - a * a,
        Activation::LeakyRelu => {
            if a > 0.0 {
                1.0
            } else {
                act.leaky_slope
            }
        }
        Activation::Gelu => {
            let z = saved;
            // φ(z) = e^(−z²/2) / √(2π)
            normal_cdf(z) + z * (-0.5 * z * z).exp() * FRAC_1_SQRT_2PI
        }
        Activation::GeluTanh => {
            // d/dz ½z(1 + tanh u), u = β(z + κz³): ½(1 + tanh u) + ½z(1 − tanh² u)·β(1 + 3κz²), written with
            // ½(1 + tanh u) = σ(2u) and ½(1 − tanh u) = σ(−2u), which keep their precision in both tails (PyTorch's
            // float32 formula loses up to 1e-6 there).
            let z = saved;
            let u2 = 2.0 * gelu_tanh_inner(z);
            let (p, m) = (stable_sigmoid(u2), stable_sigmoid(-u2));
            p + 2.0 * z * p * m * GELU_TANH_BETA * (1.0 + 3.0 * GELU_TANH_KAPPA * z * z)
        }
        Activation::Silu => {
            // d/dz z·σ(z) = σ(z)(1 + z(1 − σ(z))), with 1 − σ(z) = σ(−z) (no cancellation for z ≫ 0).
            let z = saved;
            stable_sigmoid(z) * (1.0 + z * stable_sigmoid(-z))
        }
    }
}

/// 1/√(2π), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
/// √(2/π), the scale of GELU's tanh approximation.
const GELU_TANH_BETA: f32 = 0.797_884_6;
/// The cubic term of GELU's tanh approximation.
const GELU_TANH_KAPPA: f32 = 0.044_715;

/// σ(v) = 1 / (1 + e^−v) without overflow, as `shaders/activation.wgsl`'s `sigmoid`: e^(−|v|) is always in (0, 1].
fn stable_sigmoid(v: f32) -> f32 {
    let e = (-v.abs()).exp();
    if v >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// u = √(2/π)(z + 0.044715z³), the argument of tanh in GELU's tanh approximation.
fn gelu_tanh_inner(z: f32) -> f32 {
    GELU_TANH_BETA * (z + GELU_TANH_KAPPA * z * z * z)
}

/// The coefficients of the Chebyshev fit of erfc in *Numerical Recipes in C* (2nd ed., §6.2, `erfcc`), constant
/// term first, as the nearest f32s (`shaders/activation.wgsl` writes the same values).
const ERFC: [f32; 10] = [
    -1.265_512_2,
    1.000_023_7,
    0.374_091_95,
    0.096_784_18,
    -0.186_288_06,
    0.278_868_08,
    -1.135_204,
    1.488_515_9,
    -0.822_152_26,
    0.170_872_76,
];

/// Φ(z) = ½(1 + erf(z/√2)), the standard normal CDF, for GELU. Neither WGSL nor Rust's `std` has erf, so both
/// backends evaluate the same approximation: erfc(u) ≈ t·exp(−u² + P(t)), t = 1/(1 + u/2), u = |z|/√2 ≥ 0, P the
/// degree-9 polynomial of [`ERFC`] (*Numerical Recipes*' `erfcc`, fractional error below 1.2e-7 for every u), then
/// Φ(z) = 1 − ½erfc(u) for z ≥ 0 and ½erfc(u) below. Taking erfc itself rather than 1 + erf keeps Φ accurate in the
/// negative tail. `shaders/activation.wgsl` has the same function, term for term; `tests/activations_pytorch.rs`
/// holds GELU to PyTorch's `F.gelu` within 1e-6.
pub fn normal_cdf(z: f32) -> f32 {
    let u = z.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * u);
    let p = ERFC.iter().rev().fold(0.0, |acc, &c| c + t * acc);
    let half_erfc = 0.5 * t * (-u * u + p).exp();
    if z >= 0.0 {
        1.0 - half_erfc
    } else {
        half_erfc
    }
}
