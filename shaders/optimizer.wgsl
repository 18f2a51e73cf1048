// optimizer.wgsl — the update rules, one function per rule (as cpu::ops::update's), shared by the kernels that
// update parameters: optim.wgsl (one element per invocation) and fused.wgsl (the weight-gradient epilogue).
// WGSL has no includes: the host prepends this file, after the RULE_* codes and the `Hypers` struct generated from
// src/optim.rs's table (optim::wgsl_declarations), to every kernel that updates parameters. Adding an optimizer:
// its row in that table, its function here and in cpu::ops::update, its arm in `optimizer_step` (README: "How to add
// an optimizer").
//
// Each rule takes the parameter p, its gradient g, its states s (the rule's state tensors in the table's order, at
// most 4; unused ones are passed through), the hyper-parameters h, this step's learning rate lr and the bias
// corrections c1 = 1 − β1ᵗ, c2 = 1 − β2ᵗ (Adam's), and returns the new parameter and states.

struct Updated {
    p: f32,
    s: vec4<f32>,
}

const I32_MAX: u32 = 2147483647u;

// What a rule's step reads besides p, g, the states and the hyper-parameters: this step's learning rate (the schedule
// of cpu::ops::lr_factor) and Adam's bias corrections c1 = 1 − β1ᵗ, c2 = 1 − β2ᵗ.
struct StepScalars {
    lr: f32,
    c1: f32,
    c2: f32,
}

// The scalars of step t = count + pending, `count` the 64-bit number of steps taken (words lo, hi) and `pending` 1
// where this step's advance has not run yet, 0 where it has. As the CPU: lr·(T − min(t − 1, T))/T with
// T = decay_steps (lr when T = 0), and t clamped to 1..=i32::MAX in the corrections.
fn step_scalars(h: Hypers, decay_steps: u32, lo: u32, hi: u32, pending: u32) -> StepScalars {
    let beyond_i32 = hi != 0u || lo > I32_MAX - pending;
    let t = select(max(lo + pending, 1u), I32_MAX, beyond_i32);
    var lr = h.lr;
    if (decay_steps != 0u) {
        // done = min(t − 1, T), t − 1 = count − 1 + pending (saturating at 0)
        var done = decay_steps;
        if (hi == 0u && !(pending == 1u && lo == 0xffffffffu)) {
            let t_lo = lo + pending;
            done = min(select(t_lo - 1u, 0u, t_lo == 0u), decay_steps);
        }
        lr = h.lr * (f32(decay_steps - done) / f32(decay_steps));
    }
    return StepScalars(lr, 1.0 - powi(h.beta1, t), 1.0 - powi(h.beta2, t));
}

// p −= lr·(g + λp)
fn rule_sgd(p: f32, g: f32, s: vec4<f32>, h: Hypers, lr: f32) -> Updated {
    let gd = g + h.weight_decay * p;
    return Updated(p - lr * gd, s);
}

// v = μ·v + (g + λp);  p −= lr·v
fn rule_momentum(p: f32, g: f32, s: vec4<f32>, h: Hypers, lr: f32) -> Updated {
    let gd = g + h.weight_decay * p;
    let v = h.momentum * s.x + gd;
    return Updated(p - lr * v, vec4<f32>(v, s.yzw));
}

// Adam's moments and step from the gradient g (any weight decay already applied).
fn adam_moments(p: f32, g: f32, s: vec4<f32>, h: Hypers, lr: f32, c1: f32, c2: f32) -> Updated {
    let m = h.beta1 * s.x + (1.0 - h.beta1) * g;
    let v = h.beta2 * s.y + (1.0 - h.beta2) * g * g;
    return Updated(p - lr * (m / c1) / (sqrt(v / c2) + h.eps), vec4<f32>(m, v, s.zw));
}

// m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  p −= lr·(m / c1) / (√(v / c2) + ε), g plus λp (L2)
fn rule_adam(p: f32, g: f32, s: vec4<f32>, h: Hypers, lr: f32, c1: f32, c2: f32) -> Updated {
    return adam_moments(p, g + h.weight_decay * p, s, h, lr, c1, c2);
}

// AdamW: p −= lr·λ·p (decoupled weight decay), then Adam's step without λ
fn rule_adamw(p: f32, g: f32, s: vec4<f32>, h: Hypers, lr: f32, c1: f32, c2: f32) -> Updated {
    return adam_moments(p * (1.0 - lr * h.weight_decay), g, s, h, lr, c1, c2);
}

// RMSprop (PyTorch's): g plus λp; sq = α·sq + (1 − α)·g²; centered: ḡ = α·ḡ + (1 − α)·g, denominator √(sq − ḡ²) + ε,
// else √sq + ε (eps_in_sqrt: Keras's √(sq − ḡ² + ε), √(sq + ε)); μ > 0: b = μ·b + g / denominator, p −= lr·b; else
// p −= lr·g / denominator. s = (sq, b, ḡ).
fn rule_rmsprop(p: f32, g: f32, s: vec4<f32>, h: Hypers, lr: f32) -> Updated {
    let gd = g + h.weight_decay * p;
    let sq = h.alpha * s.x + (1.0 - h.alpha) * gd * gd;
    var gavg = s.z;
    var square = sq;
    if (h.centered != 0.0) {
        gavg = h.alpha * gavg + (1.0 - h.alpha) * gd;
        square = sq - gavg * gavg;
    }
    let avg = select(sqrt(square) + h.eps, sqrt(square + h.eps), h.eps_in_sqrt != 0.0);
    if (h.momentum > 0.0) {
        let b = h.momentum * s.y + gd / avg;
        return Updated(p - lr * b, vec4<f32>(sq, b, gavg, s.w));
    }
    return Updated(p - lr * gd / avg, vec4<f32>(sq, s.y, gavg, s.w));
}

// The step of rule `rule` (a RULE_* code), its scalars from step_scalars.
fn optimizer_step(rule: u32, p: f32, g: f32, s: vec4<f32>, h: Hypers, k: StepScalars) -> Updated {
    let lr = k.lr;
    let c1 = k.c1;
    let c2 = k.c2;
    switch rule {
        case RULE_MOMENTUM: { return rule_momentum(p, g, s, h, lr); }
        case RULE_ADAM: { return rule_adam(p, g, s, h, lr, c1, c2); }
        case RULE_ADAMW: { return rule_adamw(p, g, s, h, lr, c1, c2); }
        case RULE_RMSPROP: { return rule_rmsprop(p, g, s, h, lr); }
        default: { return rule_sgd(p, g, s, h, lr); }
    }
}

// x^n by binary powering, the same sequence of multiplications as Rust's f32::powi (compiler-rt's __powisf2).
fn powi(x: f32, n: u32) -> f32 {
    var base = x;
    var e = n;
    var r = 1.0;
    loop {
        if ((e & 1u) == 1u) {
            r *= base;
        }
        e /= 2u;
        if (e == 0u) {
            break;
        }
        base *= base;
    }
    return r;
}
