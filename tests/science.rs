//! The levers and probes of batch-size studies: gradient accumulation, the probes in
//! a real run (weight distance, sharpness, noise scale, gradient diversity,
//! interpolation) and the largest-batch search.

use std::path::Path;

use batchbench::backend::{BackendTask, CpuBackend, dispatch};
use batchbench::data;
use batchbench::device::DeviceKind;
use batchbench::model::{InputShape, Model};
use batchbench::probe::params;
use batchbench::results::record::RunStatus;
use batchbench::results::store::read_records;
use batchbench::suite::{InterpolationSpec, Precision, ProbeSpec};
use batchbench::testing::spec_for_tests;
use batchbench::train::{NoObserver, upload_and_train};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;

mod common;
use common::batchbench;

/// Trains `accumulate` micro-batches per step for 5 steps of batch 16; returns the
/// initial and final flat weights.
struct Accumulated(u64);

impl BackendTask for Accumulated {
    type Output = (Vec<f32>, Vec<f32>);
    fn run<B: AutodiffBackend>(self, device: B::Device, _: &'static str) -> Self::Output {
        let mut spec = spec_for_tests();
        spec.batch_size = 16;
        spec.accumulate = self.0;
        spec.micro_batch_size = 16 / self.0;
        spec.samples = 16 * 5;
        spec.eval_every = 1000.0;
        spec.lr = 0.1;
        spec.probes = Some(ProbeSpec {
            interpolation: Some(InterpolationSpec::default()),
            ..ProbeSpec::default()
        });
        let data = data::load(&spec.dataset, None).unwrap();
        let input = InputShape::of(&data);
        let init = params::to_host(params::flatten(
            &Model::<B>::new(&spec.model, input, spec.seed, &device).valid(),
        ))
        .unwrap();
        let out = upload_and_train::<B>(&spec, &data, &device, &mut NoObserver).unwrap();
        (init, out.final_weights.unwrap())
    }
}

#[test]
fn accumulating_micro_batches_equals_one_big_batch() {
    let (init, one) = dispatch(
        DeviceKind::Cpu,
        Precision::F32,
        CpuBackend::Flex,
        Accumulated(1),
    )
    .unwrap();
    let (init4, four) = dispatch(
        DeviceKind::Cpu,
        Precision::F32,
        CpuBackend::Flex,
        Accumulated(4),
    )
    .unwrap();
    assert_eq!(init, init4);
    let update_one: Vec<f64> = one.iter().zip(&init).map(|(a, b)| (a - b) as f64).collect();
    let diff: f64 = one
        .iter()
        .zip(&four)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = update_one.iter().map(|x| x * x).sum::<f64>().sqrt();
    let rel = diff / norm;
    eprintln!("relative difference of the updates, 4×4 accumulated vs 16: {rel:.2e}");
    assert!(norm > 0.0);
    assert!(rel <= 1e-5, "relative difference {rel:e}");
}

fn probe_suite(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("probes.yaml");
    std::fs::write(
        &path,
        "version: 1\nname: probes\ndefaults:\n  dataset: {name: digits}\n  model: {kind: mlp, hidden: [32]}\n  lr: 0.1\n  epochs: 3\n  eval_every: 1\n  device: cpu\n  probes:\n    weight_distance: true\n    sharpness: {samples: 300, steps: 10}\n    noise_scale: {small: 16, big: 256, repeats: 4}\n    gradient_diversity: {examples: 8}\n    interpolation: {points: 9}\nmatrix:\n  batch_size: [8, 256]\n",
    )
    .unwrap();
    path
}

#[test]
fn probes_run_and_interpolation_endpoints_reproduce_the_recorded_losses() {
    let dir = tempfile::tempdir().unwrap();
    let s = probe_suite(dir.path());
    let out = dir.path().join("r");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&s)
        .assert()
        .success();
    let records = read_records(&out.join("runs.jsonl")).unwrap().records;
    assert_eq!(records.len(), 2);
    // The probes' JSON shape is a contract (scripts read it): check it in the file.
    let lines = std::fs::read_to_string(out.join("runs.jsonl")).unwrap();
    for (r, line) in records.iter().zip(lines.lines()) {
        assert_eq!(r.status, RunStatus::Ok, "{:?}", r.reason);
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        let curve = json["curve"].as_array().unwrap();
        let last = &curve.last().unwrap()["probes"];
        for key in [
            "weight_distance",
            "weight_distance_rel",
            "noise_scale",
            "noise_g2",
            "gradient_diversity",
        ] {
            assert!(last.get(key).is_some(), "{key} missing at the last point");
        }
        assert_eq!(curve[0]["probes"]["weight_distance"], 0.0);
        assert!(last["weight_distance"].as_f64().unwrap() > 0.0);
        assert_eq!(
            r.curve.last().unwrap().probes.weight_distance,
            last["weight_distance"].as_f64()
        );
        let sharp = &json["probes"]["sharpness"]["epsilon"];
        let (big, small) = (
            sharp["1e-3"].as_f64().unwrap(),
            sharp["5e-4"].as_f64().unwrap(),
        );
        assert!(
            big >= small && small >= 0.0,
            "sharpness {big} at 1e-3, {small} at 5e-4"
        );
    }
    let curves: Vec<batchbench::results::artifacts::InterpolationCurve> =
        serde_json::from_str(&std::fs::read_to_string(out.join("interpolation.json")).unwrap())
            .unwrap();
    assert_eq!(curves.len(), 1);
    let c = &curves[0];
    assert_eq!((c.a_batch, c.b_batch), (8, 256));
    let find = |key: &str| {
        records
            .iter()
            .find(|r| r.key == key)
            .unwrap()
            .curve
            .last()
            .unwrap()
            .clone()
    };
    let (a, b) = (find(&c.a_key), find(&c.b_key));
    let i0 = c.alphas.iter().position(|&x| x.abs() < 1e-12).unwrap();
    let i1 = c
        .alphas
        .iter()
        .position(|&x| (x - 1.0).abs() < 1e-12)
        .unwrap();
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-5 * y.abs().max(1e-3);
    assert!(
        close(c.train_loss[i0], a.train_loss),
        "{} vs {}",
        c.train_loss[i0],
        a.train_loss
    );
    assert!(close(c.test_loss[i0], a.test_loss));
    assert!(
        close(c.train_loss[i1], b.train_loss),
        "{} vs {}",
        c.train_loss[i1],
        b.train_loss
    );
    assert!(close(c.test_loss[i1], b.test_loss));
    // The report shows the probes.
    let report = dir.path().join("report");
    batchbench()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&report)
        .assert()
        .success();
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    for title in [
        "Distance from the initial weights",
        "Sharpness",
        "Gradient noise scale",
        "Loss along the line",
    ] {
        assert!(html.contains(title), "{title} missing from the report");
    }
}

