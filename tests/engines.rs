//! The PyTorch and JAX engines, for real: `make test` puts a virtual environment with
//! torch and jax first on PATH (tests/requirements.txt), so `python3` here has both.
//! The engines receive the runner's data, initial weights and step plan, so on the
//! same recipe they must trace Burn's curve, not merely end near it.

use std::path::Path;

use batchbench::results::RunRecord;
use batchbench::results::record::RunStatus;
use batchbench::results::store::read_records;

mod common;
use common::batchbench;

const SUITE: &str = r#"
version: 1
name: engines
defaults:
  dataset: {name: digits}
  lr: 0.05
  epochs: 2
  eval_every: 0.5
  target_accuracy: 0.8
  device: cpu
  batch_size: 32
include:
  # Momentum, warm-up and a cosine schedule on an MLP.
  - {engine: burn, model: {kind: mlp, hidden: [32]}, optimizer: {kind: sgd, momentum: 0.9, nesterov: true}, warmup_epochs: 0.5, lr_schedule: {kind: cosine}}
  - {engine: pytorch, model: {kind: mlp, hidden: [32]}, optimizer: {kind: sgd, momentum: 0.9, nesterov: true}, warmup_epochs: 0.5, lr_schedule: {kind: cosine}}
  - {engine: jax, model: {kind: mlp, hidden: [32]}, optimizer: {kind: sgd, momentum: 0.9, nesterov: true}, warmup_epochs: 0.5, lr_schedule: {kind: cosine}}
  # A CNN with Adam, accumulation and a batch schedule.
  - {engine: burn, batch_size: 32, model: {kind: cnn, channels: [4], hidden: [16]}, optimizer: {kind: adam, weight_decay: 0.001}, lr: 0.003, accumulate: 2, batch_schedule: [{epoch: 1, batch_size: 64}]}
  - {engine: pytorch, batch_size: 32, model: {kind: cnn, channels: [4], hidden: [16]}, optimizer: {kind: adam, weight_decay: 0.001}, lr: 0.003, accumulate: 2, batch_schedule: [{epoch: 1, batch_size: 64}]}
  - {engine: jax, batch_size: 32, model: {kind: cnn, channels: [4], hidden: [16]}, optimizer: {kind: adam, weight_decay: 0.001}, lr: 0.003, accumulate: 2, batch_schedule: [{epoch: 1, batch_size: 64}]}
  # AdamW on logistic regression, with torch.compile.
  - {engine: burn, batch_size: 64, model: {kind: logreg}, optimizer: {kind: adamw}, lr: 0.01}
  - {engine: pytorch-compile, batch_size: 64, model: {kind: logreg}, optimizer: {kind: adamw}, lr: 0.01}
"#;

fn run_suite(dir: &Path, text: &str, python: Option<&str>) -> Vec<RunRecord> {
    std::fs::create_dir_all(dir).unwrap();
    let suite = dir.join("suite.yaml");
    std::fs::write(&suite, text).unwrap();
    let out = dir.join("results");
    let mut cmd = batchbench();
    cmd.args(["run", "--quiet", "--telemetry-ms", "50", "--out"])
        .arg(&out)
        .arg(&suite);
    if let Some(p) = python {
        cmd.args(["--python", p]);
    }
    cmd.assert().success();
    read_records(&out.join("runs.jsonl")).unwrap().records
}

/// The recipe a record trained, whatever the engine.
fn recipe(r: &RunRecord) -> String {
    r.spec.recipe_key()
}

