//! Shared helpers: the daemon as a child process, a tiny HTTP client, the queue seen
//! through SQLite, and the simulator writing like the correlator.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dsa110_astro::ObsTime;
use dsa110_sim::{
    simulate_group, simulate_group_like_correlator, CorrelatorMode, Scale, SimConfig,
};

pub const EXE: &str = env!("CARGO_BIN_EXE_dsa110-stream");

/// The directory layout of one test: `in/`, `ms/`, `state/db/pipeline.sqlite3`.
pub struct Dirs {
    pub tmp: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("in")).unwrap();
        Self { tmp }
    }
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }
    pub fn input(&self) -> PathBuf {
        self.root().join("in")
    }
    pub fn output(&self) -> PathBuf {
        self.root().join("ms")
    }
    pub fn db(&self) -> PathBuf {
        self.root().join("state/db/pipeline.sqlite3")
    }
    pub fn log_file(&self) -> PathBuf {
        self.root().join("state/logs/streaming-pipeline.log")
    }
    pub fn staging(&self) -> PathBuf {
        self.root().join("staging")
    }
}

/// A running `dsa110-stream` with `--monitoring` on a free port; killed on drop.
pub struct Daemon {
    child: Option<Child>,
    pub port: u16,
    stderr_path: PathBuf,
}

/// Options every test daemon gets: short intervals, and small images (the default
/// 4096² would dominate every test on tiny groups).
pub const FAST: &[&str] = &[
    "--poll-interval",
    "0.5",
    "--settle",
    "0.5",
    "--partial-timeout",
    "6",
    "--image-size",
    "256",
    "--image-scale",
    "30",
    "--image-niter",
    "500",
];

/// Disk thresholds of a test daemon, unless the test sets its own or fakes the free
/// space (`--debug-free-space-file`): the guide's defaults (pause below 10 GB, unhealthy
/// below 5 GB) would pause every test on a machine with less than 10 GB free, and a test
/// group needs a few MB. The tests of the disk guard use its defaults on a faked value.
fn disk_thresholds(extra: &[&str]) -> &'static [&'static str] {
    let own = [
        "--disk-pause-gb",
        "--disk-critical-gb",
        "--debug-free-space-file",
    ];
    if extra.iter().any(|a| own.contains(a)) {
        &[]
    } else {
        &["--disk-pause-gb", "0.2", "--disk-critical-gb", "0.1"]
    }
}

impl Daemon {
    pub fn start(dirs: &Dirs, extra: &[&str]) -> Self {
        Self::start_with_env(dirs, extra, &[])
    }

    /// [`Daemon::start`] paused for low disk space (7 GB free, read from the file
    /// [`Daemon::free_space_file`] with `--debug-free-space-file`): it registers groups
    /// but takes none, so they wait; writing "100" to that file resumes it.
    pub fn start_paused(dirs: &Dirs, extra: &[&str]) -> Self {
        let free = Self::free_space_file(dirs);
        std::fs::write(&free, "7").unwrap();
        let free = free.to_str().unwrap();
        Self::start(dirs, &[&["--debug-free-space-file", free], extra].concat())
    }

    /// The free-space file of [`Daemon::start_paused`] (GB).
    pub fn free_space_file(dirs: &Dirs) -> PathBuf {
        dirs.root().join("free_gb")
    }

    /// [`Daemon::start`] with extra environment variables (e.g. the runner's testing
    /// aids `DSA110_FAULT_SLEEP`, `DSA110_FAULT_POINT`).
    pub fn start_with_env(dirs: &Dirs, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(dirs, extra, env, None)
    }

    /// [`Daemon::start`] as the unprivileged user and group `uid` (with `setpriv`), for
    /// faults that root's privileges would hide (a file it may not read). The test
    /// directory must belong to that user.
    pub fn start_as(dirs: &Dirs, extra: &[&str], uid: u32) -> Self {
        Self::spawn(dirs, extra, &[], Some(uid))
    }

