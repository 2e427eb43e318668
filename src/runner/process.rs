//! The runner side of a worker process: start it, stream its events, enforce the
//! time limits, forward interruptions, and turn a worker that died into a record.
//!
//! The worker runs in its own process group (so a terminal Ctrl-C reaches only the
//! runner, which forwards it deliberately) and dies with the runner (Linux
//! `PR_SET_PDEATHSIG`), so `kill -9` of the runner leaves no orphan on the GPU.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::failure::{classify_failure, first_error_line, short_reason};
use super::monitor::Telemetry;
use super::worker::{EVENT_PREFIX, WorkerEvent, WorkerJob};
use crate::results::Environment;
use crate::results::record::{CurvePoint, RunRecord, RunStatus};

/// Lines of the worker's stderr kept with a failed run.
const STDERR_TAIL: usize = 60;

/// Interruption state shared with the signal handler: Ctrl-C (SIGINT), SIGTERM and
/// SIGHUP (how Slurm and Kubernetes stop a job) all count.
#[derive(Clone, Default)]
pub struct Interrupts {
    /// Interruptions so far.
    pub count: Arc<AtomicUsize>,
    /// The worker running now (0 when none).
    pub child: Arc<AtomicU32>,
}

impl Interrupts {
    /// Installs the handler: the first signal asks the current run to stop after its
    /// step (the sweep then ends); the second kills the worker and exits at once with
    /// status 130.
    pub fn install() -> Interrupts {
        let state = Interrupts::default();
        let handler_state = state.clone();
        let _ = ctrlc::set_handler(move || {
            let n = handler_state.count.fetch_add(1, Ordering::SeqCst) + 1;
            let child = handler_state.child.load(Ordering::SeqCst);
            if n == 1 {
                eprintln!(
                    "\ninterrupting: finishing the current step, recording the run as interrupted (Ctrl-C again to quit now)"
                );
                if child != 0 {
                    // SAFETY: sending a signal to a process id we started.
                    unsafe { libc::kill(child as i32, libc::SIGINT) };
                }
            } else {
                if child != 0 {
                    // SAFETY: as above.
                    unsafe { libc::kill(child as i32, libc::SIGKILL) };
                }
                eprintln!("\nquitting now; finished runs are saved, the run in flight is lost");
                std::process::exit(130);
            }
        });
        state
    }

    /// Whether the user (or a scheduler) asked to stop.
    pub fn requested(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }
}

/// The time limits of one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Until warm-up ends: starting the worker, loading data, kernel compilation and
    /// autotuning, the first steps (`warmup_timeout_s`).
    pub warmup: Option<Duration>,
    /// After warm-up (`timeout_s`).
    pub run: Option<Duration>,
    /// What is left of the sweep's `--budget`: the run is then stopped like Ctrl-C
    /// (recorded `interrupted`, rerun by `--resume`).
    pub budget: Option<Duration>,
}

/// Why the runner stopped a worker.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Warmup(Duration),
    Run(Duration),
}

/// The process that executes a run: `batchbench worker` (Burn) or an engine's Python
/// worker, and the job it reads from stdin.
pub struct Launch {
    /// The program and its arguments.
    pub command: Command,
    /// The job, as one JSON document.
    pub input: String,
}

impl Launch {
    /// `batchbench worker` with `job`.
    pub fn burn(job: &WorkerJob) -> anyhow::Result<Launch> {
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("worker");
        Ok(Launch {
            command,
            input: serde_json::to_string(job)?,
        })
    }
}