#[test]
fn the_largest_batch_search_finds_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(
        &path,
        "version: 1\nname: maxb\ndefaults:\n  dataset: {name: synthetic, train_samples: 8000, test_samples: 100, features: 8, classes: 3}\n  model: {kind: mlp, hidden: [8]}\n  lr: 0.1\n  epochs: 1\n  batch_size: 32\n  device: cpu\n",
    )
    .unwrap();
    // Pretend that batches of 3000 and more do not fit.
    let out = batchbench()
        .env("BATCHBENCH_FAULT", "oom>=3000")
        .args(["max-batch", "--start", "256", "--out"])
        .arg(dir.path())
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("max-batch.json")).unwrap())
            .unwrap();
    let r = &results[0];
    let fit = r["largest_fit"].as_u64().unwrap();
    let oom = r["first_oom"].as_u64().unwrap();
    assert!(
        fit < 3000 && oom >= 3000 && oom - fit <= (fit / 32).max(8),
        "fit {fit}, oom {oom}"
    );
    assert_eq!(
        r["recommended"].as_u64().unwrap(),
        (fit as f64 * 0.9) as u64 / 8 * 8
    );
    // Doubling from 256: 256, 512, 1024, 2048 fit, 4096 does not; then bisection.
    let tried: Vec<u64> = r["tries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["batch_size"].as_u64().unwrap())
        .collect();
    assert_eq!(&tried[..5], [256, 512, 1024, 2048, 4096]);
}

/// A ResNet with ghost batch norm and augmentation on digits, and a Transformer on
/// synthetic-text with a loss target, end to end through workers: the records hold
/// the target, the token data's entropy floor and the perplexity curve, and the
/// report shows the floor and labels the language model's axes per token.
#[test]
fn resnet_and_transformer_workloads_run_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("workloads.yaml");
    std::fs::write(
        &suite,
        r#"version: 1
name: workloads
defaults:
  optimizer: {kind: adam}
  lr: 0.003
  epochs: 3
  device: cpu
matrix:
  model:
    - {kind: resnet, depth: 6, widths: [8, 16], norm: ghost, ghost_batch: 8}
    - {kind: transformer, layers: 1, d_model: 16, heads: 2}
  batch_size: [16, 32]
include:
  - model: {kind: resnet, depth: 6, widths: [8, 16], norm: ghost, ghost_batch: 8}
    dataset: {name: digits}
    augment: {crop: 1, flip: true}
    target_accuracy: 0.5
  - model: {kind: transformer, layers: 1, d_model: 16, heads: 2}
    dataset: {name: synthetic-text, vocab: 8, context: 16, train_tokens: 8000, test_tokens: 2000}
    target: {metric: test_loss, value: 1.9}
"#,
    )
    .unwrap();
    let out = dir.path().join("r");
    batchbench()
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&suite)
        .assert()
        .success();
    let report = dir.path().join("report");
    batchbench()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&report)
        .assert()
        .success();
    let records = read_records(&out.join("runs.jsonl")).unwrap().records;
    assert_eq!(records.len(), 4);
    for r in &records {
        assert_eq!(
            r.status,
            RunStatus::Ok,
            "{}: {:?}",
            r.spec.label(),
            r.reason
        );
        let first = &r.curve[0];
        let last = r.curve.last().unwrap();
        assert!(
            last.train_loss < first.train_loss,
            "{}: it learns",
            r.spec.label()
        );
        match r.spec.model.kind {
            batchbench::suite::ModelKind::Transformer => {
                let text = r.data.as_ref().unwrap().text.as_ref().unwrap();
                let floor = text.loss_floor_nats.unwrap();
                assert!(floor > 0.0 && floor < 8f64.ln(), "{floor}");
                assert!(last.test_loss > floor - 0.05, "no model beats the source");
                assert_eq!(last.test_perplexity, Some(last.test_loss.exp()));
                let t = r.summary.target.unwrap();
                assert_eq!(t.metric, batchbench::suite::schema::TargetMetric::TestLoss);
                // Reached exactly when some evaluation's test loss is ≤ 1.9.
                let reached = r.curve.iter().find(|p| p.test_loss <= 1.9).map(|p| p.step);
                assert_eq!(r.summary.steps_to_target, reached);
            }
            _ => {
                assert!(r.spec.augment.is_some());
                assert_eq!(r.summary.target_acc, Some(0.5));
            }
        }
    }
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("entropy floor"), "the floor is drawn");
    assert!(html.contains("Distance from the entropy floor"));
    assert!(html.contains("test cross-entropy (nats/token)"));
    assert!(html.contains("test loss ≤ 1.9"), "the target is named");
}
