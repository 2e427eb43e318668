//! What batchbench's own sampling costs the training it measures: one training step
//! with the telemetry thread off and sampling this process at 1 s, 100 ms and 10 ms,
//! side by side in one process (two rounds, the second in reverse order), on steps of about 5 ms and more (MLP and CNN, batch
//! 256, CPU). The runner samples a worker from outside, by PID, with the same
//! `Recorder` and `ProcessSampler` used here; in one process the sampler competes for
//! the same cores, as it does beside a worker. The README's "Harness overhead"
//! section holds the figures and the default interval chosen from them.
//!
//! Run with `cargo bench --bench harness_overhead`.

mod common;

use std::time::Duration;

use batchbench::telemetry::process::ProcessSampler;
use batchbench::telemetry::{PhaseFlag, Recorder};
use burn::backend::{Autodiff, Flex};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use common::{Data, Trainer, models};

fn bench(c: &mut Criterion) {
    batchbench::backend::keep_freed_memory();
    let data = Data::<Autodiff<Flex>>::new(Default::default());
    let intervals = [None, Some(1000), Some(100), Some(10)];
    for (label, spec) in models() {
        let mut group = c.benchmark_group(format!("harness_overhead/{label}-256"));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(8));
        let mut trainer = Trainer::new(&data, &spec, 256);
        // Two rounds, the second in reverse order (A B C D D C B A), so a drift over
        // the minutes of measurement (allocator, clocks) weighs on every interval alike.
        for round in 1..=2 {
            let order: Vec<_> = match round {
                1 => intervals.to_vec(),
                _ => intervals.iter().rev().copied().collect(),
            };
            for interval_ms in order {
                let id = match interval_ms {
                    None => format!("telemetry off, round {round}"),
                    Some(ms) => format!("every {ms} ms, round {round}"),
                };
                let recorder = interval_ms.map(|ms| {
                    Recorder::start(
                        vec![Box::new(ProcessSampler::new(std::process::id()))],
                        Duration::from_millis(ms),
                        PhaseFlag::default(),
                    )
                });
                group.bench_function(BenchmarkId::from_parameter(id), |b| {
                    b.iter(|| trainer.step())
                });
                if let Some(recorder) = recorder {
                    let samples = recorder.stop().series.len();
                    assert!(samples > 0, "the telemetry thread recorded nothing");
                }
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