/// Runs `job` in the worker process `launch` starts and returns its record; `on_event`
/// sees progress.
///
/// `env` describes the worker's machine (for records of workers that die, and of
/// Python engines, whose records the runner builds); `extra_env` configures it (the
/// CUDA library path, for example).
#[allow(clippy::too_many_arguments)]
pub fn run_worker(
    job: &WorkerJob,
    launch: Launch,
    limits: Limits,
    telemetry: Telemetry,
    env: &Environment,
    extra_env: &[(String, String)],
    interrupts: &Interrupts,
    on_event: &mut dyn FnMut(&WorkerEvent),
) -> anyhow::Result<RunRecord> {
    let Launch { mut command, input } = launch;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to SIGKILL the child
    // when the parent dies.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let started = Instant::now();
    let mut child = command.spawn()?;
    interrupts.child.store(child.id(), Ordering::SeqCst);
    let mut monitor = telemetry.start(child.id());
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        // A worker that dies at once closes its stdin: its exit status tells why.
        let _ = stdin.write_all(input.as_bytes());
    }

    let (tx, rx) = mpsc::channel::<Result<WorkerEvent, String>>();
    let stdout = child.stdout.take().expect("piped stdout");
    let out_thread = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let msg = match line.strip_prefix(EVENT_PREFIX) {
                Some(json) => serde_json::from_str(json)
                    .map_err(|e| format!("{EVENT_PREFIX}unreadable message from the worker: {e}")),
                None => Err(line),
            };
            if tx.send(msg).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().expect("piped stderr");
    let err_thread = std::thread::spawn(move || {
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut reader = BufReader::new(stderr);
        let mut buf = Vec::new();
        // Lines as bytes: a library may print anything, UTF-8 or not.
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(String::from_utf8_lossy(&buf).trim_end().to_string());
            buf.clear();
        }
        Vec::from(tail)
    });

    let mut curve: Vec<CurvePoint> = Vec::new();
    let mut record = None;
    let mut engine_outcome = None;
    let mut bad_event: Option<String> = None;
    let mut handle = |msg: Result<WorkerEvent, String>,
                      monitor: &mut super::monitor::RunMonitor| {
        match msg {
            Ok(event) => {
                monitor.observe(&event);
                on_event(&event);
                match event {
                    WorkerEvent::Eval { point } => curve.push(point),
                    WorkerEvent::Record { record: r } => record = Some(*r),
                    WorkerEvent::Outcome { outcome } => engine_outcome = Some(*outcome),
                    WorkerEvent::Phase { .. } => {}
                }
            }
            // Library output on stdout is ignored; an unreadable message is remembered.
            Err(line) => {
                if let Some(e) = line.strip_prefix(EVENT_PREFIX) {
                    bad_event.get_or_insert_with(|| e.to_string());
                }
            }
        }
    };
    let mut stopped: Option<Stop> = None;
    let mut forwarded_interrupt = false;
    let mut budget_spent = false;
    let status = loop {
        if let Ok(msg) = rx.recv_timeout(Duration::from_millis(50)) {
            handle(msg, &mut monitor);
        }
        if let Some(status) = child.try_wait()? {
            // Drain what the worker wrote before exiting.
            let _ = out_thread.join();
            for msg in rx.try_iter() {
                handle(msg, &mut monitor);
            }
            break status;
        }
        if stopped.is_none() {
            let over = match monitor.since_warm_up() {
                None => limits
                    .warmup
                    .filter(|l| started.elapsed() > *l)
                    .map(Stop::Warmup),
                Some(since) => limits.run.filter(|l| since > *l).map(Stop::Run),
            };
            if let Some(stop) = over {
                stopped = Some(stop);
                let _ = child.kill();
            }
        }
        if let Some(b) = limits.budget
            && started.elapsed() > b
        {
            budget_spent = true;
        }
        if (interrupts.requested() || budget_spent) && !forwarded_interrupt {
            forwarded_interrupt = true;
            // The signal handler already forwarded SIGINT when it knew the child;
            // this covers a signal that came between spawn and registration, and the
            // end of the sweep's budget.
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        }
    };
    interrupts.child.store(0, Ordering::SeqCst);
    let stderr_tail = err_thread.join().unwrap_or_default();

    let engine_outcome = engine_outcome.filter(|_| record.is_none() && stopped.is_none());
    let record = record.or_else(|| {
        engine_outcome.map(|o| {
            let mut r = super::engine::record_from_outcome(
                &job.spec,
                job_env(job, env),
                started_at.clone(),
                std::mem::take(&mut curve),
                o,
            );
            r.summary.wall_s = Some(started.elapsed().as_secs_f64());
            r.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            r
        })
    });
    let mut record = match record {
        Some(mut r) => {
            if r.status != RunStatus::Ok {
                explain_from_stderr(&mut r, &stderr_tail);
            }
            r
        }
        None => died(
            job,
            env,
            started_at,
            started,
            curve,
            stopped,
            status,
            &bad_event,
            stderr_tail,
        ),
    };
    if budget_spent && record.status == RunStatus::Interrupted {
        record.reason = Some(
            "stopped when the sweep's time budget (--budget) ran out; `--resume` reruns it".into(),
        );
    }
    monitor.finish(&mut record);
    Ok(record)
}

