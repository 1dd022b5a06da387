//! Fault tests: SIGTERM and kill -9 mid-group, kill -9 between publish and record, a
//! full disk, a locked database.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dsa110_sim::Scale;

use crate::common::*;

/// The fault tests below aim at the conversion of a Small group; the later stages (an
/// image of a Small group takes ~25 s on this machine) are off so that the waits measure
/// the fault handling, not the imaging.
const CONVERSION_ONLY: &[&str] = &["--no-flagging", "--no-imaging"];

fn small_group(dirs: &Dirs) -> Vec<std::path::PathBuf> {
    // small: 16 × 16 MB, converts in about a second on this machine; the test freezes
    // the daemon mid-conversion rather than relying on that second.
    write_like_correlator(&sim_config(
        Scale::Small,
        &dirs.input(),
        0.0,
        11,
        &all_subbands(),
    ))
}

/// A conversion caught in the act (see [`freeze_mid_conversion`]).
struct Frozen {
    group_id: String,
    /// The temporary MS being written.
    tmp: PathBuf,
    /// Its size when the daemon was frozen.
    tmp_bytes: u64,
}

/// Waits until a temporary MS `<group>.ms.tmp-*` exists in the output directory and
/// holds at least `min_bytes` (the conversion is writing it), then stops the daemon
/// with SIGSTOP, so that whatever the machine's speed the group stays mid-conversion
/// until the test signals again. Then checks that premise: the group is `in_progress`,
/// its temporary still exists and its product does not (a conversion that finished in
/// the instant between the look and the SIGSTOP fails the test, it never passes it).
fn freeze_mid_conversion(daemon: &Daemon, dirs: &Dirs, min_bytes: u64) -> Frozen {
    let deadline = Instant::now() + Duration::from_secs(60);
    let tmp = loop {
        let writing = temporaries(&dirs.output())
            .into_iter()
            .map(|n| dirs.output().join(n))
            .find(|p| dir_size(p) >= min_bytes);
        if let Some(p) = writing {
            daemon.signal("STOP");
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no temporary MS of {min_bytes} bytes within 60 s: {:?} {:#?}\n{}",
            temporaries(&dirs.output()),
            groups(&dirs.db()),
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let name = tmp.file_name().unwrap().to_str().unwrap().to_owned();
    let group_id = name.split(".ms.tmp-").next().unwrap().to_owned();
    assert!(
        tmp.is_dir(),
        "premise: {name} was renamed before the SIGSTOP landed (conversion finished)"
    );
    let product = dirs.output().join(format!("{group_id}.ms"));
    assert!(!product.exists(), "premise: {} exists", product.display());
    let row = groups(&dirs.db())
        .into_iter()
        .find(|r| r.group_id == group_id)
        .unwrap();
    assert_eq!(row.state, "in_progress", "premise: {row:#?}");
    let tmp_bytes = dir_size(&tmp);
    Frozen {
        group_id,
        tmp,
        tmp_bytes,
    }
}

/// SIGTERM lands while the conversion is frozen mid-write; with `--stop-timeout 0`
/// the group must be released (`pending`, not a retry), its temporary removed once the
/// process exits, and a restart must convert it.
#[test]
fn sigterm_mid_group_stops_cleanly_and_releases_the_group() {
    let dirs = Dirs::new();
    // --stop-timeout 0: the group in progress is abandoned at once (released).
    let mut daemon = Daemon::start(&dirs, &[&["--stop-timeout", "0"], CONVERSION_ONLY].concat());
    small_group(&dirs);
    let frozen = freeze_mid_conversion(&daemon, &dirs, 1 << 20);
    daemon.signal("TERM");
    daemon.signal("CONT");
    let status = daemon.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit {status}:\n{}", daemon.stderr());

    let after = groups(&dirs.db());
    assert!(after.iter().all(|r| r.state != "in_progress"), "{after:#?}");
    let g = after
        .iter()
        .find(|r| r.group_id == frozen.group_id)
        .unwrap();
    assert_eq!(g.state, "pending", "released, not finished: {g:#?}");
    assert_eq!(g.retry_count, 0, "a release is not a retry");
    assert!(
        daemon.stderr().contains("abandoning the group"),
        "{}",
        daemon.stderr()
    );
    // The abandoned conversion's temporary MS is removed once the process has exited.
    wait_for("no temporary MS left", Duration::from_secs(10), || {
        temporaries(&dirs.output()).is_empty().then_some(())
    });
    assert!(!frozen.tmp.exists());
    assert_eq!(
        products_of(&dirs.output(), &g.group_id),
        Vec::<String>::new()
    );

    // A restart converts it.
    let mut again = Daemon::start(&dirs, CONVERSION_ONLY);
    wait_for(
        "the released group to complete",
        Duration::from_secs(30),
        || {
            groups(&dirs.db())
                .iter()
                .any(|r| r.group_id == g.group_id && r.state == "completed")
                .then_some(())
        },
    );
    assert_eq!(
        products_of(&dirs.output(), &g.group_id),
        [format!("{}.ms", g.group_id)]
    );
    again.stop_ok(Duration::from_secs(20));
}

/// kill -9 lands while the conversion is frozen mid-write (its temporary MS exists and
/// holds data): nothing appears at the product path and the group stays `in_progress`
/// under a dead owner; a restart removes the temporary, recovers the group (one retry)
/// and converts it exactly once: one product, one `ms_index` row, no temporary.
#[test]
fn kill9_mid_group_then_restart_completes_the_group() {
    let dirs = Dirs::new();
    let mut daemon = Daemon::start(&dirs, CONVERSION_ONLY);
    small_group(&dirs);
    let frozen = freeze_mid_conversion(&daemon, &dirs, 1 << 20);
    daemon.kill9();
    let gid = frozen.group_id.clone();
    eprintln!(
        "killed with {} bytes in {}",
        frozen.tmp_bytes,
        frozen.tmp.display()
    );

    let product = dirs.output().join(format!("{gid}.ms"));
    assert!(
        !product.exists(),
        "a half product is visible at {}",
        product.display()
    );
    assert!(frozen.tmp.is_dir(), "the kill left its temporary MS");
    let g = groups(&dirs.db())
        .into_iter()
        .find(|r| r.group_id == gid)
        .unwrap();
    assert_eq!(g.state, "in_progress", "{g:#?}");
    assert_eq!(g.retry_count, 0, "{g:#?}");

    let mut restarted = Daemon::start(&dirs, CONVERSION_ONLY);
    let done = wait_for(
        "the killed group to complete",
        Duration::from_secs(30),
        || {
            groups(&dirs.db())
                .into_iter()
                .find(|r| r.group_id == gid && r.state == "completed")
        },
    );
    assert_eq!(done.retry_count, 1, "recovered once: {done:#?}");
    assert!(product.join("table.dat").is_file());
    assert_eq!(
        products_of(&dirs.output(), &gid),
        [format!("{gid}.ms")],
        "exactly the product: no temporary, no duplicate"
    );
    assert!(
        temporaries(&dirs.output()).is_empty(),
        "{:?}",
        temporaries(&dirs.output())
    );
    let index = ms_index_rows(&dirs.db(), &gid);
    assert_eq!(index.len(), 1, "{index:?}");
    assert_eq!(Path::new(&index[0].0), product, "{index:?}");
    let log = restarted.stderr();
    assert!(log.contains("stopped while processing"), "{log}");
    let completions: Vec<&str> = log_lines_with(&log, "group completed")
        .into_iter()
        .filter(|l| l.contains("dsa110_pipeline_core::worker:"))
        .filter(|l| log_field(l, "group_id") == Some(gid.as_str()))
        .collect();
    assert_eq!(completions.len(), 1, "{log}");
    restarted.stop_ok(Duration::from_secs(20));
}

/// kill -9 at the exact point between "product published" (the MS renamed into place)
/// and "product recorded + stage done + group completed" (one transaction), by the
/// runner's testing aid `DSA110_FAULT_POINT=after_publish:conversion` (the process
/// SIGKILLs itself there, so no timing luck is involved). The restart must complete
/// the group — never fail it as "exists" — with exactly one product and one row.
#[test]
fn kill9_between_publish_and_record_completes_on_restart() {
    let dirs = Dirs::new();
    let mut daemon = Daemon::start_with_env(
        &dirs,
        CONVERSION_ONLY,
        &[("DSA110_FAULT_POINT", "after_publish:conversion")],
    );
    small_group(&dirs);
    let status = daemon.wait_exit(Duration::from_secs(120));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "killed by the fault point: {status}\n{}",
        daemon.stderr()
    );
    assert!(
        daemon.stderr().contains("DSA110_FAULT_POINT"),
        "{}",
        daemon.stderr()
    );

    // the premise: the product is at its final path, unrecorded, the group in progress
    let g = groups(&dirs.db()).into_iter().next().expect("one group");
    let gid = g.group_id.clone();
    let product = dirs.output().join(format!("{gid}.ms"));
    assert!(
        product.join("table.dat").is_file(),
        "published before the kill"
    );
    assert_eq!(g.state, "in_progress", "{g:#?}");
    assert!(
        ms_index_rows(&dirs.db(), &gid).is_empty(),
        "not recorded yet"
    );

    let mut restarted = Daemon::start(&dirs, CONVERSION_ONLY);
    let done = wait_for("the group to complete", Duration::from_secs(60), || {
        groups(&dirs.db())
            .into_iter()
            .find(|r| r.group_id == gid && r.state != "in_progress" && r.state != "pending")
    });
    assert_eq!(done.state, "completed", "{done:#?}\n{}", restarted.stderr());
    assert_eq!(
        products_of(&dirs.output(), &gid),
        [format!("{gid}.ms")],
        "exactly the product"
    );
    let index = ms_index_rows(&dirs.db(), &gid);
    assert_eq!(index.len(), 1, "{index:?}");
    assert!(
        restarted
            .stderr()
            .contains("removing an unrecorded product"),
        "{}",
        restarted.stderr()
    );
    restarted.stop_ok(Duration::from_secs(20));
}

#[test]
fn low_disk_pauses_processing_and_it_resumes_by_itself() {
    let dirs = Dirs::new();
    let free = dirs.root().join("free_gb");
    // 7 GB: below the 10 GB pause threshold, above the 5 GB unhealthy one.
    std::fs::write(&free, "7").unwrap();
    let free_arg = free.to_str().unwrap().to_owned();
    let mut daemon = Daemon::start(&dirs, &["--debug-free-space-file", &free_arg]);
    write_like_correlator(&sim_config(
        Scale::Tiny,
        &dirs.input(),
        0.0,
        21,
        &all_subbands(),
    ));
    let row = wait_for("the group to be pending", Duration::from_secs(20), || {
        groups(&dirs.db())
            .into_iter()
            .find(|r| r.state == "pending")
    });
    // Several poll intervals: still pending.
    std::thread::sleep(Duration::from_secs(3));
    let g = groups(&dirs.db());
    assert_eq!(g[0].state, "pending", "{g:#?}");
    let health = daemon.get("/health");
    assert_eq!(health.status, 200);
    let h = health.json();
    assert_eq!(h["status"], "degraded", "{h:#}");
    assert_eq!(h["paused"], true, "{h:#}");
    assert_eq!(h["ready"], false, "not ready while paused: {h:#}");
    let ready = daemon.get("/ready");
    assert_eq!(ready.status, 503, "{ready:?}");
    assert!(ready.body.starts_with("paused"), "{ready:?}");
    assert_eq!(h["checks"]["disk"]["output_free_gb"], 7.0, "{h:#}");
    let m = daemon.get("/metrics").body;
    assert_eq!(
        sample(&m, "dsa110_streaming_paused{reason=\"disk\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "dsa110_streaming_disk_free_gb{path=\"output\"}"),
        Some(7.0)
    );

    std::fs::write(&free, "100").unwrap();
    wait_for(
        "the group to complete after space came back",
        Duration::from_secs(20),
        || {
            groups(&dirs.db())
                .into_iter()
                .find(|r| r.group_id == row.group_id && r.state == "completed")
        },
    );
    let m = daemon.get("/metrics").body;
    assert_eq!(
        sample(&m, "dsa110_streaming_paused{reason=\"disk\"}"),
        Some(0.0)
    );
    assert_eq!(daemon.get("/health").json()["status"], "healthy");
    assert_eq!(daemon.get("/ready").status, 200, "ready again");
    daemon.stop_ok(Duration::from_secs(20));
}

#[test]
fn a_database_locked_by_another_process_is_waited_out() {
    let dirs = Dirs::new();
    // a busy timeout of 1 s: the 6 s lock below outlasts it
    let mut daemon = Daemon::start(&dirs, &["--db-busy-timeout", "1"]);
    let health = daemon.get("/health").json();
    assert_eq!(health["status"], "healthy", "{health}");
    // Another writer holds the database exclusively for 6 s while a group arrives.
    let db = dirs.db();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let locker = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        // write something so the lock is a real write lock
        c.execute_batch("UPDATE processing_queue SET last_update = last_update")
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(6));
        c.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    // while locked past the busy timeout, /health says so (degraded, with the reason)
    let degraded = wait_for("/health to report the lock", Duration::from_secs(5), || {
        let h = daemon.get("/health");
        let text = h.body.clone();
        (text.contains("locked by another process")).then_some(h.json())
    });
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    write_like_correlator(&sim_config(
        Scale::Tiny,
        &dirs.input(),
        0.0,
        31,
        &all_subbands(),
    ));
    std::thread::sleep(Duration::from_secs(2));
    assert!(daemon.is_running(), "daemon died:\n{}", daemon.stderr());
    locker.join().unwrap();
    wait_for(
        "the group to complete after the lock",
        Duration::from_secs(30),
        || {
            groups(&dirs.db())
                .into_iter()
                .find(|r| r.state == "completed")
        },
    );
    assert!(daemon.is_running(), "daemon died:\n{}", daemon.stderr());
    let log = daemon.stderr();
    assert!(
        log.contains("queue database busy") || log.contains("locked by another process"),
        "no warning about the lock:\n{log}"
    );
    let health = daemon.get("/health").json();
    assert_eq!(health["status"], "healthy", "after the lock: {health}");
    daemon.stop_ok(Duration::from_secs(20));
}

/// Unprivileged user and group of the test below (Debian's `nobody`/`nogroup` ids).
const NOBODY: u32 = 65534;

#[test]
fn a_transient_read_error_at_intake_is_retried_and_the_group_completes() {
    // A subband file the daemon may not read (mode 000, the daemon running as `nobody`):
    // reading fails with EACCES, an operator-fixable, passing fault. It must be retried,
    // not recorded invalid; once readable the group completes with all 16 subbands.
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.staging()).unwrap();
    let files = write_staged(&sim_config(
        Scale::Tiny,
        &dirs.staging(),
        0.0,
        41,
        &all_subbands(),
    ));
    let unreadable_name = files[3].file_name().unwrap().to_str().unwrap().to_string();
    let set_mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    };
    set_mode(&files[3], 0o000);
    let chown = std::process::Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(dirs.root())
        .status()
        .unwrap();
    assert!(chown.success());
    set_mode(dirs.root(), 0o755);
    // a partial timeout far beyond the test: the group must wait for the file
    let mut daemon = Daemon::start_as(
        &dirs,
        &[&["--partial-timeout", "300"], CONVERSION_ONLY].concat(),
        NOBODY,
    );
    let delivered = deliver(&files, &dirs.input());
    let unreadable = dirs.input().join(&unreadable_name);
    // the daemon tries the file, fails to read it, and says it will try again
    wait_for("a retry warning", Duration::from_secs(30), || {
        daemon
            .stderr()
            .lines()
            .any(|l| l.contains(&unreadable_name) && l.contains("will try again"))
            .then_some(())
    });
    let log = daemon.stderr();
    assert!(
        log.contains("Permission denied"),
        "the OS's message is kept:\n{log}"
    );
    let invalid: i64 = read_db(&dirs.db())
        .query_row("SELECT COUNT(*) FROM invalid_files", [], |r| r.get(0))
        .unwrap();
    assert_eq!(invalid, 0, "a passing fault was recorded invalid");
    // the operator fixes the permissions; the next attempt reads the file
    set_mode(&unreadable, 0o644);
    let row = wait_for("the group to complete", Duration::from_secs(60), || {
        groups(&dirs.db())
            .into_iter()
            .find(|r| r.state == "completed")
    });
    assert_eq!(row.files.len(), 16, "{row:?}");
    let (missing, excluded): (i64, Option<String>) = read_db(&dirs.db())
        .query_row(
            "SELECT m.n_missing_subbands, q.excluded_files FROM processing_queue q \
             JOIN ms_index m ON m.group_id = q.group_id WHERE q.group_id = ?1",
            [&row.group_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((missing, excluded), (0, None));
    assert_eq!(delivered.len(), 16);
    daemon.stop_ok(Duration::from_secs(20));
}

/// A tmpfs mounted on a directory for the length of a test (the tests run as root, as
/// CI does); unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_output_disk_fails_the_attempt_with_the_os_message_and_the_daemon_stays_up() {
    let dirs = Dirs::new();
    // an output filesystem too small for the group's MS, disk thresholds at 0 so that the
    // disk guard does not pause first: the write itself meets the full disk
    let fs = Tmpfs::mount(&dirs.output(), "1m");
    let mut daemon = Daemon::start(
        &dirs,
        &[
            "--disk-pause-gb",
            "0",
            "--disk-critical-gb",
            "0",
            "--retry-backoff",
            "1",
            "--retry-limit",
            "10",
        ],
    );
    write_like_correlator(&sim_config(
        Scale::Tiny,
        &dirs.input(),
        0.0,
        41,
        &all_subbands(),
    ));
    let error = wait_for(
        "an attempt to fail on the full disk",
        Duration::from_secs(60),
        || {
            groups(&dirs.db())
                .into_iter()
                .find_map(|r| r.error.filter(|e| e.contains("No space left on device")))
        },
    );
    assert!(
        error.contains(".ms"),
        "the error names the product: {error}"
    );
    assert!(daemon.is_running(), "daemon died:\n{}", daemon.stderr());
    assert!(
        temporaries(&dirs.output()).is_empty(),
        "temporary product left on the full disk: {:?}",
        std::fs::read_dir(dirs.output())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
    // space freed: the next attempt completes the group
    fs.resize("200m");
    wait_for(
        "the group to complete once space is freed",
        Duration::from_secs(60),
        || {
            groups(&dirs.db())
                .into_iter()
                .find(|r| r.state == "completed")
        },
    );
    assert!(daemon.is_running(), "daemon died:\n{}", daemon.stderr());
    daemon.stop_ok(Duration::from_secs(20));
}
