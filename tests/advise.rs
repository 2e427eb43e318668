//! `batchbench advise`: measurements in workers, kept as records and reused; the advice
//! rebuilt from them; the check against a full sweep; the suites it refuses.

use std::path::{Path, PathBuf};

use batchbench::analysis::advice::AdviceFile;
use batchbench::results::record::RunStatus;
use batchbench::results::store::read_records;

mod common;
use common::batchbench;

/// One configuration on the embedded digits: three batch sizes, a grid of two
/// learning rates.
fn suite(dir: &Path, matrix_extra: &str) -> PathBuf {
    let text = format!(
        "version: 1\nname: advise-tiny\ndefaults:\n  dataset: {{name: digits}}\n  model: {{kind: mlp, hidden: [16]}}\n  epochs: 6\n  eval_every: 0.25\n  target_accuracy: 0.85\n  device: cpu\nmatrix:\n  lr: [0.1, 0.3]\n  batch_size: [8, 32, 128]\n{matrix_extra}"
    );
    let path = dir.join("advise-tiny.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn advise(suite: &Path, out: &Path, extra: &[&str]) -> AdviceFile {
    let output = batchbench()
        .args(["advise", "--json", "--steps", "20", "--out"])
        .arg(out)
        .args(extra)
        .arg(suite)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: AdviceFile = serde_json::from_slice(&output.stdout).unwrap();
    let saved: AdviceFile =
        serde_json::from_slice(&std::fs::read(out.join("advise.json")).unwrap()).unwrap();
    assert_eq!(printed.advice, saved.advice);
    saved
}

#[test]
fn advise_measures_in_workers_keeps_every_record_and_rebuilds_the_advice_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(dir.path(), "");
    let out = dir.path().join("advice");
    let file = advise(&suite, &out, &[]);
    let a = &file.advice;

    // One timing per candidate, all fitting, each with its step time.
    let batches: Vec<u64> = a.step_times.iter().map(|t| t.batch_size).collect();
    assert_eq!(batches, vec![8, 32, 128]);
    assert!(
        a.step_times
            .iter()
            .all(|t| t.status == RunStatus::Ok && t.step_s.unwrap() > 0.0)
    );
    // The pilot tried the grid from the largest rate, stopped at the target, and the
    // noise scale came from the points before it.
    assert_eq!(a.lr_rule, "tuned");
    assert_eq!(a.pilot[0].lr, 0.3);
    let steps = a.pilot_steps.expect("the pilot reaches 85% on digits");
    assert!(
        a.pilot
            .iter()
            .skip(1)
            .all(|p| p.budget_steps <= a.pilot[0].budget_steps)
    );
    let noise = a.noise.as_ref().expect("a noise scale");
    assert!(noise.value > 0.0 && noise.low <= noise.value);
    assert!(a.trajectory.iter().any(|p| p.used));
    assert!(
        a.trajectory
            .iter()
            .all(|p| p.step <= a.pilot.iter().map(|p| p.budget_steps).max().unwrap())
    );
    // Every candidate is predicted; the pilot's own batch reproduces its steps.
    for p in &a.predictions {
        let s = p.steps.expect("steps predicted");
        assert!(s.low <= s.mid && s.mid <= s.high);
        assert!(p.time_s.unwrap().mid > 0.0 && p.lr.unwrap() > 0.0);
        if p.batch_size == a.pilot_batch {
            assert!((s.mid - steps as f64).abs() < 1e-6);
        }
    }
    let rec = a.recommendation.time_optimal.expect("a recommendation");
    assert!(batches.contains(&rec));
    assert!(
        a.recommendation
            .sentence
            .starts_with(&format!("Use batch size {rec}"))
    );

    // The records: one per measurement; the pilot that reached the target stopped there.
    let records = read_records(&out.join("runs.jsonl")).unwrap().records;
    assert_eq!(file.measured_now, records.len());
    let (pilots, timings): (Vec<_>, Vec<_>) = records.iter().partition(|r| r.spec.stop_at_target);
    assert_eq!(pilots.len(), a.pilot.len());
    // A timing run too short to time is repeated once, longer.
    assert!(
        (3..=6).contains(&timings.len()),
        "{} timing runs",
        timings.len()
    );
    let best = records
        .iter()
        .find(|r| {
            r.spec.stop_at_target
                && r.spec.probes.is_some()
                && r.summary.steps_to_target == Some(steps)
        })
        .unwrap();
    assert_eq!(best.summary.steps, Some(steps));
    assert!(
        best.curve
            .iter()
            .all(|p| p.probes.noise_g2.is_some() || p.step == 0)
    );

    let html = std::fs::read_to_string(out.join("advise.html")).unwrap();
    for part in [
        "Time to target vs batch size",
        "Gradient noise scale during the pilot",
        "Pilot runs",
    ] {
        assert!(html.contains(part), "the page lacks {part}");
    }

    // Again: nothing is measured, the same advice comes back.
    let again = advise(&suite, &out, &[]);
    assert_eq!(again.measured_now, 0);
    assert_eq!(again.reused, records.len());
    assert_eq!(again.advice, file.advice);
}

