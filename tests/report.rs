//! Report tests on committed fixture records: snapshot tests of the Markdown and CSV
//! exports, and checks that the HTML page parses, holds one SVG per chart, requests
//! nothing from the network and escapes what it shows.

use std::path::{Path, PathBuf};

use batchbench::analysis;
use batchbench::report::{self, build_report};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records")
}

fn export(name: &str, dirs: &[PathBuf]) -> String {
    let sets = analysis::load_all(dirs).unwrap();
    let data = build_report(&sets, &["batchbench".into(), "report".into()]);
    let exporter = report::exporters()
        .into_iter()
        .find(|e| e.file_name() == name)
        .unwrap();
    String::from_utf8(exporter.render(&data).unwrap()).unwrap()
}

#[test]
fn markdown_summary_snapshot() {
    insta::assert_snapshot!(export("summary.md", &[fixture()]));
}

#[test]
fn csv_summary_snapshot() {
    insta::assert_snapshot!(export("summary.csv", &[fixture()]));
}

fn check_html(html: &str) -> scraper::Html {
    let doc = scraper::Html::parse_document(html);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page references another host"
    );
    let csp = scraper::Selector::parse("meta[http-equiv=Content-Security-Policy]").unwrap();
    let policy = doc
        .select(&csp)
        .next()
        .expect("a CSP meta tag")
        .value()
        .attr("content")
        .unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    doc
}

#[test]
fn html_parses_has_an_svg_per_chart_and_loads_nothing() {
    let out = tempfile::tempdir().unwrap();
    let html_path = report::render_dirs(&[fixture()], &out.path().join("fixture"), &[])
        .unwrap()
        .html;
    let html = std::fs::read_to_string(&html_path).unwrap();
    let doc = check_html(&html);
    let figures = scraper::Selector::parse("figure.chart").unwrap();
    let svg = scraper::Selector::parse("svg[viewBox]").unwrap();
    let n = doc.select(&figures).count();
    assert!(n >= 12, "{n} charts");
    for f in doc.select(&figures) {
        assert_eq!(f.select(&svg).count(), 1, "each chart holds one SVG");
    }
    for name in ["summary.json", "summary.csv", "summary.md"] {
        assert!(out.path().join("fixture").join(name).exists(), "{name}");
    }
    // The list of reports one level up.
    let index = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    check_html(&index);
    assert!(index.contains("fixture/index.html"));
}

fn rewrite_records(from: &Path, to: &Path, edit: impl Fn(&mut serde_json::Value)) {
    std::fs::create_dir_all(to).unwrap();
    let text = std::fs::read_to_string(from.join("runs.jsonl")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        edit(&mut v);
        out += &(v.to_string() + "\n");
    }
    std::fs::write(to.join("runs.jsonl"), out).unwrap();
}

#[test]
fn hostile_names_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("hostile");
    rewrite_records(&fixture(), &records, |v| {
        v["suite"] = "<script>alert(1)</script>".into();
        v["env"]["cpu"] = "<img src=x onerror=alert(2)>".into();
    });
    let html_path = report::render_dirs(&[records], &dir.path().join("out"), &[])
        .unwrap()
        .html;
    let html = std::fs::read_to_string(html_path).unwrap();
    check_html(&html);
    assert!(!html.contains("<script>alert(1)"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "escaped title"
    );
    assert!(!html.contains("<img src=x"));
}

#[test]
fn two_result_sets_render_side_by_side_named_by_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let gpu = dir.path().join("gpu");
    rewrite_records(&fixture(), &gpu, |v| v["spec"]["device"] = "cuda:0".into());
    let md = export("summary.md", &[fixture(), gpu]);
    assert!(md.contains("| cpu |"), "{md}");
    assert!(md.contains("| cuda:0 |"), "{md}");
    assert!(
        md.contains("Testbed: cpu:") && md.contains("Testbed: cuda:0:"),
        "{md}"
    );
}
