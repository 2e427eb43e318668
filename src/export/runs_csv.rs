//! A flat CSV of runs: one row per run, every scalar of the record as a column named
//! by its path (`spec.batch_size`, `summary.time_to_target_s`, `env.gpus`), for
//! spreadsheets and dataframes (`pandas.read_csv`), beside the per-configuration
//! `summary.csv` of a report.
//!
//! The columns are the union over the records, in the order they first appear, so
//! records of older or newer batchbench versions still line up by name. Bulky parts
//! are left out: the learning curve, the telemetry series and the stderr tail (they
//! are in runs.jsonl). A list becomes its JSON text; an absent value an empty cell.

use serde_json::Value;

use crate::results::record::RunRecord;

/// Paths left out of the flat view: per-point or per-sample data.
const LEFT_OUT: &[&str] = &["curve", "telemetry.series", "stderr_tail"];

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    if LEFT_OUT.contains(&prefix) {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Bool(_) | Value::Number(_) | Value::Array(_) => {
            out.push((prefix.to_string(), value.to_string()))
        }
    }
}

/// The CSV text of `records`.
pub fn runs_csv(records: &[RunRecord]) -> anyhow::Result<Vec<u8>> {
    let rows: Vec<Vec<(String, String)>> = records
        .iter()
        .map(|r| {
            let mut row = Vec::new();
            flatten("", &serde_json::to_value(r)?, &mut row);
            Ok(row)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut seen = std::collections::HashSet::new();
    let columns: Vec<&str> = rows
        .iter()
        .flatten()
        .map(|(name, _)| name.as_str())
        .filter(|name| seen.insert(*name))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&columns)?;
    for row in &rows {
        let cells: std::collections::HashMap<&str, &str> =
            row.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        w.write_record(columns.iter().map(|c| cells.get(c).copied().unwrap_or("")))?;
    }
    Ok(w.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record_for_tests;

    #[test]
    fn one_row_per_run_every_scalar_a_column() {
        let mut a = record_for_tests("a", 0.9);
        a.summary.time_to_target_s = Some(1.5);
        let mut b = record_for_tests("b", 0.8);
        b.reason = Some("ran out, of memory".into());
        let text = String::from_utf8(runs_csv(&[a, b]).unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
        };
        assert_eq!(&rows[0][col("key")], "a");
        assert_eq!(&rows[0][col("spec.batch_size")], "32");
        assert_eq!(&rows[0][col("summary.time_to_target_s")], "1.5");
        assert_eq!(&rows[1][col("summary.time_to_target_s")], "");
        assert_eq!(&rows[1][col("summary.final_test_acc")], "0.8");
        // A column only one record has still lines up; commas survive quoting.
        assert_eq!(&rows[1][col("reason")], "ran out, of memory");
        assert_eq!(&rows[0][col("reason")], "");
        assert!(!header.iter().any(|h| h.starts_with("curve")));
    }
}
