//! `cargo xtask bench api`: latency and throughput of `dsa110-api`'s main read
//! routes at 50 concurrent clients, on a database of 100 000 groups and
//! 1 000 000 photometry rows, while a writer (standing in for the daemon) commits
//! small transactions to the same file.
//!
//! The database is created by the API itself (the queue crate's schema) and filled
//! with `sqlite3` (recursive CTEs, seconds) with what a daemon would have left:
//! besides the groups, their files and the photometry, four stage rows per
//! processed group, timings and a Measurement Set per converted group, the 1 000
//! images the photometry was measured on and one `variability_stats` row per
//! source. Clients are plain threads with one HTTP/1.1 request per connection.
//! Reports p50/p95/p99 per route, requests per second, errors, any "database is
//! locked" answer, and the API process's peak resident memory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::util::{self, step};

const CLIENTS: usize = 50;
const REQUESTS_PER_CLIENT: usize = 200;
const GROUPS: u64 = 100_000;
const PHOTOMETRY_ROWS: u64 = 1_000_000;

const FILL_SQL: &str = r#"
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
INSERT INTO processing_queue (group_id, state, received_at, last_update, expected_subbands,
    retry_count, processing_stage, started_at, finished_at, error, error_message)
SELECT strftime('%Y-%m-%dT%H:%M:%S', 1700000000 + i * 309, 'unixepoch'),
    CASE WHEN i >= 99900 THEN 'pending' WHEN i % 50 = 7 THEN 'failed' ELSE 'completed' END,
    1700000000 + i * 309, 1700000000 + i * 309 + 60, 16, 0,
    CASE WHEN i >= 99900 THEN 'queued' ELSE 'done' END,
    CASE WHEN i >= 99900 THEN NULL ELSE 1700000000 + i * 309 + 10 END,
    CASE WHEN i >= 99900 THEN NULL ELSE 1700000000 + i * 309 + 50 END,
    CASE WHEN i % 50 = 7 THEN 'corrupt_file' END,
    CASE WHEN i % 50 = 7 THEN 'sb03: truncated' END
FROM n;
WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < 15)
INSERT INTO subband_files (group_id, subband_idx, path, registered_at)
SELECT g.group_id, m.i, '/data/incoming/' || g.group_id || printf('_sb%02d.hdf5', m.i), g.received_at
FROM processing_queue g, m WHERE g.state = 'pending';
INSERT INTO group_stages (group_id, stage, status, attempts, started_at, finished_at, duration_s, owner)
SELECT g.group_id, s.stage, CASE WHEN g.state = 'failed' AND s.k = 0 THEN 'failed' WHEN g.state = 'failed' THEN 'pending' ELSE 'done' END,
    1, g.started_at + s.k * 10, g.started_at + s.k * 10 + 9, 9.0, 'bench:1'
FROM processing_queue g,
    (SELECT 0 AS k, 'convert' AS stage UNION ALL SELECT 1, 'calibrate' UNION ALL SELECT 2, 'image'
     UNION ALL SELECT 3, 'photometry') s
WHERE g.state IN ('completed', 'failed');
INSERT INTO performance_metrics (group_id, load_time, phase_time, write_time, total_time, writer_type, recorded_at)
SELECT group_id, 3.0, 1.0, 5.0, 9.0, 'direct', finished_at FROM processing_queue WHERE state = 'completed';
INSERT INTO ms_index (path, group_id, created_at, mid_mjd, ra_deg, dec_deg, n_spw, status)
SELECT '/data/ms/' || group_id || '.ms', group_id, finished_at, 40587 + received_at / 86400.0, 0.0, 54.0, 16, 'converted'
FROM processing_queue WHERE state = 'completed';
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
INSERT INTO images (path, group_id, created_at, type, noise_jy, mid_mjd)
SELECT printf('/data/images/img%06d-image.fits', i), strftime('%Y-%m-%dT%H:%M:%S', 1700000000 + i * 309, 'unixepoch'),
    1700000000, 'image', 0.001, 60000 + i * 0.0036
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999999)
INSERT INTO photometry (source_id, image_path, ra_deg, dec_deg, peak_flux_jy, peak_flux_err_jy,
    norm_flux_jy, norm_flux_err_jy, snr, mjd, created_at)
SELECT printf('SRC%04d', i % 1000), printf('/data/images/img%06d-image.fits', i / 1000),
    (i % 1000) * 0.36, 54.0, 0.5, 0.002, 0.5, 0.002, 250.0, 60000 + (i / 1000) * 0.0036, 1700000000
FROM n;
INSERT INTO variability_stats (source_id, n_epochs, mean_flux_jy, median_flux_jy, eta, v, chi2_nu,
    max_sigma_dev, m, is_candidate, candidate_reason, updated_at)
