//! The GPU-resident counters: one small `u32` buffer holding each split's cursor, the train step count and each
//! split's loss statistics.
//!
//! They live on the GPU, not the host, so that a single submission can queue many steps: every step's gather reads
//! the cursor the previous step's `Advance` left, and Adam reads the step count the same way. The host only resets
//! them (`begin_epoch`, `set_steps_done`) and reads them back (`stats`, `steps_done`). The shaders get these word
//! offsets as constants prepended by [`crate::gpu::shaders::compose`], so this file is their single source.

use crate::backend::Stats;
use crate::error::{Error, Result};
use crate::plan::Split;

/// Word of the train cursor; the test cursor follows (`CURSOR + split`).
pub const CURSOR: usize = 0;
/// Low word of the 64-bit count of train steps taken (Adam's t − 1).
pub const STEPS_LO: usize = 2;
/// High word of the step count.
pub const STEPS_HI: usize = 3;
/// First word of the train statistics; the test statistics follow at `STATS + STATS_WORDS`.
pub const STATS: usize = 4;
/// Words of one split's statistics: Σ loss (f32 bits), correct predictions, samples.
pub const STATS_WORDS: usize = 3;
/// Words in the counter buffer (padded to 16 bytes).
pub const COUNTER_WORDS: usize = 12;

// Both splits' statistics fit in the buffer.
const _: () = assert!(STATS + 2 * STATS_WORDS <= COUNTER_WORDS);

/// The WGSL declarations of the constants above, prepended to the kernels that touch the counters.
pub fn wgsl_constants() -> String {
    [
        ("CURSOR", CURSOR),
        ("STEPS_LO", STEPS_LO),
        ("STEPS_HI", STEPS_HI),
        ("STATS", STATS),
        ("STATS_WORDS", STATS_WORDS),
        ("COUNTER_WORDS", COUNTER_WORDS),
    ]
    .iter()
    .map(|(name, value)| format!("const {name}: u32 = {value}u;\n"))
    .collect()
}

/// What a read of the counter buffer is called in its errors.
pub const READ_WHAT: &str = "reading the step counters and statistics";

/// The words of a read-back copy of the counter buffer (`COUNTER_WORDS` words; the blocking and the awaited read's).
pub fn words(raw: &[u8]) -> Result<[u32; COUNTER_WORDS]> {
    let words: Vec<u32> = bytemuck::pod_collect_to_vec(raw);
    words
        .try_into()
        .map_err(|w: Vec<u32>| Error::Gpu(format!("read {} counter words back, expected {COUNTER_WORDS}", w.len())))
}

/// The statistics of `split` in a read-back copy of the counters.
pub fn stats(words: &[u32; COUNTER_WORDS], split: Split) -> Stats {
    let at = STATS + split.index() * STATS_WORDS;
    Stats { loss_sum: f32::from_bits(words[at]), correct: words[at + 1], samples: words[at + 2] }
}

/// The train step count in a read-back copy of the counters.
pub fn steps_done(words: &[u32; COUNTER_WORDS]) -> u64 {
    u64::from(words[STEPS_HI]) << 32 | u64::from(words[STEPS_LO])
}

/// The two words that encode `steps`, low first.
pub fn steps_words(steps: u64) -> [u32; 2] {
    [steps as u32, (steps >> 32) as u32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_through_two_words() {
        let mut words = [0u32; COUNTER_WORDS];
        for steps in [0, 1, u64::from(u32::MAX), u64::from(u32::MAX) + 1, 5_000_000_000] {
            let [lo, hi] = steps_words(steps);
            words[STEPS_LO] = lo;
            words[STEPS_HI] = hi;
            assert_eq!(steps_done(&words), steps);
        }
    }

    #[test]
    fn stats_of_each_split_are_separate_words() {
        let mut words = [0u32; COUNTER_WORDS];
        words[STATS + STATS_WORDS] = 2.5f32.to_bits();
        words[STATS + STATS_WORDS + 1] = 3;
        words[STATS + STATS_WORDS + 2] = 4;
        assert_eq!(stats(&words, Split::Train), Stats::default());
        let test = stats(&words, Split::Test);
        assert_eq!((test.loss_sum, test.correct, test.samples), (2.5, 3, 4));
    }
}
