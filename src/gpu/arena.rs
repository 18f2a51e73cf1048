//! Where things sit in GPU memory: the sizes and offsets of the layout's buffers in the arena (the one GPU buffer
//! that holds them all) and of a split's packed data. Arithmetic only: the buffers themselves are made in `upload.rs`.

use crate::data::{Features, LabeledImages};
use crate::plan::Layout;

/// Bytes of `len` f32 or u32 values.
pub(crate) fn bytes(len: usize) -> u64 {
    (len * 4) as u64
}

/// Words of a split's data buffer: one label per sample, then the pixels packed four per word.
pub fn split_words(samples: usize, features: usize) -> usize {
    (samples + (samples * features).div_ceil(4)).max(1)
}

/// Words of `split`'s data buffer: [`split_words`] for images; for a table, one label then one f32 value per word.
pub fn words_of(split: &LabeledImages) -> usize {
    match split.features {
        Features::Pixels(_) => split_words(split.len(), split.pixels()),
        Features::Values(_) => (split.len() + split.len() * split.pixels()).max(1),
    }
}

/// Alignment of each layout buffer in the arena, in f32s: 256 bytes, the largest `min_storage_buffer_offset_alignment`
/// WebGPU allows, so any range of the arena can be bound on any adapter.
pub const ARENA_ALIGN: usize = 64;

/// Where each buffer of `layout` starts in the arena (in f32s), and the arena's length in f32s.
pub fn arena_offsets(layout: &Layout) -> (Vec<u64>, u64) {
    let mut at = 0u64;
    let offsets = layout
        .buffers
        .iter()
        .map(|b| {
            let start = at;
            at = at
                .saturating_add((b.len.max(1) as u64).div_ceil(ARENA_ALIGN as u64).saturating_mul(ARENA_ALIGN as u64));
            start
        })
        .collect();
    (offsets, at.max(ARENA_ALIGN as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_words_hold_labels_and_packed_pixels() {
        assert_eq!(split_words(0, 784), 1);
        assert_eq!(split_words(1, 1), 2);
        assert_eq!(split_words(3, 3), 3 + 3);
        assert_eq!(split_words(60_000, 784), 60_000 + 60_000 * 196);
    }
}
