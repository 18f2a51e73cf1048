// matmul.wgsl — tiled C: [m, n] = A: [m, k] · B: [k, n] with one epilogue per entry point.
// Requires activation.wgsl (prepended by the host).
//
// Bindings (A and B are read through strides, so transposes cost nothing; every one is a range of the backend's one
// buffer of the layout, so all are read_write: a buffer bound read-only and read-write in one dispatch is refused):
//   c: [m, n]            the output, row-major
//   a: element (i, p) at a[i * a_rs + p * a_cs]
//   b: element (p, j) at b[p * b_rs + j * b_cs]
//   e: the epilogue operand (linear: bias [n]; input_grad: what act′ is written in terms of, [m, n]: the previous
//      layer's output, or its pre-activation z where the activation needs it; weight_grad: unused)
//   z: linear: where the pre-activation x·wᵀ + b goes ([m, n]) when params.save_z is 1; input_grad: the previous
//      layer's dropout factors m ([m, n]: 0 or 1/(1 − p)) when params.mask_mode is not 0
//   params: sizes, strides, the activation code and leaky ReLU's slope, and whether linear keeps z
//
// The three uses (Op::Linear, Op::WeightGrad, Op::InputGrad):
//   linear:      y: [rows, outputs] = act(z), z = x: [rows, inputs] · w: [outputs, inputs]ᵀ + b: [outputs]
//                m = rows, k = inputs, n = outputs; A = x (a_rs = inputs, a_cs = 1); B = wᵀ (b_rs = 1, b_cs = inputs)
//   weight_grad: dw: [outputs, inputs] = dz: [rows, outputs]ᵀ · x: [rows, inputs]
//                m = outputs, k = rows, n = inputs; A = dzᵀ (a_rs = 1, a_cs = outputs); B = x (b_rs = inputs, b_cs = 1)
//   input_grad:  dx: [rows, inputs] = (dz: [rows, outputs] · w: [outputs, inputs]) ⊙ act′(saved: [rows, inputs])
//                m = rows, k = outputs, n = inputs; A = dz (a_rs = outputs, a_cs = 1); B = w (b_rs = inputs, b_cs = 1)
//
// Scheme: each workgroup computes one TILE × TILE block of C. It walks k in stages of TK, staging a TILE × TK
// slice of A and a TK × TILE slice of B in workgroup memory (loads coalesced along whichever index is contiguous in
// memory), then each of the THREADS × THREADS invocations accumulates PER × PER outputs in registers. Outputs of an
// invocation are strided by THREADS (rows ty + THREADS·r, columns tx + THREADS·c), so neighbouring invocations read
// neighbouring workgroup-memory words and write neighbouring columns of C. Everything outside m, n, k is
// bounds-checked (loads read 0, stores are skipped), so any size works.
// PER is a pipeline-overridable constant: the host creates each entry point three times, PER = 4 (64 × 64 tiles: the
// most reuse per loaded value, for large outputs), PER = 2 (32 × 32) and PER = 1 (16 × 16: sixteen times the
// workgroups, so that a small output such as a 64-row batch × 512 features still spreads over a large GPU). The host
// picks one per dispatch by a documented rule (src/gpu/kernels.rs, TileRule::choose).
// Grid: (ceil(n / TILE), ceil(m / TILE), 1) workgroups.

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    act: u32,
    a_rs: u32,
    a_cs: u32,
    b_rs: u32,
    b_cs: u32,
    save_z: u32, // linear: 1 to write z
    leaky_slope: f32,
    mask_mode: u32, // input_grad: 0 no dropout; 1 the factors in z (saved is z); 2 the same, saved / factor first
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> e: array<f32>;
@group(0) @binding(4) var<uniform> params: MatmulParams;
@group(0) @binding(5) var<storage, read_write> z: array<f32>;

override PER: u32 = 4u; // outputs per invocation along each axis: 4, 2 or 1 (at most MAX_PER)
const MAX_PER: u32 = 4u;
const THREADS: u32 = 16u; // invocations along each axis of a workgroup
const TK: u32 = 16u; // depth of one stage of k
// One stage of A or B: TK rows of TILE = THREADS·PER values, each row padded by one word so that column-wise stores
// hit distinct banks. Sized for the largest tile.
const STAGE: u32 = 1040u; // TK * (THREADS * MAX_PER + 1)

var<workgroup> stage_a: array<f32, STAGE>; // stage_a[p * stride + i] = A(row0 + i, k0 + p)
var<workgroup> stage_b: array<f32, STAGE>; // stage_b[p * stride + j] = B(k0 + p, col0 + j)

