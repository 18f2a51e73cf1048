// fused.wgsl — the fused training step (plan::Layout::train_step): one entry point, `fused`, that runs up to two
// independent jobs in one dispatch. Workgroups 0..jobs[0].groups do job 0 and the next jobs[1].groups do job 1
// (chosen by the workgroup's index, so every branch is uniform). plan::Plan::validate has proven that the jobs of
// a dispatch share nothing one of them writes: no workgroup waits for another.
// Requires activation.wgsl, optimizer.wgsl, dropout_mask.wgsl, the counter layout constants and workgroup_sums (reduce_subgroup.wgsl where the device has
// subgroup operations, else reduce_tree.wgsl), all prepended by the host (see src/gpu/kernels.rs).
//
// Bindings:
//   mem: [arena]               every buffer of the layout, each at its own offset (the job's *_off, in f32s)
//   labels: [max_rows]         the batch labels: written by a gathering linear, read by the loss head
//   data: [samples + ceil(samples · features / 4)]   the split's labels, then its u8 pixels packed 4 per word
//                    (with params.values, [samples + samples · features]: a table's f32 values, one per word)
//   order: [order_len]         the split's sample order
//   counters: [COUNTER_WORDS]  cursors, step count, statistics (see src/gpu/counters.rs)
//   params: two jobs, the split, and the u / 255 table of the gather
//
// Jobs (plan::Op → kind), each a tiled product C: [m, n] = A: [m, k] · B: [k, n] with an epilogue, except ADVANCE:
//   JOB_LINEAR       Op::FusedLinear   y: [rows, outputs] = act(z), z = x · wᵀ + b; m = rows, k = inputs,
//                    n = outputs. FLAG_SAVE_Z: z is also written, at z_off. FLAG_DROPOUT: y is multiplied by this
//                    step's dropout factors (dropout_mask.wgsl), which are written at mask_off.
//                    FLAG_GATHER: A is read as gather.wgsl reads it (pixels through the order at the cursor), and the
//                    workgroups of the first column of tiles also write x and the batch labels. FLAG_HEAD: the whole
//                    row is in the tile (n ≤ TILE), so the workgroup then computes each row's loss as loss.wgsl does:
//                    row_stats[r] = (loss, correct) and, with FLAG_WRITE_DZ, dz (FLAG_MSE: the quadratic cost;
//                    FLAG_BCE: binary cross-entropy of one logit; FLAG_PERCEPTRON: the perceptron criterion of
//                    scores). One output unit (n = 1) stands for two classes: its target is the label itself (the
//                    perceptron's ±1) and it predicts class 1 above 0.5 (a) or 0 (a logit or score).
//   JOB_GRAD_UPDATE  Op::GradUpdate    gw: [outputs, inputs] = dzᵀ · x; m = outputs, k = rows, n = inputs; then w
//                    updated in place from gw (optimizer.wgsl's rules, t = the step count: this step's advance has run).
//                    The workgroups of the first column of tiles also sum gb = Σ_rows dz (from the slices of dzᵀ
//                    they stage for the product: no extra reads of memory) and update b.
//   JOB_INPUT_GRAD   Op::InputGrad     dx: [rows, inputs] = (dz · w) ⊙ act′(saved); m = rows, k = outputs,
//                    n = inputs; saved (at e_off) is the previous layer's output, or its pre-activation z where the
//                    activation's derivative needs it. FLAG_MASK: times the previous layer's dropout factors.
//   JOB_ADVANCE      Op::Advance       one workgroup: with FLAG_STATS, Σ row_stats (workgroup_sums) into the
//                    split's statistics; then cursor += rows and, for the train split, the step count += 1.
//
// The product core is matmul.wgsl's (TK-deep stages of A and B in workgroup memory, PER × PER outputs per
// invocation, strided loads so transposes cost nothing); PER is overridable: 4 (64 × 64 tiles), 2 (32 × 32) or
// 1 (16 × 16), chosen per dispatch by TileRule::choose (src/gpu/kernels.rs).
// Grid: (x, y, 1) with x·y ≥ jobs[0].groups + jobs[1].groups; workgroup index = wg.x + wg.y · num_workgroups.x.

const JOB_NONE: u32 = 0u;
const JOB_LINEAR: u32 = 1u;
const JOB_GRAD_UPDATE: u32 = 2u;
const JOB_INPUT_GRAD: u32 = 3u;
const JOB_ADVANCE: u32 = 4u;

