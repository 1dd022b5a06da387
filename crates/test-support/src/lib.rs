//! What the test suites of dsa110-stream share, so that each helper exists once:
//!
//! - [`python`] / [`run_python`]: the reference Python of the interop venv
//!   (`$DSA110_PYTHON`, else `<workspace>/target/interop-venv/bin/python`, made by
//!   `cargo xtask setup`). Tests that need it **fail** when it is missing; they never
//!   skip.
//! - [`workspace_root`], [`fixture`]: paths of the repository and its `fixtures/`.
//! - [`wait_for`]: polling with a deadline that names what it waited for.
//! - [`free_port`], [`http_get`]: a port for a server under test and a tiny HTTP/1.1
//!   client (chunked bodies decoded) to talk to it.
//! - [`GUIDE_API_BLOCK`], [`guide_api_commands`], [`run_guide_curl`]: the operations
//!   guide's `curl` examples for the dashboard API, run verbatim.
//!
//! Dev-dependency only; it depends on no crate of ours.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The operations guide's "Dashboard / API Integration" example block, exactly as
/// written there (`dsa110-api`'s tests check it against the guide when the guide is at
/// hand).
pub const GUIDE_API_BLOCK: &str = r#"# List pending complete groups
curl http://localhost:8000/api/v1/conversion/pending?complete_only=true

# Trigger conversion for specific groups
curl -X POST http://localhost:8000/api/v1/conversion/convert \
  -H "Content-Type: application/json" \
  -H "Authorization: Bearer $TOKEN" \
  -d '{"group_ids": ["2025-10-02T00:05:18", "2025-10-02T00:10:22"]}'

# Check conversion status
curl http://localhost:8000/api/v1/conversion/status/2025-10-02T00:05:18"#;

/// The `curl` commands of [`GUIDE_API_BLOCK`] (comments dropped, continuation lines
/// joined): list pending, trigger conversion, status.
pub fn guide_api_commands() -> Vec<String> {
    let joined = GUIDE_API_BLOCK.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("curl"))
        .map(str::to_string)
        .collect()
}

/// Runs one guide command with bash, `$TOKEN` set, against `port` instead of 8000;
/// returns its stdout as JSON (panics naming the command when it fails).
pub fn run_guide_curl(cmd: &str, port: u16, token: &str, cwd: &Path) -> serde_json::Value {
    let cmd = cmd.replace("localhost:8000", &format!("127.0.0.1:{port}"));
    let out = Command::new("bash")
        .args(["-c", &format!("{cmd} --silent --show-error")])
        .env("TOKEN", token)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{cmd}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/test-support sits two levels below the workspace root")
        .to_path_buf()
}

/// A file under the repository's `fixtures/` directory (which must exist).
pub fn fixture(rel: &str) -> PathBuf {
    let p = workspace_root().join("fixtures").join(rel);
    assert!(p.exists(), "fixture {} is missing", p.display());
    p
}

/// The reference Python interpreter; panics (the test fails) when it is missing.
pub fn python() -> PathBuf {
    let p = std::env::var_os("DSA110_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/interop-venv/bin/python"));
    assert!(
        p.exists(),
        "the reference Python {} is missing: run `cargo xtask setup` or set DSA110_PYTHON",
        p.display()
    );
    p
}

