//! Suites: declarative YAML studies, validated with positions, expanded into runs.
//!
//! A suite goes through three steps, each with errors that name the file, the line
//! and column, the field, what is allowed and (for misspellings) what was meant:
//! 1. [`Suite::load`] reads the YAML into [`schema::SuiteFile`] (serde-saphyr, with a
//!    tight budget against alias bombs and deep nesting; unknown keys are errors);
//! 2. every value is range-checked where it is written ([`checks`]);
//! 3. [`Suite::expand`] builds the matrix and resolves each combination into a
//!    [`RunSpec`], checking what needs several settings at once.

pub mod checks;
mod expand;
mod keys;
pub mod layout;
mod located;
pub mod schema;
mod schema_rules;
pub mod spec;

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use located::{Located, Position};
pub use schema::*;
pub use spec::RunSpec;

/// Suites larger than this are refused before parsing: real suites are a few KiB.
pub const MAX_SUITE_BYTES: u64 = 1 << 20;

/// A suite error, printed as `file:line:column: field: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteError {
    /// The suite file.
    pub file: PathBuf,
    /// Where in the file, when known.
    pub position: Option<Position>,
    /// The field path, e.g. `matrix.batch_size[2]`.
    pub field: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SuiteError {}

/// A parsed suite with its source text (kept verbatim for records and reports).
#[derive(Debug, Clone)]
pub struct Suite {
    /// Where it was read from.
    pub path: PathBuf,
    /// The YAML exactly as written.
    pub text: String,
    /// SHA-256 of the text, hex.
    pub sha256: String,
    /// The parsed content.
    pub file: SuiteFile,
}

impl Suite {
    /// Reads, parses and value-checks a suite file: the first error.
    pub fn load(path: &Path) -> Result<Suite, SuiteError> {
        Suite::load_checked(path).map_err(|mut errors| errors.swap_remove(0))
    }