// The PER × PER block of A·B owned by invocation (tx, ty) of the workgroup whose tile starts at (row0, col0).
// acc[r * PER + c] is element (row0 + ty + THREADS·r, col0 + tx + THREADS·c). Must be called in uniform control flow.
fn tile_product(row0: u32, col0: u32, tx: u32, ty: u32) -> array<f32, 16> {
    let tile = THREADS * PER;
    let stride = tile + 1u;
    var acc: array<f32, 16>;
    let lid = ty * THREADS + tx;
    for (var k0 = 0u; k0 < params.k; k0 += TK) {
        // Stage A (tile · TK values, PER per invocation): coalesced along p when A's rows are contiguous
        // (a_cs = 1), else along i.
        for (var s = 0u; s < PER; s++) {
            let idx = lid + s * THREADS * THREADS;
            var i: u32;
            var p: u32;
            if (params.a_cs == 1u) {
                i = idx / TK;
                p = idx % TK;
            } else {
                i = idx % tile;
                p = idx / tile;
            }
            let gi = row0 + i;
            let gp = k0 + p;
            var v = 0.0;
            if (gi < params.m && gp < params.k) {
                v = a[gi * params.a_rs + gp * params.a_cs];
            }
            stage_a[p * stride + i] = v;
        }
        // Stage B: coalesced along j when B's rows are contiguous (b_cs = 1), else along p.
        for (var s = 0u; s < PER; s++) {
            let idx = lid + s * THREADS * THREADS;
            var j: u32;
            var p: u32;
            if (params.b_cs == 1u) {
                j = idx % tile;
                p = idx / tile;
            } else {
                j = idx / TK;
                p = idx % TK;
            }
            let gj = col0 + j;
            let gp = k0 + p;
            var v = 0.0;
            if (gj < params.n && gp < params.k) {
                v = b[gp * params.b_rs + gj * params.b_cs];
            }
            stage_b[p * stride + j] = v;
        }
        workgroupBarrier();
        // Accumulate this stage in registers, p in increasing order.
        for (var p = 0u; p < TK; p++) {
            var ra: array<f32, MAX_PER>;
            var rb: array<f32, MAX_PER>;
            for (var r = 0u; r < PER; r++) {
                ra[r] = stage_a[p * stride + ty + THREADS * r];
                rb[r] = stage_b[p * stride + tx + THREADS * r];
            }
            for (var r = 0u; r < PER; r++) {
                for (var q = 0u; q < PER; q++) {
                    acc[r * PER + q] = fma(ra[r], rb[q], acc[r * PER + q]);
                }
            }
        }
        workgroupBarrier();
    }
    return acc;
}

// y = act(z), z = x·wᵀ + b (kept in z when save_z is 1)
@compute @workgroup_size(THREADS, THREADS, 1)
fn linear(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * THREADS * PER;
    let col0 = wg.x * THREADS * PER;
    let acc = tile_product(row0, col0, lid.x, lid.y);
    for (var r = 0u; r < PER; r++) {
        let i = row0 + lid.y + THREADS * r;
        for (var q = 0u; q < PER; q++) {
            let j = col0 + lid.x + THREADS * q;
            if (i < params.m && j < params.n) {
                let pre = acc[r * PER + q] + e[j];
                if (params.save_z == 1u) {
                    z[i * params.n + j] = pre;
                }
                c[i * params.n + j] = activate(pre, params.act, params.leaky_slope);
            }
        }
    }
}

// dw = dzᵀ·x
@compute @workgroup_size(THREADS, THREADS, 1)
fn weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * THREADS * PER;
    let col0 = wg.x * THREADS * PER;
    let acc = tile_product(row0, col0, lid.x, lid.y);
    for (var r = 0u; r < PER; r++) {
        let i = row0 + lid.y + THREADS * r;
        for (var q = 0u; q < PER; q++) {
            let j = col0 + lid.x + THREADS * q;
            if (i < params.m && j < params.n) {
                c[i * params.n + j] = acc[r * PER + q];
            }
        }
    }
}

// dx = (dz·w) ⊙ act′(saved), times the dropout factors m where the previous layer drops units
@compute @workgroup_size(THREADS, THREADS, 1)
fn input_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * THREADS * PER;
    let col0 = wg.x * THREADS * PER;
    let acc = tile_product(row0, col0, lid.x, lid.y);
    for (var r = 0u; r < PER; r++) {
        let i = row0 + lid.y + THREADS * r;
        for (var q = 0u; q < PER; q++) {
            let j = col0 + lid.x + THREADS * q;
            if (i < params.m && j < params.n) {
                let at = i * params.n + j;
                if (params.mask_mode == 0u) {
                    c[at] = acc[r * PER + q] * activation_grad(e[at], params.act, params.leaky_slope);
                } else {
                    // Through dropout (cpu::ops::input_grad): 0 where dropped, else act′ at the output before
                    // dropout (saved / m, or z itself) times m.
                    let m = z[at];
                    var g = 0.0;
                    if (m != 0.0) {
                        let s = select(e[at], e[at] / m, params.mask_mode == 2u);
                        g = acc[r * PER + q] * activation_grad(s, params.act, params.leaky_slope) * m;
                    }
                    c[at] = g;
                }
            }
        }
    }
}
