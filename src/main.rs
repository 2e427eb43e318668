//! The `batchbench` command line: options → command → run → export.
//!
//! Every command is a short function over the library; errors end in one sentence on
//! stderr and exit status 1 (2 for usage errors, from clap).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use batchbench::backend::{CpuBackend, backend_name};
use batchbench::device::DeviceKind;
use batchbench::results::Environment;
use batchbench::runner::process::Interrupts;
use batchbench::runner::shard::{Shard, estimated_cost};
use batchbench::runner::{self, SweepOptions};
use batchbench::suite::{DatasetName, DeviceRequest, Suite};

#[derive(Parser)]
#[command(
    name = "batchbench",
    version,
    about = "How does the mini-batch size change SGD's convergence, time and energy to accuracy, generalization and GPU use, and why?"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train every run of a suite and append one record per run to runs.jsonl.
    Run(RunArgs),
    /// Render reports (HTML, JSON, CSV, Markdown) from one or more results folders.
    Report {
        /// Results folders (or runs.jsonl files); several render side by side.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Output folder (default: reports/<suite name>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare two result sets metric by metric (Welch's t-test over seeds plus a
    /// threshold); writes compare.md and compare.html.
    Compare {
        /// The reference results folder.
        base: PathBuf,
        /// The results folder to check.
        new: PathBuf,
        /// Smallest relative change that counts, in percent.
        #[arg(long, default_value = "5%", value_parser = parse_percent)]
        threshold: f64,
        /// Metrics to compare, comma-separated (default: samples_per_s, warmup_s,
        /// time_to_target_s, final_test_acc, gpu_mem_peak_mib, energy_to_target_j).
        #[arg(long, value_delimiter = ',')]
        metric: Vec<String>,
        /// Exit with status 1 when any metric regressed.
        #[arg(long)]
        fail_on_regression: bool,
        /// Where to write compare.md and compare.html (default: reports/compare).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Find the largest batch that fits in device memory, per configuration of a suite
    /// (doubling, then bisecting; each try in its own worker).
    MaxBatch {
        /// The suite (its batch sizes and seeds are ignored).
        suite: PathBuf,
        /// First batch size tried.
        #[arg(long, default_value_t = 256)]
        start: u64,
        /// Recommend this fraction of the largest batch that fitted.
        #[arg(long, default_value_t = 0.9)]
        margin: f64,
        /// Optimizer steps per try.
        #[arg(long, default_value_t = 5)]
        steps: u64,
        /// Time limit per try, seconds (the first CUDA try includes kernel compilation).
        #[arg(long, default_value_t = 600.0)]
        timeout: f64,
        /// Device (overrides the suite).
        #[arg(long)]
        device: Option<DeviceRequest>,
        /// Where to write max-batch.json (default: results/<suite name>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The interpolation probe: loss along the line between the smallest- and
    /// largest-batch solution of each configuration and seed (run after sweeps that
    /// ask for it; writes interpolation.json).
    Interpolate {
        /// The results folder.
        dir: PathBuf,
    },
    /// One page of trend charts over many result sets, grouped by testbed.
    History {
        /// Results folders, in any order (sorted by recording time).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Metrics, comma-separated (default: as for compare).
        #[arg(long, value_delimiter = ',')]
        metric: Vec<String>,
        /// Smallest relative change that counts as a regression, in percent.
        #[arg(long, default_value = "5%", value_parser = parse_percent)]
        threshold: f64,
        /// Output file (default: reports/history.html).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Join shard result folders into one (checks suite hashes; reports duplicates,
    /// conflicts and gaps, exiting 1 when the merged set is incomplete or inconsistent).
    Merge {
        /// Shard folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The merged results folder (must not hold records yet).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check suites without running them (exit 1 on the first invalid one).
    Validate {
        /// Suite files.
        #[arg(required = true)]
        suites: Vec<PathBuf>,
    },
    /// List the runs a suite expands to (this shard's, with --shard), with estimated cost.
    Plan {
        /// The suite file.
        suite: PathBuf,
        /// Show only shard K of N.
        #[arg(long)]
        shard: Option<Shard>,
    },
    /// Print the machine's environment fingerprint and device availability.
    Env,
    /// Datasets: download with checksum verification.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Print the JSON Schema of suite files.
    Schema,
    /// (internal) Execute one run sent by `batchbench run` on stdin.
    #[command(hide = true)]
    Worker,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download a dataset (mnist, fashion-mnist) and verify its SHA-256 sums.
    Fetch {
        /// The dataset.
        name: String,
        /// Folder to put it in (default: $BATCHBENCH_DATA/<name>, which batchbench searches).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The suite file.
    suite: PathBuf,
    /// Results folder (default: results/<suite name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Device for every run: auto, cpu, cuda or cuda:N (overrides the suite).
    #[arg(long)]
    device: Option<DeviceRequest>,
    /// Skip runs that already have a final record in the results folder.
    #[arg(long, conflicts_with = "fresh")]
    resume: bool,
    /// Start a new runs.jsonl (the existing one is kept under a dated name).
    #[arg(long)]
    fresh: bool,
    /// Run only shard K of N (default: from SLURM_ARRAY_* or JOB_COMPLETION_INDEX).
    #[arg(long)]
    shard: Option<Shard>,
    /// Number of shards when only JOB_COMPLETION_INDEX gives the index.
    #[arg(long)]
    shards: Option<u32>,
    /// Stop starting new runs after this many seconds (resume later with --resume).
    #[arg(long, value_name = "SECONDS")]
    budget: Option<f64>,
    /// Telemetry sampling interval in milliseconds (0 switches telemetry off).
    #[arg(long, default_value_t = 100)]
    telemetry_ms: u64,
    /// Backend for CPU runs (ndarray needs a binary built with --features openblas).
    #[arg(long, value_enum, env = "BATCHBENCH_CPU_BACKEND", default_value_t = CpuBackend::Flex)]
    cpu_backend: CpuBackend,
    /// Run in this process instead of one worker process per run (no isolation; for debugging).
    #[arg(long)]
    in_process: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Render the report when the sweep ends (into reports/<suite name>).
    #[arg(long)]
    report: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Report { results, out } => report(&results, out).map(success),
        Command::Merge { dirs, out } => merge(&dirs, &out),
        Command::Compare {
            base,
            new,
            threshold,
            metric,
            fail_on_regression,
            out,
        } => compare(&base, &new, threshold, &metric, fail_on_regression, out),
        Command::Interpolate { dir } => interpolate(&dir).map(success),
        Command::History {
            dirs,
            metric,
            threshold,
            out,
        } => history(&dirs, &metric, threshold, out).map(success),
        Command::MaxBatch {
            suite,
            start,
            margin,
            steps,
            timeout,
            device,
            out,
        } => max_batch(&suite, start, margin, steps, timeout, device, out).map(success),
        Command::Validate { suites } => validate(&suites).map(success),
        Command::Plan { suite, shard } => plan(&suite, shard).map(success),
        Command::Env => env().map(success),
        Command::Data {
            command: DataCommand::Fetch { name, dir },
        } => fetch(&name, dir).map(success),
        Command::Schema => schema().map(success),
        Command::Worker => batchbench::runner::worker::worker_main().map(success),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn success(_: ()) -> ExitCode {
    ExitCode::SUCCESS
}

fn load_suite(path: &Path) -> anyhow::Result<Suite> {
    Suite::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let suite = load_suite(&args.suite)?;
    args.cpu_backend
        .check_available()
        .map_err(|e| anyhow::anyhow!(e))?;
    let shard = match args.shard {
        Some(s) => Some(s),
        None => Shard::from_env(args.shards).map_err(|e| anyhow::anyhow!(e))?,
    };
    let mut out = args
        .out
        .unwrap_or_else(|| PathBuf::from("results").join(suite.name()));
    if args.shard.is_none() && shard.is_some() && out == Path::new("results").join(suite.name()) {
        // Shards started by a scheduler write side by side; `merge` joins them.
        out = out.join(format!("shard-{}", shard.expect("checked").index));
    }
    let options = SweepOptions {
        out,
        device: args.device,
        resume: args.resume,
        fresh: args.fresh,
        in_process: args.in_process,
        shard,
        telemetry_interval: Duration::from_millis(args.telemetry_ms),
        budget: args.budget.map(Duration::from_secs_f64),
        cache_dir: runner::default_cache_dir(),
        command: std::env::args().collect(),
        progress: !args.quiet,
        cpu_backend: args.cpu_backend,
    };
    let interrupts = Interrupts::install();
    let outcome = runner::run_suite(&suite, &options, &interrupts)?;
    let mut counts: Vec<String> = outcome
        .by_status
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    counts.sort();
    eprintln!(
        "{} run(s) finished ({}){}; records in {}",
        outcome.executed(),
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        },
        if outcome.skipped > 0 {
            format!(", {} skipped as already done", outcome.skipped)
        } else {
            String::new()
        },
        outcome.runs_path.display()
    );
    if args.report && outcome.runs_path.exists() {
        let dir = outcome
            .runs_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        report(&[dir], None)?;
    }
    if outcome.interrupted {
        eprintln!(
            "interrupted: {} run(s) not started; continue with `batchbench run {} --resume`",
            outcome.not_started,
            args.suite.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

fn report(results: &[PathBuf], out: Option<PathBuf>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let out = match out {
        Some(o) => o,
        None => {
            let sets = batchbench::analysis::load_all(results)?;
            let mut names: Vec<String> = sets
                .iter()
                .filter_map(|s| s.records.first().map(|r| safe_name(&r.suite)))
                .collect();
            names.dedup();
            PathBuf::from("reports").join(names.join("-vs-"))
        }
    };
    let command: Vec<String> = std::env::args().collect();
    let html = batchbench::report::render_report(results, &out, &command)?;
    eprintln!("report written in {:.2} s", started.elapsed().as_secs_f64());
    println!("{}", html.display());
    Ok(())
}

/// A folder name from a suite name read from records (which anyone can edit): only
/// letters, digits, `-`, `_`, `.`, never starting with a dot.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "report".into()
    } else {
        cleaned
    }
}

/// Reads `5%`, `5` or `0.05%` as a percentage.
fn parse_percent(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage; write e.g. 5%"))?;
    if !(v.is_finite() && (0.0..=1000.0).contains(&v)) {
        return Err(format!("{v}% is out of range; use 0% to 1000%"));
    }
    Ok(v)
}

fn compare(
    base: &Path,
    new: &Path,
    threshold: f64,
    metric: &[String],
    fail: bool,
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    use batchbench::compare;
    let names: Vec<String> = if metric.is_empty() {
        compare::DEFAULT_METRICS
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        metric.to_vec()
    };
    let metrics = compare::metrics_by_name(&names).map_err(|e| anyhow::anyhow!(e))?;
    let base_set = batchbench::analysis::load_result_set(base)?;
    let new_set = batchbench::analysis::load_result_set(new)?;
    let cmp = compare::compare(&base_set, &new_set, &metrics, threshold);
    print!("{}", cmp.terminal_table());
    let out = out.unwrap_or_else(|| PathBuf::from("reports").join("compare"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join("compare.md"), cmp.markdown())?;
    std::fs::write(
        out.join("compare.html"),
        batchbench::report::render_page("compare.html", &cmp)?,
    )?;
    eprintln!(
        "wrote {} and compare.md",
        out.join("compare.html").display()
    );
    if fail && cmp.testbeds_differ {
        eprintln!(
            "warning: the two sides ran on different testbeds, so --fail-on-regression does \
             not apply; compare with a baseline recorded on the same testbed"
        );
    }
    if fail && cmp.has_regression() {
        eprintln!("error: regression found (--fail-on-regression)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn history(
    dirs: &[PathBuf],
    metric: &[String],
    threshold: f64,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let metrics = batchbench::compare::metrics_by_name(metric).map_err(|e| anyhow::anyhow!(e))?;
    let sets = dirs
        .iter()
        .map(|d| batchbench::analysis::load_result_set(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let h = batchbench::compare::history::history(&sets, &metrics, threshold);
    let out = out.unwrap_or_else(|| PathBuf::from("reports").join("history.html"));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, batchbench::report::render_page("history.html", &h)?)?;
    for t in &h.testbeds {
        for g in &t.regressions {
            eprintln!("regression: {g}");
        }
    }
    println!("{}", out.display());
    Ok(())
}

fn max_batch(
    path: &Path,
    start: u64,
    margin: f64,
    steps: u64,
    timeout: f64,
    device: Option<DeviceRequest>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    use batchbench::runner::max_batch::{SearchOptions, search};
    if !(margin > 0.0 && margin <= 1.0) {
        anyhow::bail!("--margin {margin} must be in (0, 1], e.g. 0.9");
    }
    if start == 0 || steps == 0 {
        anyhow::bail!("--start and --steps must be at least 1");
    }
    let suite = load_suite(path)?;
    let mut specs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
    runner::resolve_devices(&mut specs, device)?;
    // One search per configuration, batch size and seed aside.
    let mut seen = std::collections::HashSet::new();
    specs.retain(|s| {
        let mut k = s.clone();
        (k.batch_size, k.micro_batch_size, k.seed, k.lr) = (0, 0, 0, 0.0);
        k.batch_schedule = None;
        seen.insert(k.key())
    });
    let opts = SearchOptions {
        start,
        margin,
        steps,
        timeout: Duration::from_secs_f64(timeout),
        cache_dir: runner::default_cache_dir(),
    };
    let interrupts = Interrupts::install();
    let mut results = Vec::new();
    for spec in &specs {
        let train = batchbench::data::shape(&spec.dataset)
            .map_err(|e| anyhow::anyhow!(e))?
            .train;
        eprintln!("searching {} on {}", spec.model_label(), spec.device);
        let r = search(
            &spec.clone(),
            train,
            &opts,
            &suite.sha256,
            suite.path.parent(),
            &interrupts,
            &mut |t| {
                eprintln!(
                    "  batch {:>8}: {}",
                    t.batch_size,
                    if t.status == batchbench::results::RunStatus::Oom {
                        "out of memory"
                    } else {
                        "fits"
                    }
                )
            },
        )?;
        println!(
            "{}: largest fit {}, first out-of-memory {}, recommended {} ({}% margin){}",
            r.config,
            r.largest_fit.map_or("none".into(), |v| v.to_string()),
            r.first_oom.map_or("none".into(), |v| v.to_string()),
            r.recommended.map_or("none".into(), |v| v.to_string()),
            ((1.0 - r.margin) * 100.0).round(),
            r.limit
                .as_ref()
                .map(|l| format!("; stopped: {l}"))
                .unwrap_or_default()
        );
        results.push(r);
    }
    let out = out.unwrap_or_else(|| PathBuf::from("results").join(suite.name()));
    std::fs::create_dir_all(&out)?;
    let path = out.join("max-batch.json");
    batchbench::results::store::write_atomic(&path, &serde_json::to_vec_pretty(&results)?)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn interpolate(dir: &Path) -> anyhow::Result<()> {
    let suite_dir = batchbench::results::Store::read_manifest(dir)?
        .and_then(|m| Path::new(&m.suite_path).parent().map(Path::to_path_buf));
    let curves = batchbench::probe::interpolation::interpolate_dir(dir, suite_dir.as_deref())?;
    eprintln!(
        "interpolated {} pair(s); wrote {}",
        curves.len(),
        dir.join(batchbench::probe::interpolation::INTERPOLATION_FILE)
            .display()
    );
    Ok(())
}

fn merge(dirs: &[PathBuf], out: &Path) -> anyhow::Result<ExitCode> {
    let command: Vec<String> = std::env::args().collect();
    let m = batchbench::results::merge::merge(dirs, out, &command)?;
    for d in &m.duplicates {
        eprintln!("duplicate: {d}");
    }
    for c in &m.conflicts {
        eprintln!("conflict: {c}");
    }
    for g in &m.gaps {
        eprintln!("missing: {g}");
    }
    eprintln!(
        "merged {} of {} planned runs into {} ({} duplicate(s), {} conflict(s), {} missing)",
        m.records,
        m.planned,
        out.display(),
        m.duplicates.len(),
        m.conflicts.len(),
        m.gaps.len()
    );
    Ok(if m.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn validate(paths: &[PathBuf]) -> anyhow::Result<()> {
    for path in paths {
        let suite = load_suite(path)?;
        let runs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("{}: ok, {} run(s)", path.display(), runs.len());
    }
    Ok(())
}

fn plan(path: &Path, shard: Option<Shard>) -> anyhow::Result<()> {
    let suite = load_suite(path)?;
    let mut runs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(shard) = shard {
        runs = shard.select(runs);
    }
    let total: f64 = runs.iter().map(estimated_cost).sum();
    println!("{:<18} {:>8} {:>12}  run", "key", "cost %", "samples");
    for r in &runs {
        println!(
            "{:<18} {:>7.2}% {:>12}  {}",
            r.key(),
            100.0 * estimated_cost(r) / total.max(f64::MIN_POSITIVE),
            r.samples,
            r.label()
        );
    }
    println!(
        "{} run(s){}",
        runs.len(),
        shard.map(|s| format!(" in shard {s}")).unwrap_or_default()
    );
    Ok(())
}

fn env() -> anyhow::Result<()> {
    let cuda = batchbench::device::probe_cuda();
    let (device, kind) = match &cuda {
        Ok(_) => ("cuda:0", DeviceKind::Cuda(0)),
        Err(_) => ("cpu", DeviceKind::Cpu),
    };
    let env = Environment::capture(device, backend_name(kind, CpuBackend::default()));
    println!("{}", serde_json::to_string_pretty(&env)?);
    match cuda {
        Ok(p) => eprintln!(
            "CUDA: {} device(s), driver CUDA {}.{}, NVRTC in {}",
            p.devices,
            p.driver_version / 1000,
            (p.driver_version % 1000) / 10,
            p.nvrtc_dir.display()
        ),
        Err(why) => eprintln!("CUDA: not usable ({why}); runs use the CPU"),
    }
    Ok(())
}

fn fetch(name: &str, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dataset: DatasetName = serde_json::from_value(serde_json::Value::String(name.into()))
        .with_context(|| format!("unknown dataset `{name}`; expected mnist or fashion-mnist"))?;
    let dir = match dir {
        Some(d) => d,
        None => batchbench::data::fetch::default_dir(dataset)?,
    };
    batchbench::data::fetch::fetch(dataset, &dir)?;
    eprintln!("{} is in {}", dataset, dir.display());
    Ok(())
}

fn schema() -> anyhow::Result<()> {
    print!("{}", batchbench::suite::json_schema());
    Ok(())
}
