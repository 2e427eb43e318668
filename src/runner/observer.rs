//! Everything a sweep tells the person watching it goes through a [`SweepObserver`]:
//! the runner decides what happened, the observer how to show it. The terminal
//! observer draws a progress bar whose ETA is weighted by each run's estimated cost
//! (the cost model shards are balanced with), prints one line per finished run, and
//! prints nothing but warnings when quiet.

use indicatif::{ProgressBar, ProgressStyle};

use crate::results::record::{CurvePoint, RunRecord, RunStatus};

/// What a sweep reports while it runs.
pub trait SweepObserver {
    /// Something the user should know but that does not stop the sweep.
    fn warning(&mut self, message: &str);
    /// Information about the sweep's setup (resume, moved files).
    fn note(&mut self, message: &str);
    /// The sweep starts `runs` runs of total estimated cost `cost`.
    fn sweep_started(&mut self, _suite: &str, _runs: usize, _cost: f64) {}
    /// Run `i` (1-based) starts.
    fn run_started(&mut self, _i: usize, _label: &str) {}
    /// The running run measured an evaluation point.
    fn eval_point(&mut self, _label: &str, _point: &CurvePoint) {}
    /// Run `i` of `n` finished with `record`; it had estimated cost `cost`.
    fn run_finished(&mut self, _i: usize, _n: usize, _record: &RunRecord, _cost: f64) {}
    /// The sweep is over.
    fn sweep_finished(&mut self) {}
}

/// The terminal: a progress bar and a line per run, or (quiet) only warnings and
/// notes about the sweep itself (resuming, the budget).
pub struct TerminalObserver {
    bar: ProgressBar,
    quiet: bool,
    done: usize,
    total: usize,
    cost_total: f64,
}

/// The whole sweep is this many progress-bar units (indicatif counts in integers);
/// each run advances the bar by its share of the estimated cost.
const BAR_UNITS: f64 = 1e6;

impl TerminalObserver {
    /// A terminal observer; `progress` draws the bar, `quiet` drops per-run lines.
    pub fn new(progress: bool, quiet: bool) -> Self {
        TerminalObserver {
            bar: if progress {
                ProgressBar::new(0)
            } else {
                ProgressBar::hidden()
            },
            quiet,
            done: 0,
            total: 0,
            cost_total: 1.0,
        }
    }
}

impl SweepObserver for TerminalObserver {
    fn warning(&mut self, message: &str) {
        self.bar.suspend(|| eprintln!("warning: {message}"));
    }

    fn note(&mut self, message: &str) {
        self.bar.suspend(|| eprintln!("{message}"));
    }

    fn sweep_started(&mut self, suite: &str, runs: usize, cost: f64) {
        self.total = runs;
        self.bar.set_length(BAR_UNITS as u64);
        self.bar.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30}] {msg}, {elapsed} elapsed, ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        self.bar.set_prefix(suite.to_string());
        self.bar.set_position(0);
        self.cost_total = cost.max(f64::MIN_POSITIVE);
        self.bar.set_message(format!("0/{runs} runs"));
    }

    fn run_started(&mut self, i: usize, label: &str) {
        self.bar
            .set_message(format!("{}/{} runs  {label}", i - 1, self.total));
    }

    fn eval_point(&mut self, label: &str, point: &CurvePoint) {
        self.bar.set_message(format!(
            "{}/{} runs  {label}  epoch {:.1}  test {:.1}%",
            self.done,
            self.total,
            point.epoch,
            point.test_acc * 100.0
        ));
    }

    fn run_finished(&mut self, i: usize, n: usize, record: &RunRecord, cost: f64) {
        self.done = i;
        if !self.quiet {
            // A closed pipe (`batchbench run … | head -1`) must not stop the sweep: the
            // line is dropped, the runs go on being recorded.
            self.bar.suspend(|| {
                use std::io::Write;
                let _ = writeln!(std::io::stdout(), "{}", one_line(i, n, record));
            });
        }
        let units = (cost / self.cost_total * BAR_UNITS).round() as u64;
        self.bar.inc(units);
        self.bar.set_message(format!("{i}/{n} runs"));
    }

    fn sweep_finished(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// One line per finished run: status, accuracy, time, throughput.
pub fn one_line(i: usize, n: usize, r: &RunRecord) -> String {
    let s = &r.summary;
    let mut parts = vec![r.status.as_str().to_string()];
    if let Some(a) = s.final_test_acc {
        parts.push(format!("test {:.1}%", a * 100.0));
    }
    if let Some(t) = s.train_s {
        parts.push(format!("train {t:.1} s"));
    }
    if let Some(v) = s.samples_per_s {
        parts.push(format!("{v:.0} samples/s"));
    }
    match (r.spec.target(), s.time_to_target_s) {
        (Some(t), Some(tt)) => parts.push(format!("{} reached at {tt:.2} s", t.describe())),
        (Some(t), None) if r.status == RunStatus::Ok => {
            parts.push(format!("{} not reached", t.describe()))
        }
        _ => {}
    }
    if let Some(reason) = &r.reason
        && r.status != RunStatus::Ok
    {
        parts.push(reason.clone());
    }
    format!("[{i}/{n}] {}: {}", r.label(), parts.join(", "))
}

/// An observer that keeps what it is told (tests, library users).
#[derive(Default)]
pub struct Collect {
    /// Warnings and notes, in order.
    pub messages: Vec<String>,
    /// Finished runs' one-line summaries.
    pub lines: Vec<String>,
}

impl SweepObserver for Collect {
    fn warning(&mut self, message: &str) {
        self.messages.push(format!("warning: {message}"));
    }
    fn note(&mut self, message: &str) {
        self.messages.push(message.to_string());
    }
    fn run_finished(&mut self, i: usize, n: usize, record: &RunRecord, _cost: f64) {
        self.lines.push(one_line(i, n, record));
    }
}
