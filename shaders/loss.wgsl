// loss.wgsl — softmax cross-entropy, the quadratic cost, binary cross-entropy and the perceptron criterion, with their
// output deltas and the split's statistics. An output of one unit (classes = 1) stands for two classes: its target is
// the label itself (0 or 1; the perceptron's ±1) and it predicts class 1 above the middle of its range
// (cpu::ops::predicted_class).
// Requires the counter layout constants (prepended by the host, see src/gpu/kernels.rs): STATS, STATS_WORDS.
//
// Bindings:
//   dz: [rows, classes]       ∂(mean loss)/∂z, written only when params.write_dz = 1 (else bound to a dummy)
//   out: [rows, classes]      the network's output: logits (softmax_xent; binary_xent, classes = 1), a = σ(z)
//                             (quadratic_cost) or scores z (perceptron)
//   labels: [rows]            the batch labels written by gather
//   counters: [COUNTER_WORDS] the run's counters; this adds Σ loss, #correct and rows to the split's statistics
//   params: rows, classes, split, write_dz
//
// Determinism: no float atomics. ONE workgroup of WG invocations runs the whole batch: invocation t handles rows
// t, t + WG, t + 2·WG, … in that order, the partial sums are tree-reduced in workgroup memory in a fixed pattern,
// and invocation 0 alone adds the result into the statistics. The same adapter gives the same bits on every run.
// Grid: (1, 1, 1).

struct LossParams {
    rows: u32,
    classes: u32,
    split: u32,
    write_dz: u32,
}

@group(0) @binding(0) var<storage, read_write> dz: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // read only; read_write as it shares the layout's buffer
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> counters: array<u32>;
@group(0) @binding(4) var<uniform> params: LossParams;

const WG: u32 = 256u;

var<workgroup> part_loss: array<f32, WG>;
var<workgroup> part_correct: array<u32, WG>;

// Index of the row's largest value, the first one on ties (as cpu::ops::argmax).
fn row_argmax(base: u32) -> u32 {
    var best = 0u;
    for (var j = 1u; j < params.classes; j++) {
        if (out[base + j] > out[base + best]) {
            best = j;
        }
    }
    return best;
}

// The target of unit j of a row labelled `label`: one-hot over the classes, or the label itself on one unit.
fn target_of(j: u32, label: u32) -> f32 {
    if (params.classes == 1u) {
        return f32(label);
    }
    return select(0.0, 1.0, j == label);
}

// Reduces every invocation's (loss, correct) in a fixed tree order; invocation 0 adds them to the statistics.
fn add_to_stats(t: u32, loss: f32, correct: u32) {
    part_loss[t] = loss;
    part_correct[t] = correct;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            part_loss[t] += part_loss[t + half];
            part_correct[t] += part_correct[t + half];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        let at = STATS + params.split * STATS_WORDS;
        counters[at] = bitcast<u32>(bitcast<f32>(counters[at]) + part_loss[0]);
        counters[at + 1u] += part_correct[0];
        counters[at + 2u] += params.rows;
    }
}

// loss = log Σ e^(z − max) − (z_label − max);  dz = (softmax(z) − onehot(label)) / rows
@compute @workgroup_size(WG, 1, 1)
fn softmax_xent(@builtin(local_invocation_index) t: u32) {
    var loss = 0.0;
    var correct = 0u;
    let scale = 1.0 / f32(params.rows);
    for (var r = t; r < params.rows; r += WG) {
        let base = r * params.classes;
        let label = labels[r];
        let best = row_argmax(base);
        let zmax = out[base + best];
        var sum = 0.0;
        for (var j = 0u; j < params.classes; j++) {
            sum += exp(out[base + j] - zmax);
        }
        loss += log(sum) - (out[base + label] - zmax);
        correct += select(0u, 1u, best == label);
        if (params.write_dz == 1u) {
            for (var j = 0u; j < params.classes; j++) {
                let p = exp(out[base + j] - zmax) / sum;
                dz[base + j] = (p - select(0.0, 1.0, j == label)) * scale;
            }
        }
    }
    add_to_stats(t, loss, correct);
}

