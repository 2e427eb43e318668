//! Exports for other tools, each checked by that tool's own rules: Bencher Metric
//! Format against Bencher's JSON Schema, MLPerf-style logs with MLCommons'
//! `mlperf-logging` compliance checker (installed by `make test`), the per-run CSV by
//! reading it back; and the CLI's own completions and man pages.

mod common;

use std::path::Path;
use std::process::Command;

use batchbench::results::read_records;
use common::batchbench;

const RECORDS: &str = "tests/fixtures/records";

fn stdout_of(args: &[&str]) -> String {
    let out = batchbench().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bmf_export_is_valid_bencher_metric_format() {
    let doc: serde_json::Value =
        serde_json::from_str(&stdout_of(&["export", "bmf", RECORDS])).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/bmf.schema.json").unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("Bencher's schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // One benchmark per configuration that completed a run.
    let records = read_records(Path::new(RECORDS).join("runs.jsonl").as_path())
        .unwrap()
        .records;
    let configs: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| r.status == batchbench::results::RunStatus::Ok)
        .map(|r| r.config_key.as_str())
        .collect();
    assert_eq!(doc.as_object().unwrap().len(), configs.len());
    // A document that breaks the format fails the same validation (the check bites).
    let broken = serde_json::json!({"b": {"samples_per_s": {"lower_value": 1.0}}});
    assert!(!validator.is_valid(&broken));
}

#[test]
fn mllog_export_passes_the_mlperf_logging_checker() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("logs");
    batchbench()
        .args(["export", "mllog", RECORDS, "--out"])
        .arg(&out)
        .assert()
        .success();
    let mut logs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    logs.sort();
    assert_eq!(logs.len(), 8, "{logs:?}");
    let check = |files: &[&Path]| {
        Command::new("tests/mllog/check.sh")
            .args(files)
            .output()
            .expect("tests/mllog/check.sh runs (bash)")
    };
    let ok = check(&logs.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    assert!(
        ok.status.success(),
        "MLCommons' checker refused an exported log (run `make test`, which installs mlperf-logging):\n{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    // The same checker refuses a log without run_stop: the rules bite.
    let bad = check(&[Path::new("tests/mllog/example-missing-run-stop.log")]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn runs_csv_has_one_row_per_run_with_flattened_columns() {
    let text = stdout_of(&["export", "runs-csv", RECORDS]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    for column in [
        "key",
        "status",
        "spec.batch_size",
        "spec.lr",
        "summary.time_to_target_s",
        "env.cpu",
    ] {
        assert!(
            header.iter().any(|h| h == column),
            "no {column} in {header:?}"
        );
    }
    assert_eq!(reader.records().count(), 8);
}

#[test]
fn a_missing_results_folder_is_named() {
    batchbench()
        .args(["export", "bmf", "/nonexistent/results"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "/nonexistent/results does not exist",
        ));
}

#[test]
fn an_empty_results_folder_is_an_error_not_an_empty_export() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runs.jsonl"), "").unwrap();
    batchbench()
        .args(["export", "bmf"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no readable records"));
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        assert!(
            script.contains("max-batch") && script.contains("export"),
            "{shell}"
        );
    }
    // bash can load the script.
    let script = stdout_of(&["completions", "bash"]);
    let status = Command::new("bash")
        .args(["-c", "source /dev/stdin && complete -p batchbench"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(script.as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    batchbench()
        .args(["man", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    let page = std::fs::read_to_string(dir.path().join("batchbench.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH batchbench"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(
        page.contains("BATCHBENCH_DATA_MIRROR"),
        "the environment is documented"
    );
    assert!(dir.path().join("batchbench-export.1").exists());
}

#[test]
fn help_lists_the_environment_and_color_follows_the_flag() {
    let help = stdout_of(&["--help"]);
    for var in [
        "BATCHBENCH_DATA_MIRROR",
        "BATCHBENCH_CACHE",
        "NO_COLOR",
        "RUST_LOG",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
    let stderr = |args: &[&str]| {
        let out = batchbench()
            .args(args)
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stderr).unwrap()
    };
    let missing = ["report", "/nonexistent/results"];
    assert!(stderr(&[&["--color", "always"], &missing[..]].concat()).contains("\x1b[1;31merror:"));
    assert!(!stderr(&[&["--color=never"], &missing[..]].concat()).contains('\x1b'));
    // Not a terminal: no colour by default.
    assert!(!stderr(&missing).contains('\x1b'));
}

#[test]
fn warnings_go_through_the_log_and_rust_log_silences_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(Path::new(RECORDS).join("runs.jsonl")).unwrap();
    text.push_str("not a record\n");
    std::fs::write(dir.path().join("runs.jsonl"), text).unwrap();
    let run = |rust_log: Option<&str>| {
        let mut cmd = batchbench();
        cmd.args(["export", "bmf"]).arg(dir.path());
        match rust_log {
            Some(level) => cmd.env("RUST_LOG", level),
            None => cmd.env_remove("RUST_LOG"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(run(None).contains("warning: "), "the skipped line is named");
    assert!(!run(Some("error")).contains("warning"));
}
