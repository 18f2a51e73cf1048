//! Pictures to classify (`predict`, `show`): the first byte picks the input's shape.
//!
//! - Even: the rest is a picture file, decoded by `gpu_mnist::imaging::decode_image` (what `load_image` runs on a
//!   file's contents: format guess, the `MAX_PICTURE_PIXELS` cap, decoder limits), then `to_mnist`.
//! - Odd: the rest is a small picture built directly (`arbitrary`: width, height, colour type, samples), including
//!   16-bit and float pictures with NaN and infinite samples that no decoder produces, for `to_mnist`.
//!
//! Neither may panic; a conversion that succeeds gives exactly 784 bytes. See `picture_file` and `picture_pixels`
//! in `tests/fuzz_harness/mod.rs` (shared with `tests/fuzz_regressions.rs`).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

/// A directly built picture. `arbitrary` reads it as one byte for each of the first three fields and the rest as
/// `samples`: the layout `tests/fuzz_regressions.rs` reads seeds with.
#[derive(Arbitrary, Debug)]
struct Pixels<'a> {
    width: u8,
    height: u8,
    kind: u8,
    samples: &'a [u8],
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    if sel % 2 == 0 {
        harness::picture_file(rest);
    } else if let Ok(p) = Pixels::arbitrary_take_rest(Unstructured::new(rest)) {
        harness::picture_pixels(p.width, p.height, p.kind, p.samples);
    }
});
