//! The results folder: `runs.jsonl` (one record per line, appended and fsync'd as
//! each run ends), `manifest.json` (replaced atomically) and a lock file.
//!
//! Durability rules: a record is on disk before the next run starts, so a crash or a
//! `kill -9` loses at most the run in flight; a torn last line (power cut mid-write)
//! is reported and skipped when reading, never fatal and never taking the good lines
//! with it; two sweeps cannot write into one folder at once.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use super::record::{RECORD_SCHEMA, RunRecord};

/// The records file inside a results folder.
pub const RUNS_FILE: &str = "runs.jsonl";
/// The manifest inside a results folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The lock file inside a results folder.
pub const LOCK_FILE: &str = ".lock";

/// What a results folder holds about the sweep that wrote it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 1 for now.
    pub schema: u32,
    /// The suite's name.
    pub suite: String,
    /// The suite file as given on the command line.
    pub suite_path: String,
    /// SHA-256 of the suite text.
    pub suite_sha256: String,
    /// The suite text verbatim.
    pub suite_text: String,
    /// The command line.
    pub command: Vec<String>,
    /// batchbench's version and commit.
    pub batchbench: String,
    /// When the first sweep into this folder started.
    pub created_at: String,
    /// When the manifest was last written.
    pub updated_at: String,
    /// Runs the suite expands to (this shard's share, when sharded).
    pub runs_planned: usize,
    /// `K/N` when this folder holds one shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

/// Records read from a file, with what had to be skipped.
#[derive(Debug, Default)]
pub struct ReadRecords {
    /// Valid records, in file order.
    pub records: Vec<RunRecord>,
    /// One sentence per skipped line.
    pub warnings: Vec<String>,
}

/// Reads a `runs.jsonl`. Lines are taken as bytes: a line that is not UTF-8 text (a
/// write torn inside a multi-byte character), not JSON or not a record is skipped with
/// a warning naming it, and every other line is kept. A record from a newer schema is
/// an error (this build would misread it).
pub fn read_records(path: &Path) -> anyhow::Result<ReadRecords> {
    let mut bytes = Vec::new();
    File::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    parse_record_bytes(path, &bytes)
}

/// Parses the text of a `runs.jsonl` (see [`read_records`]).
pub fn parse_records(path: &Path, text: &str) -> anyhow::Result<ReadRecords> {
    parse_record_bytes(path, text.as_bytes())
}

/// Parses the bytes of a `runs.jsonl` (see [`read_records`]).
pub fn parse_record_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<ReadRecords> {
    let mut out = ReadRecords::default();
    let torn_tail = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let last_index = lines.len().saturating_sub(1);
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        let torn = torn_tail && i == last_index;
        let line = match std::str::from_utf8(raw) {
            Ok(l) => l,
            Err(e) => {
                let what = if torn {
                    "is an incomplete last line (the writer was interrupted mid-write)"
                } else {
                    "is not UTF-8 text"
                };
                out.warnings.push(format!(
                    "{}:{n}: {what}; skipped (invalid byte at column {})",
                    path.display(),
                    e.valid_up_to() + 1
                ));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                let what = if torn {
                    "is an incomplete last line (the writer was interrupted mid-write)"
                } else {
                    "is not valid JSON"
                };
                out.warnings
                    .push(format!("{}:{n}: {what}; skipped ({e})", path.display()));
                continue;
            }
        };
        let schema = value.get("schema").and_then(|s| s.as_u64());
        if let Some(s) = schema
            && s > RECORD_SCHEMA as u64
        {
            bail!(
                "{}:{n}: the record has schema {s}, written by a newer batchbench; this one reads schema {RECORD_SCHEMA}. Upgrade batchbench to read it",
                path.display()
            );
        }
        match serde_json::from_value::<RunRecord>(value) {
            Ok(r) => out.records.push(r),
            Err(e) => out.warnings.push(format!(
                "{}:{n}: not a run record ({e}); skipped",
                path.display()
            )),
        }
    }
    Ok(out)
}

/// Keeps the last record of each run key (a rerun supersedes an interrupted run).
pub fn latest_per_key(records: Vec<RunRecord>) -> Vec<RunRecord> {
    let mut index = std::collections::HashMap::new();
    let mut out: Vec<RunRecord> = Vec::new();
    for r in records {
        match index.get(&r.key) {
            Some(&i) => out[i] = r,
            None => {
                index.insert(r.key.clone(), out.len());
                out.push(r);
            }
        }
    }
    out
}

/// An open results folder, locked for writing.
pub struct Store {
    dir: PathBuf,
    runs: File,
    _lock: File,
}

impl Store {
    /// Creates (if needed) and locks `dir`. Fails with a clear message when another
    /// process holds the lock.
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the results folder {}", dir.display()))?;
        let lock_path = dir.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        if !lock.try_lock_exclusive().unwrap_or(false) {
            let mut holder = String::new();
            let _ = lock.read_to_string(&mut holder);
            bail!(
                "another batchbench ({}) is writing to {}; wait for it to finish, or pass --out to write elsewhere",
                if holder.trim().is_empty() {
                    "unknown process".to_string()
                } else {
                    holder.trim().to_string()
                },
                dir.display()
            );
        }
        lock.set_len(0)?;
        let host = sysinfo::System::host_name().unwrap_or_default();
        write!(
            lock,
            "pid {} on {host}, since {}",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )?;
        lock.sync_data()?;