    fn spawn(dirs: &Dirs, extra: &[&str], env: &[(&str, &str)], uid: Option<u32>) -> Self {
        let port = free_port();
        let n = std::fs::read_dir(dirs.root()).unwrap().count();
        let stderr_path = dirs.root().join(format!("daemon-{n}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = match uid {
            None => Command::new(EXE),
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--clear-groups")
                    .arg(EXE);
                c
            }
        };
        let child = cmd
            .current_dir(dirs.root())
            .arg("--input-dir")
            .arg(dirs.input())
            .arg("--output-dir")
            .arg(dirs.output())
            .arg("--queue-db")
            .arg(dirs.db())
            .args(["--monitoring", "--health-port", &port.to_string()])
            .args(FAST)
            .args(disk_thresholds(extra))
            .args(extra)
            .env("HDF5_USE_FILE_LOCKING", "FALSE")
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut d = Self {
            child: Some(child),
            port,
            stderr_path,
        };
        d.wait_ready();
        d
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("daemon exited at start ({status}):\n{}", self.stderr());
            }
            if let Some(r) = try_get(self.port, "/ready") {
                // up: ready, or up but paused by the disk guard (503 with the reason)
                if (r.status == 200 && r.body == "ready")
                    || (r.status == 503 && r.body.starts_with("paused"))
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "daemon not ready within 20 s:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        try_get(self.port, path).unwrap_or_else(|| panic!("GET {path} failed:\n{}", self.stderr()))
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// SIGTERM; the daemon must exit 0 within `limit`.
    pub fn stop_ok(&mut self, limit: Duration) {
        let status = self.sigterm(limit);
        assert!(
            status.success(),
            "daemon exit {status} after SIGTERM:\n{}",
            self.stderr()
        );
    }

    /// SIGTERM, then wait (bounded) for the exit.
    pub fn sigterm(&mut self, limit: Duration) -> ExitStatus {
        let pid = self.pid();
        let ok = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.wait_exit(limit)
    }

    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "daemon did not exit within {limit:?}:\n{}",
                    std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL (kill -9) and reap.
    pub fn kill9(&mut self) {
        let child = self.child.as_mut().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub use dsa110_test_support::{free_port, http_get as try_get, wait_for, HttpResponse};

/// The value of one sample line `name{labels} value` in a Prometheus exposition.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

// ------------------------------------------------------------------------- queue

/// One row of `processing_queue`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub group_id: String,
    pub state: String,
    pub error: Option<String>,
    pub retry_count: i64,
    pub files: Vec<String>,
}

pub fn read_db(db: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    c
}

/// Every group with its files (empty when the database does not exist yet).
pub fn groups(db: &Path) -> Vec<Row> {
    if !db.exists() {
        return Vec::new();
    }
    let c = read_db(db);
    let mut stmt = c
        .prepare(
            "SELECT group_id, state, error, retry_count FROM processing_queue ORDER BY group_id",
        )
        .unwrap();
    let rows: Vec<(String, String, Option<String>, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.into_iter()
        .map(|(group_id, state, error, retry_count)| {
            let mut s = c
                .prepare("SELECT path FROM subband_files WHERE group_id = ?1 ORDER BY subband_idx")
                .unwrap();
            let files = s
                .query_map([&group_id], |r| r.get::<_, String>(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            Row {
                group_id,
                state,
                error,
                retry_count,
                files,
            }
        })
        .collect()
}

/// `sqlite3 DB "SELECT state, COUNT(*) FROM processing_queue GROUP BY state"`, verbatim
/// as the operations guide writes it, parsed into (state, count).
pub fn sqlite3_state_counts(db: &Path) -> Vec<(String, u64)> {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg("SELECT state, COUNT(*) FROM processing_queue GROUP BY state")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (s, n) = l.split_once('|').unwrap();
            (s.to_owned(), n.parse().unwrap())
        })
        .collect()
}

/// `*.ms.tmp-*` entries of the output directory.
pub fn temporaries(output: &Path) -> Vec<String> {
    std::fs::read_dir(output)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".ms.tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

// --------------------------------------------------------------------- simulator

pub const T0_ISO: &str = "2025-10-02T00:12:00";

/// A group starting `offset_s` after [`T0_ISO`] written to `out`.
pub fn sim_config(
    scale: Scale,
    out: &Path,
    offset_s: f64,
    seed: u64,
    subbands: &[u8],
) -> SimConfig {
    let mut cfg = SimConfig::for_scale(scale, out);
    cfg.start = ObsTime::from_iso(T0_ISO)
        .unwrap()
        .plus_seconds(offset_s)
        .unwrap();
    cfg.seed = seed;
    cfg.subbands = subbands.to_vec();
    cfg
}

pub fn all_subbands() -> Vec<u8> {
    (0..16).collect()
}

/// Writes a group into the watched directory the way the correlator does.
pub fn write_like_correlator(cfg: &SimConfig) -> Vec<PathBuf> {
    simulate_group_like_correlator(cfg, &CorrelatorMode::default())
        .unwrap()
        .files
}

/// Writes a group into `staging` in one go (for groups to be tampered with first).
pub fn write_staged(cfg: &SimConfig) -> Vec<PathBuf> {
    simulate_group(cfg).unwrap().files
}

/// Delivers staged files into `input` as the correlator does: each copied to its
/// `_incomplete` name, then renamed.
pub fn deliver(files: &[PathBuf], input: &Path) -> Vec<PathBuf> {
    files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_str().unwrap();
            let stem = name.strip_suffix(".hdf5").unwrap();
            let tmp = input.join(format!("{stem}_incomplete.hdf5"));
            let fin = input.join(name);
            std::fs::copy(f, &tmp).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            std::fs::rename(&tmp, &fin).unwrap();
            fin
        })
        .collect()
}

pub fn truncate_to_half(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

/// The row whose files include one named like `file_name`.
pub fn row_with_file<'a>(rows: &'a [Row], file_name: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.files.iter().any(|f| f.ends_with(file_name)))
        .unwrap_or_else(|| panic!("no group holds {file_name}: {rows:#?}"))
}

// ------------------------------------------------------------------ processes, logs

impl Daemon {
    /// Sends `kill -<signal>` (e.g. `"STOP"`, `"CONT"`) to the daemon.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{signal} {}", self.pid());
    }
}

