//! Health, metrics, the OpenAPI document, its docs page and the dashboard.

use std::path::Path;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use dsa110_queue::{GroupState, JobState};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::params::iso;
use crate::state::{escape, now_unix_s, AppState};

/// Below this much free space the API reports `unhealthy` (HTTP 503).
pub const UNHEALTHY_FREE_GB: f64 = 5.0;
/// Below this, `degraded`.
pub const DEGRADED_FREE_GB: f64 = 10.0;

/// Free space of the filesystem holding `path`, GB (10⁹ bytes).
pub fn free_gb(path: &Path) -> std::io::Result<f64> {
    let st = rustix::fs::statvfs(path).map_err(std::io::Error::from)?;
    Ok(st.f_bavail as f64 * st.f_frsize as f64 / 1e9)
}

/// `GET /api/v1/health`: database and disk checks; 503 when unhealthy.
pub async fn health(State(s): State<AppState>) -> Response {
    let t0 = Instant::now();
    let db = s.db(|q| Ok(q.counts_by_state()?)).await;
    let db_ms = t0.elapsed().as_secs_f64() * 1e3;
    let disk_path = s
        .params
        .output_dir
        .clone()
        .or_else(|| s.queue.path().parent().map(Path::to_path_buf))
        .unwrap_or_else(|| ".".into());
    let free = free_gb(&disk_path);
    let mut status = "healthy";
    let database = match &db {
        Ok(counts) => json!({
            "ok": true,
            "path": s.queue.path(),
            "latency_ms": db_ms,
            "queue": counts.iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        }),
        Err(e) => {
            status = "unhealthy";
            json!({"ok": false, "path": s.queue.path(), "error": e.message})
        }
    };
    let disk = match &free {
        Ok(gb) => {
            if *gb < UNHEALTHY_FREE_GB {
                status = "unhealthy";
            } else if *gb < DEGRADED_FREE_GB && status == "healthy" {
                status = "degraded";
            }
            json!({"ok": *gb >= UNHEALTHY_FREE_GB, "path": disk_path, "output_free_gb": gb})
        }
        Err(e) => {
            status = "unhealthy";
            json!({"ok": false, "path": disk_path, "error": e.to_string()})
        }
    };
    let code = if status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        Json(json!({
            "status": status,
            "checks": {"database": database, "disk": disk},
            "time": iso(now_unix_s()),
            "version": env!("CARGO_PKG_VERSION"),
        })),
    )
        .into_response()
}

/// `GET /metrics`: request metrics and the pipeline's counts (Prometheus text).
pub async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    use std::fmt::Write;
    let counts = s
        .db(|q| {
            let groups = q.counts_by_state()?;
            let mut jobs = Vec::new();
            for st in JobState::ALL {
                let (_, n) = q.list_jobs(Some(*st), 1, 0)?;
                jobs.push((*st, n));
            }
            let age = q.oldest_pending_age_s(now_unix_s())?;
            Ok((groups, jobs, age))
        })
        .await;
    let mut out = String::new();
    s.metrics.render(&mut out);
    let up = counts.is_ok();
    let _ = writeln!(
        out,
        "# HELP dsa110_api_database_up Whether the last read of the queue database succeeded."
    );
    let _ = writeln!(out, "# TYPE dsa110_api_database_up gauge");
    let _ = writeln!(out, "dsa110_api_database_up {}", u8::from(up));
    if let Ok((groups, jobs, age)) = counts {
        let _ = writeln!(out, "# HELP dsa110_streaming_queue Groups in each queue state (read by the API from the shared database).");
        let _ = writeln!(out, "# TYPE dsa110_streaming_queue gauge");
        for st in GroupState::ALL {
            let n = groups.get(&st).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "dsa110_streaming_queue{{state=\"{}\"}} {n}",
                escape(st.as_str())
            );
        }
        let _ = writeln!(out, "# HELP dsa110_api_jobs On-demand jobs in each state.");
        let _ = writeln!(out, "# TYPE dsa110_api_jobs gauge");
        for (st, n) in jobs {
            let _ = writeln!(out, "dsa110_api_jobs{{state=\"{}\"}} {n}", st.as_str());
        }
        let _ = writeln!(out, "# HELP dsa110_api_oldest_pending_age_seconds Age of the longest-waiting pending group (0 when none).");
        let _ = writeln!(out, "# TYPE dsa110_api_oldest_pending_age_seconds gauge");
        let _ = writeln!(
            out,
            "dsa110_api_oldest_pending_age_seconds {}",
            age.unwrap_or(0.0).max(0.0)
        );
    }
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Json<Value> {
    Json(crate::routes::openapi_document())
}

/// `GET /api/docs`: renders the OpenAPI document with embedded JavaScript (no CDN).
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("../assets/docs.html"))
}

/// `GET /`: the dashboard.
pub async fn dashboard() -> Html<&'static str> {
    Html(include_str!("../assets/dashboard.html"))
}
