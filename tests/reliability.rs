//! Crash safety: a sweep killed at random points and resumed ends with exactly one
//! final record per run, identical to an uninterrupted sweep; Ctrl-C records the run
//! in flight as interrupted; a torn last line costs only that line; the sweep-level
//! budget stops starting runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use batchbench::results::record::{RunRecord, RunStatus};
use batchbench::results::store::read_records;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::{batchbench, batchbench_process};

fn suite(dir: &Path, epochs: u32, batch: &str) -> PathBuf {
    let path = dir.join("s.yaml");
    std::fs::write(
        &path,
        format!("version: 1\nname: rel\ndefaults:\n  dataset: {{name: synthetic, train_samples: 2000, test_samples: 400, features: 16, classes: 4}}\n  model: {{kind: mlp, hidden: [16]}}\n  lr: 0.05\n  epochs: {epochs}\n  device: cpu\nmatrix:\n  batch_size: [{batch}]\n  seed: [0, 1]\n"),
    )
    .unwrap();
    path
}

/// Final records by key, with the measured part of each.
fn final_metrics(out: &Path) -> BTreeMap<String, Vec<(u64, u64, u64)>> {
    let read = read_records(&out.join("runs.jsonl")).unwrap();
    let finals: Vec<&RunRecord> = read
        .records
        .iter()
        .filter(|r| r.status.is_final())
        .collect();
    let mut map = BTreeMap::new();
    for r in finals {
        let m: Vec<(u64, u64, u64)> = r
            .curve
            .iter()
            .map(|p| (p.step, p.test_loss.to_bits(), p.train_acc.to_bits()))
            .collect();
        assert!(
            map.insert(r.key.clone(), m).is_none(),
            "two final records for {}",
            r.label()
        );
    }
    map
}

#[test]
fn sigkill_at_random_points_then_resume_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(dir.path(), 3, "4, 16, 64");
    let reference = dir.path().join("reference");
    let started = Instant::now();
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&reference)
        .arg(&s)
        .assert()
        .success();
    // Kill points spread over the length of an uninterrupted sweep.
    let sweep_ms = started.elapsed().as_millis() as u64;
    let expected = final_metrics(&reference);
    assert_eq!(expected.len(), 6);

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut kills_mid_sweep = 0;
    for trial in 0..20 {
        let out = dir.path().join(format!("trial-{trial}"));
        let mut child = batchbench_process()
            .args(["run", "-q", "--out"])
            .arg(&out)
            .arg(&s)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(
            rng.random_range(20..sweep_ms.max(100) * 9 / 10),
        ));
        let still_running = child.try_wait().unwrap().is_none();
        // SIGKILL: no handler runs; the worker dies with its parent (PR_SET_PDEATHSIG).
        child.kill().unwrap();
        child.wait().unwrap();
        if still_running {
            kills_mid_sweep += 1;
        }
        let resume = |out: &PathBuf| {
            // The lock is released by the kernel; a worker may take a moment to die.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let o = batchbench()
                    .args(["run", "-q", "--resume", "--out"])
                    .arg(out)
                    .arg(&s)
                    .output()
                    .unwrap();
                if o.status.success() {
                    return;
                }
                let err = String::from_utf8_lossy(&o.stderr).to_string();
                assert!(
                    err.contains("another batchbench") && Instant::now() < deadline,
                    "{err}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        if out.join("runs.jsonl").exists() {
            resume(&out);
        } else {
            batchbench()
                .args(["run", "-q", "--out"])
                .arg(&out)
                .arg(&s)
                .assert()
                .success();
        }
        assert_eq!(final_metrics(&out), expected, "trial {trial}");
    }
    eprintln!("{kills_mid_sweep} of 20 kills hit a running sweep");
    assert!(
        kills_mid_sweep >= 10,
        "only {kills_mid_sweep} kills landed mid-sweep"
    );
}

