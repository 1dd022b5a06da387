//! End to end: the simulator writes groups like the correlator into the watched directory
//! while the daemon runs; every group ends where it should, and the monitoring agrees
//! with the database.

use std::time::Duration;

use dsa110_sim::Scale;

use crate::common::*;

fn promtool_check(text: &str) {
    dsa110_test_support::promtool_check_metrics(text, dsa110_test_support::PROMTOOL_ALLOWED_LINTS);
}

#[test]
fn correlator_groups_end_completed_failed_or_partial_and_monitoring_agrees() {
    let dirs = Dirs::new();
    let mut daemon = Daemon::start(&dirs, &[]);
    let input = dirs.input();

    // Two good groups, written like the correlator (incomplete names, renamed when done,
    // shuffled subbands, jittered timestamps).
    let good_a = write_like_correlator(&sim_config(Scale::Tiny, &input, 0.0, 1, &all_subbands()));
    // A group with sb05 truncated after the correlator renamed it (staged, then delivered).
    let staged = write_staged(&sim_config(
        Scale::Tiny,
        &dirs.staging(),
        309.0,
        2,
        &all_subbands(),
    ));
    let victim = staged
        .iter()
        .find(|p| p.to_string_lossy().ends_with("_sb05.hdf5"))
        .unwrap()
        .clone();
    truncate_to_half(&victim);
    let mut shuffled = staged.clone();
    shuffled.reverse();
    let corrupt = deliver(&shuffled, &input);
    // A group missing sb07: converted by the partial-timeout rule.
    let partial_subbands: Vec<u8> = (0..16).filter(|&s| s != 7).collect();
    let partial = write_like_correlator(&sim_config(
        Scale::Tiny,
        &input,
        618.0,
        3,
        &partial_subbands,
    ));
    let good_b = write_like_correlator(&sim_config(Scale::Tiny, &input, 927.0, 4, &all_subbands()));
    // A group of 3 subbands: fewer than --min-subbands (12) when its collection times out.
    let few = write_like_correlator(&sim_config(Scale::Tiny, &input, 1236.0, 5, &[0, 1, 2]));

    let rows = wait_for("5 groups to finish", Duration::from_secs(80), || {
        let rows = groups(&dirs.db());
        let done = rows.len() == 5
            && rows
                .iter()
                .all(|r| r.state == "completed" || r.state == "failed");
        done.then_some(rows)
    });

    for files in [&good_a, &good_b, &partial] {
        let name = files[0].file_name().unwrap().to_str().unwrap();
        let row = row_with_file(&rows, name);
        assert_eq!(row.state, "completed", "{row:#?}");
        let ms = dirs.output().join(format!("{}.ms", row.group_id));
        assert!(ms.join("table.dat").is_file(), "{} missing", ms.display());
    }
    // The group with a corrupt sb05: an invalid subband counts as a missing one, so with
    // 15 good files it is converted as a partial group, sb05 flagged and the file named.
    let victim_name = victim.file_name().unwrap().to_str().unwrap();
    let bad = row_with_file(&rows, victim_name);
    assert_eq!(bad.state, "completed", "{bad:#?}\n{}", daemon.stderr());
    let (excluded, n_missing): (Option<String>, i64) = read_db(&dirs.db())
        .query_row(
            "SELECT q.excluded_files, m.n_missing_subbands FROM processing_queue q \
             JOIN ms_index m USING (group_id) WHERE q.group_id = ?1",
            [&bad.group_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let excluded = excluded.unwrap_or_default();
    assert!(
        excluded.contains(victim_name) && excluded.starts_with("sb05"),
        "excluded_files does not name the file: {excluded:?}"
    );
    assert_eq!(n_missing, 1, "sb05 written flagged");
    assert_eq!(corrupt.len(), 16);
    // The HDF5 layer's error chain, as operators read it in the group's record and in
    // invalid_files: libhdf5's own message kept, the file and each cause named once.
    let reason: String = read_db(&dirs.db())
        .query_row(
            "SELECT reason FROM invalid_files WHERE path LIKE '%' || ?1",
            [victim_name],
            |r| r.get(0),
        )
        .unwrap();
    for text in [&excluded, &reason] {
        assert_once(text, victim_name);
        assert_once(text, "H5Fopen(): unable to open file");
        assert_once(text, "H5F__super_read(): truncated file");
    }

    // Too few subbands at the partial timeout: failed with the reason.
    let few_row = row_with_file(&rows, few[0].file_name().unwrap().to_str().unwrap());
    assert_eq!(few_row.state, "failed", "{few_row:#?}");

    // The partial group: converted with sb07 flagged (one missing subband in ms_index).
    let partial_row = row_with_file(&rows, partial[0].file_name().unwrap().to_str().unwrap());
    assert_eq!(partial_row.files.len(), 15);
    let missing: i64 = read_db(&dirs.db())
        .query_row(
            "SELECT n_missing_subbands FROM ms_index WHERE group_id = ?1",
            [&partial_row.group_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(missing, 1);
    assert!(temporaries(&dirs.output()).is_empty());

    // Monitoring agrees with the guide's own query.
    let db_counts = sqlite3_state_counts(&dirs.db());
    let metrics = daemon.get("/metrics");
    assert_eq!(metrics.status, 200);
    let health = daemon.get("/health").json();
    for state in [
        "collecting",
        "pending",
        "in_progress",
        "completed",
        "failed",
    ] {
        let expected = db_counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        let m = sample(
            &metrics.body,
            &format!("dsa110_streaming_queue{{state=\"{state}\"}}"),
        );
        assert_eq!(m, Some(expected as f64), "/metrics {state}");
        assert_eq!(
            health["checks"]["queue"][state].as_u64(),
            Some(expected),
            "/health {state}: {health:#}"
        );
    }
    assert_eq!(
        db_counts,
        vec![("completed".to_owned(), 4), ("failed".to_owned(), 1)]
    );
    // the failed counter equals the failed rows, whatever the path to `failed`
    assert_eq!(
        sample(
            &metrics.body,
            "dsa110_streaming_groups_total{outcome=\"failed\"}"
        ),
        Some(1.0)
    );
    assert_eq!(health["status"], "healthy", "{health:#}");
    assert!(
        sample(
            &metrics.body,
            "dsa110_streaming_files_total{outcome=\"rejected\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        sample(
            &metrics.body,
            "dsa110_streaming_groups_total{outcome=\"completed\"}"
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &metrics.body,
            "dsa110_streaming_stage_duration_seconds_count{stage=\"conversion\"}"
        ),
        Some(4.0)
    );
    promtool_check(&metrics.body);
    // performance_metrics has the conversion timings of the completed groups.
    let n_perf: i64 = read_db(&dirs.db())
        .query_row(
            "SELECT COUNT(*) FROM performance_metrics WHERE total_time > 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n_perf, 4);

    let status = daemon.sigterm(Duration::from_secs(20));
    assert!(status.success(), "{status}");
    // The log file holds the same lines as stderr, with the group ids.
    let log = std::fs::read_to_string(dirs.log_file()).unwrap();
    assert!(log.contains(&format!("group_id={}", bad.group_id)), "{log}");
    assert!(log.contains("dsa110-stream stopped"), "{log}");
}

/// Two workers of one daemon share the queue: held back by a low-disk pause until all
/// four groups are pending, then released together (the runner's testing aid
/// `DSA110_FAULT_SLEEP` holds each group 0.5 s before its conversion). Proven from the queue's own log
/// lines (`group acquired` with the owner `host:pid:wN`, then the worker's
/// `group completed` in the group's span): every group is acquired exactly once and
/// completed exactly once, by the worker that acquired it; both workers complete
/// groups; and at some point two groups are in progress at the same time under the two
/// owners (a second acquisition before the first group's completion). The products
/// agree: one MS and one `ms_index` row per group, no retry, no temporary.
#[test]
fn two_workers_share_the_queue_without_collisions() {
    let dirs = Dirs::new();
    let free = dirs.root().join("free_gb");
    // 7 GB: below the 10 GB pause threshold, so no worker takes a group yet.
    std::fs::write(&free, "7").unwrap();
    let free_arg = free.to_str().unwrap().to_owned();
    // The runner's testing aid holds each group 0.5 s before its conversion, so the two
    // workers' groups overlap whatever the machine's speed.
    let mut daemon = Daemon::start_with_env(
        &dirs,
        &["--workers", "2", "--debug-free-space-file", &free_arg],
        &[("DSA110_FAULT_SLEEP", "conversion:0.5")],
    );
    for (k, seed) in [(0.0, 61), (309.0, 62), (618.0, 63), (927.0, 64)] {
        write_like_correlator(&sim_config(
            Scale::Tiny,
            &dirs.input(),
            k,
            seed,
            &all_subbands(),
        ));
    }
    wait_for("4 groups pending", Duration::from_secs(40), || {
        let rows = groups(&dirs.db());
        (rows.len() == 4 && rows.iter().all(|r| r.state == "pending")).then_some(())
    });
    std::fs::write(&free, "100").unwrap();
    let rows = wait_for("4 groups completed", Duration::from_secs(40), || {
        let rows = groups(&dirs.db());
        (rows.len() == 4 && rows.iter().all(|r| r.state == "completed")).then_some(rows)
    });
    daemon.stop_ok(Duration::from_secs(20));
    for r in &rows {
        assert_eq!(r.retry_count, 0, "{r:#?}");
        assert_eq!(
            products_of(&dirs.output(), &r.group_id),
            [format!("{}.ms", r.group_id)]
        );
        assert_eq!(ms_index_rows(&dirs.db(), &r.group_id).len(), 1);
    }

    let log = daemon.stderr();
    let workers = worker_owners(&log);
    assert_eq!(workers.len(), 2, "two worker owners: {workers:?}\n{log}");
    // Replay the log: which group each owner holds, in log order.
    let mut held: Vec<(String, String)> = Vec::new(); // (group, owner)
    let mut acquired_by: Vec<(String, String)> = Vec::new();
    let mut completed_by: Vec<(String, String)> = Vec::new();
    let mut max_concurrent: Vec<(String, String)> = Vec::new();
    for line in log.lines() {
        let message = |m: &str| !log_lines_with(line, m).is_empty();
        if message("group acquired") {
            let g = log_field(line, "group_id").unwrap().to_owned();
            let o = log_field(line, "owner").unwrap().to_owned();
            held.push((g.clone(), o.clone()));
            acquired_by.push((g, o));
            if held.len() > max_concurrent.len() {
                max_concurrent = held.clone();
            }
        } else if message("group completed") && line.contains("dsa110_pipeline_core::worker:") {
            // the worker's line, in the group's span `group{group_id=… worker=N}` (the
            // queue logs its own `group completed` inside the same span)
            let g = log_field(line, "group_id").unwrap().to_owned();
            let n = log_field(line, "worker").unwrap();
            let owner = workers
                .iter()
                .find(|o| o.ends_with(&format!(":w{n}")))
                .unwrap_or_else(|| panic!("worker {n} has no owner: {line}"))
                .clone();
            let at = held
                .iter()
                .position(|(hg, ho)| *hg == g && *ho == owner)
                .unwrap_or_else(|| panic!("{owner} completed {g} it did not hold:\n{log}"));
            held.remove(at);
            completed_by.push((g, owner));
        }
    }
    let mut ids: Vec<&str> = acquired_by.iter().map(|(g, _)| g.as_str()).collect();
    ids.sort_unstable();
    let want: Vec<&str> = rows.iter().map(|r| r.group_id.as_str()).collect();
    assert_eq!(ids, want, "each group acquired exactly once:\n{log}");
    let mut done: Vec<&str> = completed_by.iter().map(|(g, _)| g.as_str()).collect();
    done.sort_unstable();
    assert_eq!(done, want, "each group completed exactly once:\n{log}");
    assert!(held.is_empty(), "acquired, never completed: {held:?}");
    for w in &workers {
        let n = completed_by.iter().filter(|(_, o)| o == w).count();
        assert!(n >= 1, "{w} completed no group: {completed_by:?}");
    }
    assert_eq!(max_concurrent.len(), 2, "never two groups at once:\n{log}");
    assert_ne!(
        max_concurrent[0].1, max_concurrent[1].1,
        "two groups at once under one owner: {max_concurrent:?}"
    );
}

/// The owners `host:pid:wN` of the `worker started` lines.
fn worker_owners(log: &str) -> Vec<String> {
    let mut v: Vec<String> = log_lines_with(log, "worker started")
        .into_iter()
        .map(|l| log_field(l, "owner").unwrap().to_owned())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// An IERS table that does not cover today (the committed 2025 H1 extract) makes
/// `/health` degraded with the reason, without stopping the daemon; the default table
/// found by the search does not.
#[test]
fn health_warns_when_no_earth_orientation_table_covers_today() {
    let dirs = Dirs::new();
    let table = dsa110_test_support::fixture("eop/finals2000A_2025H1.all");
    let mut daemon = Daemon::start(&dirs, &["--eop-table", table.to_str().unwrap()]);
    let h = daemon.get("/health").json();
    assert_eq!(h["status"], "degraded", "{h}");
    let reasons = h["reasons"].to_string();
    assert!(reasons.contains("outside the IERS table"), "{h}");
    assert_eq!(daemon.get("/ready").status, 200);
    daemon.stop_ok(Duration::from_secs(20));

    let dirs = Dirs::new();
    let mut daemon = Daemon::start(&dirs, &[]);
    let h = daemon.get("/health").json();
    assert!(!h["reasons"].to_string().contains("IERS"), "{h}");
    daemon.stop_ok(Duration::from_secs(20));
}

/// A conversion triggered through the jobs table (as `dsa110-api`'s POST
/// /conversion/convert records it, "force" for a completed group): the daemon takes the
/// job, the group is converted again (a new MS replaces the old), and the job ends
/// `completed` with the group's outcome.
#[test]
fn a_convert_job_is_executed_and_its_state_recorded() {
    use dsa110_queue::{GroupId, JobState, NewJob, Queue};
    let dirs = Dirs::new();
    let mut daemon = Daemon::start(&dirs, &["--no-imaging"]);
    write_like_correlator(&sim_config(
        Scale::Tiny,
        &dirs.input(),
        0.0,
        51,
        &all_subbands(),
    ));
    let row = wait_for("the group to complete", Duration::from_secs(60), || {
        groups(&dirs.db())
            .into_iter()
            .find(|r| r.state == "completed")
    });
    let ms = dirs.output().join(format!("{}.ms", row.group_id));
    let before = std::fs::metadata(ms.join("table.dat"))
        .unwrap()
        .modified()
        .unwrap();
    // what the API does for {"group_ids": [...], "force": true}
    let q = Queue::open(dirs.db()).unwrap();
    let gid = GroupId::parse(&row.group_id).unwrap();
    let id = q
        .create_job(
            &NewJob {
                kind: "convert",
                group_ids: std::slice::from_ref(&gid),
                params_json: Some(r#"{"force":true}"#),
                requested_by: Some("test"),
            },
            1.0e9,
        )
        .unwrap();
    q.enqueue_group_for_conversion(&gid, 1.0e9).unwrap();
    let job = wait_for("the job to finish", Duration::from_secs(60), || {
        q.job(id)
            .unwrap()
            .filter(|j| matches!(j.state, JobState::Completed | JobState::Failed))
    });
    assert_eq!(
        job.state,
        JobState::Completed,
        "{job:#?}\n{}",
        daemon.stderr()
    );
    assert!(
        job.result_json
            .as_deref()
            .unwrap_or("")
            .contains("completed"),
        "{job:#?}"
    );
    let after = std::fs::metadata(ms.join("table.dat"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(after > before, "the MS was not written again");
    assert_eq!(
        groups(&dirs.db())
            .iter()
            .filter(|r| r.state == "completed")
            .count(),
        1
    );
    daemon.stop_ok(Duration::from_secs(20));
}

/// Jobs survive the daemon: one left `running` by a daemon that died (its owner's pid
/// is gone) is queued again at the next start and run to its end, and a daemon stopped
/// gracefully gives its unfinished job back (`queued`, no owner), so that nothing waits
/// for an owner that will never finish it.
#[test]
fn jobs_of_a_stopped_daemon_are_taken_back_and_a_graceful_stop_gives_its_job_back() {
    use dsa110_queue::{JobState, NewJob, Queue, RegisterOutcome, SubbandIdx};
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.db().parent().unwrap()).unwrap();
    let q = Queue::open(dirs.db()).unwrap();
    let now = 1.7e9;
    // a job claimed by a process that is gone: a child that has exited and been reaped
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let dead = format!("{}:{}:jobs", host.trim(), gone.id());
    let job = |group_ids| NewJob {
        kind: "convert",
        group_ids,
        params_json: None,
        requested_by: Some("test"),
    };
    let orphan = q.create_job(&job(&[]), now).unwrap();
    let claimed = q.claim_next_job(&["convert"], &dead, now).unwrap().unwrap();
    assert_eq!((claimed.id, claimed.state), (orphan, JobState::Running));
    // a group that waits: its files are registered, and the daemon is paused (low disk)
    let mut gid = None;
    for s in 0..16u8 {
        let out = q
            .register_file(
                dirs.input()
                    .join(format!("2026-01-01T00:00:00_sb{s:02}.hdf5")),
                SubbandIdx::new(s).unwrap(),
                1.767e9,
                16,
                now,
            )
            .unwrap();
        if let RegisterOutcome::Added { group_id, .. } = out {
            gid = Some(group_id);
        }
    }
    let gid = gid.unwrap();
    let waiting = q.create_job(&job(std::slice::from_ref(&gid)), now).unwrap();

    let mut daemon = Daemon::start_paused(&dirs, &["--no-imaging"]);
    let done = wait_for(
        "the orphaned job to finish",
        Duration::from_secs(30),
        || {
            q.job(orphan)
                .unwrap()
                .filter(|j| matches!(j.state, JobState::Completed | JobState::Failed))
        },
    );
    assert_eq!(
        done.state,
        JobState::Completed,
        "{done:#?}\n{}",
        daemon.stderr()
    );
    assert!(
        daemon
            .stderr()
            .contains(&format!("queued again: its owner {dead} stopped")),
        "{}",
        daemon.stderr()
    );
    let mine = format!("{}:{}:jobs", host.trim(), daemon.pid());
    let running = wait_for(
        "the waiting job to be taken",
        Duration::from_secs(30),
        || {
            q.job(waiting)
                .unwrap()
                .filter(|j| j.state == JobState::Running)
        },
    );
    assert_eq!(running.owner.as_deref(), Some(mine.as_str()));
    assert!(running.heartbeat_at.is_some());
    assert_eq!(q.group(&gid).unwrap().unwrap().state.as_str(), "pending");

    daemon.stop_ok(Duration::from_secs(20));
    let back = q.job(waiting).unwrap().unwrap();
    assert_eq!(
        (back.state, back.owner.as_deref(), back.started_at),
        (JobState::Queued, None, None),
        "{back:#?}\n{}",
        daemon.stderr()
    );
}