#[test]
fn every_engine_traces_burns_curve_on_the_same_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let records = run_suite(dir.path(), SUITE, None);
    assert_eq!(records.len(), 8);
    for r in &records {
        assert_eq!(
            r.status,
            RunStatus::Ok,
            "{}: {:?}",
            r.spec.label(),
            r.reason
        );
        let engine = r
            .env
            .engine
            .as_ref()
            .expect("every record names its engine");
        let expected = match r.spec.engine.as_str() {
            "pytorch-compile" => "pytorch",
            e => e,
        };
        assert_eq!(engine.name, expected);
        assert!(!engine.version.is_empty());
        assert!(r.summary.samples_per_s.is_some_and(|s| s > 0.0));
        assert!(r.summary.warmup_s.is_some());
        assert!(r.summary.parameters.is_some_and(|p| p > 0));
        if !r.spec.engine.is_burn() {
            let data = r.data.as_ref().unwrap();
            assert_eq!(data.arrays_sha256.as_ref().map(String::len), Some(64));
            assert_eq!(
                engine.mode.as_deref(),
                Some(match r.spec.engine.as_str() {
                    "pytorch" => "eager",
                    "pytorch-compile" => "compile",
                    _ => "jit",
                })
            );
            // The sampler measured the Python worker's process.
            assert!(
                r.telemetry.rss_peak_mib.is_some_and(|m| m > 10.0),
                "{:?}",
                r.telemetry
            );
        }
    }
    for burn in records.iter().filter(|r| r.spec.engine.is_burn()) {
        let others: Vec<&RunRecord> = records
            .iter()
            .filter(|r| !r.spec.engine.is_burn() && recipe(r) == recipe(burn))
            .collect();
        assert!(!others.is_empty(), "{}", burn.spec.label());
        for other in others {
            let what = format!(
                "{} vs burn on {}",
                other.spec.engine.as_str(),
                burn.spec.label()
            );
            assert_eq!(other.curve.len(), burn.curve.len(), "{what}");
            for (a, b) in other.curve.iter().zip(&burn.curve) {
                assert_eq!(
                    (a.step, a.samples, a.batch_size),
                    (b.step, b.samples, b.batch_size),
                    "{what}"
                );
                assert!((a.lr - b.lr).abs() < 1e-12, "{what}");
                // f32 sums in another order: losses agree to float noise, and at most
                // one test example's prediction may flip.
                assert!(
                    (a.test_loss - b.test_loss).abs() < 2e-3,
                    "{what}: {a:?} vs {b:?}"
                );
                assert!(
                    (a.train_loss - b.train_loss).abs() < 2e-3,
                    "{what}: {a:?} vs {b:?}"
                );
                assert!(
                    (a.test_acc - b.test_acc).abs() <= 1.0 / 539.0 + 1e-9,
                    "{what}: {a:?} vs {b:?}"
                );
            }
        }
    }

    // The report puts the engines side by side and names them.
    let report = dir.path().join("report");
    batchbench()
        .args(["report", "--out"])
        .arg(&report)
        .arg(dir.path().join("results"))
        .assert()
        .success();
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(md.contains("**Engines at batch 32"), "{md}");
    assert!(md.contains("pytorch vs burn: final test accuracy"), "{md}");
    assert!(md.contains("| Engine |"), "{md}");
    // compare matches configurations within one engine, and says so when engines differ.
    let burn_only = run_suite(
        &dir.path().join("burn-only"),
        "version: 1\nname: engines\ndefaults: {dataset: {name: digits}, model: {kind: logreg}, lr: 0.1, epochs: 1, batch_size: 64, device: cpu}\n",
        None,
    );
    assert_eq!(burn_only.len(), 1);
    let out = batchbench()
        .args(["compare"])
        .arg(dir.path().join("burn-only/results"))
        .arg(dir.path().join("results"))
        .arg("--out")
        .arg(dir.path().join("cmp"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DIFFERENT ENGINES: base trained with burn, new with burn, jax, pytorch, pytorch-compile"), "{text}");
    assert!(!text.contains("regressed ("), "{text}");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        html.contains("Engines"),
        "the reproducibility section names the engines"
    );
    assert!(
        html.contains("jax 0.10") || html.contains("jax "),
        "jax is named"
    );
}

#[test]
fn a_missing_framework_is_recorded_with_the_install_command_never_run_on_burn() {
    let dir = tempfile::tempdir().unwrap();
    // An interpreter without torch or jax: a bare virtual environment.
    let bare = dir.path().join("bare");
    let status = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&bare)
        .status()
        .unwrap();
    assert!(status.success());
    let python = bare.join("bin").join("python3");
    let suite = "version: 1\nname: missing\ndefaults: {dataset: {name: digits}, model: {kind: logreg}, lr: 0.1, epochs: 1, device: cpu}\nmatrix: {engine: [pytorch, jax], batch_size: [64]}\n";
    let records = run_suite(dir.path(), suite, Some(python.to_str().unwrap()));
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.status, RunStatus::Crashed);
        let reason = r.reason.as_deref().unwrap();
        assert!(reason.contains("is not installed"), "{reason}");
        assert!(reason.contains("pip install"), "{reason}");
        assert!(r.curve.is_empty(), "nothing was trained instead");
        assert!(r.summary.samples_per_s.is_none());
    }

    // An interpreter that does not exist: one line naming the flag to fix it.
    let records = run_suite(&dir.path().join("x"), suite, Some("/nonexistent/python3"));
    assert!(
        records[0].reason.as_deref().unwrap().contains("--python"),
        "{:?}",
        records[0].reason
    );

    // BATCHBENCH_ENGINES naming a folder without the engines: said, and recorded.
    let empty = dir.path().join("no-engines");
    std::fs::create_dir_all(&empty).unwrap();
    let out = dir.path().join("wrong-engines");
    std::fs::write(dir.path().join("missing.yaml"), suite).unwrap();
    batchbench()
        .env("BATCHBENCH_ENGINES", &empty)
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(dir.path().join("missing.yaml"))
        .assert()
        .success();
    let records = read_records(&out.join("runs.jsonl")).unwrap().records;
    let reason = records[0].reason.as_deref().unwrap();
    assert!(
        reason.contains("BATCHBENCH_ENGINES") && reason.contains("engines/"),
        "{reason}"
    );
}

#[test]
fn engines_cannot_take_settings_only_burn_has() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("s.yaml");
    std::fs::write(
        &suite,
        "version: 1\nname: p\ndefaults: {dataset: {name: digits}, model: {kind: mlp, hidden: [8]}, lr: 0.1, epochs: 1, batch_size: 32, device: cpu, probes: {weight_distance: true}}\nmatrix: {engine: [burn, jax]}\n",
    )
    .unwrap();
    batchbench()
        .arg("validate")
        .arg(&suite)
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "engine jax does not support probes",
        ));
}
