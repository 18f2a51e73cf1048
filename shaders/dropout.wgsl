// dropout.wgsl — the reference plan's Op::Dropout: a layer's output multiplied by dropout's factors, which are kept
// for the input gradient. Requires dropout_mask.wgsl (the draws) and the counter layout constants (STEPS_LO,
// STEPS_HI), prepended by the host.
//
// Bindings of `dropout` (Op::Dropout):
//   y: [rows, outputs]        a layer's output, multiplied in place by each element's factor
//   mask: [rows, outputs]     the factors: 0 (dropped) or keep_scale = 1/(1 − p) (kept), read by the input gradient
//   counters: [COUNTER_WORDS] the train steps already taken: this step is t = steps + 1
//   params: len = rows·outputs, p, keep_scale, the layer's index and the run's seed
// Grid: 2-D so that more than 65535·WG elements fit: element i = gid.x + gid.y · (num_workgroups.x · WG).

struct DropoutParams {
    len: u32,
    p: f32,
    keep_scale: f32,
    layer: u32,
    seed_lo: u32,
    seed_hi: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> mask: array<f32>;
@group(0) @binding(2) var<storage, read> counters: array<u32>;
@group(0) @binding(3) var<uniform> params: DropoutParams;

const WG: u32 = 256u;

// y[i] *= factor(i); mask[i] = factor(i)
@compute @workgroup_size(WG, 1, 1)
fn dropout(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= params.len) {
        return;
    }
    let stream = dropout_stream(params.seed_lo, params.seed_hi, counters[STEPS_LO], counters[STEPS_HI], params.layer);
    let f = dropout_factor(stream, i, params.p, params.keep_scale);
    y[i] *= f;
    mask[i] = f;
}