// cost = ½‖a − y‖²;  dz = (a − y) ⊙ a(1 − a) / rows; y = target_of(j, label); one unit predicts class 1 iff a > 0.5
@compute @workgroup_size(WG, 1, 1)
fn quadratic_cost(@builtin(local_invocation_index) t: u32) {
    var loss = 0.0;
    var correct = 0u;
    let scale = 1.0 / f32(params.rows);
    for (var r = t; r < params.rows; r += WG) {
        let base = r * params.classes;
        let label = labels[r];
        var cost = 0.0;
        for (var j = 0u; j < params.classes; j++) {
            let err = out[base + j] - target_of(j, label);
            cost += 0.5 * err * err;
        }
        loss += cost;
        var predicted = row_argmax(base);
        if (params.classes == 1u) {
            predicted = select(0u, 1u, out[base] > 0.5);
        }
        correct += select(0u, 1u, predicted == label);
        if (params.write_dz == 1u) {
            for (var j = 0u; j < params.classes; j++) {
                let v = out[base + j];
                dz[base + j] = (v - target_of(j, label)) * v * (1.0 - v) * scale;
            }
        }
    }
    add_to_stats(t, loss, correct);
}

// One logit z per row (classes = 1), y = the label (0 or 1), as PyTorch's BCEWithLogitsLoss:
// loss = max(z, 0) − z·y + log(1 + e^−|z|);  dz = (σ(z) − y) / rows; class 1 iff z > 0. e = e^−|z| ∈ (0, 1] serves
// both, as in cpu::ops::binary_xent: nothing overflows.
@compute @workgroup_size(WG, 1, 1)
fn binary_xent(@builtin(local_invocation_index) t: u32) {
    var loss = 0.0;
    var correct = 0u;
    let scale = 1.0 / f32(params.rows);
    for (var r = t; r < params.rows; r += WG) {
        let z = out[r];
        let y = f32(labels[r]);
        let e = exp(-abs(z));
        loss += max(z, 0.0) - z * y + log(1.0 + e);
        correct += select(0u, 1u, select(0u, 1u, z > 0.0) == labels[r]);
        if (params.write_dz == 1u) {
            let sigma = select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
            dz[r] = (sigma - y) * scale;
        }
    }
    add_to_stats(t, loss, correct);
}

// y = ±1 of unit j of a row labelled `label` for the perceptron: +1 on the label's unit, −1 on the others
// (one-vs-rest); on one unit, +1 for class 1 and −1 for class 0.
fn sign_of(j: u32, label: u32) -> f32 {
    if (params.classes == 1u) {
        return select(-1.0, 1.0, label == 1u);
    }
    return select(-1.0, 1.0, j == label);
}

// The perceptron criterion of scores z (scikit-learn's Perceptron), as cpu::ops::perceptron:
// loss = Σ_units max(0, −y·z);  dz = −y / rows where y·z ≤ 0 (a mistake, a tie at exactly 0 included), else 0;
// predicts argmax z, or class 1 iff z > 0 on one unit. y·z is exact (y = ±1): the branch is the CPU's.
@compute @workgroup_size(WG, 1, 1)
fn perceptron(@builtin(local_invocation_index) t: u32) {
    var loss = 0.0;
    var correct = 0u;
    let scale = 1.0 / f32(params.rows);
    for (var r = t; r < params.rows; r += WG) {
        let base = r * params.classes;
        let label = labels[r];
        var cost = 0.0;
        for (var j = 0u; j < params.classes; j++) {
            let y = sign_of(j, label);
            let margin = y * out[base + j];
            let mistake = margin <= 0.0;
            if (mistake) {
                cost += -margin;
            }
            if (params.write_dz == 1u) {
                dz[base + j] = select(0.0, -y * scale, mistake);
            }
        }
        loss += cost;
        var predicted = row_argmax(base);
        if (params.classes == 1u) {
            predicted = select(0u, 1u, out[base] > 0.0);
        }
        correct += select(0u, 1u, predicted == label);
    }
    add_to_stats(t, loss, correct);
}
