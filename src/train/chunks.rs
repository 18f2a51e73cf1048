//! How much work is queued at once: chunks of steps sized to take about [`CHUNK_SECONDS`] on the adapter at hand, so
//! that a stop request takes effect within about a second while the GPU stays busy.

/// The time a chunk of queued steps should take, about: a stop request (Ctrl-C) takes effect after the chunk in
/// flight and the few the throttle lets the host queue ahead of it.
pub const CHUNK_SECONDS: f64 = 1.0;

/// The size of the next chunk after one of `steps` steps took `seconds`: scaled towards [`CHUNK_SECONDS`], never
/// more than doubling at once, within 1..=`most`.
pub fn next_chunk(chunk: usize, steps: usize, seconds: f64, most: usize) -> usize {
    if seconds <= 0.0 || steps == 0 {
        return chunk;
    }
    let wanted = (steps as f64 * CHUNK_SECONDS / seconds).floor();
    (wanted.min(2.0 * chunk as f64) as usize).clamp(1, most.max(1))
}
