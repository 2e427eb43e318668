//! The GPU code path on a machine without a GPU: Burn's wgpu backend on Mesa's
//! software Vulkan driver (lavapipe), which CI installs (`mesa-vulkan-drivers`).
//!
//! The same machinery as on a real GPU runs here — CubeCL compiling kernels at run
//! time, autotuning into batchbench's cache, device buffers, the device thread's
//! failures — so warm-up accounting, cache placement and failure classification are
//! tested on every commit. These tests need a Vulkan driver and fail without one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use batchbench::results::record::{RunRecord, RunStatus};
use batchbench::results::store::read_records;

mod common;
use common::batchbench;

fn suite(dir: &Path, name: &str, model: &str, batch: u64, extra: &str) -> PathBuf {
    let text = format!(
        "version: 1\nname: {name}\ndefaults:\n  dataset: {{name: digits}}\n  model: {model}\n  optimizer: {{kind: sgd}}\n  lr: 0.05\n  epochs: 1\n  eval_every: 1\n  device: wgpu\n{extra}matrix:\n  batch_size: [{batch}]\n"
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `suite` into `out` with CubeCL's caches in `cache`; returns the one record.
fn run(suite: &Path, out: &Path, cache: &Path) -> RunRecord {
    batchbench()
        .env("BATCHBENCH_CACHE", cache)
        .args(["run", "-q", "--fresh", "--out"])
        .arg(out)
        .arg(suite)
        .assert()
        .success();
    let mut records = read_records(&out.join("runs.jsonl")).unwrap().records;
    assert_eq!(records.len(), 1);
    records.remove(0)
}

/// Every autotune file CubeCL wrote under `cache`, with its size.
fn autotune_files(cache: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(dir: &Path, into: &mut BTreeMap<PathBuf, u64>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, into);
            } else {
                into.insert(path.clone(), entry.metadata().unwrap().len());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(&cache.join("cubecl/autotune"), &mut files);
    files
}

#[test]
fn a_sweep_on_lavapipe_is_recorded_as_software_with_its_warm_up_and_shared_caches() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let suite = suite(dir.path(), "lavapipe", "{kind: mlp, hidden: [32]}", 64, "");

    let cold = run(&suite, &dir.path().join("cold"), &cache);
    assert_eq!(cold.status, RunStatus::Ok, "{:?}", cold.reason);
    assert_eq!(cold.env.device, "wgpu:0");
    assert_eq!(cold.env.backend, "wgpu");
    let adapter = cold.env.adapter.as_ref().expect("the adapter is recorded");
    assert!(adapter.software, "{adapter:?}");
    assert_eq!(adapter.device_type, "cpu");
    assert_eq!(adapter.api, "vulkan");
    assert!(!cold.env.on_gpu(), "a software adapter is not a GPU");
    let why = cold
        .telemetry
        .gpu_unavailable
        .as_deref()
        .unwrap_or_default();
    assert!(why.contains("software Vulkan on the CPU"), "{why}");
    assert_eq!(cold.telemetry.gpu_util_mean, None, "nothing is invented");

    // Warm-up is recorded apart from the steady state: 20 steps, 10 of them warm-up.
    let s = &cold.summary;
    assert_eq!(s.steps, Some(20));
    assert_eq!(s.warmup_steps, Some(10));
    assert!(
        s.warmup_s.is_some_and(|w| w > 0.0) && s.samples_per_s.is_some(),
        "{s:?}"
    );
    let kernels = s
        .kernels_by_phase
        .as_ref()
        .expect("kernels counted on wgpu");
    assert!(
        kernels.warmup > 0,
        "the first steps compile kernels: {kernels:?}"
    );
    assert!(s.kernels_compiled.is_some_and(|k| k >= kernels.warmup));

    // The autotune results are in batchbench's cache, and a second worker reuses them:
    // it tunes nothing new (the files do not grow) and trains to the same weights.
    let tuned = autotune_files(&cache);
    assert!(
        !tuned.is_empty() && tuned.values().all(|&n| n > 0),
        "{tuned:?}"
    );
    let warm = run(&suite, &dir.path().join("warm"), &cache);
    assert_eq!(warm.status, RunStatus::Ok, "{:?}", warm.reason);
    assert_eq!(autotune_files(&cache), tuned, "the second worker re-tuned");
    assert_eq!(warm.summary.final_test_acc, cold.summary.final_test_acc);
    assert_eq!(warm.summary.final_train_loss, cold.summary.final_train_loss);
    eprintln!(
        "cold start {:?} s (cold cache), {:?} s (warm cache)",
        cold.summary.cold_start_s, warm.summary.cold_start_s
    );

    // The report names the backend and says the adapter is software.
    let report = dir.path().join("report");
    batchbench()
        .args(["report", "--out"])
        .arg(&report)
        .arg(dir.path().join("warm"))
        .assert()
        .success();
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        html.contains("llvmpipe") && html.contains("software Vulkan on the CPU"),
        "the report does not label the software adapter"
    );
}

