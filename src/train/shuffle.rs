//! The order in which each epoch visits the training samples: gpu-mnist's own shuffle, or scikit-learn's.

use rand::seq::SliceRandom;

use crate::model;

/// How each epoch's order is drawn from the seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Shuffle {
    /// A fresh Fisher–Yates shuffle per epoch from the seed's ChaCha8 stream `epoch + 1` (stream 0 draws the weights),
    /// so any epoch's order is built without replaying the ones before it.
    #[default]
    Chacha8,
    /// scikit-learn's `SGDClassifier` and `Perceptron` for two classes, `random_state` = the seed: numpy's
    /// `RandomState(seed)` draws the dataset's seed and then the shuffle's (`fit_binary`), and every epoch applies
    /// the same `our_rand_r` Fisher–Yates pass (`SequentialDataset.shuffle(seed)`) to the previous epoch's order. The
    /// same seed then visits the rows exactly as scikit-learn does. (With more classes scikit-learn shuffles each
    /// one-vs-rest classifier apart; one order serves all of them here.)
    SklearnSgd,
}

impl crate::names::Named for Shuffle {
    const WHAT: &'static str = "shuffle";

    fn name(self) -> &'static str {
        Shuffle::name(self)
    }
}

impl Shuffle {
    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            Shuffle::Chacha8 => "chacha8",
            Shuffle::SklearnSgd => "sklearn-sgd",
        }
    }

    /// Whether `seed` is one this shuffle takes: numpy's `RandomState` takes seeds below 2³².
    pub fn takes_seed(self, seed: u64) -> bool {
        match self {
            Shuffle::Chacha8 => true,
            Shuffle::SklearnSgd => u32::try_from(seed).is_ok(),
        }
    }

    /// The order in which epoch `epoch` (0-based) of a run seeded `seed` visits its `n` training samples.
    pub fn epoch_order(self, seed: u64, epoch: usize, n: usize) -> Vec<u32> {
        let mut order: Vec<u32> = (0..n as u32).collect();
        match self {
            Shuffle::Chacha8 => order.shuffle(&mut epoch_rng(seed, epoch)),
            Shuffle::SklearnSgd => {
                // Epoch k's order is the pass applied k + 1 times: O(k·n), which for the tables and epochs a
                // perceptron runs is nothing (MNIST's 60 000 rows over 100 epochs: 3·10⁸ swaps in all).
                let pass_seed = sklearn_shuffle_seed(seed as u32);
                for _ in 0..=epoch {
                    sklearn_pass(&mut order, pass_seed);
                }
            }
        }
        order
    }
}

/// The ChaCha8 generator of `epoch` (0-based) under [`Shuffle::Chacha8`]: stream `epoch + 1` of the seed, so any epoch's
/// order can be rebuilt without replaying the ones before it (which is what makes resuming exact).
fn epoch_rng(seed: u64, epoch: usize) -> model::Rng {
    let mut rng = model::rng(seed);
    rng.set_stream(epoch as u64 + 1);
    rng
}

/// numpy's legacy `RandomState.randint(high)` for `high` ≤ 2³²: MT19937 words masked to the bits of `high − 1`,
/// rejected while above it (`buffered_bounded_masked_uint32`).
fn numpy_randint(mt: &mut rand_mt::Mt, low: u32, high: u32) -> u32 {
    let range = high - low - 1;
    let mask = u32::MAX >> range.leading_zeros();
    loop {
        let v = mt.next_u32() & mask;
        if v <= range {
            return low + v;
        }
    }
}

/// The seed scikit-learn's `fit_binary` hands its shuffle for `random_state` = `seed`: `RandomState(seed)`'s first
/// draw is `make_dataset`'s `randint(1, 2³¹ − 1)`, its second `randint(2³¹ − 1)`, the one `_plain_sgd` shuffles with.
fn sklearn_shuffle_seed(seed: u32) -> u32 {
    const I32_MAX: u32 = i32::MAX as u32;
    let mut mt = rand_mt::Mt::new(seed);
    numpy_randint(&mut mt, 1, I32_MAX);
    numpy_randint(&mut mt, 0, I32_MAX)
}

/// scikit-learn's `SequentialDataset.shuffle(seed)`: a Fisher–Yates pass drawing from `our_rand_r`, a 32-bit
/// xorshift (13, 17, 5) started at `seed` (1 where it is 0), each draw taken modulo 2³¹.
fn sklearn_pass(order: &mut [u32], seed: u32) {
    let mut state = if seed == 0 { 1 } else { seed };
    let n = order.len();
    for i in 0..n.saturating_sub(1) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let draw = (state % (1 << 31)) as usize;
        order.swap(i, i + draw % (n - i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy 2 and scikit-learn 1.9: the seed `RandomState(s)` hands the shuffle, and the first three epochs' orders
    /// of 10 rows, as `tests/fixtures/make_sklearn_own_run.py` prints them.
    #[test]
    fn sklearn_order_should_match_numpy_and_scikit_learn() {
        let cases: [(u32, u32, [[u32; 10]; 3]); 3] = [
            (
                42,
                1_273_642_419,
                [[3, 6, 0, 2, 5, 8, 4, 1, 9, 7], [2, 4, 3, 0, 8, 9, 5, 6, 7, 1], [0, 5, 2, 3, 9, 7, 8, 4, 1, 6]],
            ),
            (
                0,
                398_764_591,
                [[7, 0, 6, 8, 1, 3, 2, 4, 9, 5], [4, 7, 2, 9, 0, 8, 6, 1, 5, 3], [1, 4, 6, 5, 7, 9, 2, 0, 3, 8]],
            ),
            (
                4_000_000_000,
                1_327_648_490,
                [[3, 5, 4, 2, 6, 8, 1, 7, 0, 9], [2, 8, 6, 4, 1, 0, 5, 7, 3, 9], [4, 0, 1, 6, 5, 3, 8, 7, 2, 9]],
            ),
        ];
        for (seed, pass_seed, orders) in cases {
            assert_eq!(sklearn_shuffle_seed(seed), pass_seed, "seed {seed}");
            for (epoch, want) in orders.iter().enumerate() {
                assert_eq!(
                    Shuffle::SklearnSgd.epoch_order(u64::from(seed), epoch, 10),
                    want,
                    "seed {seed} epoch {epoch}"
                );
            }
        }
    }

    #[test]
    fn every_order_should_be_a_permutation() {
        for shuffle in [Shuffle::Chacha8, Shuffle::SklearnSgd] {
            for n in [0, 1, 2, 63, 750] {
                let mut order = shuffle.epoch_order(7, 3, n);
                order.sort_unstable();
                assert_eq!(order, (0..n as u32).collect::<Vec<_>>(), "{shuffle:?} n {n}");
            }
        }
        assert!(!Shuffle::SklearnSgd.takes_seed(1 << 32) && Shuffle::SklearnSgd.takes_seed(u64::from(u32::MAX)));
    }
}
