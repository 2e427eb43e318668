//! Sharding and merging (issue: scale out) and the deployment recipes.

use std::path::{Path, PathBuf};

use batchbench::results::store::read_records;

mod common;
use common::batchbench;

fn suite(dir: &Path) -> PathBuf {
    let path = dir.join("shards.yaml");
    std::fs::write(
        &path,
        "version: 1\nname: shards\ndefaults:\n  dataset: {name: synthetic, train_samples: 1000, test_samples: 200, features: 8, classes: 3}\n  model: {kind: mlp, hidden: [8]}\n  lr: 0.1\n  epochs: 1\n  device: cpu\nmatrix:\n  batch_size: [8, 16, 32]\n  seed: [0, 1]\n",
    )
    .unwrap();
    path
}

fn metrics(dir: &Path) -> Vec<(String, Vec<u64>)> {
    let mut v: Vec<(String, Vec<u64>)> = read_records(&dir.join("runs.jsonl"))
        .unwrap()
        .records
        .into_iter()
        .map(|r| {
            (
                r.key.clone(),
                r.curve.iter().map(|p| p.test_loss.to_bits()).collect(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn three_shards_merged_equal_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(dir.path());
    let all = dir.path().join("all");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&all)
        .arg(&s)
        .assert()
        .success();
    let mut shards = Vec::new();
    for k in 1..=3 {
        let out = dir.path().join(format!("shard-{k}"));
        batchbench()
            .args(["run", "-q", "--shard", &format!("{k}/3"), "--out"])
            .arg(&out)
            .arg(&s)
            .assert()
            .success();
        shards.push(out);
    }
    let merged = dir.path().join("merged");
    batchbench()
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .assert()
        .success();
    assert_eq!(metrics(&merged), metrics(&all));
    // The merged set renders.
    batchbench()
        .arg("report")
        .arg(&merged)
        .arg("--out")
        .arg(dir.path().join("report"))
        .assert()
        .success();
}

#[test]
fn overlapping_and_missing_shards_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(dir.path());
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    batchbench()
        .args(["run", "-q", "--shard", "1/3", "--out"])
        .arg(&one)
        .arg(&s)
        .assert()
        .success();
    // A Slurm array task 1 of 3 (SLURM_ARRAY_TASK_ID=0 with MIN=0) is shard 1/3 too.
    batchbench()
        .env("SLURM_ARRAY_TASK_ID", "0")
        .env("SLURM_ARRAY_TASK_MIN", "0")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .args(["run", "-q", "--out"])
        .arg(&two)
        .arg(&s)
        .assert()
        .success();
    let out = batchbench()
        .arg("merge")
        .arg(&one)
        .arg(&two)
        .arg("--out")
        .arg(dir.path().join("m"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("duplicate: "), "{stderr}");
    assert!(stderr.contains("missing: "), "{stderr}");
    assert!(stderr.contains("of 6 planned runs"), "{stderr}");
}

#[test]
fn plan_lists_each_shard_and_shards_partition_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(dir.path());
    let mut keys = Vec::new();
    for k in 1..=3 {
        let out = batchbench()
            .args(["plan", "--shard", &format!("{k}/3")])
            .arg(&s)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        keys.extend(
            text.lines()
                .skip(1)
                .filter(|l| l.len() > 16 && l[..16].chars().all(|c| c.is_ascii_hexdigit()))
                .map(|l| l[..16].to_string()),
        );
    }
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!((n, keys.len()), (6, 6));
}

#[test]
fn a_stepped_slurm_array_numbers_its_shards_in_order() {
    // --array=0-4:2 runs tasks 0, 2 and 4: the last is shard 3 of 3, in the default
    // folder results/<suite>/shard-3 below the working directory.
    let dir = tempfile::tempdir().unwrap();
    let s = suite(dir.path());
    batchbench()
        .current_dir(dir.path())
        .env("SLURM_ARRAY_TASK_ID", "4")
        .env("SLURM_ARRAY_TASK_MIN", "0")
        .env("SLURM_ARRAY_TASK_STEP", "2")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .args(["run", "-q"])
        .arg(&s)
        .assert()
        .success();
    let manifest =
        std::fs::read_to_string(dir.path().join("results/shards/shard-3/manifest.json")).unwrap();
    assert!(manifest.contains("\"shard\": \"3/3\""), "{manifest}");
    // A task id outside the array's steps is one clear error.
    let o = batchbench()
        .current_dir(dir.path())
        .env("SLURM_ARRAY_TASK_ID", "3")
        .env("SLURM_ARRAY_TASK_MIN", "0")
        .env("SLURM_ARRAY_TASK_STEP", "2")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .args(["run", "-q"])
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not in the array 0, 2, …"));
}

#[test]
fn slurm_script_is_valid_bash() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/batchbench-array.sbatch");
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(script).unwrap();
    assert!(text.contains("#SBATCH --array=") && text.contains("--gpus-per-task=1"));
    assert!(text.contains("run \"$SUITE\" --device \"$DEVICE\" --resume"));
    // A time limit or scancel sends SIGTERM ahead of the kill; requeues append.
    assert!(text.contains("#SBATCH --signal=TERM@") && text.contains("--open-mode=append"));
    assert!(
        !text.contains("sed "),
        "the suite's name comes from batchbench, not sed"
    );
}

#[test]
fn kubernetes_manifest_is_an_indexed_job_with_matching_shards() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/indexed-job.yaml");
    let v: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v["apiVersion"], "batch/v1");
    assert_eq!(v["kind"], "Job");
    let spec = &v["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let completions = spec["completions"].as_u64().unwrap();
    let container = &spec["template"]["spec"]["containers"][0];
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(&command[..2], ["batchbench", "run"]);
    assert!(command.contains(&"--resume"));
    assert!(
        command
            .iter()
            .any(|c| c.contains("$(JOB_COMPLETION_INDEX)"))
    );
    let shards = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "BATCHBENCH_SHARDS")
        .unwrap();
    assert_eq!(
        shards["value"].as_str().unwrap().parse::<u64>().unwrap(),
        completions
    );
    assert_eq!(container["resources"]["limits"]["nvidia.com/gpu"], 1);
    assert!(
        spec["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap()
            >= 60
    );
}