#[test]
fn a_buffer_larger_than_the_adapter_allows_is_recorded_as_out_of_memory() {
    // A 6000 × 6000 weight (144 MB) exceeds lavapipe's largest storage buffer (128 MiB):
    // CubeCL's allocation fails on its device thread, as a GPU running out of memory does.
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(
        dir.path(),
        "too-big",
        "{kind: mlp, hidden: [6000, 6000]}",
        16,
        "",
    );
    let r = run(&suite, &dir.path().join("out"), &dir.path().join("cache"));
    assert_eq!(r.status, RunStatus::Oom, "{:?}", r.reason);
    let reason = r.reason.unwrap_or_default();
    assert!(
        reason.contains("can't allocate buffer of size: 144000000"),
        "{reason}"
    );
}

#[test]
fn python_engines_and_bf16_are_refused_on_wgpu_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let refused = |args: &[&str], suite: &Path, expected: &str| {
        let output = batchbench()
            .args(["run", "-q", "--out"])
            .arg(&out)
            .args(args)
            .arg(suite)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!out.join("runs.jsonl").exists(), "nothing ran");
    };
    // In the suite: its validation says so, with the file and line.
    let pytorch = suite(
        dir.path(),
        "pytorch",
        "{kind: mlp, hidden: [8]}",
        16,
        "  engine: pytorch\n",
    );
    refused(
        &[],
        &pytorch,
        "engine pytorch trains on cpu or cuda; wgpu is a Burn backend",
    );
    let bf16 = suite(
        dir.path(),
        "bf16",
        "{kind: mlp, hidden: [8]}",
        16,
        "  precision: bf16\n",
    );
    refused(&[], &bf16, "bf16 needs CUDA; wgpu computes in f32, or f16");
    // On the command line: the runner says so once the adapter is known.
    let on_cpu = std::fs::read_to_string(&pytorch)
        .unwrap()
        .replace("device: wgpu", "device: cpu");
    std::fs::write(&pytorch, on_cpu).unwrap();
    refused(
        &["--device", "wgpu"],
        &pytorch,
        "uses engine pytorch on wgpu:0, but wgpu is a Burn backend; the pytorch engine trains on cpu or cuda",
    );
}

#[test]
fn env_lists_the_software_adapter_and_auto_does_not_choose_it() {
    let out = batchbench().arg("env").output().unwrap();
    assert!(out.status.success());
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let adapters = env["wgpu_adapters"]
        .as_array()
        .expect("adapters are listed");
    let lavapipe = adapters
        .iter()
        .find(|a| a["name"].as_str().is_some_and(|n| n.contains("llvmpipe")))
        .expect("Mesa's software Vulkan driver is installed");
    assert_eq!(lavapipe["software"], true);
    assert_eq!(lavapipe["vendor"], "Mesa");
    // With no GPU here, `auto` is the CPU, never the software adapter.
    assert!(env["device"] == "cpu" || env["device"].as_str().unwrap().starts_with("cuda"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("XDG_RUNTIME_DIR"),
        "Mesa's device-select layer is quiet: {stderr}"
    );
}
