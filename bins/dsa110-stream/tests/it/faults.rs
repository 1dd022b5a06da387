//! Fault tests: SIGTERM and kill -9 mid-group, a full disk, a locked database.

use std::time::{Duration, Instant};

use dsa110_sim::Scale;

use crate::common::*;

/// Waits until a group is `in_progress` (polling the database every 10 ms).
fn wait_in_progress(dirs: &Dirs) -> Row {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = groups(&dirs.db())
            .into_iter()
            .find(|r| r.state == "in_progress")
        {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no group in_progress within 30 s: {:#?}",
            groups(&dirs.db())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn small_group(dirs: &Dirs) -> Vec<std::path::PathBuf> {
    // small: 16 × 16 MB, converts in about a second on this machine, long enough to
    // land a signal mid-group.
    write_like_correlator(&sim_config(
        Scale::Small,
        &dirs.input(),
        0.0,
        11,
        &all_subbands(),
    ))
}

#[test]
fn sigterm_mid_group_stops_cleanly_and_releases_the_group() {
    let dirs = Dirs::new();
    // --stop-timeout 0: the group in progress is abandoned at once (released).
    let mut daemon = Daemon::start(&dirs, &["--stop-timeout", "0"]);
    small_group(&dirs);
    let row = wait_in_progress(&dirs);
    std::thread::sleep(Duration::from_millis(100));
    let status = daemon.sigterm(Duration::from_secs(20));
    assert!(status.success(), "exit {status}:\n{}", daemon.stderr());

    let after = groups(&dirs.db());
    assert!(after.iter().all(|r| r.state != "in_progress"), "{after:#?}");
    let g = after.iter().find(|r| r.group_id == row.group_id).unwrap();
    assert!(g.state == "pending" || g.state == "completed", "{g:#?}");
    assert_eq!(g.retry_count, 0, "a release is not a retry");
    // The abandoned conversion's temporary MS is removed once the process has exited.
    wait_for("no temporary MS left", Duration::from_secs(10), || {
        temporaries(&dirs.output()).is_empty().then_some(())
    });
    let product = dirs.output().join(format!("{}.ms", g.group_id));
    assert_eq!(product.exists(), g.state == "completed");
    if g.state == "pending" {
        assert!(
            daemon.stderr().contains("abandoning the group"),
            "{}",
            daemon.stderr()
        );
    }

    // A restart converts it.
    let mut again = Daemon::start(&dirs, &[]);
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
    again.stop_ok(Duration::from_secs(20));
}

#[test]
fn kill9_mid_group_then_restart_completes_the_group() {
    let dirs = Dirs::new();
    let mut daemon = Daemon::start(&dirs, &[]);
    small_group(&dirs);
    let row = wait_in_progress(&dirs);
    std::thread::sleep(Duration::from_millis(150));
    daemon.kill9();

    let product = dirs.output().join(format!("{}.ms", row.group_id));
    assert!(
        !product.exists(),
        "a half product is visible at {}",
        product.display()
    );
    let stuck = groups(&dirs.db());
    let g = stuck.iter().find(|r| r.group_id == row.group_id).unwrap();
    assert!(g.state == "in_progress" || g.state == "completed", "{g:#?}");
    if g.state == "completed" {
        // the conversion won the race against the kill: nothing to recover
        return;
    }

    let mut restarted = Daemon::start(&dirs, &[]);
    let done = wait_for(
        "the killed group to complete",
        Duration::from_secs(30),
        || {
            groups(&dirs.db())
                .into_iter()
                .find(|r| r.group_id == row.group_id && r.state == "completed")
        },
    );
    assert_eq!(done.retry_count, 1, "recovered once: {done:#?}");
    assert!(product.join("table.dat").is_file());
    assert!(
        temporaries(&dirs.output()).is_empty(),
        "{:?}",
        temporaries(&dirs.output())
    );
    assert!(
        restarted.stderr().contains("stopped while processing"),
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
    daemon.stop_ok(Duration::from_secs(20));
}

#[test]
fn a_database_locked_by_another_process_is_waited_out() {
    let dirs = Dirs::new();
    let mut daemon = Daemon::start(&dirs, &[]);
    // Another writer holds the database exclusively for 6 s while a group arrives.
    let db = dirs.db();
    let locker = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        // write something so the lock is a real write lock
        c.execute_batch("UPDATE processing_queue SET last_update = last_update")
            .unwrap();
        std::thread::sleep(Duration::from_secs(6));
        c.execute_batch("COMMIT").unwrap();
    });
    std::thread::sleep(Duration::from_millis(200));
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
        log.contains("locked by another process"),
        "no warning about the lock:\n{log}"
    );
    daemon.stop_ok(Duration::from_secs(20));
}
