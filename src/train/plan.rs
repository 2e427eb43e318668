//! The step plan: what every optimizer step of a run does, decided before training —
//! which pass and which slice of its permutation the batch comes from, the batch size
//! and learning rate, and whether an evaluation follows.
//!
//! Burn's loop walks the plan as it trains; for the other engines the runner writes
//! the whole plan to files (`runner::engine`), so every engine takes the same steps on
//! the same examples at the same rates and evaluates at the same points.

use super::schedule;
use crate::data::order::Passes;
use crate::suite::RunSpec;

/// One optimizer step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The effective batch size (micro-batch × accumulate examples).
    pub batch: usize,
    /// The learning rate.
    pub lr: f64,
    /// This step starts a new pass: a fresh permutation ([`StepPlan::order`]).
    pub new_pass: bool,
    /// The pass, counted from 0.
    pub pass: usize,
    /// Where the batch starts in the pass's permutation.
    pub offset: usize,
    /// An evaluation follows this step (at every `eval_every` epochs and at the end).
    pub evaluate: bool,
}

/// The steps of one run, in order.
///
/// Every step uses exactly its batch size: a pass's tail shorter than the batch is
/// skipped and the next pass starts a fresh permutation (drop-last), so batch-size
/// comparisons are not blurred by a smaller last batch.
pub struct StepPlan<'a> {
    spec: &'a RunSpec,
    n_train: usize,
    passes: Passes,
    pass: Option<usize>,
    order: Vec<i64>,
    cursor: usize,
    samples: u64,
    eval_interval: f64,
    next_eval: f64,
}

impl<'a> StepPlan<'a> {
    /// The plan of `spec` over a training set of `n_train` examples.
    pub fn new(spec: &'a RunSpec, n_train: usize) -> Self {
        let eval_interval = (spec.eval_every * n_train as f64).max(1.0);
        StepPlan {
            spec,
            n_train,
            passes: Passes::new(n_train, spec.seed),
            pass: None,
            order: Vec::new(),
            cursor: n_train,
            samples: 0,
            eval_interval,
            next_eval: eval_interval,
        }
    }

    /// The permutation of the current pass.
    pub fn order(&self) -> &[i64] {
        &self.order
    }
}

impl Iterator for StepPlan<'_> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        let spec = self.spec;
        if self.samples >= spec.samples {
            return None;
        }
        let epoch = self.samples as f64 / self.n_train as f64;
        let batch = schedule::batch_size(spec, epoch) as usize;
        let new_pass = self.cursor + batch > self.n_train;
        if new_pass {
            self.order = self.passes.next_pass().to_vec();
            self.pass = Some(self.pass.map_or(0, |p| p + 1));
            self.cursor = 0;
        }
        let offset = self.cursor;
        self.cursor += batch;
        self.samples += batch as u64;
        let evaluate = self.samples as f64 >= self.next_eval || self.samples >= spec.samples;
        if evaluate {
            while self.next_eval <= self.samples as f64 {
                self.next_eval += self.eval_interval;
            }
        }
        Some(Step {
            batch,
            lr: schedule::learning_rate(spec, epoch),
            new_pass,
            pass: self.pass.expect("set on the first step"),
            offset,
            evaluate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::spec_for_tests;

    #[test]
    fn drops_the_last_partial_batch_and_evaluates_at_each_interval_and_the_end() {
        let mut spec = spec_for_tests();
        spec.batch_size = 4;
        spec.epochs = 2.0;
        spec.samples = 20;
        spec.eval_every = 1.0;
        let steps: Vec<Step> = StepPlan::new(&spec, 10).collect();
        assert_eq!(steps.len(), 5);
        // 10 examples, batches of 4: two per pass, the tail of 2 is skipped.
        let at: Vec<(usize, usize, bool)> = steps
            .iter()
            .map(|s| (s.pass, s.offset, s.new_pass))
            .collect();
        assert_eq!(
            at,
            [
                (0, 0, true),
                (0, 4, false),
                (1, 0, true),
                (1, 4, false),
                (2, 0, true)
            ]
        );
        let evals: Vec<bool> = steps.iter().map(|s| s.evaluate).collect();
        assert_eq!(evals, [false, false, true, false, true]);
    }
}
