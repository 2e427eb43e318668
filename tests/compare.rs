//! Regression detection on synthetic record sets with realistic noise.

use std::path::PathBuf;

use batchbench::analysis::ResultSet;
use batchbench::compare::{self, Verdict, metrics_by_name};
use batchbench::results::record::RunRecord;
use batchbench::testing::record_for_tests;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A result set: `configs` configurations × 5 seeds, samples/s ~ N(mean, (cv·mean)²).
fn set(rng: &mut ChaCha8Rng, configs: &[u64], mean: f64, cv: f64, cpu: &str) -> ResultSet {
    let mut records: Vec<RunRecord> = Vec::new();
    for &batch in configs {
        for seed in 0..5 {
            let mut r = record_for_tests("x", 0.9);
            r.spec.batch_size = batch;
            r.spec.seed = seed;
            r.key = r.spec.key();
            r.config_key = r.spec.config_key();
            r.env.cpu = cpu.to_string();
            r.env.backend = "flex".into();
            let noise: f64 = rng.sample(StandardNormal);
            r.summary.samples_per_s = Some(mean * (1.0 + cv * noise));
            records.push(r);
        }
    }
    ResultSet {
        label: String::new(),
        dir: PathBuf::from(cpu),
        records,
        manifest: None,
        warnings: vec![],
        interpolation: vec![],
    }
}

fn throughput() -> Vec<compare::Metric> {
    metrics_by_name(&["samples_per_s".into()]).unwrap()
}

#[test]
fn a_ten_percent_slowdown_is_flagged() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut flagged = 0;
    for _ in 0..100 {
        let base = set(&mut rng, &[64], 10_000.0, 0.03, "cpu");
        let new = set(&mut rng, &[64], 9_000.0, 0.03, "cpu");
        let c = compare::compare(&base, &new, &throughput(), 5.0);
        if c.rows[0].verdict == Verdict::Regressed {
            flagged += 1;
        }
        assert!(!c.testbeds_differ);
    }
    eprintln!("10% slowdown with 3% noise over 5 seeds: flagged in {flagged}/100 trials");
    assert!(flagged >= 95, "flagged in only {flagged}/100 trials");
}

#[test]
fn the_same_distribution_is_rarely_flagged() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut false_positives = 0;
    for _ in 0..100 {
        let base = set(&mut rng, &[64], 10_000.0, 0.03, "cpu");
        let new = set(&mut rng, &[64], 10_000.0, 0.03, "cpu");
        let c = compare::compare(&base, &new, &throughput(), 5.0);
        if c.rows[0].verdict != Verdict::Unchanged {
            false_positives += 1;
        }
    }
    eprintln!("false-positive rate over 100 trials: {false_positives}%");
    assert!(
        false_positives <= 5,
        "{false_positives}/100 false positives"
    );
}

#[test]
fn missing_and_extra_configurations_are_listed() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let base = set(&mut rng, &[32, 64], 10_000.0, 0.03, "cpu");
    let new = set(&mut rng, &[64, 128], 10_000.0, 0.03, "cpu");
    let c = compare::compare(&base, &new, &throughput(), 5.0);
    assert_eq!(c.rows.len(), 1);
    assert_eq!(c.only_base.len(), 1);
    assert!(c.only_base[0].contains("b=32"), "{:?}", c.only_base);
    assert!(c.only_new[0].contains("b=128"), "{:?}", c.only_new);
    assert!(c.terminal_table().contains("only in new: "));
}

#[test]
fn different_testbeds_are_announced() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let base = set(&mut rng, &[64], 10_000.0, 0.03, "Intel Xeon");
    let new = set(&mut rng, &[64], 20_000.0, 0.03, "AMD EPYC");
    let c = compare::compare(&base, &new, &throughput(), 5.0);
    assert!(c.testbeds_differ);
    let text = c.terminal_table();
    assert!(
        text.starts_with("DIFFERENT TESTBEDS: this compares hardware"),
        "{text}"
    );
    assert_eq!(c.rows[0].verdict, Verdict::Improved);
    assert_eq!(c.rows[0].label, "B better");
    assert!(text.contains("1 B better"), "{text}");
    assert!(c.markdown().contains("DIFFERENT TESTBEDS"));
    // Slower hardware is not a regression: --fail-on-regression does not fire.
    let slower = compare::compare(&new, &base, &throughput(), 5.0);
    assert_eq!(slower.rows[0].label, "B worse");
    assert!(!slower.has_regression());
    let html = batchbench::report::render_page("compare.html", &c).unwrap();
    assert!(html.contains("Different testbeds."));
}

#[test]
fn unknown_metrics_are_named_with_a_suggestion() {
    let e = metrics_by_name(&["samples_per_sec".into()]).err().unwrap();
    assert!(e.contains("did you mean `samples_per_s`?"), "{e}");
}

#[test]
fn changes_below_a_metrics_noise_floor_are_not_regressions() {
    let warmup = &metrics_by_name(&["warmup_s".into()]).unwrap()[0];
    // Sub-millisecond warm-ups: +40% but 0.2 ms, under the 10 ms floor.
    let (base, new) = ([0.00050, 0.00051, 0.00049], [0.00070, 0.00071, 0.00069]);
    let (verdict, _, change, note) = compare::compare_values(&base, &new, warmup, 5.0);
    assert_eq!(verdict, Verdict::Unchanged, "{note}");
    assert!(
        change.unwrap() < -35.0 && note.contains("noise floor"),
        "{note}"
    );
    // The same +40% on half-second warm-ups is a regression.
    let (base, new) = ([0.50, 0.51, 0.49], [0.70, 0.71, 0.69]);
    assert_eq!(
        compare::compare_values(&base, &new, warmup, 5.0).0,
        Verdict::Regressed
    );
}
