// bias_grad.wgsl — db: [outputs] = Σ_rows dz: [rows, outputs]
//
// Bindings:
//   db: [outputs]
//   dz: [rows, outputs]
//   params: rows, outputs
//
// One invocation per output column sums the rows in order 0, 1, 2, … (the same order as cpu::ops::bias_grad, so
// the result is deterministic and close to bit-equal). Consecutive invocations read consecutive columns of a row.
// Grid: (ceil(outputs / WG), 1, 1).

struct BiasGradParams {
    rows: u32,
    outputs: u32,
}

@group(0) @binding(0) var<storage, read_write> db: array<f32>;
@group(0) @binding(1) var<storage, read_write> dz: array<f32>; // read only; read_write as it shares the layout's buffer
@group(0) @binding(2) var<uniform> params: BiasGradParams;

const WG: u32 = 64u;

@compute @workgroup_size(WG, 1, 1)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= params.outputs) {
        return;
    }
    var sum = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        sum += dz[r * params.outputs + j];
    }
    db[j] = sum;
}
