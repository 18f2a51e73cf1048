// reduce_tree.wgsl — workgroup_sums for adapters without subgroup operations: a tree in workgroup memory, in a fixed
// pattern, so one adapter gives the same bits run after run. The host prepends this file, or reduce_subgroup.wgsl
// where the device has wgpu's SUBGROUP feature, to the kernels that reduce (fused.wgsl); both define the same
// function, and the checks run the fused kernel with each.
//
// workgroup_sums(t, loss, correct): called by all REDUCE_WG invocations of a workgroup in uniform control flow, t
// being the caller's local invocation index; returns Σ loss and Σ correct over the workgroup to every invocation.

struct Sums {
    loss: f32,
    correct: u32,
}

const REDUCE_WG: u32 = 256u;

var<workgroup> reduce_loss: array<f32, REDUCE_WG>;
var<workgroup> reduce_correct: array<u32, REDUCE_WG>;

fn workgroup_sums(t: u32, loss: f32, correct: u32) -> Sums {
    reduce_loss[t] = loss;
    reduce_correct[t] = correct;
    workgroupBarrier();
    for (var half = REDUCE_WG / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            reduce_loss[t] += reduce_loss[t + half];
            reduce_correct[t] += reduce_correct[t + half];
        }
        workgroupBarrier();
    }
    return Sums(reduce_loss[0], reduce_correct[0]);
}
