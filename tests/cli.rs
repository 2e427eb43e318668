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

/// Runs the tiny suite (with `extra` settings) under fault injection `fault` and
/// returns its records.
fn run_with_fault(extra: &str, fault: &str, env: &[(&str, &str)]) -> Vec<RunRecord> {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), extra);
    let out = dir.path().join("out");
    batchbench()
        .env("BATCHBENCH_FAULT", fault)
        .envs(env.iter().copied())
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&suite)
        .assert()
        .success();
    records(&out)
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
        assert_eq!(ra.spec.device.to_string(), "cpu");
        assert_eq!(ra.env.backend, "flex");
        assert!(ra.env.gpus.is_empty());
        // The profile is named after the folder cargo built the binary in (`release`
        // here; `dist` for make dist's binary, which cargo's PROFILE calls `release`).
        let bin = assert_cmd::cargo::cargo_bin("batchbench");
        let folder = bin.parent().and_then(|d| d.file_name()).unwrap();
        assert_eq!(ra.env.profile, folder.to_string_lossy());
        assert!(ra.telemetry.sources.contains(&"procfs".to_string()));
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
    // The fault replays CubeCL 0.10's own path (a panic on its device thread, then
    // `CallError` on the training thread): the reason is the allocation failure.
    let reason = r[1].reason.as_deref().unwrap();
    assert!(
        reason.starts_with(
            "called `Result::unwrap()` on an `Err` value: can't allocate buffer of size: "
        ),
        "{reason}"
    );
    assert!(
        reason.contains("then: called `Result::unwrap()` on an `Err` value: CallError"),
        "{reason}"
    );
    // The partial curve (the step-0 evaluation) is kept, and the worker's stderr.
    assert_eq!(r[1].curve.len(), 1);
    assert!(
        r[1].stderr_tail.iter().any(|l| l.contains("Task failed")),
        "{:?}",
        r[1].stderr_tail
    );
    assert!(r[0].stderr_tail.is_empty(), "only failed runs keep stderr");
}

#[test]
fn a_host_allocation_failure_is_out_of_memory_with_its_size() {
    let r = run_with_fault("", "alloc@64", &[]);
    assert_eq!(r[1].status, RunStatus::Oom);
    let reason = r[1].reason.as_deref().unwrap();
    assert!(reason.contains("killed by signal 6"), "{reason}");
    assert!(
        reason.contains("memory allocation of 17179869184 bytes failed"),
        "{reason}"
    );
}

#[test]
fn the_reason_is_the_error_message_even_with_a_backtrace() {
    let r = run_with_fault("", "oom@16", &[("RUST_BACKTRACE", "1")]);
    assert_eq!(r[0].status, RunStatus::Oom);
    let reason = r[0].reason.as_deref().unwrap();
    assert!(reason.contains("can't allocate buffer of size"), "{reason}");
    assert!(!reason.contains("stack backtrace"), "{reason}");
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
fn kernel_compilation_does_not_count_against_the_run_but_warm_up_has_its_own_limit() {
    // A warm-up that takes 3 s (as a cold CUDA start compiling kernels would) under a
    // 2 s run limit: the run completes, its warm-up recorded apart.
    let r = run_with_fault("  timeout_s: 2\n", "slow-warmup@16", &[]);
    assert_eq!(r[0].status, RunStatus::Ok, "{:?}", r[0].reason);
    assert!(r[0].summary.warmup_s.unwrap() >= 3.0);
    assert!(r[0].summary.cold_start_s.unwrap() >= 2.9);
    // A warm-up that never ends hits the warm-up limit.
    let r = run_with_fault(
        "  timeout_s: 100\n  warmup_timeout_s: 2\n",
        "hang-warmup@16",
        &[],
    );
    assert_eq!(r[0].status, RunStatus::Timeout);
    let reason = r[0].reason.as_deref().unwrap();
    assert!(reason.starts_with("warm-up ("), "{reason}");
    assert!(
        reason.contains("limit of 2 s (warmup_timeout_s)"),
        "{reason}"
    );
    assert_eq!(r[1].status, RunStatus::Ok);
}

#[test]
fn warm_prepares_each_shape_once_and_says_what_it_cost() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let out = dir.path().join("w");
    let o = batchbench()
        .args(["warm", "--out"])
        .arg(&out)
        .arg(&suite)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shapes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("warm.json")).unwrap()).unwrap();
    let shapes = shapes.as_array().unwrap();
    assert_eq!(shapes.len(), 2, "one per batch size: {shapes:?}");
    for s in shapes {
        assert_eq!(s["status"], "ok");
        assert!(s["warmup_s"].as_f64().unwrap() > 0.0);
        assert!(s["kernels_compiled"].is_null(), "counted on CUDA only");
    }
    assert!(String::from_utf8_lossy(&o.stdout).contains("cold start s"));
}