SELECT source_id, COUNT(*), AVG(norm_flux_jy), AVG(norm_flux_jy), 0.5, 0.01, 1.0, 2.5, 0.0,
    source_id IN ('SRC0042', 'SRC0777'), CASE WHEN source_id IN ('SRC0042', 'SRC0777') THEN 'eta' END, 1700000000
FROM photometry GROUP BY source_id;
COMMIT;
"#;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One GET; (status, body).
fn get(port: u16, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("not an HTTP response")?;
    Ok((status, text))
}

fn sqlite(db: &Path, sql: &str) -> Result<()> {
    let mut child = Command::new("sqlite3")
        .args(["-bail", "-cmd", ".timeout 30000"])
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("sqlite3 (Debian sqlite3; run `cargo xtask setup`)")?;
    child
        .stdin
        .take()
        .context("sqlite3 stdin")?
        .write_all(sql.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Memory of a process from /proc (MB): peak resident set (`VmHWM`), and of
/// the current resident set the anonymous part (heap, stacks) and the part
/// that is file pages (the memory-mapped database, shared with the kernel's
/// page cache and reclaimable). `None` without /proc.
fn memory_mb(pid: u32) -> Option<(f64, f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmHWM:")?, field("RssAnon:")?, field("RssFile:")?))
}

/// CPU time a process has used (user + system), seconds; `None` without /proc.
fn cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name, which is in parentheses and may hold spaces
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

/// `cargo xtask bench api`.
pub fn run() -> Result<()> {
    let api = util::build_bin("dsa110-api", "dsa110-api")?;
    let dir = util::workspace_root().join("target/bench/api");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("pipeline.sqlite3");
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("api.log"))?;
    let server = Server(
        Command::new(&api)
            .arg("--queue-db")
            .arg(&db)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--log-level",
                "warn",
            ])
            .stderr(log)
            .spawn()
            .context("starting dsa110-api")?,
    );
    let t0 = Instant::now();
    while get(port, "/api/v1/health").is_err() {
        if t0.elapsed() > Duration::from_secs(30) {
            bail!(
                "dsa110-api did not start (see {})",
                dir.join("api.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    step(&format!(
        "filling {GROUPS} groups and {PHOTOMETRY_ROWS} photometry rows with sqlite3"
    ));
    let t = Instant::now();
    sqlite(&db, FILL_SQL)?;
    // statistics for the planner, and the fill's write-ahead log folded into the
    // database (a long-running database is checkpointed; a 700 MB log left by the
    // bulk fill would be checkpointed by the writer's first commits, during the
    // measurement)
    sqlite(&db, "ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")?;
    step(&format!("filled in {:.1} s", t.elapsed().as_secs_f64()));

    let routes: Vec<String> = vec![
        "/api/v1/health".into(),
        "/api/v1/conversion/stats".into(),
        "/api/v1/conversion/pending?limit=50".into(),
        "/api/v1/conversion/pending?complete_only=true&limit=50".into(),
        "/api/v1/groups?limit=50".into(),
        "/api/v1/conversion/status/2023-11-14T22:13:20".into(),
        "/api/v1/sources?limit=50".into(),
        "/api/v1/sources/SRC0042/lightcurve".into(),
        "/api/v1/jobs".into(),
        "/metrics".into(),
    ];

    // the writer standing in for the daemon, as its stages write: one IMMEDIATE
    // transaction that moves a waiting group between `pending` and `in_progress`
    // (a worker taking it, a release), records a stage attempt, and stores the
    // photometry of a new image (10 sources)
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let write_errors = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, writes, write_errors, db) = (
            stop.clone(),
            writes.clone(),
            write_errors.clone(),
            db.clone(),
        );
        std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let pick = format!(
                    "(SELECT group_id FROM processing_queue WHERE state IN ('pending', 'in_progress') \
                     ORDER BY group_id LIMIT 1 OFFSET {})",
                    k % 100
                );
                let sql = format!(
                    "BEGIN IMMEDIATE; \
                     UPDATE processing_queue SET state = CASE state WHEN 'pending' THEN 'in_progress' ELSE 'pending' END, \
                     owner = CASE state WHEN 'pending' THEN 'bench:writer' END, last_update = last_update + 1 \
                     WHERE group_id = {pick}; \
                     INSERT INTO group_stages (group_id, stage, status, attempts, started_at, owner) \
                     VALUES ({pick}, 'convert', 'running', 1, 1700000000 + {k}, 'bench:writer') \
                     ON CONFLICT(group_id, stage) DO UPDATE SET attempts = attempts + 1, started_at = excluded.started_at; \
                     WITH RECURSIVE j(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM j WHERE x < 9) \
                     INSERT INTO photometry (source_id, image_path, ra_deg, dec_deg, mjd, peak_flux_jy, \
                     norm_flux_jy, snr, created_at) \
                     SELECT printf('SRC%04d', ({k} * 10 + x) % 1000), '/data/images/live{k}-image.fits', \
                     (({k} * 10 + x) % 1000) * 0.36, 54.0, 61000 + {k} * 0.001, 0.5, 0.5, 250.0, 1700000000 FROM j; \
                     COMMIT;"
                );
                match sqlite(&db, &sql) {
                    Ok(()) => writes.fetch_add(1, Ordering::Relaxed),
                    Err(_) => write_errors.fetch_add(1, Ordering::Relaxed),
                };
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    step(&format!(
        "{CLIENTS} clients × {REQUESTS_PER_CLIENT} requests over {} routes",
        routes.len()
    ));
    let cpu_before = cpu_s(server.0.id());
    let start = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let routes = routes.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for r in 0..REQUESTS_PER_CLIENT {
                    let idx = (c + r) % routes.len();
                    let t = Instant::now();
                    let res = get(port, &routes[idx]);
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    let (ok, locked) = match &res {
                        Ok((s, body)) => (*s < 400, body.contains("database is locked")),
                        Err(_) => (false, false),
                    };
                    out.push((idx, ms, ok, locked));
                }
                out
            })
        })
        .collect();
    let mut samples = Vec::new();
    for h in handles {
        samples.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))?,
        );
    }
    let wall = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = writer.join();
    let memory = memory_mb(server.0.id());
    let cpu_ms_per_request = cpu_s(server.0.id())
        .zip(cpu_before)
        .map(|(after, before)| (after - before) * 1e3 / (CLIENTS * REQUESTS_PER_CLIENT) as f64);
    drop(server);

    let mut report = Vec::new();
    let mut all: Vec<f64> = samples.iter().map(|s| s.1).collect();
    all.sort_by(f64::total_cmp);
    let mut lines = vec![format!(
        "{:<58} {:>6} {:>8} {:>8} {:>8} {:>7} {:>6}",
        "route", "n", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors"
    )];
    for (i, r) in routes.iter().enumerate() {
        let mut v: Vec<f64> = samples.iter().filter(|s| s.0 == i).map(|s| s.1).collect();
        v.sort_by(f64::total_cmp);
        let errors = samples.iter().filter(|s| s.0 == i && !s.2).count();
        let (p50, p95, p99) = (
            percentile(&v, 50.0),
            percentile(&v, 95.0),
            percentile(&v, 99.0),
        );
        let rps = v.len() as f64 / wall;
        lines.push(format!(
            "{r:<58} {:>6} {p50:>8.1} {p95:>8.1} {p99:>8.1} {rps:>7.1} {errors:>6}",
            v.len()
        ));
        report.push(json!({"route": r, "n": v.len(), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "requests_per_s": rps, "errors": errors}));
    }
    let errors = samples.iter().filter(|s| !s.2).count();
    let locked = samples.iter().filter(|s| s.3).count();
    lines.push(format!(
        "{:<58} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>7.1} {errors:>6}",
        "all",
        all.len(),
        percentile(&all, 50.0),
        percentile(&all, 95.0),
        percentile(&all, 99.0),
        all.len() as f64 / wall
    ));
    let throughput = all.len() as f64 / wall;
    lines.push(format!(
        "throughput {throughput:.0} requests/s over {wall:.1} s; \"database is locked\" answers: {locked}; \
         writer: {} transactions committed, {} failed",
        writes.load(Ordering::Relaxed),
        write_errors.load(Ordering::Relaxed)
    ));
    if let Some(ms) = cpu_ms_per_request {
        lines.push(format!(
            "dsa110-api CPU {ms:.2} ms per request (user + system, all routes); load average now {}",
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    lines.push(match memory {
        Some((peak, anon, file)) => format!(
            "dsa110-api peak RSS {peak:.0} MB; at the end {anon:.0} MB anonymous + {file:.0} MB file pages"
        ),
        None => "dsa110-api memory unknown (no /proc)".to_string(),
    });
    for l in &lines {
        step(l);
    }
    let out = json!({
        "clients": CLIENTS, "groups": GROUPS, "photometry_rows": PHOTOMETRY_ROWS,
        "routes": report, "throughput_rps": throughput, "errors": errors, "locked": locked,
        "writer_commits": writes.load(Ordering::Relaxed), "writer_errors": write_errors.load(Ordering::Relaxed),
        "p95_ms_all": percentile(&all, 95.0),
        "cpu_ms_per_request": cpu_ms_per_request,
        "peak_rss_mb": memory.map(|m| m.0), "rss_anon_mb": memory.map(|m| m.1), "rss_file_mb": memory.map(|m| m.2),
    });
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(&out)?)?;
    step(&format!("report: {}", dir.join("report.json").display()));
    if locked > 0 {
        bail!("{locked} answers said \"database is locked\"");
    }
    Ok(())
}
