//! Fuzzes every consumer of record files: arbitrary bytes as a `runs.jsonl` must be
//! read (bad lines skipped with a warning), analysed, rendered by every report
//! exporter, compared against itself, drawn as a history page and merged, without a
//! panic and within libFuzzer's per-input time and memory limits (`-timeout`,
//! `-rss_limit_mb`), whatever numbers the records hold.
#![no_main]

use std::path::{Path, PathBuf};

use batchbench::analysis::ResultSet;
use batchbench::compare::{self, METRICS};
use batchbench::report::{self, exporters};
use batchbench::results::store;
use libfuzzer_sys::fuzz_target;

/// A manifest for the merge's shard folders (merge refuses folders without one).
const MANIFEST: &str = include_str!("../../tests/fixtures/records/manifest.json");

fn shard_dirs() -> (PathBuf, [PathBuf; 2]) {
    let root = std::env::temp_dir().join(format!("batchbench-fuzz-{}", std::process::id()));
    let shards = [root.join("a"), root.join("b")];
    for dir in &shards {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("manifest.json"), MANIFEST).unwrap();
    }
    (root, shards)
}

fuzz_target!(|raw: &[u8]| {
    let Ok(read) = store::parse_record_bytes(Path::new("fuzz/runs.jsonl"), raw) else {
        return; // a newer schema: refused with an error, which is the contract
    };
    let set = ResultSet {
        label: "fuzz".into(),
        dir: PathBuf::from("fuzz"),
        records: store::latest_per_key(read.records),
        manifest: None,
        warnings: read.warnings,
        interpolation: Vec::new(),
    };
    let mut other = set.clone();
    other.label = "other".into();
    let sets = [set, other];

    let report_data = report::build_report(&sets, &[]);
    for exporter in exporters() {
        let _ = exporter.render(&report_data);
    }
    let comparison = compare::compare(&sets[0], &sets[1], METRICS, 5.0);
    let _ = report::render_page("compare.html", &comparison);
    let history = compare::history::history(&sets, METRICS, 5.0);
    let _ = report::render_page("history.html", &history);

    // Merge reads the same bytes from two shard folders (every record a duplicate).
    let (root, shards) = shard_dirs();
    for dir in &shards {
        std::fs::write(dir.join(store::RUNS_FILE), raw).unwrap();
    }
    let out = root.join("merged");
    let _ = std::fs::remove_dir_all(&out);
    let _ = batchbench::results::merge::merge(&shards, &out, &[]);
});
