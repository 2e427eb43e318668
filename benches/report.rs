//! Report rendering time: from the fixture records (8 runs, like a small suite) and
//! from 1,000 synthetic records (125 configurations × 8 seeds).
//!
//! Run with `make bench-micro` (or `cargo bench --bench report`).

use std::path::PathBuf;

use batchbench::analysis::{self, ResultSet};
use batchbench::report::{build_report, exporters};
use criterion::{Criterion, criterion_group, criterion_main};

fn fixture() -> ResultSet {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records");
    analysis::load_all(&[dir]).unwrap().remove(0)
}

/// 1,000 records: the fixture's records with batch sizes, learning rates and seeds
/// varied so they form 125 configurations of 8 seeds in 5 families.
fn thousand() -> ResultSet {
    let base = fixture();
    let mut set = base.clone();
    set.records.clear();
    let template = &base.records[0];
    for lr_i in 0..5 {
        for b_i in 0..25 {
            for seed in 0..8 {
                let mut r = template.clone();
                r.spec.lr = 0.01 * (lr_i + 1) as f64;
                r.spec.lr_base = r.spec.lr;
                r.spec.batch_size = 8 << (b_i % 12) | b_i;
                r.spec.seed = seed;
                r.key = r.spec.key();
                r.config_key = r.spec.config_key();
                let src = &base.records[(b_i as usize + seed as usize) % base.records.len()];
                r.curve = src.curve.clone();
                r.summary = src.summary.clone();
                r.telemetry = src.telemetry.clone();
                set.records.push(r);
            }
        }
    }
    assert_eq!(set.records.len(), 1000);
    set
}

fn render_all(set: &ResultSet) -> usize {
    let data = build_report(std::slice::from_ref(set), &[]);
    exporters()
        .iter()
        .map(|e| e.render(&data).unwrap().len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let small = fixture();
    let large = thousand();
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    group.bench_function("fixture (8 records)", |b| b.iter(|| render_all(&small)));
    group.bench_function("1000 records", |b| b.iter(|| render_all(&large)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
