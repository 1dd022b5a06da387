//! The deployment files in `ops/`: validated with the real tools (promtool,
//! systemd-analyze) and checked against the metric catalogue.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use dsa110_service::metrics::CATALOGUE;

use crate::common::{metrics_lock, ops_dir};
use crate::exposition::scrape_everything;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn promtool_checks_config_rules_and_rule_tests() {
    let dir = ops_dir().join("prometheus");
    for args in [
        vec!["check", "config", "prometheus.yml"],
        vec!["check", "rules", "dsa110-alerts.yml"],
        vec!["test", "rules", "dsa110-alerts.test.yml"],
    ] {
        let (ok, text) = run(Command::new("promtool").args(&args).current_dir(&dir));
        assert!(ok, "promtool {args:?}:\n{text}");
        assert!(text.contains("SUCCESS"), "promtool {args:?}:\n{text}");
    }
}

#[test]
fn prometheus_config_has_the_guides_scrape_job_verbatim() {
    let text = read(&ops_dir().join("prometheus/prometheus.yml"));
    let guide = r#"scrape_configs:
  - job_name: "dsa110-streaming"
    static_configs:
      - targets: ["localhost:9100"]
    metrics_path: /metrics
"#;
    assert!(text.contains(guide), "{text}");
    assert!(
        text.contains("rule_files:\n  - \"dsa110-alerts.yml\""),
        "{text}"
    );
}

/// `systemd-analyze verify` on a copy of the unit whose ExecStart points at an executable
/// the test creates (the real binary is not installed here; verify fails on a missing
/// ExecStart). Any other output — unknown keys, bad values — fails the test. Also checks
/// the hardening with `systemd-analyze security --offline`.
fn verify_unit(name: &str, binary: &str) {
    let unit = read(&ops_dir().join("systemd").join(name));
    assert!(unit.contains(binary), "{name} does not run {binary}");
    let tmp = tempfile::tempdir().unwrap();
    let fake_bin = tmp.path().join(Path::new(binary).file_name().unwrap());
    std::fs::write(&fake_bin, "#!/bin/sh\nexit 0\n").unwrap();
    let mut perms = std::fs::metadata(&fake_bin).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&fake_bin, perms).unwrap();
    let copy = tmp.path().join(name);
    std::fs::write(&copy, unit.replace(binary, fake_bin.to_str().unwrap())).unwrap();

    let (ok, text) = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy));
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify {name}:\n{text}"
    );

    let (_, text) = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&copy));
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .and_then(|rest| rest.split(':').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(exposure <= 3.0, "{name} exposure {exposure}:\n{text}");
}

#[test]
fn systemd_units_verify() {
    verify_unit("dsa110-stream.service", "/usr/local/bin/dsa110-stream");
}

#[test]
fn systemd_verify_catches_a_bad_unit() {
    // Guards verify_unit: a typo must not pass silently.
    let tmp = tempfile::tempdir().unwrap();
    let unit = tmp.path().join("bad.service");
    std::fs::write(&unit, "[Service]\nExecStart=/bin/true\nKillMode=bogus\n").unwrap();
    let (_, text) = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit));
    assert!(!text.trim().is_empty());
}

/// `Key=value` of a unit (last wins, continuation lines joined).
fn unit_value(unit: &str, key: &str) -> Option<String> {
    let joined = unit.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}=")))
        .next_back()
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[test]
fn stream_unit_contract() {
    let unit = read(&ops_dir().join("systemd/dsa110-stream.service"));
    let v = |k: &str| unit_value(&unit, k).unwrap_or_else(|| panic!("no {k}="));
    assert_eq!(v("Type"), "notify");
    assert_eq!(v("User"), "dsa110");
    assert_eq!(v("Restart"), "on-failure");
    assert_eq!(v("RestartSec"), "10");
    assert_eq!(v("KillSignal"), "SIGTERM");
    let stop: u64 = v("TimeoutStopSec").parse().unwrap();
    assert!(
        stop > 300,
        "TimeoutStopSec {stop} must exceed the daemon's 300 s stop timeout"
    );
    assert_eq!(v("ProtectSystem"), "strict");
    assert_eq!(v("ReadWritePaths"), "/data");
    assert_eq!(v("NoNewPrivileges"), "yes");
    assert!(v("WatchdogSec").parse::<u64>().unwrap() >= 60);
    assert!(v("EnvironmentFile").starts_with("-/etc/dsa110/"));
    assert_eq!(
        v("ExecStart"),
        "/usr/local/bin/dsa110-stream --input-dir /data/incoming --output-dir /data/ms \
         --queue-db /data/dsa110-contimg/state/db/pipeline.sqlite3 --monitoring $DSA110_STREAM_ARGS"
    );
    let env = read(&ops_dir().join("systemd/dsa110-stream.env.example"));
    assert!(
        env.lines().any(|l| l.starts_with("DSA110_STREAM_ARGS=")),
        "{env}"
    );
}

