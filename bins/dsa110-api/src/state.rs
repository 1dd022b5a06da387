//! What every handler shares: the queue, options, tokens, metrics and the
//! write limiter.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use dsa110_queue::Queue;

use crate::auth::Tokens;
use crate::error::ApiError;

/// Checked runtime parameters of the server.
#[derive(Debug, Clone)]
pub struct ApiParams {
    /// Product root: files outside it are never served, and `output_dir` of a
    /// conversion request must lie inside it. `None`: no restriction.
    pub output_dir: Option<PathBuf>,
    /// Accepted tokens.
    pub tokens: Tokens,
    /// Whether reads need a (read or write) token.
    pub require_read_token: bool,
    /// Origins allowed by CORS (exact match).
    pub cors_origins: Vec<String>,
    /// Writes allowed per token per minute.
    pub writes_per_minute: u32,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
}

/// Shared state (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The queue database.
    pub queue: Queue,
    /// Options.
    pub params: Arc<ApiParams>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// Writes per token per minute.
    pub limiter: Arc<WriteLimiter>,
    /// Light-curve bodies, valid while no photometry changes.
    pub lightcurves: Arc<LightcurveCache>,
    /// Database calls running at once, at most the connection pool's size: more would
    /// only wait inside the pool, each on a blocking thread of its own.
    pub db_slots: Arc<tokio::sync::Semaphore>,
}

/// Connections in the API's pool, and so database calls at once.
pub const DB_POOL_SIZE: u32 = 8;

/// Most bytes of light-curve bodies kept; past it the cache starts afresh.
pub const LIGHTCURVE_CACHE_BYTES: usize = 32 << 20;

/// (source, start MJD bits, end MJD bits): one light-curve request.
type CurveKey = (String, Option<u64>, Option<u64>);

/// The cached bodies with the generation each was read at, and their total size.
type CurveMap = (HashMap<CurveKey, (u64, axum::body::Bytes)>, usize);

/// Serialised light curves, each with its source's `photometry_generation` it
/// was read at. An entry is served only while the source's generation is still
/// that number — no photometry row of that source has been inserted, updated or
/// deleted since — so a cached body is exactly what reading again would give,
/// never stale.
#[derive(Debug, Default)]
pub struct LightcurveCache {
    inner: Mutex<CurveMap>,
}

impl LightcurveCache {
    fn key(source: &str, start: Option<f64>, end: Option<f64>) -> CurveKey {
        (
            source.to_string(),
            start.map(f64::to_bits),
            end.map(f64::to_bits),
        )
    }

    /// The body read at `generation`, if cached.
    pub fn get(
        &self,
        source: &str,
        start: Option<f64>,
        end: Option<f64>,
        generation: u64,
    ) -> Option<axum::body::Bytes> {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.0.get(&Self::key(source, start, end))
            .filter(|(g, _)| *g == generation)
            .map(|(_, b)| b.clone())
    }

    /// Keeps `body`, read at `generation`; the source's entries of older
    /// generations go.
    pub fn put(
        &self,
        source: &str,
        start: Option<f64>,
        end: Option<f64>,
        generation: u64,
        body: axum::body::Bytes,
    ) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, bytes) = &mut *m;
        if map
            .iter()
            .any(|(k, (g, _))| k.0 == source && *g < generation)
        {
            map.retain(|k, (g, _)| k.0 != source || *g >= generation);
            *bytes = map.values().map(|(_, b)| b.len()).sum();
        }
        if *bytes + body.len() > LIGHTCURVE_CACHE_BYTES {
            map.clear();
            *bytes = 0;
        }
        if body.len() <= LIGHTCURVE_CACHE_BYTES {
            *bytes += body.len();
            if let Some((_, old)) = map.insert(Self::key(source, start, end), (generation, body)) {
                *bytes -= old.len();
            }
        }
    }
}

/// Now, Unix seconds.
pub fn now_unix_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl AppState {
    /// Runs a (blocking) queue operation on a blocking thread.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Queue) -> Result<T, ApiError> + Send + 'static,
    {
        let q = self.queue.clone();
        // the semaphore is never closed, so acquiring only waits
        let _slot = self.db_slots.acquire().await.ok();
        match tokio::task::spawn_blocking(move || f(&q)).await {
            Ok(r) => r,
            Err(e) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                format!("database task failed: {e}"),
            )),
        }
    }
}

/// A fixed one-minute window per token.
#[derive(Debug, Default)]
pub struct WriteLimiter {
    windows: Mutex<HashMap<[u8; 32], (Instant, u32)>>,
}

impl WriteLimiter {
    /// Counts one write by `token`; 429 past `per_minute` in the current minute.
    pub fn check(&self, token: &[u8; 32], per_minute: u32) -> Result<(), ApiError> {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let entry = w.entry(*token).or_insert((now, 0));
        if now.duration_since(entry.0).as_secs() >= 60 {
            *entry = (now, 0);
        }
        if entry.1 >= per_minute {
            let wait = 60u64.saturating_sub(now.duration_since(entry.0).as_secs());
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "more than {per_minute} writes in a minute with this token; retry in {wait} s"
                ),
            )
            .with("retry_after_s", wait));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Latency histogram bounds, seconds.
pub const BUCKETS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS_S.len()],
    count: u64,
    sum_s: f64,
}

#[derive(Debug, Default)]
struct MetricsInner {
    /// (route, method, status class) → count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// route → latency.
    latency: BTreeMap<String, Histogram>,
    /// Writes refused, by reason.
    refused: BTreeMap<&'static str, u64>,
}

/// Request counts and latencies per route (route templates only: bounded labels).
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<MetricsInner>,
}

impl Metrics {
    /// Records one request.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        let h = m.latency.entry(route.to_string()).or_default();
        h.count += 1;
        h.sum_s += seconds;
        for (i, b) in BUCKETS_S.iter().enumerate() {
            if seconds <= *b {
                h.buckets[i] += 1;
            }
        }
    }

    /// Records a refused write (`unauthorized`, `forbidden`, `rate_limited`).
    pub fn refused(&self, reason: &'static str) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.refused.entry(reason).or_default() += 1;
    }

    /// Prometheus text of the request metrics.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# HELP dsa110_api_requests_total HTTP requests answered, by route template, method and status.");
        let _ = writeln!(out, "# TYPE dsa110_api_requests_total counter");
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "dsa110_api_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        let _ = writeln!(out, "# HELP dsa110_api_request_duration_seconds Time to answer a request, by route template.");
        let _ = writeln!(out, "# TYPE dsa110_api_request_duration_seconds histogram");
        for (route, h) in &m.latency {
            let r = escape(route);
            for (i, b) in BUCKETS_S.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "dsa110_api_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "dsa110_api_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "dsa110_api_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum_s
            );
            let _ = writeln!(
                out,
                "dsa110_api_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP dsa110_api_writes_refused_total Write requests refused, by reason."
        );
        let _ = writeln!(out, "# TYPE dsa110_api_writes_refused_total counter");
        for reason in ["unauthorized", "forbidden", "rate_limited"] {
            let n = m.refused.get(reason).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "dsa110_api_writes_refused_total{{reason=\"{reason}\"}} {n}"
            );
        }
    }
}

/// Escapes a Prometheus label value.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
