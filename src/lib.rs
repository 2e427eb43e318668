//! batchbench: reproducible measurements of how the mini-batch size changes SGD's
//! convergence, time and energy to accuracy, generalization, and GPU use.
//!
//! The stages are separate modules, in the order data flows through them
//! (see ARCHITECTURE.md):
//! [`suite`] (YAML → validated runs) → [`runner`] (one worker process per run) →
//! [`train`] (the loop, on the backend [`backend`] picks for the [`device`]) with
//! [`data`], [`model`] and [`telemetry`] → [`results`] (JSONL records) →
//! [`analysis`] (over seeds) → [`report`] (HTML, JSON, CSV, Markdown) and
//! [`compare`] (regressions between result sets).

pub mod analysis;
pub mod backend;
pub mod cli;
pub mod compare;
pub mod data;
pub mod device;
pub mod export;
pub mod fmt;
pub mod model;
pub mod probe;
pub mod report;
pub mod results;
pub mod runner;
pub mod stats;
pub mod suite;
pub mod telemetry;
pub mod testing;
pub mod train;
