//! Every number a person reads: one module formats them all (criterion's `format.rs`
//! does the same), so a table, a finding, a chart tick and a terminal line print the
//! same quantity the same way.

use crate::stats::Estimate;

/// Seconds with sensible precision: `0.106 ms`, `0.027 s`, `3.94 s`, `440 s`.
pub fn secs(s: f64) -> String {
    if s < 0.01 {
        format!("{:.3} ms", s * 1e3)
    } else if s < 0.1 {
        format!("{:.3} s", s)
    } else if s < 10.0 {
        format!("{:.2} s", s)
    } else {
        format!("{:.0} s", s)
    }
}

/// A fraction as a percentage with one decimal: `0.953` → `95.3%`.
pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A fraction's estimate as `95.3% ± 0.4`, or `95.3% (one run, no interval)`.
pub fn pct_ci(e: &Estimate) -> String {
    match e.ci95 {
        Some(h) => format!("{:.1}% ± {:.1}", e.mean * 100.0, h * 100.0),
        None => format!("{:.1}% (one run, no interval)", e.mean * 100.0),
    }
}

/// A count in a table: `946`, `12.5k`, `2.40M`.
pub fn big(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A chart tick or a compact value: `1024`, `60k`, `0.5`, `2.5M`, `1e-4`.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        trim(format!("{:.2}", v / 1e6)) + "M"
    } else if a >= 1e4 {
        trim(format!("{:.1}", v / 1e3)) + "k"
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        trim(format!("{v:.2}"))
    } else if a >= 0.01 {
        trim(format!("{v:.3}"))
    } else {
        format!("{v:.0e}")
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A learning rate with up to 4 significant digits and no trailing zeros.
pub fn lr(lr: f64) -> String {
    let text = format!("{lr:.4e}");
    let parsed: f64 = text.parse().unwrap_or(lr);
    format!("{parsed}")
}

/// A metric's estimate with its unit: `1234 ± 56 samples/s`, `0.9530 `, `–`.
pub fn estimate(e: &Option<Estimate>, unit: &str) -> String {
    match e {
        None => "–".into(),
        Some(e) => {
            let v = |x: f64| {
                if x.abs() >= 100.0 {
                    format!("{x:.0}")
                } else if x.abs() >= 1.0 {
                    format!("{x:.2}")
                } else {
                    format!("{x:.4}")
                }
            };
            match e.ci95 {
                Some(h) => format!("{} ± {} {unit}", v(e.mean), v(h)),
                None => format!("{} {unit}", v(e.mean)),
            }
            .trim_end()
            .to_string()
        }
    }
}

/// A relative change, signed: `+5.2%`, `-31.1%`, `–`.
pub fn change(pct: Option<f64>) -> String {
    pct.map(|c| format!("{}{c:.1}%", if c >= 0.0 { "+" } else { "" }))
        .unwrap_or_else(|| "–".into())
}

/// Text from records (suite names, labels, testbeds) made safe for Markdown: the
/// characters that would open emphasis, code, links, raw HTML or a table cell are
/// escaped, so a hand-edited record cannot change the page's structure. (`_` is left
/// alone: GitHub's Markdown does not emphasize inside words like `S_min`.)
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '[' | ']' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The first 12 hex digits of a hash, for messages (the whole text if shorter: a
/// manifest is a file anyone can edit).
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_compact() {
        assert_eq!(tick(1024.0), "1024");
        assert_eq!(tick(60000.0), "60k");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(2_500_000.0), "2.5M");
    }

    #[test]
    fn numbers_read_the_same_everywhere() {
        assert_eq!(secs(0.000106), "0.106 ms");
        assert_eq!(secs(0.0271), "0.027 s");
        assert_eq!(secs(3.944), "3.94 s");
        assert_eq!(secs(440.3), "440 s");
        assert_eq!(pct(0.9534), "95.3%");
        assert_eq!(big(12_500.0), "12.5k");
        assert_eq!(lr(0.1600000001), "0.16");
        assert_eq!(change(Some(-31.14)), "-31.1%");
        assert_eq!(short_hash("abc"), "abc");
        assert_eq!(
            md("<script>|*x*|[a](b)\nnext"),
            "&lt;script&gt;\\|\\*x\\*\\|\\[a\\](b) next"
        );
        assert_eq!(short_hash("0123456789abcdef"), "0123456789ab");
    }
}

/// An engine and its versions: `burn 0.21.0`, `pytorch 2.11.0 (compile, CUDA 12.8,
/// Python 3.12.3, NumPy 2.2.1)`.
pub fn engine(e: &crate::results::env::EngineInfo) -> String {
    let mut details: Vec<String> = Vec::new();
    details.extend(e.mode.clone());
    details.extend(e.cuda.as_ref().map(|c| format!("CUDA {c}")));
    details.extend(e.python.as_ref().map(|p| format!("Python {p}")));
    details.extend(e.numpy.as_ref().map(|n| format!("NumPy {n}")));
    if details.is_empty() {
        format!("{} {}", e.name, e.version)
    } else {
        format!("{} {} ({})", e.name, e.version, details.join(", "))
    }
}
