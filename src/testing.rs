//! Small constructors shared by unit tests, integration tests and benches.
#![doc(hidden)]

use crate::results::Environment;
use crate::results::record::{CurvePoint, RunRecord, Summary};
use crate::suite::*;

/// A digits + MLP spec with small, valid settings.
pub fn spec_for_tests() -> RunSpec {
    RunSpec {
        suite: "test".into(),
        dataset: DatasetSpec::of(DatasetName::Digits).resolved(),
        model: ModelSpec {
            hidden: Some(vec![32]),
            ..ModelSpec::of(ModelKind::Mlp)
        }
        .resolved(),
        optimizer: OptimizerSpec::sgd().resolved(),
        batch_size: 32,
        micro_batch_size: 32,
        accumulate: 1,
        lr: 0.1,
        lr_base: 0.1,
        lr_scaling: LrScaling::None,
        base_batch: None,
        lr_schedule: LrSchedule::constant(),
        warmup_epochs: 0.0,
        batch_schedule: None,
        epochs: 1.0,
        samples: 1257,
        eval_every: 1.0,
        eval_train_samples: 500,
        target: None,
        stop_at_target: false,
        augment: None,
        target_accuracy: Some(0.5),
        precision: Precision::F32,
        engine: Default::default(),
        seed: 0,
        device: DeviceRequest::Cpu,
        timeout_s: None,
        warmup_timeout_s: None,
        probes: None,
    }
}

/// A finished record whose spec differs by `name` (used as the seed's stand-in via
/// the key) with final test accuracy `acc`.
pub fn record_for_tests(name: &str, acc: f64) -> RunRecord {
    let spec = spec_for_tests();
    let point = CurvePoint {
        epoch: 1.0,
        step: 40,
        samples: 1280,
        wall_s: 1.0,
        train_s: 0.8,
        lr: 0.1,
        batch_size: 32,
        train_loss: 0.5,
        train_acc: acc + 0.05,
        test_loss: 0.6,
        test_acc: acc,
        test_perplexity: None,
        probes: Default::default(),
    };
    let mut r = RunRecord::new(spec, Environment::default(), "2026-01-01T00:00:00Z".into());
    r.key = name.to_string();
    r.finished_at = "2026-01-01T00:00:01Z".into();
    r.curve = vec![point];
    r.summary = Summary {
        final_test_acc: Some(acc),
        ..Summary::default()
    };
    r
}
