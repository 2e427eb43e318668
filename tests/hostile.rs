//! The hostile-input corpus: IDX files and record files that are corrupt, truncated,
//! impossible or from the future. Each gives its expected error (snapshots), none
//! panics, none allocates more than what it declares. (Hostile suites, alias bombs
//! included, are in tests/suites/invalid and checked by tests/cli.rs.)

use std::path::{Path, PathBuf};

use batchbench::data::idx::read_idx;
use batchbench::results::store::read_records;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new("tests/hostile").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_hostile_idx_file_is_a_clear_error() {
    let files = corpus("idx");
    assert!(files.len() >= 10);
    let mut report = String::new();
    for f in &files {
        let result = std::panic::catch_unwind(|| read_idx(f));
        let outcome = match result {
            Err(_) => panic!("{} panicked", f.display()),
            Ok(Ok(a)) => panic!("{} was accepted: {:?}", f.display(), a.dims),
            Ok(Err(e)) => e.to_string(),
        };
        report += &format!("{outcome}\n");
    }
    insta::assert_snapshot!(report);
}

#[test]
fn every_hostile_record_file_is_read_safely() {
    let files = corpus("records");
    assert!(files.len() >= 8);
    let mut report = String::new();
    for f in &files {
        let outcome = match std::panic::catch_unwind(|| read_records(f)) {
            Err(_) => panic!("{} panicked", f.display()),
            Ok(Err(e)) => format!("error: {e}"),
            Ok(Ok(read)) => {
                let mut s = format!("{}: {} record(s) kept", f.display(), read.records.len());
                for w in read.warnings {
                    s += &format!("\n  warning: {w}");
                }
                s
            }
        };
        report += &format!("{outcome}\n");
    }
    insta::assert_snapshot!(report);
}

#[test]
fn every_corpus_case_is_checked_and_there_are_at_least_25() {
    // Each invalid suite has its expected message; each hostile file is in its snapshot.
    let suites: Vec<std::path::PathBuf> = std::fs::read_dir("tests/suites/invalid")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    for s in &suites {
        assert!(
            s.with_extension("expected").exists(),
            "{s:?} has no .expected"
        );
    }
    for (kind, snapshot) in [
        (
            "idx",
            "hostile__every_hostile_idx_file_is_a_clear_error.snap",
        ),
        (
            "records",
            "hostile__every_hostile_record_file_is_read_safely.snap",
        ),
    ] {
        let text = std::fs::read_to_string(format!("tests/snapshots/{snapshot}")).unwrap();
        for file in corpus(kind) {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            assert!(text.contains(&name), "{name} is missing from {snapshot}");
        }
    }
    let total = suites.len() + corpus("idx").len() + corpus("records").len();
    assert!(total >= 25, "{total}");
}
