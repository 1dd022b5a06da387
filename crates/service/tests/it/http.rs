//! `/health`, `/ready`, `/metrics` over a real socket.

use std::sync::Arc;
use std::time::Duration;

use dsa110_service::disk::{DiskGuard, DiskPolicy};
use dsa110_service::metrics::{self as m, CATALOGUE};
use dsa110_service::monitoring::{serve, MonitoringError, MonitoringServer};
use serde_json::json;

use crate::common::{counts, metrics_lock, Fixture, Server};

#[tokio::test]
async fn healthy_reports_every_queue_state_and_disk() {
    let _g = metrics_lock().await;
    let fx = Fixture::healthy();
    fx.status.set_oldest(Some(42.0));
    fx.disk.set_gb("/data/scratch", 250.5);
    let server = Server::start(fx.state()).await;

    let r = server.get("/health").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let v = r.json();
    assert_eq!(v["status"], "healthy", "{v:#}");
    assert_eq!(
        v["checks"]["queue"],
        json!({"collecting": 1, "pending": 2, "in_progress": 1, "completed": 10, "failed": 0})
    );
    assert_eq!(v["checks"]["disk"]["output_free_gb"], 100.0);
    assert_eq!(v["checks"]["disk"]["scratch_free_gb"], 250.5);
    assert_eq!(v["checks"]["disk"]["output_state"], "ok");
    assert_eq!(v["checks"]["oldest_pending_age_s"], 42.0);
    assert_eq!(v["checks"]["watcher"]["ok"], true);
    assert_eq!(v["checks"]["worker"]["ok"], true);
    assert_eq!(v["reasons"], json!([]));
    assert_eq!(v["paused"], false);
    assert_eq!(v["ready"], true);
    assert_eq!(v["version"], m::VERSION);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn database_error_is_unhealthy_503() {
    let _g = metrics_lock().await;
    let fx = Fixture::healthy();
    fx.status.set_error("database disk image is malformed");
    let server = Server::start(fx.state()).await;
    let r = server.get("/health").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "unhealthy");
    let err = v["checks"]["queue"]["error"].as_str().unwrap();
    assert!(err.contains("malformed"), "{err}");
    // Disk is still reported.
    assert_eq!(v["checks"]["disk"]["output_free_gb"], 100.0);

    // /metrics still answers, with the database marked down.
    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .contains("dsa110_streaming_up{component=\"database\"} 0\n"),
        "{}",
        metrics.body
    );

    // Recovery.
    fx.status.set_counts(counts(0, 0, 0, 0, 0));
    let r = server.get("/health").await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("healthy")),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn output_disk_thresholds() {
    let _g = metrics_lock().await;
    let fx = Fixture::healthy();
    let server = Server::start(fx.state()).await;
    // (output GB, HTTP status, health status)
    for (gb, http, status) in [
        (10.0, 200, "healthy"),
        (9.99, 200, "degraded"),
        (5.0, 200, "degraded"),
        (4.99, 503, "unhealthy"),
        (0.0, 503, "unhealthy"),
        (50.0, 200, "healthy"),
    ] {
        fx.disk.set_gb("/data/ms", gb);
        let r = server.get("/health").await;
        let v = r.json();
        assert_eq!(
            (r.status, v["status"].as_str().unwrap()),
            (http, status),
            "{gb} GB: {v:#}"
        );
        assert_eq!(v["checks"]["disk"]["output_free_gb"], gb);
    }
}