#[test]
fn advise_checks_its_recommendation_against_a_full_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(dir.path(), "  seed: [0, 1]\n");
    let sweep = dir.path().join("sweep");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&sweep)
        .arg(&suite)
        .assert()
        .success();
    let out = dir.path().join("advice");
    let mut verify = vec!["--verify", sweep.to_str().unwrap()];
    let file = advise(&suite, &out, &verify);
    let v = file.verification.expect("a verification");
    assert_eq!(v.points.len(), 3);
    assert_eq!(v.seeds, 2);
    let best = v.best_batch.expect("the sweep reaches the target");
    let ratio = v.ratio.expect("the recommended batch reaches it too");
    assert!(ratio >= 1.0);
    assert_eq!(
        ratio == 1.0,
        file.advice.recommendation.time_optimal == Some(best)
    );
    assert!(v.sweep_s > 0.0 && v.advise_s > 0.0);
    assert!(
        v.sentence.contains("measured time to target"),
        "{}",
        v.sentence
    );
    let html = std::fs::read_to_string(out.join("advise.html")).unwrap();
    assert!(
        html.contains("Check against the full sweep") && html.contains("measured (full sweep)")
    );

    // A sweep of something else is refused with the reason.
    let other = dir.path().join("other");
    let other_suite = dir.path().join("other.yaml");
    std::fs::write(
        &other_suite,
        std::fs::read_to_string(&suite)
            .unwrap()
            .replace("hidden: [16]", "hidden: [8]"),
    )
    .unwrap();
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&other)
        .arg(&other_suite)
        .assert()
        .success();
    verify[1] = other.to_str().unwrap();
    let output = batchbench()
        .args(["advise", "--out"])
        .arg(&out)
        .args(&verify)
        .arg(&suite)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("none of the advised configuration"), "{err}");
}

#[test]
fn advise_refuses_what_it_cannot_advise_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(suite(dir.path(), "")).unwrap();
    let cases = [
        (
            "two-models.yaml",
            format!("{text}  model: [{{kind: mlp, hidden: [16]}}, {{kind: logreg}}]\n"),
            "differ in `model`",
        ),
        (
            "no-target.yaml",
            text.replace("  target_accuracy: 0.85\n", ""),
            "sets none; add target_accuracy",
        ),
        (
            "one-batch.yaml",
            text.replace("batch_size: [8, 32, 128]", "batch_size: [32]"),
            "this suite has 1 (32)",
        ),
    ];
    for (name, text, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let output = batchbench()
            .args(["advise", "--out"])
            .arg(dir.path().join("out"))
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(message), "{err}");
    }
}

#[test]
fn a_spent_budget_stops_measuring_and_a_rerun_continues() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(dir.path(), "");
    let out = dir.path().join("advice");
    let file = advise(&suite, &out, &["--budget", "0.000001"]);
    assert_eq!(file.stopped.as_deref(), Some("the time budget is spent"));
    assert_eq!(file.measured_now, 0);
    assert_eq!(file.advice.recommendation.time_optimal, None);
    let file = advise(&suite, &out, &[]);
    assert_eq!(file.stopped, None);
    assert!(file.advice.recommendation.time_optimal.is_some());
}

#[test]
fn candidates_can_be_searched_as_powers_of_two_up_to_the_largest_fit() {
    let dir = tempfile::tempdir().unwrap();
    // One learning rate: advise follows the suite's rule instead of tuning.
    let path = dir.path().join("rule.yaml");
    std::fs::write(
        &path,
        std::fs::read_to_string(suite(dir.path(), ""))
            .unwrap()
            .replace("  lr: [0.1, 0.3]\n", "  lr: [0.2]\n"),
    )
    .unwrap();
    let file = advise(&path, &dir.path().join("auto"), &["--candidates", "auto"]);
    let a = &file.advice;
    // On the CPU every batch fits, up to the 1,257 training examples of digits.
    let batches: Vec<u64> = a.step_times.iter().map(|t| t.batch_size).collect();
    assert_eq!(batches, vec![8, 16, 32, 64, 128, 256, 512, 1024]);
    assert_eq!(a.lr_rule, "none (0.2 at every batch size)");
    assert!(a.lr_grid.is_empty());
    assert_eq!(a.pilot.len(), 1);
    assert!(
        a.predictions
            .iter()
            .all(|p| p.lr == Some(0.2) && p.lr_grid.is_none())
    );

    let file = advise(&path, &dir.path().join("list"), &["--candidates", "16,64"]);
    let batches: Vec<u64> = file
        .advice
        .step_times
        .iter()
        .map(|t| t.batch_size)
        .collect();
    assert_eq!(batches, vec![16, 64]);
}
