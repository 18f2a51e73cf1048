// dropout_mask.wgsl — dropout's masks, as src/dropout.rs draws them: the factor of an element is a hash of (seed,
// step, layer, element) — Chris Wellons' lowbias32 chained over the key's 32-bit words — so the CPU and the GPU draw
// the same mask, in any order. WGSL has no includes: the host prepends this file to the kernels that drop units
// (dropout.wgsl, fused.wgsl).

// lowbias32: x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16 (u32 arithmetic wraps).
fn hash32(x0: u32) -> u32 {
    var x = x0;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

// The key of one layer's masks at the step being taken (dropout::stream): the seed's words, then t = steps + 1
// as two words (`steps`: the train steps already taken, which the caller reads from the counters, so many queued
// steps each get their own), then the layer.
fn dropout_stream(seed_lo: u32, seed_hi: u32, steps_lo: u32, steps_hi: u32, layer: u32) -> u32 {
    let step_lo = steps_lo + 1u;
    var step_hi = steps_hi;
    if (step_lo == 0u) {
        step_hi += 1u;
    }
    var h = hash32(seed_lo);
    h = hash32(h ^ seed_hi);
    h = hash32(h ^ step_lo);
    h = hash32(h ^ step_hi);
    return hash32(h ^ layer);
}

// The factor of element `element` (Dropout::factor): 0 when its draw u = (hash >> 8)·2⁻²⁴ is below p, else
// keep_scale = 1/(1 − p) (computed by the host, so both backends multiply by the same f32).
fn dropout_factor(stream: u32, element: u32, p: f32, keep_scale: f32) -> f32 {
    let u = f32(hash32(element ^ stream) >> 8u) * (1.0 / 16777216.0);
    return select(keep_scale, 0.0, u < p);
}
