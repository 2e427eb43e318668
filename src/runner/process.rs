//! The runner side of a worker process: start it, stream its events, enforce the
//! time limit, forward Ctrl-C, and turn a worker that died into a record.
//!
//! The worker runs in its own process group (so a terminal Ctrl-C reaches only the
//! runner, which forwards it deliberately) and dies with the runner (Linux
//! `PR_SET_PDEATHSIG`), so `kill -9` of the runner leaves no orphan on the GPU.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::worker::{EVENT_PREFIX, WorkerEvent, WorkerJob, classify_failure, short_reason};
use crate::results::Environment;
use crate::results::record::{CurvePoint, RECORD_SCHEMA, RunRecord, RunStatus, Summary};

/// Ctrl-C state shared with the signal handler.
#[derive(Clone, Default)]
pub struct Interrupts {
    /// Ctrl-C presses so far.
    pub count: Arc<AtomicUsize>,
    /// The worker running now (0 when none).
    pub child: Arc<AtomicU32>,
}

impl Interrupts {
    /// Installs the SIGINT/SIGTERM handler: the first press asks the current run to
    /// stop after its step (the sweep then ends); the second kills the worker and
    /// exits at once with status 130.
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

    /// Whether the user asked to stop.
    pub fn requested(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }
}

/// Runs `job` in a worker process and returns its record; `on_event` sees progress.
///
/// `timeout` ends the run with status `timeout`; `env` and `extra_env` describe and
/// configure the worker (the CUDA library path, for example).
pub fn run_worker(
    job: &WorkerJob,
    timeout: Option<Duration>,
    env: &Environment,
    extra_env: &[(String, String)],
    interrupts: &Interrupts,
    on_event: &mut dyn FnMut(&WorkerEvent),
) -> anyhow::Result<RunRecord> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command
        .arg("worker")
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
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(serde_json::to_string(job)?.as_bytes())?;
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
        let mut tail: std::collections::VecDeque<String> = Default::default();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tail.len() == 40 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        tail.into_iter().collect::<Vec<_>>()
    });

    let mut curve: Vec<CurvePoint> = Vec::new();
    let mut record = None;
    let mut bad_event: Option<String> = None;
    let mut handle = |msg: Result<WorkerEvent, String>| match msg {
        Ok(event) => {
            on_event(&event);
            match event {
                WorkerEvent::Eval { point } => curve.push(point),
                WorkerEvent::Record { record: r } => record = Some(*r),
                WorkerEvent::Training => {}
            }
        }
        // Library output on stdout is ignored; an unreadable message is remembered.
        Err(line) => {
            if let Some(e) = line.strip_prefix(EVENT_PREFIX) {
                bad_event.get_or_insert_with(|| e.to_string());
            }
        }
    };
    let mut timed_out = false;
    let mut forwarded_interrupt = false;
    let status = loop {
        if let Ok(msg) = rx.recv_timeout(Duration::from_millis(50)) {
            handle(msg);
        }
        if let Some(status) = child.try_wait()? {
            // Drain what the worker wrote before exiting.
            let _ = out_thread.join();
            rx.try_iter().for_each(&mut handle);
            break status;
        }
        if let Some(limit) = timeout
            && started.elapsed() > limit
            && !timed_out
        {
            timed_out = true;
            let _ = child.kill();
        }
        if interrupts.requested() && !forwarded_interrupt {
            forwarded_interrupt = true;
            // The signal handler already forwarded SIGINT when it knew the child;
            // this covers a press that came between spawn and registration.
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        }
    };
    interrupts.child.store(0, Ordering::SeqCst);
    let stderr_tail = err_thread.join().unwrap_or_default();

    if let Some(r) = record {
        return Ok(r);
    }
    // The worker died without a record: build one from what it sent.
    let (run_status, reason) = if timed_out {
        (
            RunStatus::Timeout,
            format!(
                "exceeded its time limit of {:.0} s and was stopped",
                timeout.unwrap_or_default().as_secs_f64()
            ),
        )
    } else {
        let how = match (status.code(), status.signal()) {
            (_, Some(sig)) => format!(
                "the worker was killed by signal {sig} ({})",
                signal_name(sig)
            ),
            (Some(code), _) => format!("the worker exited with status {code}"),
            _ => "the worker ended abnormally".to_string(),
        };
        let message = stderr_tail
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("note:"))
            .cloned()
            .unwrap_or_default();
        let all = stderr_tail.join("\n");
        let status = classify_failure(&all);
        let reason = match (&bad_event, message.is_empty()) {
            (Some(e), _) => format!("{how}, but its record could not be read ({e})"),
            (None, true) => how,
            (None, false) => format!("{how}: {}", short_reason(&message)),
        };
        (status, reason)
    };
    let spec = job.spec.clone();
    let mut env = env.clone();
    env.suite_sha256 = job.suite_sha256.clone();
    env.command = job.command.clone();
    Ok(RunRecord {
        schema: RECORD_SCHEMA,
        key: spec.key(),
        config_key: spec.config_key(),
        suite: spec.suite.clone(),
        status: run_status,
        reason: Some(reason),
        started_at,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        summary: Summary {
            final_train_acc: curve.last().map(|p| p.train_acc),
            final_test_acc: curve.last().map(|p| p.test_acc),
            target_acc: spec.target_accuracy,
            wall_s: Some(started.elapsed().as_secs_f64()),
            ..Summary::default()
        },
        spec,
        env,
        data: None,
        curve,
        telemetry: Default::default(),
        probes: Default::default(),
        divergence: None,
    })
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
