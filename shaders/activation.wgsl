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

// a = act(z); `slope` is leaky ReLU's slope below 0 (a runtime value: `--leaky-slope`), unused by the others.
fn activate(z: f32, code: u32, slope: f32) -> f32 {
    switch code {
        case ACT_RELU: { return max(z, 0.0); }
        case ACT_SIGMOID: { return sigmoid(z); }
        case ACT_TANH: { return stable_tanh(z); }
        case ACT_LEAKY_RELU: { return select(slope * z, z, z > 0.0); }
        default: { return z; }
    }
}

// act′(z) written in terms of `saved`: the pre-activation z where the activation needs it
// (Activation::needs_pre_activation), else the output a = act(z): relu a > 0, sigmoid a(1 − a), tanh 1 − a², leaky
// relu 1 or the slope (a > 0 exactly where z > 0), identity 1.
fn activation_grad(saved: f32, code: u32, slope: f32) -> f32 {
    let a = saved;
    switch code {
        case ACT_RELU: { return select(0.0, 1.0, a > 0.0); }
        case ACT_SIGMOID: { return a * (1.0 - a); }
        case ACT_TANH: { return 1.0 - a * a; }
        case ACT_LEAKY_RELU: { return select(slope, 1.0, a > 0.0); }
        default: { return 1.0; }
    }
}
