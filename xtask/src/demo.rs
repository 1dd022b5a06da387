//! `cargo xtask demo`: the daemon itself on generated groups, watched through its own
//! monitoring endpoints.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// What the demo saw of the daemon.
pub struct Seen {
    /// How it exited.
    pub status: ExitStatus,
    /// The last `/health` body read while it ran.
    pub health: Option<String>,
    /// The last `/ready` status and body.
    pub ready: Option<String>,
    /// The last `/metrics` body.
    pub metrics: Option<String>,
}

/// A free TCP port on localhost.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs `dsa110-stream` on the demo directory with `--exit-when-idle` and the guide's
/// quick-start stages (`--enable-calibration-solving --enable-photometry`), reading its
/// monitoring endpoints every half second until it exits (at most 20 minutes).
pub fn run_daemon(exe: &Path, dir: &Path, port: u16) -> Result<Seen> {
    let log = std::fs::File::create(dir.join("dsa110-stream.stderr"))
        .with_context(|| format!("creating the daemon's log in {}", dir.display()))?;
    let mut child = crate::util::cmd(exe)
        .current_dir(dir)
        .arg("--input-dir")
        .arg(dir.join("incoming"))
        .arg("--output-dir")
        .arg(dir.join("ms"))
        .arg("--queue-db")
        .arg(dir.join("state/db/pipeline.sqlite3"))
        .args(["--monitoring", "--health-port", &port.to_string()])
        .args([
            "--exit-when-idle",
            "--settle",
            "1",
            "--partial-timeout",
            "15",
        ])
        .args(["--poll-interval", "1"])
        // the guide's quick start: every stage that exists
        .args(["--enable-calibration-solving", "--enable-photometry"])
        .arg("--photometry-catalog")
        .arg(dir.join("field.csv"))
        // the demo's groups are small: a 1024² image of 6" pixels covers the field, and
        // a few thousand CLEAN components model its sources
        .args([
            "--image-size",
            "1024",
            "--image-scale",
            "6",
            "--image-niter",
            "5000",
        ])
        .args(disk_thresholds(dir)?)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let mut seen = Seen {
        status: ExitStatus::default(),
        health: None,
        ready: None,
        metrics: None,
    };
    let deadline = Instant::now() + Duration::from_secs(1200);
    loop {
        if let Some(status) = child.try_wait()? {
            seen.status = status;
            return Ok(seen);
        }
        if Instant::now() > deadline {
            stop(&mut child);
            bail!("the daemon did not reach an idle queue within 20 minutes");
        }
        if let Some((_, body)) = get(port, "/health") {
            seen.health = Some(body);
        }
        if let Some((code, body)) = get(port, "/ready") {
            seen.ready = Some(format!("{code} {body}"));
        }
        if let Some((_, body)) = get(port, "/metrics") {
            seen.metrics = Some(body);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The daemon pauses below 10 GB free by default (the guide's `--disk-pause-gb`): right
/// for a full group's 2 GB MS, but on a small disk it would hold the demo's groups, of a
/// few hundred MB in all, forever. There the demo lowers the thresholds and says so.
#[allow(clippy::print_stderr)]
fn disk_thresholds(dir: &Path) -> Result<Vec<&'static str>> {
    let free = crate::util::free_bytes(dir)? as f64 / 1e9;
    if free >= 11.0 {
        return Ok(Vec::new());
    }
    eprintln!(
        "note: {free:.1} GB free under {}, below the daemon's default pause threshold \
         (10 GB): running it with --disk-pause-gb 1 --disk-critical-gb 0.5",
        dir.display()
    );
    Ok(vec!["--disk-pause-gb", "1", "--disk-critical-gb", "0.5"])
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A plain HTTP/1.0 GET on localhost: status code and body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Prints what `/health`, `/ready` and `/metrics` said last.
#[allow(clippy::print_stdout)]
pub fn print_monitoring(seen: &Seen) {
    println!("\nLast /health before the daemon exited:");
    match &seen.health {
        Some(h) => println!("  {}", h.trim()),
        None => println!("  (never answered)"),
    }
    if let Some(r) = &seen.ready {
        println!("Last /ready: {}", r.trim());
    }
    println!("\nLast /metrics (dsa110_* samples):");
    match &seen.metrics {
        Some(m) => {
            for line in m
                .lines()
                .filter(|l| l.starts_with("dsa110_") && !l.contains("_bucket{"))
            {
                println!("  {line}");
            }
        }
        None => println!("  (never answered)"),
    }
}
