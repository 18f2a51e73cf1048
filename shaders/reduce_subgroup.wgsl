// reduce_subgroup.wgsl — workgroup_sums with subgroup operations, for devices with wgpu's SUBGROUP feature (the host
// prepends this file to fused.wgsl there; reduce_tree.wgsl is the fallback, same function). wgpu's WGSL front end
// takes subgroup built-ins without an `enable subgroups;` directive (it rejects the directive itself).
//
// workgroup_sums(t, loss, correct): called by all REDUCE_WG invocations of a workgroup in uniform control flow, t
// being the caller's local invocation index; returns Σ loss and Σ correct over the workgroup to every invocation.
// subgroupAdd sums each subgroup in the hardware's own fixed order; the first invocation of each subgroup leaves
// that sum at its own index of a zeroed array, and invocation 0 adds the array up in index order: two barriers instead
// of the tree's nine, and the same bits on one adapter run after run.

struct Sums {
    loss: f32,
    correct: u32,
}

const REDUCE_WG: u32 = 256u;

var<workgroup> reduce_loss: array<f32, REDUCE_WG>;
var<workgroup> reduce_correct: array<u32, REDUCE_WG>;
var<workgroup> reduce_total: Sums;

fn workgroup_sums(t: u32, loss: f32, correct: u32) -> Sums {
    reduce_loss[t] = 0.0;
    reduce_correct[t] = 0u;
    workgroupBarrier();
    let sub_loss = subgroupAdd(loss);
    let sub_correct = subgroupAdd(correct);
    if (t == subgroupBroadcastFirst(t)) {
        reduce_loss[t] = sub_loss;
        reduce_correct[t] = sub_correct;
    }
    workgroupBarrier();
    if (t == 0u) {
        var total = Sums(0.0, 0u);
        for (var i = 0u; i < REDUCE_WG; i++) {
            total.loss += reduce_loss[i];
            total.correct += reduce_correct[i];
        }
        reduce_total = total;
    }
    workgroupBarrier();
    return reduce_total;
}
