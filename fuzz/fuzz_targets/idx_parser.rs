//! Arbitrary bytes to the IDX parser (`gpu_mnist::data::read_idx_bytes`), the reader of MNIST-format data files a
//! user points `--data` at: raw, as a `.gz` file, and gzipped first. It must never panic, never allocate beyond
//! the cap it is given, and must agree with a reference reader of the format; see `idx_parser` in
//! `tests/fuzz_harness/mod.rs` for the exact invariants (shared with `tests/fuzz_regressions.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::idx_parser(data));