/// A worker that sent its record but failed: keep its stderr, and where the record's
/// reason is only the symptom (CubeCL's `CallError`), name the first real error.
fn explain_from_stderr(record: &mut RunRecord, stderr_tail: &[String]) {
    record.stderr_tail = stderr_tail.to_vec();
    if !matches!(record.status, RunStatus::Crashed | RunStatus::Oom) {
        return;
    }
    let all = stderr_tail.join("\n");
    if record.status == RunStatus::Crashed && classify_failure(&all) == RunStatus::Oom {
        record.status = RunStatus::Oom;
    }
    let reason = record.reason.clone().unwrap_or_default();
    if let Some(first) = first_error_line(stderr_tail)
        && !reason.contains(first.as_str())
        && !first.contains(reason.as_str())
    {
        record.reason = Some(format!("{} (then: {reason})", short_reason(&first)));
    }
}

/// `env` with the sweep's suite hash and command.
pub(super) fn job_env(job: &WorkerJob, env: &Environment) -> Environment {
    let mut env = env.clone();
    env.suite_sha256 = job.suite_sha256.clone();
    env.command = job.command.clone();
    env
}

/// The record of a worker that ended without sending one.
#[allow(clippy::too_many_arguments)]
fn died(
    job: &WorkerJob,
    env: &Environment,
    started_at: String,
    started: Instant,
    curve: Vec<CurvePoint>,
    stopped: Option<Stop>,
    status: std::process::ExitStatus,
    bad_event: &Option<String>,
    stderr_tail: Vec<String>,
) -> RunRecord {
    let mut r = RunRecord::new(job.spec.clone(), job_env(job, env), started_at);
    let (status, reason) = match stopped {
        Some(Stop::Warmup(limit)) => (
            RunStatus::Timeout,
            format!(
                "warm-up (worker start, data loading, kernel compilation and autotuning, the first steps) exceeded its limit of {:.0} s (warmup_timeout_s) and was stopped",
                limit.as_secs_f64()
            ),
        ),
        Some(Stop::Run(limit)) => (
            RunStatus::Timeout,
            format!(
                "exceeded its time limit of {:.0} s after warm-up (timeout_s) and was stopped",
                limit.as_secs_f64()
            ),
        ),
        None => {
            let how = match (status.code(), status.signal()) {
                (_, Some(sig)) => format!(
                    "the worker was killed by signal {sig} ({})",
                    signal_name(sig)
                ),
                (Some(code), _) => format!("the worker exited with status {code}"),
                _ => "the worker ended abnormally".to_string(),
            };
            let reason = match (bad_event, first_error_line(&stderr_tail)) {
                (Some(e), _) => format!("{how}, but its record could not be read ({e})"),
                (None, None) => how,
                (None, Some(line)) => format!("{how}: {}", short_reason(&line)),
            };
            (classify_failure(&stderr_tail.join("\n")), reason)
        }
    };
    (r.status, r.reason) = (status, Some(reason));
    r.stderr_tail = stderr_tail;
    r.summary.final_train_acc = curve.last().map(|p| p.train_acc);
    r.summary.final_test_acc = curve.last().map(|p| p.test_acc);
    r.summary.wall_s = Some(started.elapsed().as_secs_f64());
    r.curve = curve;
    r.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    r
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL; the system's out-of-memory killer does this too",
        libc::SIGSEGV => "SIGSEGV, a memory fault",
        libc::SIGABRT => "SIGABRT, an abort",
        libc::SIGBUS => "SIGBUS",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}
