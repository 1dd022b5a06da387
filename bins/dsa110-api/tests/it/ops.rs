//! `ops/systemd/dsa110-api.service` verifies with systemd-analyze and is hardened;
//! the Prometheus config scrapes the API.

use std::process::Command;

fn ops() -> std::path::PathBuf {
    dsa110_test_support::workspace_root().join("ops")
}

#[test]
fn the_api_unit_verifies_and_is_hardened() {
    let binary = "/usr/local/bin/dsa110-api";
    let unit = std::fs::read_to_string(ops().join("systemd/dsa110-api.service")).unwrap();
    assert!(unit.contains(binary));
    assert!(unit.contains("--queue-db") && unit.contains("--listen 0.0.0.0:8000"));
    assert!(unit.contains("EnvironmentFile=-/etc/dsa110/dsa110-api.env"));
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("dsa110-api");
    std::fs::write(&fake, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let copy = tmp.path().join("dsa110-api.service");
    std::fs::write(&copy, unit.replace(binary, fake.to_str().unwrap())).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.trim().is_empty(), "{text}");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .and_then(|rest| rest.split(':').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(exposure <= 3.0, "exposure {exposure}:\n{text}");
}

#[test]
fn prometheus_scrapes_the_api() {
    let text = std::fs::read_to_string(ops().join("prometheus/prometheus.yml")).unwrap();
    assert!(
        text.contains("job_name: \"dsa110-api\"") && text.contains("localhost:8000"),
        "{text}"
    );
    let out = Command::new("promtool")
        .args(["check", "config", "--syntax-only"])
        .arg(ops().join("prometheus/prometheus.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
