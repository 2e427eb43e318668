//! What batchbench's own sampling costs the training it measures: one training step
//! with the telemetry thread off and sampling this process at 1 s, 100 ms and 10 ms,
//! side by side in one process (two rounds, the second in reverse order), on steps of about 5 ms and more (MLP and CNN, batch
//! 256, CPU). The runner samples a worker from outside, by PID, with the same
//! `Recorder` and `ProcessSampler` used here; in one process the sampler competes for
//! the same cores, as it does beside a worker. The README's "Harness overhead"
//! section holds the figures and the default interval chosen from them.
//!
//! On 2 cores the step times drift more between rounds than sampling costs, so two
//! direct measurements come first and beside them: the time of one sample
//! (`harness_overhead/one-sample`), and the CPU time the telemetry thread itself used
//! while each step was measured, read from the kernel's per-thread scheduler account
//! (`/proc/self/task/TID/schedstat`, nanoseconds) and printed as a share of one core.
//!
//! Criterion's blocks of several seconds per setting still drift on 2 cores by more
//! than sampling costs, so a third measurement pairs them closely: blocks of about one
//! second with sampling off and on, alternated (off-on, then on-off) a dozen times, and
//! the mean of the paired relative differences with its 95% interval (Student's t).
//! A drift slower than two seconds weighs on both halves of a pair alike.
//!
//! Run with `cargo bench --bench harness_overhead`.

mod common;

use std::time::{Duration, Instant};

use batchbench::stats::Estimate;
use batchbench::telemetry::process::ProcessSampler;
use batchbench::telemetry::{PhaseFlag, Recorder, Sample, Sampler};
use burn::backend::{Autodiff, Flex};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use common::{Data, Trainer, models};

/// CPU time used so far by this process's thread named `name`, in nanoseconds (the
/// first field of its schedstat: time spent on a CPU).
fn thread_cpu_ns(name: &str) -> Option<u64> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            if comm.trim_end() != name {
                return None;
            }
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse().ok()
        })
}

fn bench(c: &mut Criterion) {
    batchbench::backend::keep_freed_memory();
    // What one sample costs: the three /proc reads the telemetry thread makes per tick.
    let mut sampler = ProcessSampler::new(std::process::id());
    c.bench_function("harness_overhead/one-sample", |b| {
        b.iter(|| {
            let mut sample = Sample::default();
            sampler.sample(&mut sample);
            sample
        })
    });
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
                let recorder = interval_ms.map(|ms| sampling(Duration::from_millis(ms)));
                let started = (Instant::now(), thread_cpu_ns("telemetry"));
                group.bench_function(BenchmarkId::from_parameter(&id), |b| {
                    b.iter(|| trainer.step())
                });
                if let Some(recorder) = recorder {
                    let (wall, cpu) = (started.0.elapsed(), thread_cpu_ns("telemetry"));
                    let samples = recorder.stop().series.len();
                    assert!(samples > 0, "the telemetry thread recorded nothing");
                    // A thread not yet named when it was looked up had just started:
                    // its CPU time so far is nil.
                    if let Some(after) = cpu {
                        let used = Duration::from_nanos(after - started.1.unwrap_or(0));
                        println!(
                            "{label}, {id}: the telemetry thread used {:.2} ms of CPU in \
                             {:.1} s ({samples} samples, {:.1} µs each): {:.4}% of one core",
                            used.as_secs_f64() * 1e3,
                            wall.as_secs_f64(),
                            used.as_secs_f64() * 1e6 / samples as f64,
                            100.0 * used.as_secs_f64() / wall.as_secs_f64(),
                        );
                    }
                }
            }
        }
        group.finish();
        paired(label, &mut trainer);
    }
}

/// The telemetry thread sampling this process every `interval`, as the runner samples a
/// worker.
fn sampling(interval: Duration) -> Recorder {
    Recorder::start(
        vec![Box::new(ProcessSampler::new(std::process::id()))],
        interval,
        PhaseFlag::default(),
    )
}

/// Sampling's cost as the mean of paired differences between adjacent blocks of about
/// one second with sampling off and on (see the module docs), printed per interval.
fn paired<B: burn::tensor::backend::AutodiffBackend>(label: &str, trainer: &mut Trainer<B>) {
    const PAIRS: usize = 12;
    let started = Instant::now();
    trainer.step();
    let steps = (1.0 / started.elapsed().as_secs_f64()).ceil().max(5.0) as usize;
    let mut block = |interval: Option<Duration>| {
        let recorder = interval.map(sampling);
        let started = Instant::now();
        for _ in 0..steps {
            trainer.step();
        }
        let per_step = started.elapsed().as_secs_f64() / steps as f64;
        if let Some(recorder) = recorder {
            recorder.stop();
        }
        per_step
    };
    for ms in [100, 10] {
        let on = Some(Duration::from_millis(ms));
        let overhead: Vec<f64> = (0..PAIRS)
            .map(|pair| {
                let (off, on) = match pair % 2 {
                    0 => (block(None), block(on)),
                    _ => {
                        let on = block(on);
                        (block(None), on)
                    }
                };
                100.0 * (on / off - 1.0)
            })
            .collect();
        let e = Estimate::of(&overhead).expect("twelve pairs");
        println!(
            "{label}-256, every {ms} ms against off, {PAIRS} adjacent pairs of {steps} steps: \
             {:+.2}% ± {:.2}% (95% CI; pairs from {:+.2}% to {:+.2}%)",
            e.mean,
            e.ci95.unwrap_or(f64::NAN),
            e.min,
            e.max,
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
