//! The JSON Schemas batchbench publishes (`batchbench schema`, `batchbench schema
//! --records`), checked with an independent validator (the `jsonschema` crate): the
//! suite schema accepts every shipped suite and rejects every suite of the invalid
//! corpus whose fault JSON Schema can express; the record schema is current and
//! accepts every record batchbench writes.

use std::path::{Path, PathBuf};

use batchbench::results::record::{CurvePoint, RunRecord, RunStatus, records_json_schema};
use batchbench::results::{Environment, EvalProbes};
use batchbench::suite::Suite;
use serde_json::Value;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Invalid suites (tests/suites/invalid) the suite schema rejects, by the fault that
/// makes them invalid.
const EXPRESSIBLE: &[(&str, &str)] = &[
    ("absurd-batch", "batch_size maximum (MAX_BATCH)"),
    ("absurd-epochs", "epochs maximum (MAX_EPOCHS)"),
    (
        "alias-bomb",
        "a matrix axis repeats a value (uniqueItems): equal runs",
    ),
    ("alias-flood", "the same"),
    ("billion-laughs", "exclude entries are lists, not mappings"),
    (
        "bf16-on-cpu",
        "defaults set device cpu and bf16, and nothing can change them",
    ),
    ("both-budgets", "defaults set both epochs and samples"),
    (
        "cnn-on-non-image-data",
        "defaults set a cnn on a synthetic dataset without a shape",
    ),
    ("deep-nesting", "unknown key `a` in a dataset"),
    ("empty-file", "null is not a mapping"),
    ("empty-matrix-axis", "minItems 1 on matrix axes"),
    (
        "exclude-names-a-non-axis",
        "an exclude entry names `seed`, which is not a matrix axis",
    ),
    ("ghost-without-ghost-batch", "norm: ghost needs ghost_batch"),
    (
        "stop-at-target-without-target",
        "defaults set stop_at_target and no block sets a target",
    ),
    (
        "stop-at-target-on-another-engine",
        "defaults set stop_at_target on engine pytorch, and nothing can change them",
    ),
    ("missing-batch-size", "no block sets batch_size"),
    ("missing-budget", "no block sets epochs or samples"),
    ("missing-version", "required version"),
    ("misspelt-dataset", "dataset name enum"),
    ("misspelt-model", "model kind enum"),
    ("name-escapes-results-folder", "name pattern"),
    (
        "nan-lr",
        "NaN is no JSON number: as JSON, lr is null, so no block sets lr",
    ),
    ("negative-batch", "batch_size minimum 1"),
    ("negative-lr", "lr exclusiveMinimum 0"),
    (
        "nesterov-without-momentum",
        "nesterov: true needs momentum > 0",
    ),
    (
        "option-for-another-dataset",
        "noise applies only to the synthetic dataset",
    ),
    (
        "scaling-without-base-batch",
        "linear scaling in defaults and no base_batch anywhere",
    ),
    (
        "step-schedule-without-milestones",
        "the step schedule requires milestones",
    ),
    ("target-accuracy-in-percent", "target_accuracy maximum 1"),
    ("top-level-list", "a suite is a mapping"),
    ("unknown-device", "device pattern"),
    ("unknown-engine", "engine enum"),
    (
        "probes-on-another-engine",
        "defaults set engine jax and probes, and nothing can change them",
    ),
    (
        "bf16-on-another-engine",
        "defaults set engine pytorch and bf16, and nothing can change them",
    ),
    ("unknown-setting", "additionalProperties false in defaults"),
    ("unknown-top-key", "additionalProperties false at the top"),
    ("unsupported-version", "version const 1"),
    (
        "transformer-on-image-data",
        "defaults set a transformer on digits, and nothing can change them",
    ),
    ("wrong-type-hidden", "hidden is a list"),
    ("wrong-type-lr", "lr is a number"),
    ("zero-batch", "batch_size minimum 1"),
];

/// Invalid suites that are not YAML a validator can read: any schema tool refuses
/// them before validating.
const UNREADABLE: &[(&str, &str)] = &[
    ("syntax-error", "an unclosed bracket: not YAML"),
    (
        "duplicate-key",
        "a key twice in one mapping: YAML forbids it",
    ),
];

/// Invalid suites the schema accepts, and why JSON Schema cannot say what is wrong.
const INEXPRESSIBLE: &[(&str, &str)] = &[
    (
        "accumulate-not-dividing",
        "batch_size must be a multiple of accumulate: multipleOf takes a constant, not another value",
    ),
    (
        "batch-larger-than-dataset",
        "batch larger than the dataset: needs the dataset's size (its files, test_fraction, subsets)",
    ),
    (
        "everything-excluded",
        "needs the matrix's cartesian product compared with the exclude entries",
    ),
];

