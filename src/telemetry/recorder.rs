//! The sampling thread and the phase flag it reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Phase, Sample, Sampler};

/// The run's phase, shared between whoever follows the run and the sampling thread.
#[derive(Clone, Default)]
pub struct PhaseFlag(Arc<AtomicU8>);

impl PhaseFlag {
    /// Sets the current phase.
    pub fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::Relaxed);
    }

    /// The current phase.
    pub fn get(&self) -> Phase {
        match self.0.load(Ordering::Relaxed) {
            x if x == Phase::Warmup as u8 => Phase::Warmup,
            x if x == Phase::Train as u8 => Phase::Train,
            x if x == Phase::Eval as u8 => Phase::Eval,
            _ => Phase::Setup,
        }
    }
}

/// What a stopped recorder hands back.
pub struct Recording {
    /// Every sample, in time order.
    pub series: Vec<Sample>,
    /// The samplers' names.
    pub sources: Vec<&'static str>,
    /// Why figures are missing, per field.
    pub notes: Vec<(&'static str, String)>,
    /// The sampling interval.
    pub interval: Duration,
}

/// One sample from every sampler, timed from `started`.
fn sample_all(samplers: &mut [Box<dyn Sampler>], started: Instant, phase: &PhaseFlag) -> Sample {
    let mut sample = Sample {
        t_s: started.elapsed().as_secs_f64(),
        phase: phase.get(),
        ..Sample::default()
    };
    for sampler in samplers.iter_mut() {
        sampler.sample(&mut sample);
    }
    sample
}

/// Samples on a background thread until stopped.
pub struct Recorder {
    /// Sending (or dropping) it wakes the thread at once for its last sample: a
    /// blocking wait, not a polling loop, so the thread costs nothing between samples.
    stop: Sender<()>,
    handle: JoinHandle<(Vec<Sample>, Vec<Box<dyn Sampler>>)>,
    names: Vec<&'static str>,
    interval: Duration,
    /// When sampling started; sample times count from here.
    pub started: Instant,
}

impl Recorder {
    /// Starts sampling every `interval` with `samplers`, tagging samples with `phase`.
    pub fn start(
        mut samplers: Vec<Box<dyn Sampler>>,
        interval: Duration,
        phase: PhaseFlag,
    ) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let started = Instant::now();
        let names = samplers.iter().map(|s| s.name()).collect();
        let handle = std::thread::Builder::new()
            .name("telemetry".into())
            .spawn(move || {
                let mut series = Vec::new();
                loop {
                    series.push(sample_all(&mut samplers, started, &phase));
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => continue,
                        // Stopped, or the recorder dropped: one last sample, then done.
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                            series.push(sample_all(&mut samplers, started, &phase));
                            return (series, samplers);
                        }
                    }
                }
            })
            .expect("spawn the telemetry thread");
        Recorder {
            stop,
            handle,
            names,
            interval,
            started,
        }
    }

    /// Seconds since sampling started.
    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Stops sampling (after one last sample) and returns what was recorded.
    pub fn stop(self) -> Recording {
        let Recorder {
            stop,
            handle,
            names,
            interval,
            ..
        } = self;
        // The thread may already be gone (it panicked): nothing to wake then, and
        // nothing recorded.
        let _ = stop.send(());
        let (series, samplers) = handle.join().unwrap_or_default();
        Recording {
            series,
            sources: names,
            notes: samplers.iter().flat_map(|s| s.notes()).collect(),
            interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::NullSampler;

    #[test]
    fn recorder_samples_and_stops() {
        let flag = PhaseFlag::default();
        let rec = Recorder::start(
            vec![Box::new(NullSampler)],
            Duration::from_millis(5),
            flag.clone(),
        );
        flag.set(Phase::Train);
        std::thread::sleep(Duration::from_millis(40));
        let r = rec.stop();
        assert!(r.series.len() >= 2);
        assert_eq!(r.sources, vec!["null"]);
        assert!(r.series.iter().any(|s| s.phase == Phase::Train));
    }

    #[test]
    fn phase_flag_round_trips_every_phase() {
        let flag = PhaseFlag::default();
        for p in [Phase::Setup, Phase::Warmup, Phase::Train, Phase::Eval] {
            flag.set(p);
            assert_eq!(flag.get(), p);
        }
    }
}
