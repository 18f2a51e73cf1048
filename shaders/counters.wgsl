// counters.wgsl — Op::Advance: the split's cursor += rows; for the train split the step counter += 1 (unless the
// advance is that of a chunk of a step run in chunks, not its last: counts_step = 0).
// Requires the counter layout constants (prepended by the host, see src/gpu/kernels.rs): CURSOR, STEPS_LO, STEPS_HI.
//
// Bindings:
//   counters: [COUNTER_WORDS]  cursors, the 64-bit train step count (two words), per-split statistics
//   params: split (0 train, 1 test), rows, counts_step
//
// The counters live on the GPU so that gather and adam read the right cursor and step in every one of the many
// steps queued in a single submission. Grid: (1, 1, 1), one invocation.

struct AdvanceParams {
    split: u32,
    rows: u32,
    counts_step: u32,
}

@group(0) @binding(0) var<storage, read_write> counters: array<u32>;
@group(0) @binding(1) var<uniform> params: AdvanceParams;

@compute @workgroup_size(1, 1, 1)
fn advance() {
    counters[CURSOR + params.split] += params.rows;
    if (params.split == 0u && params.counts_step == 1u) {
        // 64-bit increment: carry into the high word when the low word wraps.
        let lo = counters[STEPS_LO] + 1u;
        counters[STEPS_LO] = lo;
        if (lo == 0u) {
            counters[STEPS_HI] += 1u;
        }
    }
}
