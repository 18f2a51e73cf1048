// optim.wgsl — parameter updates with PyTorch's rules (as cpu::ops::update), one invocation per element.
// Requires the counter layout constants (prepended by the host, see src/gpu/kernels.rs): STEPS_LO, STEPS_HI.
//
// Bindings:
//   param: [len]              updated in place
//   state0: [len]             momentum: the velocity v; adam: the first moment m   (unused by sgd)
//   state1: [len]             adam: the second moment v                             (unused by sgd and momentum)
//   grad: [len]
//   counters: [COUNTER_WORDS] the train steps already taken: t = steps + 1, for Adam's bias correction and the
//                             learning-rate decay (never from the host, so many steps can be queued in one submission)
//   params: len, lr, momentum or β1, β2, ε, decay_steps (T: the rate decays linearly to 0 over T steps; 0 = constant)
//
// Grid: 2-D so that more than 65535·WG elements fit: element i = gid.x + gid.y · (num_workgroups.x · WG).

struct OptimParams {
    len: u32,
    lr: f32,
    beta1: f32, // momentum's μ, or adam's β1
    beta2: f32,
    eps: f32,
    decay_steps: u32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read_write> state0: array<f32>;
@group(0) @binding(2) var<storage, read_write> state1: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>; // read only; read_write as it shares the layout's buffer
@group(0) @binding(4) var<storage, read> counters: array<u32>;
@group(0) @binding(5) var<uniform> params: OptimParams;

const WG: u32 = 256u;
const I32_MAX: u32 = 2147483647u;

fn element(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG;
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

// The learning rate of this step: lr·(T − min(t − 1, T))/T with T = decay_steps, or lr when T = 0
// (as cpu::ops::lr_factor; t − 1 is the counter's step count).
fn step_lr() -> f32 {
    let total = params.decay_steps;
    if (total == 0u) {
        return params.lr;
    }
    var done = total;
    if (counters[STEPS_HI] == 0u && counters[STEPS_LO] < total) {
        done = counters[STEPS_LO];
    }
    return params.lr * (f32(total - done) / f32(total));
}

// p −= lr·g
@compute @workgroup_size(WG, 1, 1)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if (i >= params.len) {
        return;
    }
    param[i] -= step_lr() * grad[i];
}

// v = μ·v + g;  p −= lr·v
@compute @workgroup_size(WG, 1, 1)
fn momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if (i >= params.len) {
        return;
    }
    let v = params.beta1 * state0[i] + grad[i];
    state0[i] = v;
    param[i] -= step_lr() * v;
}

// m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  p −= lr·(m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
@compute @workgroup_size(WG, 1, 1)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element(gid, groups);
    if (i >= params.len) {
        return;
    }
    // t = steps + 1, clamped to 1..=i32::MAX as the CPU does.
    let lo = counters[STEPS_LO];
    var t = I32_MAX;
    if (counters[STEPS_HI] == 0u && lo < I32_MAX) {
        t = lo + 1u;
    }
    let c1 = 1.0 - powi(params.beta1, t);
    let c2 = 1.0 - powi(params.beta2, t);
    let g = grad[i];
    let m = params.beta1 * state0[i] + (1.0 - params.beta1) * g;
    let v = params.beta2 * state1[i] + (1.0 - params.beta2) * g * g;
    state0[i] = m;
    state1[i] = v;
    param[i] -= step_lr() * (m / c1) / (sqrt(v / c2) + params.eps);
}