fn validator(schema: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(schema).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// A YAML file as the JSON value a schema validator sees: aliases expanded without
/// batchbench's budget (a generic YAML loader has none), `.nan` and `.inf` as JSON
/// can hold them (null).
fn load_yaml(path: &Path) -> Result<Value, String> {
    parse_yaml(&std::fs::read_to_string(path).unwrap())
}

fn parse_yaml(text: &str) -> Result<Value, String> {
    let options = serde_saphyr::options! {
        budget: None,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| e.to_string())
}

/// Why `instance` fails `validator`, one line per error; empty when it passes.
fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_shipped_suite_passes_the_suite_schema() {
    let validator = validator(&batchbench::suite::json_schema());
    let mut suites = yaml_files(&manifest_dir().join("suites"));
    suites.push(manifest_dir().join("tests/fixtures/fixture-suite.yaml"));
    assert!(suites.len() >= 5);
    for path in &suites {
        // The suite is valid for batchbench itself …
        Suite::load(path)
            .and_then(|s| s.expand())
            .unwrap_or_else(|e| panic!("{e}"));
        // … and so for the schema.
        let errors = errors(&validator, &load_yaml(path).unwrap());
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

/// Valid suites at the edges of the schema's rules across blocks: each rule must let
/// them through (`suite_schema_rules` in src/suite/schema.rs).
const EDGE_SUITES: &[(&str, &str)] = &[
    (
        "no axes: each include entry is a run, with its own budget",
        "include:\n  - {batch_size: 16, epochs: 1}\n  - {batch_size: 32, samples: 2000}\n",
    ),
    (
        "an include entry that matches no combination leaves the matrix's epochs behind",
        "matrix:\n  epochs: [1]\n  batch_size: [32]\ninclude:\n  - {batch_size: 64, samples: 2000}\n",
    ),
    (
        "exclude removes every combination (both budgets) and include supplies the runs",
        "  batch_size: 16\nmatrix:\n  epochs: [1]\n  samples: [2000]\nexclude:\n  - {epochs: 1, samples: 2000}\ninclude:\n  - {epochs: 2}\n",
    ),
    (
        "a repeated axis value whose combinations are all excluded",
        "  epochs: 1\nmatrix:\n  seed: [1, 1]\n  batch_size: [16]\nexclude:\n  - {seed: 1}\ninclude:\n  - {seed: 2, batch_size: 32}\n",
    ),
    (
        "linear scaling in defaults, base_batch from an include entry",
        "  epochs: 1\n  lr_scaling: linear\nmatrix:\n  batch_size: [16, 32]\ninclude:\n  - {base_batch: 16}\n",
    ),
    (
        "bf16 on the CPU in defaults, overridden by the matrix",
        "  epochs: 1\n  batch_size: 16\n  device: cpu\n  precision: bf16\nmatrix:\n  precision: [f32]\n",
    ),
    (
        "null leaves a setting unset",
        "  epochs: 1\n  samples: null\n  batch_size: 16\n  optimizer: {kind: adam, momentum: null}\nmatrix:\n  seed: [0, 1]\n  precision: null\nexclude:\n  - {seed: 1, device: null}\n",
    ),
];

#[test]
fn valid_suites_at_the_edges_of_the_rules_pass_the_suite_schema() {
    let validator = validator(&batchbench::suite::json_schema());
    for (what, tail) in EDGE_SUITES {
        let text = format!(
            "version: 1\nname: edge\ndefaults:\n  dataset: {{name: digits}}\n  model: {{kind: mlp}}\n  lr: 0.1\n{tail}"
        );
        Suite::parse(Path::new("edge.yaml"), text.clone())
            .and_then(|s| s.expand())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let errors = errors(&validator, &parse_yaml(&text).unwrap());
        assert!(errors.is_empty(), "{what}: {errors:#?}");
    }
}

#[test]
fn the_invalid_corpus_is_classified() {
    let corpus: Vec<String> = yaml_files(&manifest_dir().join("tests/suites/invalid"))
        .iter()
        .map(|p| stem(p))
        .collect();
    let mut listed: Vec<String> = EXPRESSIBLE
        .iter()
        .chain(UNREADABLE)
        .chain(INEXPRESSIBLE)
        .map(|(name, _)| name.to_string())
        .collect();
    listed.sort();
    let mut sorted = corpus.clone();
    sorted.sort();
    assert_eq!(
        listed, sorted,
        "list each invalid suite once, in EXPRESSIBLE, UNREADABLE or INEXPRESSIBLE"
    );
}

#[test]
fn every_expressible_invalid_suite_fails_the_suite_schema() {
    let validator = validator(&batchbench::suite::json_schema());
    let dir = manifest_dir().join("tests/suites/invalid");
    for (name, fault) in EXPRESSIBLE {
        let path = dir.join(format!("{name}.yaml"));
        // batchbench refuses it …
        assert!(
            Suite::load(&path).and_then(|s| s.expand()).is_err(),
            "{name}"
        );
        // … and so does the schema.
        let instance = load_yaml(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !validator.is_valid(&instance),
            "{name}.yaml passes the suite schema ({fault})"
        );
    }
    for (name, why) in UNREADABLE {
        assert!(
            load_yaml(&dir.join(format!("{name}.yaml"))).is_err(),
            "{name} ({why}) reads as YAML"
        );
    }
}

/// The gaps, so that a schema that learns to reject one of them moves it to
/// EXPRESSIBLE.
#[test]
fn inexpressible_invalid_suites_pass_the_suite_schema() {
    let validator = validator(&batchbench::suite::json_schema());
    let dir = manifest_dir().join("tests/suites/invalid");
    for (name, why) in INEXPRESSIBLE {
        let path = dir.join(format!("{name}.yaml"));
        assert!(
            Suite::load(&path).and_then(|s| s.expand()).is_err(),
            "{name}"
        );
        let errors = errors(&validator, &load_yaml(&path).unwrap());
        assert!(
            errors.is_empty(),
            "{name}.yaml ({why}) now fails the schema, so move it to EXPRESSIBLE: {errors:#?}"
        );
    }
}

#[test]
fn shipped_record_schema_is_current() {
    let shipped =
        std::fs::read_to_string(manifest_dir().join("schemas/record.schema.json")).unwrap();
    assert!(
        shipped == records_json_schema(),
        "schemas/record.schema.json is stale: regenerate it with `batchbench schema --records > schemas/record.schema.json`"
    );
}

fn jsonl_lines(path: &Path) -> Vec<(usize, Value)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, serde_json::from_str(l).unwrap()))
        .collect()
}

