// activation.wgsl — the activation functions shared by the kernels that apply them (matmul.wgsl's epilogues).
// WGSL has no includes: the host prepends this file to every kernel that calls `activate` or `activation_grad`.
// The codes `ACT_<NAME>` are `Activation::code()`, generated from Rust and prepended by the host
// (`Activation::wgsl_constants`). Adding an activation: its arm here, in `cpu::ops::{activate, activation_grad}` and
// in `model::Activation` (README: "How to add an activation").

// σ(z) without overflow: e^(-|z|) is always in (0, 1], so neither branch divides by infinity.
fn sigmoid(z: f32) -> f32 {
    let e = exp(-abs(z));
    if (z >= 0.0) {
        return 1.0 / (1.0 + e);
    }
    return e / (1.0 + e);
}

// tanh(z) = sign(z)·(1 − e^(−2|z|)) / (1 + e^(−2|z|)): the built-in may return NaN for large |z| on some drivers
// (it is allowed to be computed as (e^z − e^−z)/(e^z + e^−z) = ∞/∞); this form never overflows.
fn stable_tanh(z: f32) -> f32 {
    let t = exp(-2.0 * abs(z));
    let r = (1.0 - t) / (1.0 + t);
    return select(r, -r, z < 0.0);
}

// Φ(z) = ½(1 + erf(z/√2)), the standard normal CDF, for GELU. WGSL has no erf: this is cpu::ops::normal_cdf's
// approximation, term for term (Numerical Recipes' erfcc, fractional error below 1.2e-7): erfc(u) ≈ t·exp(−u² + P(t)),
// t = 1/(1 + u/2), u = |z|/√2; Φ(z) = 1 − ½erfc(u) for z ≥ 0, ½erfc(u) below (accurate in the negative tail).
fn normal_cdf(z: f32) -> f32 {
    let u = abs(z) * 0.70710677;
    let t = 1.0 / (1.0 + 0.5 * u);
    let p = -1.2655122 + t * (1.0000237 + t * (0.37409195 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886808
        + t * (-1.135204 + t * (1.4885159 + t * (-0.82215226 + t * 0.17087276))))))));
    let half_erfc = 0.5 * t * exp(-u * u + p);
    return select(half_erfc, 1.0 - half_erfc, z >= 0.0);
}

// u = √(2/π)(z + 0.044715z³), the argument of tanh in GELU's tanh approximation.
fn gelu_tanh_inner(z: f32) -> f32 {
    return 0.7978846 * (z + 0.044715 * z * z * z);
}

// a = act(z); `slope` is leaky ReLU's slope below 0 (a runtime value: `--leaky-slope`), unused by the others.
fn activate(z: f32, code: u32, slope: f32) -> f32 {
    switch code {
        case ACT_RELU: { return max(z, 0.0); }
        case ACT_SIGMOID: { return sigmoid(z); }
        case ACT_TANH: { return stable_tanh(z); }
        case ACT_LEAKY_RELU: { return select(slope * z, z, z > 0.0); }
        case ACT_GELU: { return z * normal_cdf(z); }
        // ½z(1 + tanh u) = z·σ(2u), as the CPU computes it (no cancellation where u ≪ 0).
        case ACT_GELU_TANH: { return z * sigmoid(2.0 * gelu_tanh_inner(z)); }
        case ACT_SILU: { return z * sigmoid(z); }
        default: { return z; }
    }
}

// act′(z) written in terms of `saved`: the pre-activation z where the activation needs it
// (Activation::needs_pre_activation), else the output a = act(z): relu a > 0, sigmoid a(1 − a), tanh 1 − a², leaky
// relu 1 or the slope (a > 0 exactly where z > 0), identity 1; from z: gelu Φ(z) + z·φ(z), gelu-tanh the derivative
// of its formula, silu σ(z)(1 + z(1 − σ(z))).
fn activation_grad(saved: f32, code: u32, slope: f32) -> f32 {
    let a = saved;
    switch code {
        case ACT_RELU: { return select(0.0, 1.0, a > 0.0); }
        case ACT_SIGMOID: { return a * (1.0 - a); }
        case ACT_TANH: { return 1.0 - a * a; }
        case ACT_LEAKY_RELU: { return select(slope, 1.0, a > 0.0); }
        case ACT_GELU: {
            let z = saved;
            return normal_cdf(z) + z * exp(-0.5 * z * z) * 0.3989423;
        }
        case ACT_GELU_TANH: {
            // ½(1 + tanh u) + ½z(1 − tanh² u)·β(1 + 3κz²), with ½(1 ± tanh u) = σ(±2u), as the CPU.
            let z = saved;
            let u2 = 2.0 * gelu_tanh_inner(z);
            let p = sigmoid(u2);
            let m = sigmoid(-u2);
            return p + 2.0 * z * p * m * 0.7978846 * (1.0 + 3.0 * 0.044715 * z * z);
        }
        case ACT_SILU: {
            // σ(z)(1 + z(1 − σ(z))), with 1 − σ(z) = σ(−z), as the CPU.
            let z = saved;
            return sigmoid(z) * (1.0 + z * sigmoid(-z));
        }
        default: { return 1.0; }
    }
}