/// Every `dsa110_…` metric name in `text` (histogram series suffixes stripped).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("dsa110_") {
        let start = i + pos;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(text.len() - start);
        if boundary {
            let name = &text[start..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            names.insert(base.to_owned());
        }
        i = end;
    }
    names
}

/// The `expr:` values of a Prometheus rule file, inline or block (`expr: |`) scalars.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let mut block = String::new();
            while let Some(next) = lines.peek() {
                let next_indent = next.len() - next.trim_start().len();
                if !next.trim().is_empty() && next_indent <= indent {
                    break;
                }
                block.push_str(next.trim());
                block.push('\n');
                lines.next();
            }
            out.push(block);
        } else {
            out.push(value.to_owned());
        }
    }
    out
}

fn grafana_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map {
                match (k.as_str(), val) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => grafana_exprs(val, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| grafana_exprs(i, out)),
        _ => {}
    }
}

#[tokio::test]
async fn dashboard_and_alerts_use_only_exported_metrics() {
    let rendered = {
        let _g = metrics_lock().await;
        scrape_everything().await
    };
    let catalogue: BTreeSet<&str> = CATALOGUE.iter().map(|s| s.name).collect();

    let dashboard: serde_json::Value = serde_json::from_str(&read(
        &ops_dir().join("grafana/dsa110-pipeline-dashboard.json"),
    ))
    .unwrap();
    let mut exprs = Vec::new();
    grafana_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let dash_names: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    let alert_text = read(&ops_dir().join("prometheus/dsa110-alerts.yml"));
    let alert_exprs = rule_exprs(&alert_text);
    assert_eq!(
        alert_exprs.len(),
        alert_text.matches("- alert:").count(),
        "{alert_exprs:#?}"
    );
    let alert_names: BTreeSet<String> = alert_exprs.iter().flat_map(|e| metric_names(e)).collect();

    for (source, names) in [("dashboard", &dash_names), ("alerts", &alert_names)] {
        for name in names {
            assert!(
                catalogue.contains(name.as_str()),
                "{source} uses {name}, not in the catalogue"
            );
            let rendered_series = rendered.lines().any(|l| {
                !l.starts_with('#')
                    && [
                        name.clone(),
                        format!("{name}_bucket"),
                        format!("{name}_count"),
                    ]
                    .iter()
                    .any(|n| {
                        l.strip_prefix(n.as_str())
                            .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
                    })
            });
            assert!(
                rendered_series,
                "{source} uses {name}, absent from /metrics:\n{rendered}"
            );
        }
    }
    // The dashboard shows what the guide lists, and the key panels exist.
    for needed in [
        "dsa110_streaming_queue",
        "dsa110_streaming_disk_free_gb",
        "dsa110_streaming_groups_total",
        "dsa110_streaming_stage_duration_seconds",
        "dsa110_streaming_realtime_factor",
        "dsa110_streaming_last_success_timestamp_seconds",
        "dsa110_streaming_files_total",
        "dsa110_streaming_up",
    ] {
        assert!(dash_names.contains(needed), "dashboard lacks {needed}");
    }
    assert!(exprs
        .iter()
        .any(|e| e.contains("histogram_quantile") && e.contains("_bucket")));
    for needed in [
        "dsa110_streaming_disk_free_gb",
        "dsa110_streaming_groups_total",
        "dsa110_streaming_up",
    ] {
        assert!(alert_names.contains(needed), "alerts lack {needed}");
    }
    // Panel ids are unique and every query has a datasource.
    let panels = dashboard["panels"].as_array().unwrap();
    let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len());
    for p in panels.iter().filter(|p| p["type"] != "row") {
        assert!(
            !p["targets"].as_array().unwrap().is_empty(),
            "{}",
            p["title"]
        );
        assert!(p["datasource"].is_object(), "{}", p["title"]);
    }
}

#[test]
fn rule_expr_extraction() {
    let yaml = "      - alert: A\n        expr: up == 0\n        for: 1m\n      - alert: B\n        expr: |\n          a > 1\n          and b\n        labels: {}\n";
    assert_eq!(rule_exprs(yaml), ["up == 0", "a > 1\nand b\n"]);
}

#[test]
fn metric_name_extraction() {
    let names = metric_names(
        r#"sum(rate(dsa110_streaming_stage_duration_seconds_bucket[5m])) / x_dsa110_no + dsa110_streaming_up{job="dsa110-streaming"}"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "dsa110_streaming_stage_duration_seconds",
            "dsa110_streaming_up"
        ]
    );
}