#[tokio::test]
async fn unmeasurable_output_is_unhealthy_and_low_scratch_degrades() {
    let _g = metrics_lock().await;
    let fx = Fixture::healthy();
    let server = Server::start(fx.state()).await;
    fx.disk.set("/data/ms", None);
    let r = server.get("/health").await;
    assert_eq!(r.status, 503);
    let v = r.json();
    assert_eq!(
        v["checks"]["disk"]["output_free_gb"],
        serde_json::Value::Null
    );
    assert!(
        v["checks"]["disk"]["output_error"]
            .as_str()
            .unwrap()
            .contains("/data/ms"),
        "{v:#}"
    );

    fx.disk.set_gb("/data/ms", 100.0);
    fx.disk.set_gb("/data/scratch", 2.0);
    let r = server.get("/health").await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("degraded")),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn stale_or_stopped_components_degrade() {
    let _g = metrics_lock().await;
    let mut fx = Fixture::healthy();
    fx.config.stale_after = Duration::from_millis(1);
    let server = Server::start(fx.state()).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let r = server.get("/health").await;
    let v = r.json();
    assert_eq!(
        (r.status, v["status"].as_str().unwrap()),
        (200, "degraded"),
        "{v:#}"
    );
    assert_eq!(v["checks"]["watcher"]["running"], true);
    assert_eq!(v["checks"]["watcher"]["ok"], false);
    let reasons = v["reasons"].to_string();
    assert!(
        reasons.contains("watcher heartbeat") && reasons.contains("worker heartbeat"),
        "{reasons}"
    );
    let metrics = server.get("/metrics").await.body;
    assert!(
        metrics.contains("dsa110_streaming_up{component=\"worker\"} 0\n"),
        "{metrics}"
    );
    drop(server);

    let fx = Fixture::healthy();
    fx.liveness.set_worker_running(false);
    let server = Server::start(fx.state()).await;
    let v = server.get("/health").await.json();
    assert_eq!(v["status"], "degraded");
    assert!(
        v["reasons"].to_string().contains("worker is not running"),
        "{v:#}"
    );
    let metrics = server.get("/metrics").await.body;
    assert!(
        metrics.contains("dsa110_streaming_up{component=\"worker\"} 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dsa110_streaming_up{component=\"watcher\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn paused_guard_degrades_health_and_sets_gauge() {
    let _g = metrics_lock().await;
    let fx = Fixture::healthy();
    let guard = Arc::new(DiskGuard::with_source(
        "/data/ms",
        DiskPolicy::default(),
        fx.disk.clone(),
    ));
    let server = Server::start(fx.state().with_disk_guard(guard.clone())).await;

    fx.disk.set_gb("/data/ms", 8.0);
    assert!(!guard.check().may_proceed());
    let v = server.get("/health").await.json();
    assert_eq!(
        (
            v["status"].as_str().unwrap(),
            v["paused"].as_bool().unwrap()
        ),
        ("degraded", true)
    );
    let metrics = server.get("/metrics").await.body;
    assert!(
        metrics.contains("dsa110_streaming_paused{reason=\"disk\"} 1\n"),
        "{metrics}"
    );

    // Recovered above the resume level: the next check resumes.
    fx.disk.set_gb("/data/ms", 20.0);
    assert!(guard.check().may_proceed());
    let v = server.get("/health").await.json();
    assert_eq!(
        (
            v["status"].as_str().unwrap(),
            v["paused"].as_bool().unwrap()
        ),
        ("healthy", false)
    );
    let metrics = server.get("/metrics").await.body;
    assert!(
        metrics.contains("dsa110_streaming_paused{reason=\"disk\"} 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn slow_database_times_out_as_unhealthy() {
    let _g = metrics_lock().await;
    let mut fx = Fixture::healthy();
    fx.config.status_timeout = Duration::from_millis(100);
    fx.status.set_delay(Duration::from_millis(1500));
    let server = Server::start(fx.state()).await;
    let started = std::time::Instant::now();
    let r = server.get("/health").await;
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status, 503, "{}", r.body);
    let err = r.json()["checks"]["queue"]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(err.contains("did not answer"), "{err}");
}

#[tokio::test]
async fn ready_follows_queue_and_watcher() {
    let _g = metrics_lock().await;
    let fx = Fixture::healthy();
    fx.liveness.set_queue_open(false);
    fx.liveness.set_watcher_running(false);
    let server = Server::start(fx.state()).await;
    let check = |open: bool, watching: bool, status: u16, body: &'static str| {
        fx.liveness.set_queue_open(open);
        fx.liveness.set_watcher_running(watching);
        let server = &server;
        async move {
            let r = server.get("/ready").await;
            assert_eq!(
                (r.status, r.body.as_str()),
                (status, body),
                "open={open} watching={watching}"
            );
        }
    };
    check(false, false, 503, "not ready").await;
    check(true, false, 503, "not ready").await;
    check(false, true, 503, "not ready").await;
    check(true, true, 200, "ready").await;
    check(true, false, 503, "not ready").await;
}

#[tokio::test]
async fn metrics_endpoint_has_every_name_and_current_values() {
    let _g = metrics_lock().await;
    let fx = Fixture::healthy();
    fx.status.set_counts(counts(3, 7, 1, 1234, 5));
    fx.status.set_oldest(Some(600.0));
    fx.disk.set_gb("/data/ms", 12.5);
    fx.disk.set_gb("/data/scratch", 800.0);
    crate::common::record_every_metric();
    let server = Server::start(fx.state()).await;
    let r = server.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.header("content-type")
    );
    let text = &r.body;
    for line in [
        "dsa110_streaming_queue{state=\"collecting\"} 3",
        "dsa110_streaming_queue{state=\"pending\"} 7",
        "dsa110_streaming_queue{state=\"in_progress\"} 1",
        "dsa110_streaming_queue{state=\"completed\"} 1234",
        "dsa110_streaming_queue{state=\"failed\"} 5",
        "dsa110_streaming_disk_free_gb{path=\"output\"} 12.5",
        "dsa110_streaming_disk_free_gb{path=\"scratch\"} 800",
        "dsa110_streaming_oldest_pending_age_seconds 600",
        "dsa110_streaming_up{component=\"database\"} 1",
        "dsa110_streaming_up{component=\"watcher\"} 1",
        "dsa110_streaming_up{component=\"worker\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    for spec in CATALOGUE {
        let kind = match spec.kind {
            m::MetricKind::Counter => "counter",
            m::MetricKind::Gauge => "gauge",
            m::MetricKind::Histogram => "histogram",
        };
        assert!(
            text.contains(&format!("# TYPE {} {kind}\n", spec.name)),
            "{} {kind}\n{text}",
            spec.name
        );
        assert!(
            text.contains(&format!("# HELP {} ", spec.name)),
            "no help for {}",
            spec.name
        );
        if let Some((label, values)) = spec.label {
            for value in values {
                let series = match spec.kind {
                    m::MetricKind::Histogram => {
                        format!("{}_count{{{label}=\"{value}\"}}", spec.name)
                    }
                    _ => format!("{}{{{label}=\"{value}\"}}", spec.name),
                };
                assert!(text.contains(&series), "missing {series}");
            }
        }
    }
    // Nothing outside the catalogue is exported, and no unbounded labels.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(
            CATALOGUE.iter().any(|s| s.name == name || s.name == base),
            "{name} is not in the catalogue"
        );
    }
}

#[tokio::test]
async fn unknown_path_is_404() {
    let _g = metrics_lock().await;
    let server = Server::start(Fixture::healthy().state()).await;
    assert_eq!(server.get("/nope").await.status, 404);
}

#[tokio::test]
async fn bind_failure_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = MonitoringServer::bind(addr).await.unwrap_err();
    assert!(
        matches!(err, MonitoringError::Bind { addr: a, .. } if a == addr),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert!(err.is_retryable());

    let err = serve(addr, Fixture::healthy().state(), async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn serve_stops_on_shutdown() {
    let _g = metrics_lock().await;
    let fx = Fixture::healthy();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        "127.0.0.1:0".parse().unwrap(),
        fx.state(),
        async move {
            let _ = rx.await;
        },
    ));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!task.is_finished());
    tx.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}
