// accumulate.wgsl — Op::Accumulate: a chunk's gradient added into the step's sum, weighted by the chunk's share of
// the step's rows (a step too large for one pass runs as chunks of rows; see plan::Layout::chunk_step).
//
// Bindings of `accumulate`:
//   sum: [len]      the step's gradient so far; written (first chunk: scale·grad) or added to
//   grad: [len]     this chunk's gradient, the mean over its rows (read only; read_write as it shares the layout's
//                   buffer)
//   params: len, scale = chunk rows / step rows, first (1: the step's first chunk, sum = scale·grad)
// Grid: 2-D so that more than 65535·WG elements fit: element i = gid.x + gid.y · (num_workgroups.x · WG).

struct AccumulateParams {
    len: u32,
    scale: f32,
    first: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read_write> sum: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<uniform> params: AccumulateParams;

const WG: u32 = 256u;

// sum[i] = scale·grad[i] (first chunk) or sum[i] + scale·grad[i]
@compute @workgroup_size(WG, 1, 1)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= params.len) {
        return;
    }
    let part = params.scale * grad[i];
    if (params.first == 1u) {
        sum[i] = part;
    } else {
        sum[i] = sum[i] + part;
    }
}
