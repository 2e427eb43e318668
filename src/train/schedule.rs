//! Learning-rate and batch-size schedules as pure functions of training progress.
//!
//! Progress is measured in epochs = examples seen / training-set size, so schedules
//! mean the same thing at every batch size.

use crate::suite::{RunSpec, ScheduleKind};

/// The learning rate after `epoch` epochs of training.
///
/// Linear warm-up from 0 to the peak over `warmup_epochs` (Goyal et al. 2017), then
/// the schedule over the remaining budget. The peak is the spec's effective `lr`.
pub fn learning_rate(spec: &RunSpec, epoch: f64) -> f64 {
    let peak = spec.lr;
    if spec.warmup_epochs > 0.0 && epoch < spec.warmup_epochs {
        return peak * (epoch / spec.warmup_epochs).max(0.0);
    }
    let s = &spec.lr_schedule;
    match s.kind {
        ScheduleKind::Constant => peak,
        ScheduleKind::Step => {
            let passed = s
                .milestones
                .iter()
                .flatten()
                .filter(|&&m| epoch >= m)
                .count();
            peak * s.gamma.unwrap_or(0.1).powi(passed as i32)
        }
        ScheduleKind::Cosine => {
            let span = (spec.epochs - spec.warmup_epochs).max(f64::MIN_POSITIVE);
            let t = ((epoch - spec.warmup_epochs) / span).clamp(0.0, 1.0);
            let floor = peak * s.final_fraction.unwrap_or(0.0);
            floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

/// The effective batch size at `epoch` (the last batch-schedule step reached).
pub fn batch_size(spec: &RunSpec, epoch: f64) -> u64 {
    spec.batch_schedule
        .iter()
        .flatten()
        .take_while(|s| epoch >= s.epoch)
        .last()
        .map_or(spec.batch_size, |s| s.batch_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{BatchStep, LrSchedule};
    use crate::testing::spec_for_tests;

    #[test]
    fn warmup_then_step_decay() {
        let mut spec = spec_for_tests();
        spec.lr = 0.4;
        spec.epochs = 10.0;
        spec.warmup_epochs = 2.0;
        spec.lr_schedule = LrSchedule {
            kind: ScheduleKind::Step,
            milestones: Some(vec![5.0, 8.0]),
            gamma: Some(0.5),
            final_fraction: None,
        };
        assert_eq!(learning_rate(&spec, 0.0), 0.0);
        assert!((learning_rate(&spec, 1.0) - 0.2).abs() < 1e-12);
        assert_eq!(learning_rate(&spec, 3.0), 0.4);
        assert_eq!(learning_rate(&spec, 5.0), 0.2);
        assert_eq!(learning_rate(&spec, 9.0), 0.1);
    }

    #[test]
    fn cosine_ends_at_final_fraction() {
        let mut spec = spec_for_tests();
        spec.lr = 1.0;
        spec.epochs = 4.0;
        spec.lr_schedule = LrSchedule {
            kind: ScheduleKind::Cosine,
            milestones: None,
            gamma: None,
            final_fraction: Some(0.1),
        };
        assert_eq!(learning_rate(&spec, 0.0), 1.0);
        assert!((learning_rate(&spec, 2.0) - 0.55).abs() < 1e-12);
        assert!((learning_rate(&spec, 4.0) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn batch_schedule_steps_up() {
        let mut spec = spec_for_tests();
        spec.batch_size = 32;
        spec.batch_schedule = Some(vec![
            BatchStep {
                epoch: 2.0,
                batch_size: 64,
            },
            BatchStep {
                epoch: 4.0,
                batch_size: 128,
            },
        ]);
        assert_eq!(batch_size(&spec, 0.0), 32);
        assert_eq!(batch_size(&spec, 2.0), 64);
        assert_eq!(batch_size(&spec, 5.0), 128);
    }
}