/// `--costs-from` fits the cost model to measured runs: `plan` then gives seconds,
/// and `plan` and `run` given the same folder split the suite the same way.
#[test]
fn a_cost_model_fitted_to_measured_runs_plans_in_seconds_and_splits_like_run() {
    let dir = tempfile::tempdir().unwrap();
    let s = suite(dir.path());
    let measured = dir.path().join("measured");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&measured)
        .arg(&s)
        .assert()
        .success();
    let plan = |shard: &str| -> serde_json::Value {
        let out = batchbench()
            .args(["plan", "--json", "--shard", shard, "--costs-from"])
            .arg(&measured)
            .arg(&s)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let keys = |p: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = p["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    let mut all = Vec::new();
    for k in 1..=3 {
        let p = plan(&format!("{k}/3"));
        assert_eq!(p["cost_model"]["fitted_on"], 6, "{p}");
        let per_run: f64 = p["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["estimated_s"].as_f64().unwrap())
            .sum();
        let total = p["estimated_s"].as_f64().unwrap();
        assert!(total > 0.0 && (total - per_run).abs() < 1e-9, "{p}");
        all.extend(keys(&p));
    }
    all.sort();
    let mut every: Vec<String> = metrics(&measured).into_iter().map(|(k, _)| k).collect();
    every.sort();
    assert_eq!(all, every, "the three shards partition the suite");

    let shard2 = dir.path().join("shard-2");
    batchbench()
        .args(["run", "-q", "--shard", "2/3", "--costs-from"])
        .arg(&measured)
        .arg("--out")
        .arg(&shard2)
        .arg(&s)
        .assert()
        .success();
    let ran: Vec<String> = metrics(&shard2).into_iter().map(|(k, _)| k).collect();
    assert_eq!(ran, keys(&plan("2/3")), "run and plan split alike");
}