/// Total size in bytes of the files under `dir` (0 when it does not exist).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// The entries of `output` whose names start with `<group_id>.ms` (the product and any
/// temporaries of the group).
pub fn products_of(output: &Path, group_id: &str) -> Vec<String> {
    let prefix = format!("{group_id}.ms");
    let mut v: Vec<String> = std::fs::read_dir(output)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    v.sort();
    v
}

/// The value of `name=value` in one tracing log line (`value` ends at a space, `}` or
/// `:`; quotes are removed).
pub fn log_field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("{name}=");
    let mut from = 0;
    while let Some(i) = line[from..].find(&pat) {
        let at = from + i;
        // a whole field name: preceded by a space, `{` or `,`
        let ok = at == 0 || matches!(line.as_bytes()[at - 1], b' ' | b'{' | b',');
        let rest = &line[at + pat.len()..];
        if ok {
            let end = rest.find([' ', '}', ',']).unwrap_or(rest.len());
            let v = rest[..end].trim_end_matches(':').trim_matches('"');
            return Some(v);
        }
        from = at + pat.len();
    }
    None
}

/// The log lines whose message is `message` (after the target's `: `), in order.
pub fn log_lines_with<'a>(log: &'a str, message: &str) -> Vec<&'a str> {
    let needle = format!(": {message}");
    log.lines()
        .filter(|l| {
            l.find(&needle).is_some_and(|i| {
                let rest = &l[i + needle.len()..];
                rest.is_empty() || rest.starts_with(' ')
            })
        })
        .collect()
}

/// `ms_index` rows `(path, status)` of one group.
pub fn ms_index_rows(db: &Path, group_id: &str) -> Vec<(String, String)> {
    let c = read_db(db);
    let mut s = c
        .prepare("SELECT path, status FROM ms_index WHERE group_id = ?1 ORDER BY path")
        .unwrap();
    s.query_map([group_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Asserts that `needle` occurs exactly once in `text` (an error chain names each cause once).
pub fn assert_once(text: &str, needle: &str) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "{needle:?} should occur once in {text:?}"
    );
}

/// `dsa110-api` on a free port, killed on drop.
pub struct Api {
    child: Child,
    pub port: u16,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn api_exe() -> PathBuf {
    let exe = Path::new(EXE).with_file_name("dsa110-api");
    assert!(
        exe.is_file(),
        "{} is missing: build the workspace (`cargo test --workspace` or \
         `cargo build -p dsa110-api`)",
        exe.display()
    );
    exe
}

pub fn start_api(dirs: &Dirs, token: &str) -> Api {
    let port = free_port();
    let log = std::fs::File::create(dirs.root().join("api.log")).unwrap();
    let child = Command::new(api_exe())
        .arg("--queue-db")
        .arg(dirs.db())
        .arg("--output-dir")
        .arg(dirs.output())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("DSA110_API_TOKENS", token)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let api = Api { child, port };
    wait_for("dsa110-api to answer", Duration::from_secs(30), || {
        dsa110_test_support::http_get(port, "/api/v1/health")
    });
    api
}
