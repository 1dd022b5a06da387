//! The rendered `/metrics` text checked by independent parsers: `promtool check metrics`
//! and the Python `prometheus_client` parser.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use dsa110_service::metrics::{self as m, CATALOGUE};

use crate::common::{counts, metrics_lock, record_every_metric, Fixture, Server};

pub use dsa110_test_support::PROMTOOL_ALLOWED_LINTS;

/// Scrapes a server with every metric populated.
pub async fn scrape_everything() -> String {
    let fx = Fixture::healthy();
    fx.status.set_counts(counts(3, 7, 1, 1234, 5));
    fx.status.set_oldest(Some(600.0));
    record_every_metric();
    let server = Server::start(fx.state()).await;
    let r = server.get("/metrics").await;
    assert_eq!(r.status, 200);
    r.body
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn promtool_check_metrics_accepts_the_exposition() {
    let text = {
        let _g = metrics_lock().await;
        scrape_everything().await
    };
    dsa110_test_support::promtool_check_metrics(&text, PROMTOOL_ALLOWED_LINTS);
}

#[test]
fn promtool_flags_a_broken_exposition() {
    // Guards the test above against a promtool that accepts anything.
    let out = run_with_stdin(
        Command::new("promtool").args(["check", "metrics"]),
        "# TYPE x_total counter\nx_total{a=\"1\" 3\n",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

const PARSE_SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"family": fam.name, "type": fam.type, "name": s.name,
                    "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

#[tokio::test]
async fn python_prometheus_client_parses_the_exposition() {
    let text = {
        let _g = metrics_lock().await;
        scrape_everything().await
    };
    let python = dsa110_test_support::python();
    let out = run_with_stdin(Command::new(&python).args(["-c", PARSE_SCRIPT]), &text);
    assert!(
        out.status.success(),
        "{}\n--- input ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();

    let find = |name: &str, label: Option<(&str, &str)>| -> Option<f64> {
        samples
            .iter()
            .find(|s| {
                s["name"] == name && label.is_none_or(|(k, v)| s["labels"][k].as_str() == Some(v))
            })
            .map(|s| s["value"].as_f64().unwrap())
    };
    for (state, n) in [
        ("collecting", 3.0),
        ("pending", 7.0),
        ("in_progress", 1.0),
        ("completed", 1234.0),
        ("failed", 5.0),
    ] {
        assert_eq!(find(m::QUEUE, Some(("state", state))), Some(n), "{state}");
    }
    assert!(find(m::DISK_FREE_GB, Some(("path", "output"))).is_some());
    assert!(find(m::DISK_FREE_GB, Some(("path", "scratch"))).is_some());
    assert_eq!(
        find(m::BUILD_INFO, Some(("version", m::VERSION))),
        Some(1.0)
    );
    assert!(
        find(
            "dsa110_streaming_group_duration_seconds_bucket",
            Some(("le", "+Inf"))
        )
        .unwrap()
            >= 1.0
    );

    // Every catalogue name appears as a sample name with its type.
    let names: BTreeSet<&str> = samples
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for spec in CATALOGUE {
        let (sample, ty) = match spec.kind {
            m::MetricKind::Counter => (spec.name.to_owned(), "counter"),
            m::MetricKind::Gauge => (spec.name.to_owned(), "gauge"),
            m::MetricKind::Histogram => (format!("{}_bucket", spec.name), "histogram"),
        };
        assert!(
            names.contains(sample.as_str()),
            "{sample} not parsed; got {names:?}"
        );
        let s = samples
            .iter()
            .find(|s| s["name"] == sample.as_str())
            .unwrap();
        assert_eq!(s["type"], ty, "{sample}");
    }
}