#[test]
fn every_fixture_and_published_gpu_record_passes_the_record_schema() {
    let validator = validator(&records_json_schema());
    let mut dirs = vec![manifest_dir().join("tests/fixtures/records")];
    // Records from real GPU runs (bench/gpu/<machine-date>/).
    for entry in std::fs::read_dir(manifest_dir().join("bench/gpu")).unwrap() {
        dirs.push(entry.unwrap().path());
    }
    for dir in dirs {
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            for (line, record) in jsonl_lines(&path) {
                let errors = errors(&validator, &record);
                assert!(errors.is_empty(), "{}:{line}: {errors:#?}", path.display());
                // batchbench reads it too.
                serde_json::from_value::<RunRecord>(record).unwrap();
                n += 1;
            }
        }
        assert!(n >= 1, "no records in {}", dir.display());
    }
}

/// A record as this build writes it, including a diverged point (its losses are
/// written as null), passes.
#[test]
fn a_record_written_now_passes_the_record_schema() {
    let validator = validator(&records_json_schema());
    let suite = Suite::load(&manifest_dir().join("tests/fixtures/fixture-suite.yaml")).unwrap();
    for spec in suite.expand().unwrap() {
        let mut record =
            RunRecord::new(spec, Environment::default(), "2026-01-01T00:00:00Z".into());
        record.status = RunStatus::Diverged;
        record.reason = Some("the loss became NaN".into());
        record.curve.push(CurvePoint {
            epoch: 0.5,
            step: 10,
            samples: 320,
            wall_s: 0.1,
            train_s: 0.05,
            lr: record.spec.lr,
            batch_size: record.spec.batch_size,
            train_loss: f64::NAN,
            train_acc: 0.1,
            test_loss: f64::INFINITY,
            test_acc: 0.1,
            test_perplexity: None,
            probes: EvalProbes {
                weight_distance: Some(1.5),
                ..EvalProbes::default()
            },
        });
        let json = serde_json::to_value(&record).unwrap();
        let errors = errors(&validator, &json);
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

/// Records batchbench refuses to read (a wrong type, a newer schema) fail the schema.
#[test]
fn hostile_records_fail_the_record_schema() {
    let validator = validator(&records_json_schema());
    let dir = manifest_dir().join("tests/hostile/records");
    for (line, record) in jsonl_lines(&dir.join("wrong-types.jsonl")) {
        assert!(
            !validator.is_valid(&record),
            "wrong-types.jsonl:{line} passes"
        );
    }
    let newer: Vec<(usize, Value)> = jsonl_lines(&dir.join("newer-schema.jsonl"))
        .into_iter()
        .filter(|(_, r)| r["schema"].as_u64() > Some(1))
        .collect();
    assert!(!newer.is_empty());
    for (line, record) in newer {
        assert!(
            !validator.is_valid(&record),
            "newer-schema.jsonl:{line} passes"
        );
    }
}