#[test]
fn ctrl_c_records_the_run_in_flight_as_interrupted_with_its_partial_curve() {
    // SIGTERM and SIGHUP are how Slurm (time limit, scancel) and Kubernetes (eviction)
    // stop a job: the same as Ctrl-C.
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let dir = tempfile::tempdir().unwrap();
        // Batch 1 for 1,000 epochs of 2,000 examples: far longer than the 1.5 s before
        // the signal on any machine (30 epochs took 1.2 s on a fast one, so the first
        // seed finished and the test saw two records), and interrupted, so it costs
        // no more.
        let s = suite(dir.path(), 1000, "1");
        let out = dir.path().join("r");
        let child = batchbench_process()
            .args(["run", "-q", "--telemetry-ms", "0", "--out"])
            .arg(&out)
            .arg(&s)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: signalling a child we started.
        unsafe { libc::kill(child.id() as i32, signal) };
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "signal {signal}: {stderr}");
        assert!(stderr.contains("--resume"), "a resume hint: {stderr}");
        let read = read_records(&out.join("runs.jsonl")).unwrap();
        assert_eq!(read.records.len(), 1, "signal {signal}");
        let r = &read.records[0];
        assert_eq!(r.status, RunStatus::Interrupted, "signal {signal}");
        assert!(
            r.curve.len() >= 2,
            "partial curve kept: {} points",
            r.curve.len()
        );
        assert!(r.summary.train_s.unwrap() > 0.0);
        // Resuming reruns the interrupted run (it is not final).
        let plan = batchbench().args(["plan"]).arg(&s).output().unwrap();
        assert!(plan.status.success());
    }
}

#[test]
fn a_torn_last_line_is_reported_and_only_that_line_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(dir.path(), 1, "16, 64");
    let out = dir.path().join("r");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&s)
        .assert()
        .success();
    let path = out.join("runs.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    // A power cut in the middle of writing the last record.
    let torn = format!(
        "{}\n{}\n{}\n{}",
        lines[0],
        lines[1],
        lines[2],
        &lines[3][..lines[3].len() / 2]
    );
    std::fs::write(&path, torn).unwrap();
    let o = batchbench()
        .args(["run", "-q", "--resume", "--out"])
        .arg(&out)
        .arg(&s)
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("runs.jsonl:4: is an incomplete last line"),
        "{err}"
    );
    assert!(
        err.contains("3 of 4 runs already have final records"),
        "{err}"
    );
    // The torn line stays (isolated on its own line); the rerun record follows it.
    let read = read_records(&path).unwrap();
    assert_eq!(read.records.len(), 4);
    assert_eq!(read.warnings.len(), 1);
}

#[test]
fn the_sweep_budget_stops_starting_runs() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(dir.path(), 1, "8, 16, 32, 64");
    let out = dir.path().join("r");
    let o = batchbench()
        .args(["run", "-q", "--budget", "0.001", "--out"])
        .arg(&out)
        .arg(&s)
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("time budget is spent"), "{err}");
    let n = read_records(&out.join("runs.jsonl"))
        .map(|r| r.records.len())
        .unwrap_or(0);
    assert!(n < 8, "{n} runs despite the budget");
}

#[test]
fn a_diverging_run_is_recorded_with_the_step_and_last_finite_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.yaml");
    std::fs::write(
        &path,
        "version: 1\nname: div\ndefaults:\n  dataset: {name: synthetic, train_samples: 2000, test_samples: 400, features: 16, classes: 4}\n  model: {kind: mlp, hidden: [64, 64]}\n  lr: 90\n  epochs: 3\n  eval_every: 0.25\n  batch_size: 64\n  device: cpu\n",
    )
    .unwrap();
    let out = dir.path().join("r");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&path)
        .assert()
        .success();
    let r = read_records(&out.join("runs.jsonl"))
        .unwrap()
        .records
        .remove(0);
    assert_eq!(r.status, RunStatus::Diverged, "{:?}", r.reason);
    let d = r.divergence.expect("divergence details");
    assert!(d.step > 0);
    assert!(r.reason.unwrap().contains(&format!("at step {}", d.step)));
}