const FLAG_GATHER: u32 = 1u;
const FLAG_HEAD: u32 = 2u;
const FLAG_WRITE_DZ: u32 = 4u;
const FLAG_MSE: u32 = 8u;
const FLAG_STATS: u32 = 16u;
const FLAG_SAVE_Z: u32 = 32u;
const FLAG_DROPOUT: u32 = 64u;      // linear: drop units of the output (the factors to mask_off)
const FLAG_MASK: u32 = 128u;        // input_grad: through the previous layer's dropout factors at mask_off
const FLAG_MASK_OUTPUT: u32 = 256u; // input_grad with FLAG_MASK: saved is the output after dropout (÷ factor)
const FLAG_BCE: u32 = 512u;         // head: binary cross-entropy of one logit (n = 1)
const FLAG_PERCEPTRON: u32 = 1024u; // head: the perceptron criterion of scores (loss.wgsl's perceptron)

struct Job {
    hypers: Hypers, // grad_update: the optimizer's hyper-parameters (optimizer.wgsl)
    kind: u32,
    groups: u32,    // workgroups of this job
    groups_n: u32,  // tiles along n (the rest along m)
    flags: u32,
    m: u32,
    n: u32,
    k: u32,
    act: u32,       // Activation::code() of the epilogue
    a_off: u32,
    a_rs: u32,
    a_cs: u32,
    b_off: u32,
    b_rs: u32,
    b_cs: u32,
    c_off: u32,
    e_off: u32,     // linear: the bias; input_grad: saved (the previous layer's output or pre-activation)
    w_off: u32,     // grad_update: the weight and its states (the rule's `states` tensors, packed)
    sw_off: u32,
    bias_off: u32,  // grad_update: the bias, its gradient and its states
    gb_off: u32,
    sb_off: u32,
    rule: u32,      // grad_update: RULE_* of optimizer.wgsl
    states: u32,
    decay_steps: u32,
    x_off: u32,     // gathering linear: where x goes
    dz_off: u32,    // head: where dz goes; grad_update: dz for the bias gradient
    stats_off: u32, // head and advance: the row statistics [rows, 2]
    rows: u32,      // advance: rows; the split's samples for a gather
    z_off: u32,     // linear with FLAG_SAVE_Z: where z goes
    leaky_slope: f32, // linear and input_grad: leaky ReLU's slope below 0
    mask_off: u32,  // linear with FLAG_DROPOUT: where the factors go; input_grad with FLAG_MASK: where they are
    drop_p: f32,    // linear with FLAG_DROPOUT: p, 1/(1 − p), the layer's index and the seed (dropout_mask.wgsl)
    keep_scale: f32,
    drop_layer: u32,
    seed_lo: u32,
    seed_hi: u32,
}

struct FusedParams {
    jobs: array<Job, 2>,
    split: u32,
    samples: u32,
    features: u32,
    values: u32,
    unit: array<vec4<f32>, 64>,
}

@group(0) @binding(0) var<storage, read_write> mem: array<f32>;
@group(0) @binding(1) var<storage, read_write> labels: array<u32>;
@group(0) @binding(2) var<storage, read> data: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read_write> counters: array<u32>;
@group(0) @binding(5) var<uniform> params: FusedParams;

override PER: u32 = 4u;
const MAX_PER: u32 = 4u;
const THREADS: u32 = 16u;
const WG: u32 = 256u; // THREADS · THREADS
const TK: u32 = 16u;
const STAGE: u32 = 1040u; // TK * (THREADS * MAX_PER + 1)

var<workgroup> stage_a: array<f32, STAGE>;
var<workgroup> stage_b: array<f32, STAGE>;
// grad_update, first column of tiles: invocation i's running Σ_rows dz[r, row0 + i], summed from the staged slices.
var<private> bias_acc: f32;

// The sample that row r of the batch reads: order[cursor + r] (the host checked that this stays in the order).
fn sample_of(r: u32) -> u32 {
    return min(order[counters[CURSOR + params.split] + r], params.samples - 1u);
}

