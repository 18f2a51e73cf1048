// gather.wgsl — x: [rows, features] = pixels[order[cursor + r]] / 255 (or a table's values) and the batch labels, read from the data set
// resident on the GPU.
// Requires the counter layout constants (prepended by the host, see src/gpu/kernels.rs): CURSOR.
//
// Bindings:
//   x: [rows, features]
//   batch_labels: [rows]          labels[order[cursor + r]], read by the loss kernels
//   data: [samples + ceil(samples · features / 4)]
//                                 the split: first one label per word, then the u8 pixels packed four per word,
//                                 little-endian (pixel byte q of the split lives in word samples + q / 4, bits
//                                 8·(q % 4)..). u8 keeps 60000 MNIST images at 47 MB, under the 128 MiB binding
//                                 limit that 188 MB of f32 would exceed. With params.values: [samples +
//                                 samples · features], a table's f32 values one per word (bitcast, gathered as
//                                 they are).
//   order: [order_len]            the split's sample order (shuffled per epoch for train)
//   counters: [COUNTER_WORDS]     cursor = counters[CURSOR + split], advanced by counters.wgsl (never by the host,
//                                 so many steps can be queued in one submission)
//   params: rows, features, split, samples, values (1: f32 values, 0: u8 pixels), and `unit`: the 256 values u / 255 computed on the host, so x is
//           bit-equal to the CPU's f32::from(u) / 255.0 whatever the driver's division precision.
//
// Grid: 2-D; element i = gid.x + gid.y · (num_workgroups.x · WG) of the rows · features outputs.

struct GatherParams {
    rows: u32,
    features: u32,
    split: u32,
    samples: u32,
    values: u32,
    unit: array<vec4<f32>, 64>,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> batch_labels: array<u32>;
@group(0) @binding(2) var<storage, read> data: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read> counters: array<u32>;
@group(0) @binding(5) var<uniform> params: GatherParams;

const WG: u32 = 256u;

@compute @workgroup_size(WG, 1, 1)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= params.rows * params.features) {
        return;
    }
    let r = i / params.features;
    let f = i % params.features;
    // The sample: the host checked on every run that cursor + rows stays within the order, and every order entry
    // within the split; min() only keeps a bad index from reading another sample's bytes.
    let sample = min(order[counters[CURSOR + params.split] + r], params.samples - 1u);
    let byte = sample * params.features + f;
    if (params.values != 0u) {
        x[i] = bitcast<f32>(data[params.samples + byte]);
    } else {
        let word = data[params.samples + byte / 4u];
        let u = (word >> (8u * (byte % 4u))) & 0xffu;
        x[i] = params.unit[u / 4u][u % 4u];
    }
    if (f == 0u) {
        batch_labels[r] = data[sample];
    }
}