#[test]
fn a_regression_gate_fails_when_a_side_has_nothing_or_runs_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let base = dir.path().join("base");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&base)
        .arg(&suite)
        .assert()
        .success();
    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "not a record\n").unwrap();
    let half = dir.path().join("half");
    std::fs::create_dir_all(&half).unwrap();
    let first_line = std::fs::read_to_string(base.join("runs.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(half.join("runs.jsonl"), first_line + "\n").unwrap();
    for (new, expect) in [
        (PathBuf::from("/dev/null"), "holds no readable record"),
        (garbage, "holds no readable record"),
        (half, "configuration(s) of the base are missing from"),
    ] {
        let o = batchbench()
            .args(["compare", "--fail-on-regression", "--out"])
            .arg(dir.path().join("cmp"))
            .arg(&base)
            .arg(&new)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{new:?}: {err}");
        assert!(err.contains(expect), "{new:?}: {err}");
    }
    // Skipped lines are shown.
    let o = batchbench()
        .args(["compare", "--out"])
        .arg(dir.path().join("cmp"))
        .arg(&base)
        .arg(dir.path().join("garbage.jsonl"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("garbage.jsonl:1: is not valid JSON"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn asking_for_cuda_without_it_is_one_clear_error() {
    // Without CUDA, `cuda` cannot work; with it, device 999 does not exist.
    let (device, expected) = match batchbench::device::probe_cuda() {
        Err(_) => ("cuda", "error: CUDA was requested but cannot be used: "),
        Ok(_) => (
            "cuda:999",
            "error: cuda:999 was requested but the driver reports ",
        ),
    };
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let output = batchbench()
        .args(["run", "-q", "--device", device, "--out"])
        .arg(dir.path().join("x"))
        .arg(&suite)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with(expected), "{stderr}");
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

#[test]
fn mnist_format_folders_are_trained_with_their_real_counts() {
    use batchbench::data::idx::encode_idx;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("small-mnist");
    std::fs::create_dir_all(&data).unwrap();
    // 100 training and 20 test images of 12×12: not MNIST's 60,000 / 10,000 of 28×28.
    let images = |n: u32| {
        let pixels: Vec<u8> = (0..n * 144).map(|i| (i * 37 % 251) as u8).collect();
        encode_idx(&[n, 12, 12], &pixels)
    };
    let labels = |n: u32| encode_idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
    std::fs::write(data.join("train-images-idx3-ubyte"), images(100)).unwrap();
    std::fs::write(data.join("train-labels-idx1-ubyte"), labels(100)).unwrap();
    std::fs::write(data.join("t10k-images-idx3-ubyte"), images(20)).unwrap();
    std::fs::write(data.join("t10k-labels-idx1-ubyte"), labels(20)).unwrap();
    let suite = |batch: u32| {
        let path = dir.path().join(format!("m{batch}.yaml"));
        std::fs::write(
            &path,
            format!("version: 1\nname: m{batch}\ndefaults:\n  dataset: {{name: mnist, path: small-mnist}}\n  model: {{kind: cnn, channels: [4], hidden: [8]}}\n  lr: 0.05\n  epochs: 2\n  batch_size: {batch}\n  device: cpu\n"),
        )
        .unwrap();
        path
    };
    // A batch larger than the 100 real examples is refused by validate.
    let o = batchbench()
        .arg("validate")
        .arg(suite(200))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("batch size 200 is larger than the training set (100 examples of mnist)"),
        "{err}"
    );
    let out = dir.path().join("r");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(suite(25))
        .assert()
        .success();
    let r = &records(&out)[0];
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.reason);
    assert_eq!(r.data.as_ref().unwrap().train_size, 100);
    assert_eq!(r.spec.samples, 200, "2 epochs of the real 100 examples");
    assert_eq!(r.summary.steps, Some(8));
    assert_eq!(r.curve.last().unwrap().epoch, 2.0);
}

#[test]
fn the_gpu_session_verifies_then_sweeps_on_the_cpu_and_leaves_five_files() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    let out = dir.path().join("evidence");
    std::fs::create_dir_all(&cwd).unwrap();
    // gpu-session.sh runs gpu-verify.sh (three files), then a sweep and its report.
    let o = std::process::Command::new("bash")
        .arg(manifest_dir().join("scripts/gpu-session.sh"))
        .current_dir(&cwd)
        .env("DEVICE", "cpu")
        .env("BATCHBENCH", assert_cmd::cargo::cargo_bin("batchbench"))
        .env("OUT", &out)
        .env("SESSION_SECONDS", "500")
        .env("VERIFY_SECONDS", "300")
        .env("SUITE", manifest_dir().join("suites/quickstart.yaml"))
        .env_remove("BATCHBENCH_FAULT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "evidence.tar.gz",
            "session.log",
            "smoke.tar.gz",
            "summary.txt",
            "table.json"
        ]
    );
    assert_eq!(
        std::fs::read_dir(&cwd).unwrap().count(),
        0,
        "nothing in the working directory"
    );
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("table.json")).unwrap()).unwrap();
    let rows = table["runs"].as_array().unwrap();
    let status = |step: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r["step"] == step)
            .map(|r| r["status"].as_str().unwrap().to_string())
            .collect()
    };
    // The tests' python3 has torch and jax (tests/requirements.txt): the same recipes
    // run through the engines.
    for step in [
        "mlp-f32-cold",
        "mlp-f32-warm",
        "cnn-f32-cold",
        "pytorch-mlp",
        "pytorch-cnn",
        "jax-mlp",
        "jax-cnn",
        "resnet20",
        "transformer",
    ] {
        assert_eq!(status(step), ["ok"], "{step}: {stderr}");
    }
    assert_eq!(status("oom"), ["oom"], "the oversized run is recorded oom");
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(summary.contains("mlp-f32-warm"), "{summary}");
    assert!(summary.contains("setup+warm-up+train+eval"), "{summary}");
    let swept = std::process::Command::new("tar")
        .args(["-xzf", "smoke.tar.gz", "-O", "results/runs.jsonl"])
        .current_dir(&out)
        .output()
        .unwrap();
    let ok = String::from_utf8_lossy(&swept.stdout)
        .matches(r#""status":"ok""#)
        .count();
    assert_eq!(ok, 18, "the whole quickstart swept: {stderr}");
    let listed = std::process::Command::new("tar")
        .args(["-tzf", "smoke.tar.gz"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("report/index.html"));
}

#[test]
fn output_into_a_closed_pipe_never_stops_a_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite(dir.path(), "");
    let out = dir.path().join("piped");
    let bin = assert_cmd::cargo::cargo_bin("batchbench");
    // `head -c 0` closes the pipe at once: every per-run line meets a closed pipe.
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' run --out '{}' '{}' | head -c 0",
            bin.display(),
            out.display(),
            suite.display()
        ))
        .env_remove("BATCHBENCH_FAULT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(records(&out).len(), 2, "both runs recorded: {stderr}");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' plan '{}' | head -n 1 > /dev/null",
            bin.display(),
            suite.display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn compare_speaks_json_and_github_actions() {
    use batchbench::testing::record_for_tests;
    let dir = tempfile::tempdir().unwrap();
    // Base at 10,000 samples/s, new 20% slower, five seeds each, little noise.
    let write = |name: &str, mean: f64| {
        let folder = dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        let mut text = String::new();
        for seed in 0..5u64 {
            let mut r = record_for_tests("x", 0.9);
            r.spec.seed = seed;
            r.key = r.spec.key();
            r.summary.samples_per_s = Some(mean * (1.0 + 0.01 * seed as f64));
            text += &(serde_json::to_string(&r).unwrap() + "\n");
        }
        std::fs::write(folder.join("runs.jsonl"), text).unwrap();
        folder
    };
    let (base, new) = (write("base", 10_000.0), write("new", 8_000.0));
    let summary = dir.path().join("step-summary.md");
    let o = batchbench()
        .args(["compare", "--json", "--metric", "samples_per_s", "--out"])
        .arg(dir.path().join("cmp"))
        .arg(&base)
        .arg(&new)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let json_end = stdout
        .find("\n::error")
        .expect("an annotation after the JSON");
    let v: serde_json::Value = serde_json::from_str(&stdout[..json_end]).unwrap();
    assert_eq!(v["rows"][0]["verdict"], "regressed", "{v}");
    assert!(
        stdout.contains("::error title=batchbench regression::") && stdout.contains("-20.0%25"),
        "{stdout}"
    );
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("cmp/compare.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["rows"][0]["verdict"], "regressed");
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("## batchbench compare")
    );
}

#[test]
fn validate_reports_every_unknown_key_and_every_bad_value_of_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let typos = dir.path().join("typos.yaml");
    std::fs::write(
        &typos,
        "version: 1\nname: t\ndefaults:\n  dataset: {name: digits}\n  model: {kind: mlp, hiden: [32]}\n  optimiser: {kind: sgd}\n  lr: 0.1\n  epochs: 1\n  batch_size: 32\n",
    )
    .unwrap();
    let values = dir.path().join("values.yaml");
    std::fs::write(
        &values,
        "version: 1\nname: t\ndefaults:\n  dataset: {name: digits}\n  model: {kind: mlp}\n  lr: -0.1\n  epochs: 1\nmatrix:\n  batch_size: [32, 0]\n",
    )
    .unwrap();
    let out = batchbench()
        .arg("validate")
        .args([&typos, &values])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "typos.yaml:5:22: defaults.model.hiden: unknown key `hiden`",
        "(did you mean `hidden`?)",
        "typos.yaml:6:3: defaults.optimiser: unknown key `optimiser`",
        "values.yaml:6:7: defaults.lr: -0.1 is not allowed",
        "values.yaml:9:20: matrix.batch_size[1]: 0 is out of range",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected} missing from:\n{stderr}"
        );
    }

    let out = batchbench()
        .args(["validate", "--json"])
        .args([&typos, &values])
        .arg(manifest_dir().join("suites/quickstart.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let suites = json["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 3);
    assert_eq!(suites[0]["errors"].as_array().unwrap().len(), 2);
    let first = &suites[0]["errors"][0];
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(5), Some(22))
    );
    assert_eq!(first["field"], "defaults.model.hiden");
    assert_eq!(suites[1]["errors"].as_array().unwrap().len(), 2);
    assert_eq!(
        (suites[2]["valid"].as_bool(), suites[2]["runs"].as_u64()),
        (Some(true), Some(18))
    );
}
