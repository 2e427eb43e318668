//! One module per subcommand: its options (`Args`, parsed by clap) and a `run()`
//! that wires them to the library. Nothing here measures, analyses or renders.

pub mod compare;
pub mod data;
pub mod env;
pub mod export;
pub mod interpolate;
pub mod max_batch;
pub mod merge;
pub mod report;
pub mod run;
pub mod suite;
pub mod warm;

use std::path::Path;

use anyhow::Context;

use batchbench::suite::Suite;

/// `--version`: the version and the commit the binary was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BATCHBENCH_GIT"), ")");

/// Makes `println!` to a closed pipe (`batchbench plan … | head`) end the command
/// quietly instead of panicking: it panics with a recognizable message, which the
/// hook turns into a quiet exit. Sweeps never print with `println!` (their observer
/// ignores a closed pipe and goes on recording).
pub fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = batchbench::runner::failure::panic_message(info.payload());
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Whether an error is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Loads and checks a suite, as an error that prints in one line.
pub fn load_suite(path: &Path) -> anyhow::Result<Suite> {
    Suite::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Reads `5%`, `5` or `0.05%` as a percentage.
pub fn parse_percent(text: &str) -> Result<f64, String> {
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

/// Reads a duration in seconds: a finite number > 0 and at most a year.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds; write e.g. 600"))?;
    if !(v.is_finite() && v > 0.0 && v <= 365.0 * 86_400.0) {
        return Err(format!(
            "{text} is out of range; give seconds > 0 and at most a year (31536000)"
        ));
    }
    Ok(v)
}

/// Reads a fraction in (0, 1].
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number; write e.g. 0.9"))?;
    if !(v.is_finite() && v > 0.0 && v <= 1.0) {
        return Err(format!(
            "{text} is out of range; give a fraction in (0, 1], e.g. 0.9"
        ));
    }
    Ok(v)
}

/// A folder name from a suite name read from records (which anyone can edit): only
/// letters, digits, `-`, `_`, `.`, never starting with a dot.
pub fn safe_name(name: &str) -> String {
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

/// `--color` as written on the command line (before clap parses it, so clap's own
/// help and errors follow it), with `NO_COLOR` turning `auto` off.
pub fn color_from_args() -> clap::ColorChoice {
    let args: Vec<String> = std::env::args().collect();
    let given = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--color=")
            .map(str::to_string)
            .or_else(|| (a == "--color").then(|| args.get(i + 1).cloned().unwrap_or_default()))
    });
    match given.as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => {
            clap::ColorChoice::Never
        }
        _ => clap::ColorChoice::Auto,
    }
}

/// `error: …` on stderr, the prefix in bold red where colour is wanted (`color` as
/// [`color_from_args`] resolved it).
pub fn print_error(e: &anyhow::Error, color: clap::ColorChoice) {
    use std::io::IsTerminal;
    let colored = match color {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        // `NO_COLOR` already made `auto` `never` (`color_from_args`).
        clap::ColorChoice::Auto => std::io::stderr().is_terminal(),
    };
    if colored {
        eprintln!("\x1b[1;31merror:\x1b[0m {e:#}");
    } else {
        eprintln!("error: {e:#}");
    }
}

/// Writes `batchbench.1` and one page per subcommand into `out`.
pub fn write_man_pages(cmd: clap::Command, out: &Path) -> anyhow::Result<std::process::ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    clap_mangen::generate_to(cmd, out)
        .with_context(|| format!("cannot write man pages into {}", out.display()))?;
    println!("{}", out.join("batchbench.1").display());
    Ok(std::process::ExitCode::SUCCESS)
}

/// The parent process's log: warnings by default, `-v` info, `-vv` debug, `RUST_LOG`
/// (e.g. `RUST_LOG=error` to silence warnings) over both; printed as `warning: …`
/// like the rest of batchbench's messages. Workers install their own
/// (`runner::worker_log`).
pub fn init_logging(verbose: u8) {
    use std::io::Write;
    let level = match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .target(env_logger::Target::Stderr)
        .format(|buf, record| {
            let label = match record.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "info",
                log::Level::Debug => "debug",
                log::Level::Trace => "trace",
            };
            writeln!(buf, "{label}: {}", record.args())
        })
        .try_init();
}
