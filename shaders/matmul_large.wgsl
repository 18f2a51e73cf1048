// matmul_large.wgsl — Op::Linear for large products: y: [m, n] = act(z), z = x: [m, k] · w: [n, k]ᵀ + b: [n].
// Requires activation.wgsl (prepended by the host).
//
// Only for m and n multiples of TILE (128) and k a multiple of TK (8): the host sends every other shape to
// matmul.wgsl (src/gpu/kernels.rs, large_linear_fits). Then every index below is in range by construction — no
// bounds test, and the host compiles this file without the runtime bounds clamps naga adds to every access (a test,
// large_linear_indices_stay_in_range, walks the same index arithmetic over whole grids).
//
// Bindings (ranges of the layout's buffer, so read_write like every layout binding):
//   y: [m · n / 4] vec4     row-major y, written once
//   x: [m · k / 4] vec4     row-major x (k contiguous), read 4 values of k at a time
//   w: [n · k / 4] vec4     row-major w (k contiguous), read 4 values of k at a time
//   b: [n / 4] vec4         the bias
//   z: [m · n / 4] vec4     row-major z, written once when params.save_z is 1 (same indices as y)
//   params: m, n, k, act, save_z, leaky_slope
//
// Scheme: a workgroup of 16 × 16 invocations computes one 128 × 128 tile of y, 8 × 8 outputs per invocation (8 rows
// × two vec4 of columns) held in registers. It walks k in stages of TK = 8: each invocation loads one vec4 of x and
// one of w per stage (coalesced along k), stores them transposed into workgroup memory (stage[p][i], k-major), and
// the compute loop reads two vec4 of x's rows and two of w's per p: 4 loads for 64 fused multiply-adds. Two stage
// buffers (double buffering): the loads of stage s + 1 are issued before the products of stage s and land in the
// other buffer, so one barrier per stage suffices and the memory latency hides behind arithmetic. Workgroup memory:
// 2 operands × 2 buffers × 8 × 128 f32 = 16 KiB, WebGPU's default limit.
// Grid: (n / 128, m / 128, 1).

struct LargeParams {
    m: u32,
    n: u32,
    k: u32,
    act: u32,
    save_z: u32, // 1 to write z
    leaky_slope: f32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> b: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: LargeParams;
@group(0) @binding(5) var<storage, read_write> z: array<vec4<f32>>;

const TILE: u32 = 128u;
const TK: u32 = 8u;
const THREADS: u32 = 16u;
const ROW_VECS: u32 = 32u; // TILE / 4: vec4 per row of a stage

// sx[(buf · TK + p) · ROW_VECS + i / 4][i % 4] = x(row0 + i, k0 + p); sw likewise for w's rows (y's columns).
var<workgroup> sx: array<vec4<f32>, 512>; // 2 · TK · ROW_VECS
var<workgroup> sw: array<vec4<f32>, 512>;

// Stores one loaded vec4 (4 consecutive k of row i) transposed into stage buffer `buf` at k offset 4·q.
fn store_x(buf: u32, i: u32, q: u32, v: vec4<f32>) {
    for (var c = 0u; c < 4u; c++) {
        sx[(buf * TK + 4u * q + c) * ROW_VECS + i / 4u][i % 4u] = v[c];
    }
}

fn store_w(buf: u32, j: u32, q: u32, v: vec4<f32>) {
    for (var c = 0u; c < 4u; c++) {
        sw[(buf * TK + 4u * q + c) * ROW_VECS + j / 4u][j % 4u] = v[c];
    }
}

@compute @workgroup_size(THREADS, THREADS, 1)
fn linear_large(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let t = lid.y * THREADS + lid.x;
    let kv = params.k / 4u; // vec4 per row of x and w
    // The vec4 this invocation loads each stage: row (or w row) t / 2, vec4 t % 2 of the stage's 8 values of k.
    let li = t / 2u;
    let lq = t % 2u;
    let x_at = (row0 + li) * kv + lq;
    let w_at = (col0 + li) * kv + lq;

    var acc: array<vec4<f32>, 16>; // acc[2r + h]: row ty·8 + r, columns tx·8 + 4h .. + 4
    store_x(0u, li, lq, x[x_at]);
    store_w(0u, li, lq, w[w_at]);
    workgroupBarrier();
    let stages = params.k / TK;
    for (var s = 0u; s < stages; s++) {
        let buf = s % 2u;
        // Prefetch: the next stage's vec4s into registers before this stage's arithmetic.
        var next_x = vec4<f32>(0.0);
        var next_w = vec4<f32>(0.0);
        let more = s + 1u < stages;
        if (more) {
            next_x = x[x_at + (s + 1u) * 2u];
            next_w = w[w_at + (s + 1u) * 2u];
        }
        for (var p = 0u; p < TK; p++) {
            let base = (buf * TK + p) * ROW_VECS;
            let a0 = sx[base + 2u * lid.y];
            let a1 = sx[base + 2u * lid.y + 1u];
            let b0 = sw[base + 2u * lid.x];
            let b1 = sw[base + 2u * lid.x + 1u];
            for (var r = 0u; r < 4u; r++) {
                acc[2u * r] = fma(vec4<f32>(a0[r]), b0, acc[2u * r]);
                acc[2u * r + 1u] = fma(vec4<f32>(a0[r]), b1, acc[2u * r + 1u]);
                acc[2u * (r + 4u)] = fma(vec4<f32>(a1[r]), b0, acc[2u * (r + 4u)]);
                acc[2u * (r + 4u) + 1u] = fma(vec4<f32>(a1[r]), b1, acc[2u * (r + 4u) + 1u]);
            }
        }
        // The other buffer was last read in stage s − 1, which every invocation finished before the barrier below
        // it: safe to overwrite now.
        if (more) {
            store_x(1u - buf, li, lq, next_x);
            store_w(1u - buf, li, lq, next_w);
        }
        workgroupBarrier();
    }
    // Epilogue: bias, the pre-activation if kept, and activation, two vec4 per row.
    let nv = params.n / 4u;
    for (var r = 0u; r < 8u; r++) {
        let i = row0 + 8u * lid.y + r;
        for (var h = 0u; h < 2u; h++) {
            let jv = (col0 + 8u * lid.x) / 4u + h;
            let pre = acc[2u * r + h] + b[jv];
            if (params.save_z == 1u) {
                z[i * nv + jv] = pre;
            }
            y[i * nv + jv] = vec4<f32>(
                activate(pre.x, params.act, params.leaky_slope),
                activate(pre.y, params.act, params.leaky_slope),
                activate(pre.z, params.act, params.leaky_slope),
                activate(pre.w, params.act, params.leaky_slope),
            );
        }
    }
}