/// The `.casa/config.py` that lets CASA (casatools/casatasks) run offline from
/// the venv of `python` (`<venv>/bin/python`): `measurespath` at the venv's
/// casadata, no downloads. Also written by `cargo xtask setup` (to
/// `~/.casa/config.py`) and `cargo xtask bench calibrate`.
pub fn casa_config(python: &Path) -> Result<String, String> {
    let venv = python
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not in a venv's bin directory", python.display()))?;
    let lib = venv.join("lib");
    let data = std::fs::read_dir(&lib)
        .map_err(|e| format!("cannot list {}: {e}", lib.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/casadata/__data__"))
        .find(|p| p.is_dir())
        .ok_or_else(|| {
            format!(
                "casadata's __data__ directory is missing under {}",
                lib.display()
            )
        })?;
    Ok(format!(
        "measurespath = {:?}\nmeasures_auto_update = False\ndata_auto_update = False\n",
        data.display().to_string()
    ))
}

/// A command running the reference Python for a script that imports CASA.
/// CASA reads `$HOME/.casa/config.py` at start; here HOME is
/// `target/casa-home` of this checkout, holding [`casa_config`], so the tests
/// do not depend on the user's `~/.casa/config.py` (another checkout's `cargo
/// xtask setup` rewrites it to that checkout's venv).
pub fn casa_python() -> Command {
    let py = python();
    let text = casa_config(&py).unwrap_or_else(|e| panic!("{e}: run `cargo xtask setup`"));
    let home = workspace_root().join("target/casa-home");
    let dir = home.join(".casa");
    let file = dir.join("config.py");
    if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        // written aside and renamed: tests running at once never read half a file
        let tmp = dir.join(format!("config.py.{}", std::process::id()));
        std::fs::write(&tmp, &text)
            .and_then(|()| std::fs::rename(&tmp, &file))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
    }
    let mut cmd = Command::new(py);
    cmd.env("HOME", &home);
    cmd
}

/// Runs `python <script> <args…>` (a file path, or code with `-c`: pass `["-c", code]`
/// as `script_and_args`), returns its stdout; panics with its stderr when it fails.
pub fn run_python<S: AsRef<std::ffi::OsStr>>(script_and_args: &[S]) -> String {
    let out = Command::new(python())
        .args(script_and_args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python().display()));
    assert!(
        out.status.success(),
        "python {:?} failed ({}):\n{}",
        script_and_args
            .iter()
            .map(|a| a
                .as_ref()
                .to_string_lossy()
                .chars()
                .take(80)
                .collect::<String>())
            .collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python printed UTF-8")
}

/// Polls `f` every 100 ms until it returns `Some`, panicking with `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP port free on localhost at the time of the call.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP response as the tests see it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body (chunked transfer decoded).
    pub body: String,
}

impl HttpResponse {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics (naming the body) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// `GET path` on `127.0.0.1:port` (HTTP/1.1, `Connection: close`); `None` when the
/// server does not answer or the answer is not HTTP.
pub fn http_get(port: u16, path: &str) -> Option<HttpResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    parse_response(&raw)
}

/// Parses a raw HTTP/1.x response.
pub fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// Decodes a chunked transfer-encoded body; `None` when it is malformed.
pub fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// The lints `promtool check metrics` may report on our exposition: names fixed by the
/// operations guide and the issues, which promlint reads as abbreviated units (`_gb` is
/// gigabytes, not the base unit; the `ms` of `dsa110_ms_flagged_fraction` means
/// Measurement Set, not milliseconds).
pub const PROMTOOL_ALLOWED_LINTS: &[&str] = &[
    "dsa110_streaming_disk_free_gb metric names should not contain abbreviated units",
    "dsa110_ms_flagged_fraction metric names should not contain abbreviated units",
];

/// `promtool check metrics` (Prometheus's own linter) on an exposition: panics naming
/// every problem it reports except the `allowed` lint lines, or on a parse error.
pub fn promtool_check_metrics(text: &str, allowed: &[&str]) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian prometheus; run `cargo xtask setup`)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let problems: Vec<&str> = report
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !allowed.contains(l))
        .collect();
    assert!(
        problems.is_empty(),
        "promtool check metrics:\n{report}\n--- input ---\n{text}"
    );
    // 0 = clean, 3 = lint findings (only allowed ones, checked above); 1 = parse error
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "promtool exit {:?}:\n{report}",
        out.status
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_and_bad_ones_are_refused() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n").unwrap(),
            b"Wikipedia"
        );
        assert!(dechunk(b"4\r\nWi").is_none());
        assert!(dechunk(b"zz\r\n").is_none());
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        let text = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(text.contains("[workspace]"));
        assert!(fixture("README.md").is_file());
    }
}
