//! End-to-end tests of the `batchbench` command line: suite validation, sweeps run
//! in worker processes, records, reproducibility and failure handling.

use std::path::{Path, PathBuf};

use batchbench::results::record::{RunRecord, RunStatus};
use batchbench::results::store::read_records;

mod common;
use common::batchbench;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A small, fast suite on the embedded digits.
fn tiny_suite(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        "version: 1\nname: tiny\ndefaults:\n  dataset: {{name: digits}}\n  model: {{kind: mlp, hidden: [16]}}\n  lr: 0.1\n  epochs: 2\n  eval_every: 1\n  target_accuracy: 0.8\n  device: cpu\n{extra}matrix:\n  batch_size: [16, 64]\n"
    );
    let path = dir.join("tiny.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn records(out: &Path) -> Vec<RunRecord> {
    let read = read_records(&out.join("runs.jsonl")).unwrap();
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    read.records
}

#[test]
fn every_invalid_suite_fails_with_its_exact_message() {
    let dir = manifest_dir().join("tests/suites/invalid");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let expected = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{name} has no .expected file"));
        let output = batchbench()
            .current_dir(&dir)
            .args(["validate", name])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(stderr, format!("error: {expected}"), "{name}");
        assert!(!stderr.contains("panicked"), "{name}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} invalid suites");
}

#[test]
fn shipped_suites_are_valid() {
    let dir = manifest_dir().join("suites");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            batchbench().arg("validate").arg(&path).assert().success();
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn shipped_json_schema_is_current() {
    let shipped = std::fs::read_to_string(manifest_dir().join("suites/schema.json")).unwrap();
    assert!(
        shipped == batchbench::suite::json_schema(),
        "suites/schema.json is stale: regenerate it with `batchbench schema > suites/schema.json`"
    );
}

#[test]
fn a_sweep_writes_one_full_record_per_run_and_is_bitwise_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let out_a = dir.path().join("a");
    let out_b = dir.path().join("b");
    for out in [&out_a, &out_b] {
        batchbench()
            .args(["run", "-q", "--out"])
            .arg(out)
            .arg(&suite)
            .assert()
            .success();
    }
    let a = records(&out_a);
    let b = records(&out_b);
    assert_eq!(a.len(), 2);
    for (ra, rb) in a.iter().zip(&b) {
        assert_eq!(ra.status, RunStatus::Ok, "{:?}", ra.reason);
        assert_eq!(ra.key, rb.key);
        // Step 0 plus one point per epoch.
        assert_eq!(ra.curve.len(), 3);
        assert_eq!(ra.spec.device, "cpu");
        assert_eq!(ra.env.backend, "flex");
        assert!(ra.env.gpus.is_empty());
        assert!(ra.telemetry.sources.contains(&"sysinfo".to_string()));
        assert!(ra.telemetry.rss_peak_mib.unwrap() > 0.0);
        assert_eq!(ra.telemetry.gpu_util_mean, None);
        assert_eq!(ra.summary.target_acc, Some(0.8));
        assert!(ra.summary.final_test_acc.unwrap() > 0.5);
        let metrics = |r: &RunRecord| {
            r.curve
                .iter()
                .map(|p| {
                    (
                        p.step,
                        p.samples,
                        p.train_loss.to_bits(),
                        p.test_loss.to_bits(),
                        p.train_acc.to_bits(),
                        p.test_acc.to_bits(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            metrics(ra),
            metrics(rb),
            "metrics differ between two runs of {}",
            ra.label()
        );
    }
}

#[test]
fn existing_results_need_resume_or_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let out = dir.path().join("r");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&suite)
        .assert()
        .success();
    let again = batchbench()
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&suite)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("already holds 2 record(s); pass --resume"),
        "{stderr}"
    );

    // Drop the last record; --resume runs only that one.
    let path = out.join("runs.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let first = text.lines().next().unwrap().to_string() + "\n";
    std::fs::write(&path, first).unwrap();
    let resumed = batchbench()
        .args(["run", "-q", "--resume", "--out"])
        .arg(&out)
        .arg(&suite)
        .output()
        .unwrap();
    assert!(resumed.status.success());
    assert!(
        String::from_utf8_lossy(&resumed.stderr).contains("1 of 2 runs already have final records")
    );
    assert_eq!(records(&out).len(), 2);
}

#[test]
fn a_run_that_runs_out_of_memory_is_recorded_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let out = dir.path().join("oom");
    batchbench()
        .env("BATCHBENCH_FAULT", "oom@64")
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&suite)
        .assert()
        .success();
    let r = records(&out);
    assert_eq!(r[0].status, RunStatus::Ok);
    assert_eq!(r[1].status, RunStatus::Oom);
    assert!(
        r[1].reason.as_deref().unwrap().contains("out-of-memory"),
        "{:?}",
        r[1].reason
    );
    // The partial curve (the step-0 evaluation) is kept.
    assert_eq!(r[1].curve.len(), 1);
}

