//! Exports of saved records for other tools: Bencher Metric Format for regression
//! dashboards ([`bmf`]), a flat per-run CSV for spreadsheets and dataframes
//! ([`runs_csv`]), and MLPerf-style `:::MLLOG` logs per run ([`mllog`]).
//!
//! Each reads records only (never the suite, never a device), so a results folder
//! copied off a cluster can be exported anywhere. The report's own exports
//! (summary.json/csv/md) are per configuration and live in `report::export`.

pub mod bmf;
pub mod mllog;
pub mod runs_csv;
