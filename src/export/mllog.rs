//! MLPerf-style logs: one `:::MLLOG {json}` line per event, as MLCommons'
//! `mlperf_logging` writes them, one file per run, so tools built for MLPerf training
//! logs (its compliance checker, log parsers, dashboards) can read batchbench runs.
//!
//! A batchbench run is not an MLPerf benchmark: the logs are structurally valid
//! (checked in the tests by the `mlperf-logging` package's compliance checker with the
//! generic rules in `tests/mllog/batchbench-rules.yaml`), not MLPerf-compliant
//! submissions. Times are rebuilt from the record: `init_start` at the run's start,
//! `run_start` after loading the data, each evaluation at its wall-clock offset,
//! `run_stop` at the run's end; milliseconds since the Unix epoch, never decreasing.

use std::fmt::Write as _;

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};

use crate::results::record::{RunRecord, RunStatus};

/// `event_type` of an MLLOG line.
#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Event {
    PointInTime,
    IntervalStart,
    IntervalEnd,
}

/// One MLLOG line, fields in the reference logger's order.
#[derive(Serialize)]
struct Line<'a> {
    namespace: &'a str,
    time_ms: i64,
    event_type: Event,
    key: &'a str,
    value: Value,
    metadata: Value,
}

fn millis(rfc3339: &str, what: &str, key: &str) -> anyhow::Result<i64> {
    Ok(chrono::DateTime::parse_from_rfc3339(rfc3339)
        .with_context(|| format!("run {key}: {what} `{rfc3339}` is not an RFC 3339 time"))?
        .timestamp_millis())
}

fn offset_ms(seconds: Option<f64>) -> i64 {
    seconds
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(0, |s| (s * 1000.0).round().min(1e12) as i64)
}

/// The MLLOG text of one run; `lineno` is its 1-based place in `runs.jsonl`.
pub fn mllog(r: &RunRecord, lineno: usize) -> anyhow::Result<String> {
    let start = millis(&r.started_at, "started_at", &r.key)?;
    let end = millis(&r.finished_at, "finished_at", &r.key)?;
    let mut out = String::new();
    let mut last = start;
    let mut line = |time: i64, event: Event, key: &str, value: Value, extra: Value| {
        // Times never go backwards, even where the record's clock readings do.
        last = last.max(time);
        let mut metadata = json!({"file": "runs.jsonl", "lineno": lineno});
        if let (Some(m), Value::Object(extra)) = (metadata.as_object_mut(), extra) {
            m.extend(extra);
        }
        let text = serde_json::to_string(&Line {
            namespace: "",
            time_ms: last,
            event_type: event,
            key,
            value,
            metadata,
        })
        .expect("an MLLOG line serializes");
        writeln!(out, ":::MLLOG {text}").expect("writing to a String");
    };
    let s = &r.spec;
    let platform = match (&r.env.adapter, r.env.gpus.first()) {
        (Some(adapter), _) => format!(
            "{}: {}",
            r.env.host.as_deref().unwrap_or("host"),
            adapter.label()
        ),
        (None, Some(g)) => format!(
            "{}: {}x {}",
            r.env.host.as_deref().unwrap_or("host"),
            r.env.gpus.len(),
            g.name
        ),
        (None, None) => format!(
            "{}: {} ({} threads)",
            r.env.host.as_deref().unwrap_or("host"),
            r.env.cpu,
            r.env.threads
        ),
    };
    let none = Value::Null;
    let point = Event::PointInTime;
    for (key, value) in [
        ("submission_benchmark", json!(r.suite)),
        ("submission_org", json!("batchbench")),
        ("submission_division", json!("open")),
        ("submission_status", json!("research")),
        ("submission_platform", json!(platform)),
        ("seed", json!(s.seed)),
        ("global_batch_size", json!(s.batch_size)),
        ("gradient_accumulation_steps", json!(s.accumulate)),
        ("opt_name", json!(s.optimizer.kind)),
        ("opt_base_learning_rate", json!(s.lr)),
    ] {
        line(start, point, key, value, none.clone());
    }
    if let Some(d) = &r.data {
        line(
            start,
            point,
            "train_samples",
            json!(d.train_size),
            none.clone(),
        );
        line(
            start,
            point,
            "eval_samples",
            json!(d.test_size),
            none.clone(),
        );
    }
    line(
        start,
        Event::IntervalStart,
        "init_start",
        none.clone(),
        none.clone(),
    );
    let run_start = start + offset_ms(r.summary.data_s);
    line(
        run_start,
        Event::IntervalEnd,
        "init_stop",
        none.clone(),
        none.clone(),
    );
    line(
        run_start,
        Event::IntervalStart,
        "run_start",
        none.clone(),
        none.clone(),
    );
    for p in r.curve.iter().filter(|p| p.test_acc.is_finite()) {
        line(
            run_start + offset_ms(Some(p.wall_s)),
            point,
            "eval_accuracy",
            json!(p.test_acc),
            json!({"epoch_num": p.epoch, "samples_count": p.samples, "step_num": p.step}),
        );
    }
    let stop = if r.status == RunStatus::Ok {
        json!({"status": "success"})
    } else {
        // MLPerf knows success and aborted; the batchbench status says which failure.
        json!({
            "status": "aborted",
            "batchbench_status": r.status,
            "reason": r.reason.as_deref().unwrap_or(""),
        })
    };
    line(end, Event::IntervalEnd, "run_stop", none.clone(), stop);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record_for_tests;

    #[test]
    fn events_in_order_with_times_that_never_go_back() {
        let mut r = record_for_tests("a", 0.9);
        r.summary.data_s = Some(0.25);
        r.curve[0].wall_s = 5.0; // past finished_at: the stop waits for it
        let text = mllog(&r, 3).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l.strip_prefix(":::MLLOG ").unwrap()).unwrap())
            .collect();
        let keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
        let pos = |k: &str| keys.iter().position(|x| *x == k).unwrap();
        assert!(pos("global_batch_size") < pos("init_start"));
        assert!(pos("init_start") < pos("init_stop") && pos("init_stop") < pos("run_start"));
        assert!(pos("run_start") < pos("eval_accuracy") && pos("eval_accuracy") < pos("run_stop"));
        let times: Vec<i64> = lines
            .iter()
            .map(|l| l["time_ms"].as_i64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert_eq!(times[pos("run_start")] - times[0], 250);
        let eval = &lines[pos("eval_accuracy")];
        assert_eq!(eval["value"], 0.9);
        assert_eq!(eval["metadata"]["step_num"], 40);
        assert_eq!(eval["metadata"]["lineno"], 3);
        assert_eq!(lines[pos("run_stop")]["metadata"]["status"], "success");

        r.status = RunStatus::Oom;
        r.started_at = "yesterday".into();
        assert!(
            mllog(&r, 1)
                .unwrap_err()
                .to_string()
                .contains("started_at `yesterday`")
        );
    }
}