    /// Reads, parses and value-checks a suite file: every unknown key and every
    /// out-of-range value (at least one error on `Err`). A value of the wrong type
    /// or a YAML syntax error stops the parse, so it comes alone.
    pub fn load_checked(path: &Path) -> Result<Suite, Vec<SuiteError>> {
        let error = |message: String| {
            vec![SuiteError {
                file: path.to_path_buf(),
                position: None,
                field: None,
                message,
            }]
        };
        let meta =
            std::fs::metadata(path).map_err(|e| error(format!("cannot read the suite: {e}")))?;
        if meta.len() > MAX_SUITE_BYTES {
            return Err(error(format!(
                "the file is {} bytes; suites are limited to {MAX_SUITE_BYTES} bytes",
                meta.len()
            )));
        }
        let bytes =
            std::fs::read(path).map_err(|e| error(format!("cannot read the suite: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| error(format!("the file is not UTF-8 text ({e})")))?;
        Suite::parse_checked(path, text)
    }

    /// Parses and value-checks suite text; `path` is used in messages only.
    pub fn parse(path: &Path, text: String) -> Result<Suite, SuiteError> {
        Suite::parse_checked(path, text).map_err(|mut errors| errors.swap_remove(0))
    }

    /// [`Suite::parse`] with every error (see [`Suite::load_checked`]).
    pub fn parse_checked(path: &Path, text: String) -> Result<Suite, Vec<SuiteError>> {
        if text.trim().is_empty() {
            return Err(vec![SuiteError {
                file: path.to_path_buf(),
                position: None,
                field: None,
                message: "the file is empty; a suite needs at least `version: 1`, a `name` and its settings (see suites/quickstart.yaml)".into(),
            }]);
        }
        let unknown = keys::unknown_keys(path, &text);
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let mut file = parse_yaml(path, &text).map_err(|e| vec![e])?;
        tag_paths(&mut file);
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        let suite = Suite {
            path: path.to_path_buf(),
            text,
            sha256,
            file,
        };
        suite.check()?;
        Ok(suite)
    }

    /// The suite's name.
    pub fn name(&self) -> &str {
        &self.file.name.value
    }

    /// The same suite with `batch_size` swept over `sizes` (the matrix axis replaced,
    /// a default dropped): what `advise --candidates` trains. Include and exclude
    /// entries still apply; the expansion checks every new run like any other.
    pub fn with_batch_sizes(&self, sizes: &[u64]) -> Suite {
        let mut suite = self.clone();
        let f = &mut suite.file;
        if let Some(d) = &mut f.defaults {
            d.batch_size = None;
        }
        let axis = sizes.iter().map(|&b| Located::builtin(b)).collect();
        f.matrix.get_or_insert_with(Matrix::default).batch_size = Some(Located::builtin(axis));
        tag_paths(f);
        suite
    }

    /// An error located at `position`, for `field`.
    pub(crate) fn error_at(
        &self,
        position: Option<Position>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> SuiteError {
        SuiteError {
            file: self.path.clone(),
            position,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    fn check(&self) -> Result<(), Vec<SuiteError>> {
        let f = &self.file;
        if f.version.value != SUITE_VERSION {
            return Err(vec![self.error_at(
                f.version.position,
                "version",
                format!(
                    "version {} is not supported; this batchbench reads version {SUITE_VERSION}",
                    f.version.value
                ),
            )]);
        }
        let name = &f.name.value;
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && !name.starts_with('.');
        let mut errors = Vec::new();
        if !name_ok {
            errors.push(self.error_at(
                f.name.position,
                "name",
                format!(
                    "`{name}` is not a valid suite name; use 1 to 64 letters, digits, `-`, `_` or `.` (not first), since it names the results folder"
                ),
            ));
        }
        let mut check = |settings: &Settings| {
            settings.check_values(&mut |field, value, position, path| {
                if let Err(message) = value.check(field) {
                    errors.push(self.error_at(position, path.unwrap_or(field), message));
                }
            });
        };
        if let Some(defaults) = &f.defaults {
            check(defaults);
        }
        for (_, _, values) in f.matrix.as_ref().map(Matrix::axes).unwrap_or_default() {
            values.iter().for_each(&mut check);
        }
        for entry in f.include.iter().chain(&f.exclude).flatten() {
            check(&entry.value);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Gives every value its field path, for messages about combinations of settings.
fn tag_paths(file: &mut SuiteFile) {
    if let Some(d) = &mut file.defaults {
        d.tag_paths("defaults.");
    }
    if let Some(m) = &mut file.matrix {
        m.tag_paths();
    }
    for (block, entries) in [
        ("include", &mut file.include),
        ("exclude", &mut file.exclude),
    ] {
        for (i, entry) in entries.iter_mut().flatten().enumerate() {
            entry.value.tag_paths(&format!("{block}[{i}]."));
        }
    }
}

/// The JSON Schema of suite files, generated once per process: `batchbench schema`
/// prints it and every suite load walks it for unknown keys (`keys.rs`).
fn schema_value() -> &'static serde_json::Value {
    static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::to_value(schemars::schema_for!(SuiteFile)).expect("the schema serializes")
    })
}

/// The JSON Schema of suite files (shipped as `suites/schema.json`, so editors with
/// a YAML language server complete and check suites).
pub fn json_schema() -> String {
    serde_json::to_string_pretty(schema_value()).expect("the schema serializes") + "\n"
}

/// serde-saphyr options for suites: small budgets, since a suite is a few dozen lines.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 24,
            max_nodes: 50_000,
            max_aliases: 200,
            max_anchors: 200,
            max_documents: 1,
            max_total_scalar_bytes: 1 << 20,
        },
    }
}

fn parse_yaml(path: &Path, text: &str) -> Result<SuiteFile, SuiteError> {
    let mut field = None;
    let result =
        serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |de| {
            serde_path_to_error::deserialize(de).map_err(|e| {
                let p = e.path().to_string();
                if p != "." && !p.is_empty() {
                    field = Some(p);
                }
                e.into_inner()
            })
        });
    result.map_err(|e| {
        let position = e.location().filter(|l| l.line() > 0).map(|l| Position {
            line: l.line() as u32,
            column: l.column() as u32,
        });
        SuiteError {
            file: path.to_path_buf(),
            position,
            field: field.map(|f| clean_path(&f)),
            message: explain_yaml_error(&e),
        }
    })
}

/// serde_path_to_error prints `Located` wrappers as `.value` and unknown segments
/// as `?`; drop both.
fn clean_path(path: &str) -> String {
    path.replace(".value", "").replace(".?", "")
}

/// The YAML error in one sentence, with "did you mean" for misspelt keys and names.
fn explain_yaml_error(e: &serde_saphyr::Error) -> String {
    let plain = e.without_snippet().to_string();
    // serde-saphyr appends " at line L, column C"; the position is printed in front.
    // Alias errors add " (defined at line …) (used at line …)"; keep the message.
    let message = match plain
        .find(" (defined at line ")
        .or_else(|| plain.rfind(" at line "))
    {
        Some(i) => plain[..i].to_string(),
        None => plain,
    };
    let friendlier = match message.as_str() {
        "invalid u64" | "invalid u32" => Some("expected a non-negative whole number"),
        "invalid floating point" => Some("expected a number"),
        "expected sequence start" => Some("expected a list, e.g. [1, 2]"),
        "expected mapping start" => {
            Some("expected a mapping of keys to values, e.g. {name: digits}")
        }
        _ => None,
    };
    if let Some(f) = friendlier {
        return f.to_string();
    }
    if let Some(breach) = message.strip_prefix("budget breached: ") {
        let what = match breach.split_whitespace().next().unwrap_or("") {
            "Aliases" => "more than 200 aliases (*name)",
            "Anchors" => "more than 200 anchors (&name)",
            "Depth" => "nesting deeper than 24 levels",
            "Nodes" => "more than 50,000 values",
            "Documents" => "more than one YAML document",
            _ => "more YAML than a suite can need",
        };
        return format!(
            "refused: the file has {what}; suites are small, so this looks like a malformed or hostile file ({breach})"
        );
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("`{key}` is set twice in the same mapping; keep one");
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let hint = if rest == "`version`" {
            "; start the suite with `version: 1`"
        } else {
            ""
        };
        return format!("missing key {rest}{hint}");
    }
    did_you_mean(&message).unwrap_or(message)
}

/// For "unknown field `x`, expected one of a, b" and "unknown variant" messages
/// (serde's, as serde-saphyr prints them), names what is allowed and adds the
/// closest allowed name.
pub(crate) fn did_you_mean(message: &str) -> Option<String> {
    let noun = if message.starts_with("unknown field") {
        "key"
    } else if message.starts_with("unknown variant") {
        "value"
    } else {
        return None;
    };
    let got = message.split('`').nth(1)?;
    let rest = message.split_once("expected")?.1;
    let rest = rest.trim_start().trim_start_matches("one of").trim();
    let expected: Vec<String> = rest
        .replace(" or ", ", ")
        .split(", ")
        .map(|s| s.trim().trim_matches('`').to_string())
        .filter(|s| !s.is_empty() && !s.starts_with("nothing"))
        .collect();
    let allowed = if expected.is_empty() {
        "none is allowed here".to_string()
    } else {
        format!("allowed: {}", expected.join(", "))
    };
    let mut out = format!("unknown {noun} `{got}`; {allowed}");
    let names: Vec<&str> = expected.iter().map(String::as_str).collect();
    if let Some(best) = closest(got, &names) {
        out.push_str(&format!(" (did you mean `{best}`?)"));
    }
    Some(out)
}

/// The allowed name closest to `got`, if it is close enough to be a likely typo.
pub fn closest<'a>(got: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(got, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}
