//! Dropout's masks, drawn by a counter-based generator: the mask of an element is a hash of (seed, step, layer,
//! element), not the next number of a stream. The CPU and the GPU therefore draw the same mask without sharing any
//! state, in any order, and a run resumed from a checkpoint draws what the uninterrupted run would have drawn.
//!
//! The hash is Chris Wellons' `lowbias32` (a bijection of u32 with low bias), chained over the key's 32-bit words;
//! `shaders/dropout.wgsl` is the same code in WGSL. Inverted dropout, as PyTorch's `nn.Dropout` and Keras's
//! `Dropout`: a kept value is scaled by 1/(1 − p) while training, and evaluation uses every unit unscaled.

/// `lowbias32`: x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16.
pub fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The `layer` of the input's masks in [`stream`] (`--input-dropout`): not the index of any linear layer.
pub const INPUT_LAYER: u32 = u32::MAX;

/// The key of one layer's masks at one training step (`step`: the 1-based step being taken; `layer`: the index of
/// the linear layer whose output is dropped), from which each element's draw is one more hash.
pub fn stream(seed: u64, step: u64, layer: u32) -> u32 {
    let words = [(seed >> 32) as u32, step as u32, (step >> 32) as u32, layer];
    words.into_iter().fold(hash32(seed as u32), |h, w| hash32(h ^ w))
}

/// Dropout with probability `p` of dropping a unit: the factor an element's output is multiplied by while
/// training, 0 (dropped) or `keep_scale` = 1/(1 − p), and the draw behind it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// The probability of dropping a unit, in [0, 1).
    pub p: f32,
    /// 1/(1 − p), computed once on the host so that every backend multiplies by the same f32.
    pub keep_scale: f32,
}

impl Dropout {
    /// Dropout with probability `p` (in [0, 1)).
    pub fn new(p: f32) -> Self {
        Dropout { p, keep_scale: 1.0 / (1.0 - p) }
    }

    /// The factor of element `element` (its index in the layer's `[rows, outputs]` output) under `stream`: the
    /// element is dropped when its draw u = (hash >> 8)·2⁻²⁴, uniform on [0, 1) in steps of 2⁻²⁴, is below p.
    pub fn factor(&self, stream: u32, element: u32) -> f32 {
        let u = (hash32(element ^ stream) >> 8) as f32 * (1.0 / 16_777_216.0);
        if u < self.p {
            0.0
        } else {
            self.keep_scale
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_should_match_an_independent_implementation() {
        // lowbias32 of 0 is 0; of 1 and 2, the values Python's arbitrary-precision integers give for the same formula
        // (masked to 32 bits): a second implementation, so a changed constant or shift shows.
        assert_eq!(hash32(0), 0);
        assert_eq!(hash32(1), 0x6889_90c0);
        assert_eq!(hash32(2), 0xd113_2181);
    }

    #[test]
    fn the_dropped_fraction_should_be_p() {
        for p in [0.1f32, 0.2, 0.5] {
            let d = Dropout::new(p);
            let s = stream(42, 7, 1);
            let n = 200_000u32;
            let dropped = (0..n).filter(|&i| d.factor(s, i) == 0.0).count() as f64 / f64::from(n);
            assert!((dropped - f64::from(p)).abs() < 0.005, "p = {p}: dropped {dropped}");
        }
    }

    #[test]
    fn masks_should_differ_by_seed_step_and_layer_and_repeat_for_the_same_key() {
        let d = Dropout::new(0.5);
        let mask = |s: u32| (0..256).map(|i| d.factor(s, i)).collect::<Vec<f32>>();
        let base = mask(stream(1, 1, 0));
        assert_eq!(base, mask(stream(1, 1, 0)));
        for other in [stream(2, 1, 0), stream(1, 2, 0), stream(1, 1, 1), stream(1 << 32, 1, 0), stream(1, 1 << 32, 0)] {
            assert_ne!(base, mask(other));
        }
    }
}
