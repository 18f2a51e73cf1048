// optim.wgsl — parameter updates with PyTorch's rules (as cpu::ops::update), one invocation per element: the kernel
// of the reference plan's Op::Update. The rules are optimizer.wgsl's functions.
// Requires the counter layout constants (STEPS_LO, STEPS_HI) and optimizer.wgsl with its generated declarations
// (RULE_*, Hypers), prepended by the host (see src/gpu/shaders.rs).
//
// Bindings:
//   param: [len]              updated in place
//   state: [n, len]           the rule's n state tensors packed one after the other (n = 0: bound to a dummy)
//   grad: [len]
//   counters: [COUNTER_WORDS] the train steps already taken: t = steps + 1, for Adam's bias correction and the
//                             learning-rate decay (never from the host, so many steps can be queued in one submission)
//   params: the hyper-parameters, len, the rule, its state count, decay_steps (T: the rate decays linearly to 0 over
//           T steps; 0 = constant)
//
// Grid: 2-D so that more than 65535·WG elements fit: element i = gid.x + gid.y · (num_workgroups.x · WG).

struct OptimParams {
    hypers: Hypers,
    len: u32,
    rule: u32,
    states: u32,
    decay_steps: u32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read_write> state: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>; // read only; read_write as it shares the layout's buffer
@group(0) @binding(3) var<storage, read> counters: array<u32>;
@group(0) @binding(4) var<uniform> params: OptimParams;

const WG: u32 = 256u;

// param[i], its states and grad[i] through the rule's function (optimizer.wgsl's optimizer_step).
@compute @workgroup_size(WG, 1, 1)
fn update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    let len = params.len;
    if (i >= len) {
        return;
    }
    // Step t = steps + 1: this step's advance runs after the updates.
    let k = step_scalars(params.hypers, params.decay_steps, counters[STEPS_LO], counters[STEPS_HI], 1u);
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < params.states; k++) {
        s[k] = state[k * len + i];
    }
    let u = optimizer_step(params.rule, param[i], grad[i], s, params.hypers, k);
    param[i] = u.p;
    for (var k = 0u; k < params.states; k++) {
        state[k * len + i] = u.s[k];
    }
}