        let runs_path = dir.join(RUNS_FILE);
        let mut runs = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&runs_path)
            .with_context(|| format!("cannot open {}", runs_path.display()))?;
        // A torn last line must not swallow the next record: end it first.
        let len = runs.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            runs.seek(SeekFrom::Start(len - 1))?;
            runs.read_exact(&mut last)?;
            if last[0] != b'\n' {
                runs.write_all(b"\n")?;
                runs.sync_data()?;
            }
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            runs,
            _lock: lock,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `runs.jsonl`.
    pub fn runs_path(&self) -> PathBuf {
        self.dir.join(RUNS_FILE)
    }

    /// Appends one record as one line and flushes it to disk before returning.
    pub fn append(&mut self, record: &RunRecord) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.runs
            .write_all(&line)
            .and_then(|_| self.runs.sync_data())
            .with_context(|| format!("cannot write to {}", self.runs_path().display()))
    }

    /// Replaces the manifest atomically (write a temporary file, fsync, rename, fsync
    /// the folder).
    pub fn write_manifest(&self, manifest: &Manifest) -> anyhow::Result<()> {
        write_atomic(
            &self.dir.join(MANIFEST_FILE),
            &serde_json::to_vec_pretty(manifest)?,
        )
    }

    /// Reads the manifest, if there is one.
    pub fn read_manifest(dir: &Path) -> anyhow::Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a batchbench manifest", path.display()))?;
        Ok(Some(manifest))
    }
}

/// Writes `bytes` to `path` atomically: a reader sees the old or the new content,
/// never a mix, even after a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record_for_tests;

    #[test]
    fn torn_last_line_is_skipped_with_a_warning_and_nothing_else_is_lost() {
        let r = record_for_tests("a", 0.9);
        let mut text = serde_json::to_string(&r).unwrap() + "\n";
        text += &serde_json::to_string(&record_for_tests("b", 0.8)).unwrap();
        text.truncate(text.len() - 20);
        let read = parse_records(Path::new("runs.jsonl"), &text).unwrap();
        assert_eq!(read.records.len(), 1);
        assert_eq!(read.warnings.len(), 1);
        assert!(
            read.warnings[0].contains("runs.jsonl:2: is an incomplete last line"),
            "{}",
            read.warnings[0]
        );
    }

    #[test]
    fn a_line_torn_inside_a_multibyte_character_loses_only_itself() {
        let mut r = record_for_tests("a", 0.9);
        r.spec.suite = "études".into();
        let good = serde_json::to_string(&r).unwrap() + "\n";
        let mut bytes = (good.clone() + &good).into_bytes();
        let line = serde_json::to_string(&r).unwrap().into_bytes();
        // Cut the third record inside the two-byte "é".
        let cut = line.windows(2).position(|w| w == "é".as_bytes()).unwrap() + 1;
        bytes.extend_from_slice(&line[..cut]);
        let read = parse_record_bytes(Path::new("runs.jsonl"), &bytes).unwrap();
        assert_eq!(read.records.len(), 2);
        assert_eq!(read.warnings.len(), 1);
        assert!(
            read.warnings[0].contains("runs.jsonl:3: is an incomplete last line"),
            "{}",
            read.warnings[0]
        );
        // Mid-file too: a bad line is skipped, the lines after it are kept.
        let mut mid = line[..cut].to_vec();
        mid.push(b'\n');
        mid.extend_from_slice(good.as_bytes());
        let read = parse_record_bytes(Path::new("r"), &mid).unwrap();
        assert_eq!(read.records.len(), 1);
        assert!(
            read.warnings[0].contains("r:1: is not UTF-8 text"),
            "{:?}",
            read.warnings
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut v = serde_json::to_value(record_for_tests("a", 0.9)).unwrap();
        v["schema"] = 99.into();
        let e = parse_records(Path::new("r.jsonl"), &(v.to_string() + "\n")).unwrap_err();
        assert!(
            e.to_string()
                .contains("schema 99, written by a newer batchbench"),
            "{e}"
        );
    }

    #[test]
    fn append_survives_a_torn_tail_and_a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RUNS_FILE), "{\"schema\":1,\"key\":").unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.append(&record_for_tests("a", 0.5)).unwrap();
        let e = Store::open(dir.path())
            .err()
            .expect("second open fails")
            .to_string();
        assert!(e.contains("another batchbench (pid"), "{e}");
        drop(store);
        let read = read_records(&dir.path().join(RUNS_FILE)).unwrap();
        assert_eq!(read.records.len(), 1);
        assert_eq!(read.warnings.len(), 1);
    }

    #[test]
    fn latest_record_per_key_wins() {
        let a1 = record_for_tests("a", 0.1);
        let b = record_for_tests("b", 0.2);
        let a2 = record_for_tests("a", 0.3);
        let kept = latest_per_key(vec![a1, b, a2]);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].summary.final_test_acc, Some(0.3));
    }
}
