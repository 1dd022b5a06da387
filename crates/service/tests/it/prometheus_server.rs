//! A real Prometheus (Debian's /usr/bin/prometheus) scrapes our server on loopback.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{counts, http_get, metrics_lock, Fixture, Server};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Kills (and reaps) the child on drop, whatever happens in the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_loopback_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn logs(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_scrapes_every_queue_state() {
    let _g = metrics_lock().await;
    let fx = Fixture::healthy();
    fx.status.set_counts(counts(3, 7, 1, 1234, 5));
    let server = Server::start(fx.state()).await;

    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: \"dsa110-streaming\"\n    static_configs:\n      \
             - targets: [\"{}\"]\n    metrics_path: /metrics\n",
            server.addr
        ),
    )
    .unwrap();
    let prom_addr = free_loopback_port();
    let log = std::fs::File::create(tmp.path().join("prometheus.log")).unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {PROMETHEUS}: {e}"));
    let mut prometheus = KillOnDrop(child);

    let deadline = Instant::now() + Duration::from_secs(30);
    let series = loop {
        if let Ok(Some(status)) = prometheus.0.try_wait() {
            panic!("prometheus exited ({status}):\n{}", logs(tmp.path()));
        }
        assert!(
            Instant::now() < deadline,
            "no dsa110_streaming_queue series within 30 s:\n{}",
            logs(tmp.path())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(r) = tokio::time::timeout(
            Duration::from_secs(5),
            try_get(prom_addr, "/api/v1/query?query=dsa110_streaming_queue"),
        )
        .await
        else {
            continue;
        };
        let Some(body) = r else { continue };
        let v: serde_json::Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
        if result.len() == 5 {
            break result;
        }
    };

    let mut got: Vec<(String, String, String)> = series
        .iter()
        .map(|s| {
            (
                s["metric"]["state"].as_str().unwrap().to_owned(),
                s["metric"]["job"].as_str().unwrap().to_owned(),
                s["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let job = "dsa110-streaming".to_owned();
    assert_eq!(
        got,
        [
            ("collecting".to_owned(), job.clone(), "3".to_owned()),
            ("completed".to_owned(), job.clone(), "1234".to_owned()),
            ("failed".to_owned(), job.clone(), "5".to_owned()),
            ("in_progress".to_owned(), job.clone(), "1".to_owned()),
            ("pending".to_owned(), job.clone(), "7".to_owned()),
        ]
    );

    // The scrape itself is healthy (Prometheus' own `up` series for the target).
    let up = http_get(prom_addr, "/api/v1/query?query=up").await.json();
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up:#}");
    let disk = http_get(
        prom_addr,
        "/api/v1/query?query=dsa110_streaming_disk_free_gb",
    )
    .await
    .json();
    let paths: Vec<&str> = disk["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"output") && paths.contains(&"scratch"),
        "{disk:#}"
    );

    drop(prometheus);
    server.stop().await.unwrap();
}

/// GET that returns `None` while Prometheus is not listening yet.
async fn try_get(addr: SocketAddr, path: &str) -> Option<String> {
    tokio::net::TcpStream::connect(addr).await.ok()?;
    let r = http_get(addr, path).await;
    (r.status == 200).then_some(r.body)
}
