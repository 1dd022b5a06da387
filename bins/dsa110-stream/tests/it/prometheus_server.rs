//! A real Prometheus (Debian's /usr/bin/prometheus) scrapes the daemon on loopback with
//! the guide's scrape job and returns the queue series through its query API.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dsa110_sim::Scale;

use crate::common::*;

const PROMETHEUS: &str = "/usr/bin/prometheus";

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn logs(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
}

#[test]
fn real_prometheus_scrapes_the_daemon() {
    let dirs = Dirs::new();
    let mut daemon = Daemon::start(&dirs, &[]);
    write_like_correlator(&sim_config(
        Scale::Tiny,
        &dirs.input(),
        0.0,
        51,
        &all_subbands(),
    ));
    wait_for("the group to complete", Duration::from_secs(30), || {
        groups(&dirs.db())
            .into_iter()
            .find(|r| r.state == "completed")
    });

    let prom_dir = dirs.root().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let config = prom_dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: \"dsa110-streaming\"\n    static_configs:\n      \
             - targets: [\"localhost:{}\"]\n    metrics_path: /metrics\n",
            daemon.port
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let log = std::fs::File::create(prom_dir.join("prometheus.log")).unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {PROMETHEUS}: {e}"));
    let mut prometheus = KillOnDrop(child);

    let deadline = Instant::now() + Duration::from_secs(40);
    let series = loop {
        if let Ok(Some(status)) = prometheus.0.try_wait() {
            panic!("prometheus exited ({status}):\n{}", logs(&prom_dir));
        }
        assert!(
            Instant::now() < deadline,
            "no dsa110_streaming_queue series within 40 s:\n{}",
            logs(&prom_dir)
        );
        std::thread::sleep(Duration::from_millis(500));
        let Some(r) = try_get(prom_port, "/api/v1/query?query=dsa110_streaming_queue") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.body) else {
            continue;
        };
        let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
        if result.len() == 5 {
            break result;
        }
    };
    let mut got: Vec<(String, String)> = series
        .iter()
        .map(|s| {
            assert_eq!(s["metric"]["job"], "dsa110-streaming");
            (
                s["metric"]["state"].as_str().unwrap().to_owned(),
                s["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let expect = |s: &str, n: &str| (s.to_owned(), n.to_owned());
    assert_eq!(
        got,
        [
            expect("collecting", "0"),
            expect("completed", "1"),
            expect("failed", "0"),
            expect("in_progress", "0"),
            expect("pending", "0"),
        ]
    );
    let up = try_get(prom_port, "/api/v1/query?query=up").unwrap().json();
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up:#}");
    drop(prometheus);
    daemon.stop_ok(Duration::from_secs(20));
}