#[test]
fn crashes_are_recorded_with_their_cause() {
    for (fault, expect) in [
        ("panic", "injected fault: the worker panicked"),
        ("abort", "killed by signal 6"),
        ("exit", "exited with status 3"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let suite = tiny_suite(dir.path(), "");
        let out = dir.path().join("c");
        batchbench()
            .env("BATCHBENCH_FAULT", format!("{fault}@16"))
            .args(["run", "-q", "--out"])
            .arg(&out)
            .arg(&suite)
            .assert()
            .success();
        let r = records(&out);
        assert_eq!(r.len(), 2, "{fault}: the sweep went on");
        assert_eq!(r[0].status, RunStatus::Crashed, "{fault}");
        assert!(
            r[0].reason.as_deref().unwrap().contains(expect),
            "{fault}: {:?}",
            r[0].reason
        );
        assert_eq!(r[1].status, RunStatus::Ok, "{fault}");
    }
}

#[test]
fn a_run_past_its_time_limit_is_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "  timeout_s: 2\n");
    let out = dir.path().join("t");
    batchbench()
        .env("BATCHBENCH_FAULT", "hang@16")
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&suite)
        .assert()
        .success();
    let r = records(&out);
    assert_eq!(r[0].status, RunStatus::Timeout);
    assert!(
        r[0].reason
            .as_deref()
            .unwrap()
            .contains("time limit of 2 s")
    );
    assert_eq!(r[1].status, RunStatus::Ok);
}

#[test]
fn asking_for_cuda_without_it_is_one_clear_error() {
    if batchbench::device::probe_cuda().is_ok() {
        return; // a GPU machine: nothing to check here
    }
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let output = batchbench()
        .args(["run", "-q", "--device", "cuda", "--out"])
        .arg(dir.path().join("x"))
        .arg(&suite)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: CUDA was requested but cannot be used: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!dir.path().join("x/runs.jsonl").exists(), "nothing ran");
}

#[test]
fn the_cpu_backend_is_chosen_per_sweep_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let output = batchbench()
        .args(["run", "-q", "--cpu-backend", "ndarray", "--out"])
        .arg(dir.path().join("x"))
        .arg(&suite)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if cfg!(feature = "openblas") {
        assert!(output.status.success(), "{stderr}");
        for r in records(&dir.path().join("x")) {
            assert_eq!(r.env.backend, "ndarray");
        }
    } else {
        // Without the feature the binary says how to get the backend; nothing runs.
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("--features openblas"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!dir.path().join("x/runs.jsonl").exists(), "nothing ran");
    }
}

#[test]
fn in_process_mode_gives_the_same_metrics_as_workers() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let (w, p) = (dir.path().join("w"), dir.path().join("p"));
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&w)
        .arg(&suite)
        .assert()
        .success();
    batchbench()
        .args(["run", "-q", "--in-process", "--out"])
        .arg(&p)
        .arg(&suite)
        .assert()
        .success();
    let acc = |rs: Vec<RunRecord>| {
        rs.iter()
            .map(|r| r.summary.final_test_acc.unwrap().to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(acc(records(&w)), acc(records(&p)));
}