// Feature p of row r of the gathered batch: a pixel divided by 255 through the host's table (bit-equal to the CPU),
// or a table's f32 value as it is (params.values).
fn gathered(r: u32, p: u32) -> f32 {
    let byte = sample_of(r) * params.features + p;
    if (params.values != 0u) {
        return bitcast<f32>(data[params.samples + byte]);
    }
    let word = data[params.samples + byte / 4u];
    let u = (word >> (8u * (byte % 4u))) & 0xffu;
    return params.unit[u / 4u][u % 4u];
}

// A(i, p) of the job: from mem through its strides, or gathered.
fn load_a(job: Job, i: u32, p: u32) -> f32 {
    if ((job.flags & FLAG_GATHER) != 0u) {
        return gathered(i, p);
    }
    return mem[job.a_off + i * job.a_rs + p * job.a_cs];
}

// The PER × PER block of A·B owned by invocation (tx, ty) of the tile at (row0, col0), as matmul.wgsl's
// tile_product. A gathering job whose tile is in the first column also stores what it loads into x.
fn tile_product(job: Job, row0: u32, col0: u32, tx: u32, ty: u32) -> array<f32, 16> {
    let tile = THREADS * PER;
    let stride = tile + 1u;
    var acc: array<f32, 16>;
    let lid = ty * THREADS + tx;
    let store_x = (job.flags & FLAG_GATHER) != 0u && col0 == 0u;
    let sum_bias = job.kind == JOB_GRAD_UPDATE && col0 == 0u && lid < tile;
    bias_acc = 0.0;
    for (var k0 = 0u; k0 < job.k; k0 += TK) {
        for (var s = 0u; s < PER; s++) {
            let idx = lid + s * WG;
            var i: u32;
            var p: u32;
            if (job.a_cs == 1u) {
                i = idx / TK;
                p = idx % TK;
            } else {
                i = idx % tile;
                p = idx / tile;
            }
            let gi = row0 + i;
            let gp = k0 + p;
            var v = 0.0;
            if (gi < job.m && gp < job.k) {
                v = load_a(job, gi, gp);
                if (store_x) {
                    mem[job.x_off + gi * job.k + gp] = v;
                }
            }
            stage_a[p * stride + i] = v;
        }
        for (var s = 0u; s < PER; s++) {
            let idx = lid + s * WG;
            var j: u32;
            var p: u32;
            if (job.b_cs == 1u) {
                j = idx % tile;
                p = idx / tile;
            } else {
                j = idx / TK;
                p = idx % TK;
            }
            let gj = col0 + j;
            let gp = k0 + p;
            var v = 0.0;
            if (gj < job.n && gp < job.k) {
                v = mem[job.b_off + gp * job.b_rs + gj * job.b_cs];
            }
            stage_b[p * stride + j] = v;
        }
        workgroupBarrier();
        // The bias gradient reads the staged dzᵀ (A) rather than global memory: rows in order, as on the CPU (the
        // zeros staged past k add nothing).
        if (sum_bias) {
            for (var p = 0u; p < TK; p++) {
                bias_acc += stage_a[p * stride + lid];
            }
        }
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

// One parameter p = mem[at] updated from its gradient g by the job's rule (optimizer.wgsl); its `states` state
// tensors at s_at, s_at + stride, ….
fn update_param(job: Job, at: u32, s_at: u32, stride: u32, g: f32) {
    // Step t = the step count: this step's advance has run.
    let k = step_scalars(job.hypers, job.decay_steps, counters[STEPS_LO], counters[STEPS_HI], 0u);
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < job.states; k++) {
        s[k] = mem[s_at + k * stride];
    }
    let u = optimizer_step(job.rule, mem[at], g, s, job.hypers, k);
    mem[at] = u.p;
    for (var k = 0u; k < job.states; k++) {
        mem[s_at + k * stride] = u.s[k];
    }
}

// Index of the row's largest value, the first one on ties (as cpu::ops::argmax).
fn row_argmax(base: u32, n: u32) -> u32 {
    var best = 0u;
    for (var j = 1u; j < n; j++) {
        if (mem[base + j] > mem[base + best]) {
            best = j;
        }
    }
    return best;
}

// The loss head of row r (its outputs are at y = c_off + r·n): as loss.wgsl's softmax_xent, quadratic_cost,
// binary_xent or perceptron.
fn loss_row(job: Job, r: u32, label: u32) {
    let n = job.n;
    let base = job.c_off + r * n;
    var best = row_argmax(base, n);
    let scale = 1.0 / f32(job.m);
    let write_dz = (job.flags & FLAG_WRITE_DZ) != 0u;
    var loss = 0.0;
    if ((job.flags & FLAG_BCE) != 0u) {
        // max(z, 0) − z·y + log(1 + e^−|z|);  dz = (σ(z) − y) / rows; class 1 iff z > 0.
        let z = mem[base];
        let y = f32(label);
        let e = exp(-abs(z));
        loss = max(z, 0.0) - z * y + log(1.0 + e);
        best = select(0u, 1u, z > 0.0);
        if (write_dz) {
            let sigma = select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
            mem[job.dz_off + r] = (sigma - y) * scale;
        }
    } else if ((job.flags & FLAG_PERCEPTRON) != 0u) {
        // Σ max(0, −y·z), y = ±1 (one-vs-rest; on one unit +1 for class 1);  dz = −y / rows where y·z ≤ 0, else 0.
        for (var j = 0u; j < n; j++) {
            var y = select(-1.0, 1.0, j == label);
            if (n == 1u) {
                y = select(-1.0, 1.0, label == 1u);
            }
            let margin = y * mem[base + j];
            let mistake = margin <= 0.0;
            if (mistake) {
                loss += -margin;
            }
            if (write_dz) {
                mem[job.dz_off + r * n + j] = select(0.0, -y * scale, mistake);
            }
        }
        if (n == 1u) {
            best = select(0u, 1u, mem[base] > 0.0);
        }
    } else if ((job.flags & FLAG_MSE) != 0u) {
        for (var j = 0u; j < n; j++) {
            let v = mem[base + j];
            // The target: one-hot over the classes, or the label itself on one unit.
            var y = select(0.0, 1.0, j == label);
            if (n == 1u) {
                y = f32(label);
            }
            let err = v - y;
            loss += 0.5 * err * err;
            if (write_dz) {
                mem[job.dz_off + r * n + j] = err * v * (1.0 - v) * scale;
            }
        }
        if (n == 1u) {
            best = select(0u, 1u, mem[base] > 0.5);
        }
    } else {
        let zmax = mem[base + best];
        var sum = 0.0;
        for (var j = 0u; j < n; j++) {
            sum += exp(mem[base + j] - zmax);
        }
        loss = log(sum) - (mem[base + label] - zmax);
        if (write_dz) {
            for (var j = 0u; j < n; j++) {
                let p = exp(mem[base + j] - zmax) / sum;
                mem[job.dz_off + r * n + j] = (p - select(0.0, 1.0, j == label)) * scale;
            }
        }
    }
    mem[job.stats_off + 2u * r] = loss;
    mem[job.stats_off + 2u * r + 1u] = select(0.0, 1.0, best == label);
}

// One tile of a product job and its epilogue.
fn product_job(job: Job, tile_index: u32, tx: u32, ty: u32) {
    let side = THREADS * PER;
    let row0 = (tile_index / job.groups_n) * side;
    let col0 = (tile_index % job.groups_n) * side;
    // Dropout's key for this layer and step (dropout_mask.wgsl), drawn before this step's advance: t = steps + 1.
    var stream = 0u;
    if ((job.flags & FLAG_DROPOUT) != 0u) {
        stream = dropout_stream(job.seed_lo, job.seed_hi, counters[STEPS_LO], counters[STEPS_HI], job.drop_layer);
    }
    let acc = tile_product(job, row0, col0, tx, ty);
    let lid = ty * THREADS + tx;
    for (var r = 0u; r < PER; r++) {
        let i = row0 + ty + THREADS * r;
        for (var q = 0u; q < PER; q++) {
            let j = col0 + tx + THREADS * q;
            if (i < job.m && j < job.n) {
                let at = i * job.n + j;
                let v = acc[r * PER + q];
                switch job.kind {
                    case JOB_LINEAR: {
                        let pre = v + mem[job.e_off + j];
                        if ((job.flags & FLAG_SAVE_Z) != 0u) {
                            mem[job.z_off + at] = pre;
                        }
                        var out = activate(pre, job.act, job.leaky_slope);
                        if ((job.flags & FLAG_DROPOUT) != 0u) {
                            let f = dropout_factor(stream, at, job.drop_p, job.keep_scale);
                            out *= f;
                            mem[job.mask_off + at] = f;
                        }
                        mem[job.c_off + at] = out;
                    }
                    case JOB_INPUT_GRAD: {
                        let saved = mem[job.e_off + at];
                        if ((job.flags & FLAG_MASK) == 0u) {
                            mem[job.c_off + at] = v * activation_grad(saved, job.act, job.leaky_slope);
                        } else {
                            // Through dropout (cpu::ops::input_grad): 0 where dropped, else act′ at the output
                            // before dropout (saved / m, or z itself) times m.
                            let m = mem[job.mask_off + at];
                            var g = 0.0;
                            if (m != 0.0) {
                                let s = select(saved, saved / m, (job.flags & FLAG_MASK_OUTPUT) != 0u);
                                g = v * activation_grad(s, job.act, job.leaky_slope) * m;
                            }
                            mem[job.c_off + at] = g;
                        }
                    }
                    default: { // JOB_GRAD_UPDATE: the gradient, then the weight's update from it
                        mem[job.c_off + at] = v;
                        update_param(job, job.w_off + at, job.sw_off + at, job.m * job.n, v);
                    }
                }
            }
        }
    }
    // The first column of tiles owns the per-row (linear) or per-output (grad_update) extras of its rows.
    let i = row0 + lid;
    if (col0 != 0u) {
        return;
    }
    if (job.kind == JOB_LINEAR && (job.flags & FLAG_GATHER) != 0u && lid < side && i < job.m) {
        labels[i] = data[sample_of(i)];
    }
    if (job.kind == JOB_GRAD_UPDATE && lid < side && i < job.m) {
        // gb[o] = Σ_rows dz[r, o], rows in order (as cpu::ops::bias_grad), summed while the product was staged;
        // then b[o]'s update.
        let sum = bias_acc;
        mem[job.gb_off + i] = sum;
        update_param(job, job.bias_off + i, job.sb_off + i, job.m, sum);
    }
    if (job.kind == JOB_LINEAR && (job.flags & FLAG_HEAD) != 0u) {
        // The row's outputs were written by other invocations of this workgroup: make them visible first.
        storageBarrier();
        if (lid < side && i < job.m) {
            var label: u32;
            if ((job.flags & FLAG_GATHER) != 0u) {
                label = data[sample_of(i)];
            } else {
                label = labels[i];
            }
            loss_row(job, i, label);
        }
    }
}

// Σ row_stats into the split's statistics (fixed order: invocation t sums rows t, t + WG, …, then workgroup_sums),
// then the cursor and the step count. One workgroup.
fn advance_job(job: Job, t: u32) {
    var sums = Sums(0.0, 0u);
    if ((job.flags & FLAG_STATS) != 0u) {
        var loss = 0.0;
        var correct = 0u;
        for (var r = t; r < job.rows; r += WG) {
            loss += mem[job.stats_off + 2u * r];
            correct += select(0u, 1u, mem[job.stats_off + 2u * r + 1u] == 1.0);
        }
        sums = workgroup_sums(t, loss, correct);
    }
    if (t != 0u) {
        return;
    }
    if ((job.flags & FLAG_STATS) != 0u) {
        let at = STATS + params.split * STATS_WORDS;
        counters[at] = bitcast<u32>(bitcast<f32>(counters[at]) + sums.loss);
        counters[at + 1u] += sums.correct;
        counters[at + 2u] += job.rows;
    }
    counters[CURSOR + params.split] += job.rows;
    if (params.split == 0u) {
        let lo = counters[STEPS_LO] + 1u;
        counters[STEPS_LO] = lo;
        if (lo == 0u) {
            counters[STEPS_HI] += 1u;
        }
    }
}

@compute @workgroup_size(THREADS, THREADS, 1)
fn fused(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    var index = wg.x + wg.y * groups.x;
    var j = 0u;
    if (index >= params.jobs[0].groups) {
        index -= params.jobs[0].groups;
        j = 1u;
    }
    let job = params.jobs[j];
    if (index >= job.groups) {
        return;
    }
    switch job.kind {
        case JOB_ADVANCE: {
            advance_job(job, lid.y * THREADS + lid.x);
        }
        case JOB_LINEAR, JOB_GRAD_UPDATE, JOB_INPUT_GRAD: {
            product_job(job, index, lid.x, lid.y);
        }
        default: {}
    }
}
