//! The data-order policy, as plain functions of the seed: which training examples
//! each pass visits in which order, and which fixed subset measures train metrics.
//!
//! Burn's loop and the other engines' workers (which receive these orders from the
//! runner) both take them from here, so every engine sees the examples in the same
//! order for the same seed.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Random stream of the per-pass permutations.
const SHUFFLE_STREAM: u64 = 2;
/// Random stream of the fixed training subset used for train metrics.
const TRAIN_EVAL_STREAM: u64 = 3;

/// Successive seeded permutations of `0..n`, one per pass over the training set.
pub struct Passes {
    rng: ChaCha8Rng,
    order: Vec<i64>,
}

impl Passes {
    /// The permutations for `seed` over `n` examples.
    pub fn new(n: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SHUFFLE_STREAM);
        Passes {
            rng,
            order: (0..n as i64).collect(),
        }
    }

    /// The next pass's order (each pass shuffles the previous one further).
    pub fn next_pass(&mut self) -> &[i64] {
        self.order.shuffle(&mut self.rng);
        &self.order
    }
}

/// The fixed, seeded subset of `n_train` examples (at most `size`) on which train loss
/// and accuracy are measured.
pub fn train_eval_subset(n_train: usize, size: usize, seed: u64) -> Vec<i64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(TRAIN_EVAL_STREAM);
    let mut order: Vec<i64> = (0..n_train as i64).collect();
    order.shuffle(&mut rng);
    order.truncate(size.min(n_train));
    order
}
