//! Unit tests of every queue operation, on a temporary database file.

use super::*;

/// The tests predate the backend seam and exercise the SQLite backend directly.
type Queue = SqliteBackend;
use crate::schema::SCHEMA_VERSION;

const T0: f64 = 1_759_363_920.0; // 2025-10-02T00:12:00
const OWNER: &str = "node1:100";

fn sb(i: u8) -> SubbandIdx {
    SubbandIdx::new(i).unwrap()
}

fn gid(s: &str) -> GroupId {
    GroupId::parse(s).unwrap()
}

fn fresh() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(dir.path().join("state/db/pipeline.sqlite3")).unwrap();
    (dir, q)
}

fn file(obs: f64, i: u8) -> String {
    format!(
        "/data/incoming/{}_sb{i:02}.hdf5",
        GroupId::from_unix_s(obs).unwrap()
    )
}

/// Registers subbands `0..n` of the observation at `obs` (exact times).
fn fill(q: &Queue, obs: f64, n: u8, expected: u8, now: f64) -> GroupId {
    let mut id = None;
    for i in 0..n {
        match q
            .register_file(file(obs, i), sb(i), obs, expected, now)
            .unwrap()
        {
            RegisterOutcome::Added { group_id, .. } => id = Some(group_id),
            other => panic!("unexpected {other:?}"),
        }
    }
    id.unwrap()
}

fn state(q: &Queue, g: &GroupId) -> GroupState {
    q.group(g).unwrap().unwrap().state
}

fn retryable<'a>(msg: &'a str) -> Failure<'a> {
    Failure {
        error: "io_error",
        message: msg,
        retryable: true,
    }
}

#[test]
fn open_creates_dirs_sets_pragmas_and_is_idempotent() {
    let (dir, q) = fresh();
    let path = dir.path().join("state/db/pipeline.sqlite3");
    assert!(path.exists());
    let conn = q.conn().unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let busy: i64 = conn
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .unwrap();
    assert_eq!(busy, 30_000);
    let fk: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 1, "NORMAL");
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    drop(conn);
    let g = fill(&q, T0, 2, 16, T0);
    drop(q);
    // Reopening keeps the data and does not re-run the migration.
    let q2 = Queue::open(&path).unwrap();
    assert_eq!(q2.group_files(&g).unwrap().len(), 2);
}

#[test]
fn contract_columns_exist() {
    let (_d, q) = fresh();
    let conn = q.conn().unwrap();
    let cols = |t: &str| -> Vec<String> {
        let mut st = conn.prepare(&format!("PRAGMA table_info({t})")).unwrap();
        st.query_map([], |r| r.get::<_, String>(1))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let want: &[(&str, &[&str])] = &[
        (
            "processing_queue",
            &[
                "group_id",
                "state",
                "received_at",
                "last_update",
                "expected_subbands",
                "retry_count",
                "error",
                "error_message",
                "checkpoint_path",
                "processing_stage",
                "chunk_minutes",
                "has_calibrator",
                "calibrators",
            ],
        ),
        ("subband_files", &["group_id", "subband_idx", "path"]),
        (
            "performance_metrics",
            &[
                "group_id",
                "load_time",
                "phase_time",
                "write_time",
                "total_time",
                "writer_type",
                "recorded_at",
            ],
        ),
        (
            "hdf5_files",
            &[
                "path",
                "filename",
                "group_id",
                "subband_code",
                "subband_num",
                "timestamp_iso",
                "timestamp_mjd",
                "file_size_bytes",
                "modified_time",
                "indexed_at",
                "stored",
                "ra_deg",
                "dec_deg",
                "obs_date",
                "obs_time",
            ],
        ),
        (
            "invalid_files",
            &[
                "path",
                "file_size_bytes",
                "modified_time",
                "reason",
                "checked_at",
            ],
        ),
        (
            "late_files",
            &[
                "path",
                "group_id",
                "subband_idx",
                "group_state",
                "received_at",
            ],
        ),
        (
            "ms_index",
            &[
                "path",
                "group_id",
                "created_at",
                "start_mjd",
                "end_mjd",
                "mid_mjd",
                "ra_deg",
                "dec_deg",
                "n_spw",
                "n_rows",
                "n_missing_subbands",
                "size_bytes",
                "status",
            ],
        ),
    ];
    for (table, columns) in want {
        let have = cols(table);
        // Contract columns come first and in order.
        assert_eq!(&have[..columns.len()], *columns, "{table}");
    }
    let idx: Vec<String> = conn
        .prepare("SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='processing_queue'")
        .unwrap()
        .query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .filter_map(|r| r.unwrap())
        .collect();
    assert!(idx.iter().any(|s| s.contains("(state)")), "{idx:?}");
    assert!(idx.iter().any(|s| s.contains("(received_at)")), "{idx:?}");
}

#[test]
fn legacy_database_without_added_columns_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.sqlite3");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE processing_queue (group_id TEXT PRIMARY KEY, state TEXT NOT NULL, \
             received_at REAL NOT NULL, last_update REAL NOT NULL, expected_subbands INTEGER, \
             retry_count INTEGER NOT NULL DEFAULT 0, error TEXT, error_message TEXT, \
             checkpoint_path TEXT, processing_stage TEXT DEFAULT 'collecting', chunk_minutes REAL, \
             has_calibrator INTEGER, calibrators TEXT);
             INSERT INTO processing_queue (group_id, state, received_at, last_update, expected_subbands) \
             VALUES ('2025-10-02T00:12:00', 'pending', 1.0, 1.0, 16);",
        )
        .unwrap();
    }
    let q = Queue::open(&path).unwrap();
    let got = q.acquire_next(OWNER, T0).unwrap().unwrap();
    assert_eq!(got.group_id.as_str(), "2025-10-02T00:12:00");
    assert_eq!(got.missing.len(), 16);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.sqlite3");
    drop(Queue::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Queue::open(&path).unwrap_err();
    assert!(matches!(err, QueueError::Schema { found, .. } if found == SCHEMA_VERSION + 1));
    assert!(err.to_string().contains("q.sqlite3"), "{err}");
}

#[test]
fn readonly_open_fails_clearly_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope/pipeline.sqlite3");
    let err = Queue::open_readonly(&missing).unwrap_err();
    assert!(matches!(err, QueueError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope/pipeline.sqlite3"), "{err}");
    assert!(!missing.exists(), "read-only open must not create the file");

    // A file that was never initialised.
    let blank = dir.path().join("blank.sqlite3");
    drop(Connection::open(&blank).unwrap());
    let err = Queue::open_readonly(&blank).unwrap_err();
    assert!(
        matches!(err, QueueError::Schema { found: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not initialised"), "{err}");

    let path = dir.path().join("q.sqlite3");
    let q = Queue::open(&path).unwrap();
    let g = fill(&q, T0, 16, 16, T0);
    let ro = Queue::open_readonly(&path).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(ro.counts_by_state().unwrap()[&GroupState::Pending], 1);
    assert_eq!(ro.group_files(&g).unwrap().len(), 16);
    let err = ro.acquire_next(OWNER, T0).unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(q.counts_by_state().unwrap()[&GroupState::Pending], 1);
}

#[test]
fn jittered_files_of_one_observation_form_one_group() {
    let (_d, q) = fresh();
    // Correlator timestamps differ by up to ±30 s; arrival order shuffled.
    let jitter = [
        0.0, 29.0, -30.0, 12.0, -7.0, 30.0, 3.0, -19.0, 25.0, -1.0, 8.0, -25.0, 17.0, -12.0, 21.0,
        5.0,
    ];
    let order = [3usize, 0, 15, 7, 1, 9, 11, 2, 14, 4, 6, 13, 5, 10, 8, 12];
    let mut group = None;
    for (k, &i) in order.iter().enumerate() {
        let obs = T0 + jitter[i];
        let out = q
            .register_file(
                format!("/in/f{i}_sb{i:02}.hdf5"),
                sb(i as u8),
                obs,
                16,
                T0 + k as f64,
            )
            .unwrap();
        let RegisterOutcome::Added {
            group_id,
            created,
            n_subbands,
            state,
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(created, k == 0);
        assert_eq!(n_subbands as usize, k + 1);
        let expect_state = if k == 15 {
            GroupState::Pending
        } else {
            GroupState::Collecting
        };
        assert_eq!(state, expect_state, "after {} files", k + 1);
        if let Some(g) = &group {
            assert_eq!(&group_id, g);
        }
        group = Some(group_id);
    }
    let g = group.unwrap();
    // The group's id is the first-arriving file's timestamp (jitter[3] = +12 s).
    assert_eq!(g, GroupId::from_unix_s(T0 + 12.0).unwrap());
    assert_eq!(q.group_files(&g).unwrap().len(), 16);
    let counts = q.counts_by_state().unwrap();
    assert_eq!(counts[&GroupState::Pending], 1);
    assert_eq!(counts.values().sum::<u64>(), 1);
}

#[test]
fn observations_309_s_apart_are_different_groups() {
    let (_d, q) = fresh();
    let a = fill(&q, T0, 3, 16, T0);
    let b = fill(&q, T0 + 309.0, 3, 16, T0 + 309.0);
    assert_ne!(a, b);
    assert_eq!(b.as_str(), "2025-10-02T00:17:09");
    // Just outside the tolerance (60 s) opens a third group.
    let out = q
        .register_file("/in/x_sb00.hdf5", sb(0), T0 + 309.0 + 60.5, 16, T0)
        .unwrap();
    assert!(
        matches!(out, RegisterOutcome::Added { created: true, .. }),
        "{out:?}"
    );
    // Exactly at the tolerance joins.
    let out = q
        .register_file("/in/y_sb05.hdf5", sb(5), T0 + 60.0, 16, T0)
        .unwrap();
    assert!(
        matches!(&out, RegisterOutcome::Added { group_id, created: false, .. } if *group_id == a),
        "{out:?}"
    );
}

#[test]
fn file_joins_the_nearest_of_two_groups() {
    let (_d, q) = fresh();
    let a = fill(&q, T0, 1, 16, T0);
    let b = fill(&q, T0 + 100.0, 1, 16, T0);
    // 55 s from a, 45 s from b: both within tolerance, b is nearer.
    let out = q
        .register_file("/in/n1.hdf5", sb(3), T0 + 55.0, 16, T0)
        .unwrap();
    assert!(
        matches!(&out, RegisterOutcome::Added { group_id, .. } if *group_id == b),
        "{out:?}"
    );
    // 45 s from a, 55 s from b.
    let out = q
        .register_file("/in/n2.hdf5", sb(3), T0 + 45.0, 16, T0)
        .unwrap();
    assert!(
        matches!(&out, RegisterOutcome::Added { group_id, .. } if *group_id == a),
        "{out:?}"
    );
    // Equidistant: the earlier group.
    let out = q
        .register_file("/in/n3.hdf5", sb(4), T0 + 50.0, 16, T0)
        .unwrap();
    assert!(
        matches!(&out, RegisterOutcome::Added { group_id, .. } if *group_id == a),
        "{out:?}"
    );
}

#[test]
fn configurable_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open_with(
        dir.path().join("q.sqlite3"),
        QueueOptions {
            cluster_tolerance_s: 10.0,
            ..QueueOptions::default()
        },
    )
    .unwrap();
    fill(&q, T0, 1, 16, T0);
    let out = q
        .register_file("/in/a.hdf5", sb(1), T0 + 20.0, 16, T0)
        .unwrap();
    assert!(
        matches!(out, RegisterOutcome::Added { created: true, .. }),
        "{out:?}"
    );
}

#[test]
fn pending_exactly_at_expected_subbands() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 3, 4, T0);
    assert_eq!(state(&q, &g), GroupState::Collecting);
    let out = q
        .register_file(file(T0, 3), sb(3), T0, 4, T0 + 1.0)
        .unwrap();
    assert_eq!(
        out,
        RegisterOutcome::Added {
            group_id: g.clone(),
            created: false,
            n_subbands: 4,
            state: GroupState::Pending
        }
    );
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Pending);
    assert_eq!(rec.expected_subbands, Some(4));
    assert_eq!(rec.received_at, T0);
    assert_eq!(rec.last_update, T0 + 1.0);
    // A subband beyond the group's expected count is refused with the group named.
    let err = q.register_file("/in/z.hdf5", sb(9), T0, 4, T0).unwrap_err();
    assert!(err.to_string().contains(g.as_str()), "{err}");
    assert!(q.register_file("/in/z.hdf5", sb(1), T0, 0, T0).is_err());
    assert!(q.register_file("/in/z.hdf5", sb(1), T0, 17, T0).is_err());
    assert!(q
        .register_file("/in/z.hdf5", sb(1), f64::NAN, 16, T0)
        .is_err());
}

#[test]
fn reregistering_a_path_is_a_no_op() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 2, 16, T0);
    let out = q
        .register_file(file(T0, 1), sb(1), T0 + 5.0, 16, T0 + 99.0)
        .unwrap();
    assert_eq!(
        out,
        RegisterOutcome::AlreadyRegistered {
            group_id: g.clone(),
            subband: sb(1)
        }
    );
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.last_update, T0, "no-op must not touch the group");
    assert_eq!(q.group_files(&g).unwrap().len(), 2);
}

#[test]
fn same_subband_with_another_path_is_rejected() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 2, 16, T0);
    let out = q
        .register_file("/other/copy_sb01.hdf5", sb(1), T0 + 3.0, 16, T0)
        .unwrap();
    assert_eq!(
        out,
        RegisterOutcome::DuplicateSubband {
            group_id: g.clone(),
            subband: sb(1),
            existing_path: PathBuf::from(file(T0, 1)),
        }
    );
    let files = q.group_files(&g).unwrap();
    assert_eq!(files[1].path, PathBuf::from(file(T0, 1)));
}

#[test]
fn late_file_is_recorded_and_group_untouched() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 15, 16, T0);
    q.register_file(file(T0, 15), sb(15), T0, 16, T0).unwrap();
    let got = q.acquire_next(OWNER, T0 + 1.0).unwrap().unwrap();
    assert_eq!(got.group_id, g);
    q.complete(&g, OWNER, T0 + 2.0).unwrap();
    let before = q.group(&g).unwrap().unwrap();
    let late = "/in/late_sb03.hdf5";
    let out = q
        .register_file(late, sb(3), T0 + 20.0, 16, T0 + 500.0)
        .unwrap();
    assert_eq!(
        out,
        RegisterOutcome::Late {
            group_id: g.clone(),
            state: GroupState::Completed
        }
    );
    // Again: still reported, not duplicated.
    let out = q
        .register_file(late, sb(3), T0 + 20.0, 16, T0 + 600.0)
        .unwrap();
    assert_eq!(
        out,
        RegisterOutcome::Late {
            group_id: g.clone(),
            state: GroupState::Completed
        }
    );
    assert_eq!(q.group(&g).unwrap().unwrap(), before);
    let files = q.group_files(&g).unwrap();
    assert_eq!(files.len(), 16);
    assert!(files.iter().all(|f| f.path.as_path() != Path::new(late)));
    assert_eq!(
        q.late_files().unwrap(),
        vec![LateFile {
            path: late.into(),
            group_id: g,
            subband: sb(3),
            group_state: GroupState::Completed,
            received_at: T0 + 500.0,
        }]
    );
}

#[test]
fn late_file_for_in_progress_group() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 4, 4, T0);
    q.acquire_next(OWNER, T0).unwrap().unwrap();
    let out = q
        .register_file("/in/dup_sb01.hdf5", sb(1), T0, 16, T0)
        .unwrap();
    assert_eq!(
        out,
        RegisterOutcome::Late {
            group_id: g.clone(),
            state: GroupState::InProgress
        }
    );
    assert_eq!(state(&q, &g), GroupState::InProgress);
}

#[test]
fn acquire_takes_oldest_group_id_not_oldest_arrival() {
    let (_d, q) = fresh();
    let later = fill(&q, T0 + 309.0, 2, 2, T0); // arrives first
    let earlier = fill(&q, T0, 2, 2, T0 + 10.0);
    let collecting = fill(&q, T0 - 1000.0, 1, 2, T0); // oldest but not pending
    let a = q.acquire_next("w1:1", T0 + 20.0).unwrap().unwrap();
    assert_eq!(a.group_id, earlier);
    assert_eq!(a.files.len(), 2);
    assert!(a.missing.is_empty());
    let rec = q.group(&earlier).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::InProgress);
    assert_eq!(rec.owner.as_deref(), Some("w1:1"));
    assert_eq!(rec.started_at, Some(T0 + 20.0));
    assert_eq!(rec.processing_stage.as_deref(), Some(STAGE_ACQUIRED));
    let b = q.acquire_next("w2:2", T0 + 21.0).unwrap().unwrap();
    assert_eq!(b.group_id, later);
    assert!(q.acquire_next("w3:3", T0 + 22.0).unwrap().is_none());
    assert_eq!(state(&q, &collecting), GroupState::Collecting);
}

#[test]
fn retry_with_backoff_then_failed_at_limit() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 2, 2, T0);
    let policy = RetryPolicy {
        retry_limit: 2,
        backoff_s: 10.0,
        max_backoff_s: 15.0,
    };
    let msg = "cannot read /in/2025-10-02T00:12:00_sb01.hdf5: truncated";

    q.acquire_next(OWNER, T0).unwrap().unwrap();
    let out = q
        .fail(&g, OWNER, &retryable(msg), &policy, T0 + 1.0)
        .unwrap();
    assert_eq!(
        out,
        FailOutcome::Retrying {
            retry_count: 1,
            next_attempt_at: T0 + 11.0
        }
    );
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Pending);
    assert_eq!(rec.retry_count, 1);
    assert_eq!(
        rec.error.as_deref(),
        Some(format!("io_error: {msg}").as_str())
    );
    assert_eq!(rec.error_message.as_deref(), Some(msg));
    assert_eq!(rec.owner, None);
    // Not before the backoff.
    assert!(q.acquire_next(OWNER, T0 + 10.9).unwrap().is_none());
    let a = q.acquire_next(OWNER, T0 + 11.0).unwrap().unwrap();
    assert_eq!(a.retry_count, 1);

    // Second failure: backoff doubles but is capped at 15.
    let out = q
        .fail(&g, OWNER, &retryable(msg), &policy, T0 + 20.0)
        .unwrap();
    assert_eq!(
        out,
        FailOutcome::Retrying {
            retry_count: 2,
            next_attempt_at: T0 + 35.0
        }
    );
    q.acquire_next(OWNER, T0 + 35.0).unwrap().unwrap();

    // Third: limit reached.
    let out = q
        .fail(&g, OWNER, &retryable(msg), &policy, T0 + 40.0)
        .unwrap();
    assert_eq!(out, FailOutcome::Failed { retry_count: 2 });
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Failed);
    assert_eq!(rec.error_message.as_deref(), Some(msg));
    assert_eq!(rec.finished_at, Some(T0 + 40.0));
    assert!(q.acquire_next(OWNER, T0 + 1e6).unwrap().is_none());
}

#[test]
fn non_retryable_failure_is_final() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 1, 1, T0);
    q.acquire_next(OWNER, T0).unwrap();
    let f = Failure {
        error: "corrupt_file",
        message: "sb00 has NaN uvw",
        retryable: false,
    };
    let out = q.fail(&g, OWNER, &f, &RetryPolicy::default(), T0).unwrap();
    assert_eq!(out, FailOutcome::Failed { retry_count: 0 });
    assert_eq!(state(&q, &g), GroupState::Failed);
}

#[test]
fn operations_check_the_owner() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 1, 1, T0);
    let err = q.complete(&g, OWNER, T0).unwrap_err();
    assert!(
        matches!(&err, QueueError::NotOwner { state, held_by: None, .. } if state == "pending"),
        "{err:?}"
    );
    q.acquire_next(OWNER, T0).unwrap();
    let err = q.complete(&g, "intruder:9", T0).unwrap_err();
    assert!(
        matches!(&err, QueueError::NotOwner { held_by: Some(h), .. } if h == OWNER),
        "{err:?}"
    );
    assert!(err.to_string().contains(g.as_str()), "{err}");
    let err = q.release(&g, "intruder:9", T0).unwrap_err();
    assert!(matches!(err, QueueError::NotOwner { .. }));
    let unknown = gid("2001-01-01T00:00:00");
    let err = q.heartbeat(&unknown, OWNER, T0).unwrap_err();
    assert!(
        matches!(&err, QueueError::UnknownGroup(g) if g == "2001-01-01T00:00:00"),
        "{err:?}"
    );
    q.heartbeat(&g, OWNER, T0 + 5.0).unwrap();
    q.set_stage(&g, "conversion", T0 + 6.0).unwrap();
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.last_update, T0 + 6.0);
    assert_eq!(rec.processing_stage.as_deref(), Some("conversion"));
    q.complete(&g, OWNER, T0 + 7.0).unwrap();
    let err = q.set_stage(&g, "imaging", T0).unwrap_err();
    assert!(matches!(err, QueueError::WrongState { .. }), "{err:?}");
    assert!(q.heartbeat(&g, OWNER, f64::INFINITY).is_err());
}

#[test]
fn complete_clears_error() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 1, 1, T0);
    q.acquire_next(OWNER, T0).unwrap();
    let policy = RetryPolicy {
        backoff_s: 0.0,
        ..RetryPolicy::default()
    };
    q.fail(&g, OWNER, &retryable("x"), &policy, T0).unwrap();
    q.acquire_next(OWNER, T0).unwrap().unwrap();
    q.complete(&g, OWNER, T0 + 3.0).unwrap();
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Completed);
    assert_eq!(rec.error, None);
    assert_eq!(rec.error_message, None);
    assert_eq!(rec.owner, None);
    assert_eq!(rec.finished_at, Some(T0 + 3.0));
    assert_eq!(rec.retry_count, 1);
}

#[test]
fn release_returns_group_without_counting_a_retry() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 1, 1, T0);
    q.acquire_next(OWNER, T0).unwrap();
    q.release(&g, OWNER, T0 + 1.0).unwrap();
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Pending);
    assert_eq!(rec.retry_count, 0);
    assert_eq!(rec.owner, None);
    let a = q.acquire_next("other:2", T0 + 1.0).unwrap().unwrap();
    assert_eq!(a.group_id, g);
    assert_eq!(a.retry_count, 0);
}

#[test]
fn recover_stale_dead_owner_and_timeout() {
    let (_d, q) = fresh();
    let a = fill(&q, T0, 1, 1, T0);
    let b = fill(&q, T0 + 309.0, 1, 1, T0);
    let c = fill(&q, T0 + 618.0, 1, 1, T0);
    q.acquire_next("dead:1", T0).unwrap();
    q.set_stage(&a, "conversion", T0).unwrap();
    q.acquire_next("alive:2", T0).unwrap();
    q.acquire_next("alive:3", T0).unwrap();
    q.heartbeat(&c, "alive:3", T0 + 900.0).unwrap();
    let alive = |o: &str| o.starts_with("alive");
    // At T0+1000: a's owner is dead; b's last heartbeat is 1000 s old (> 600);
    // c is alive and fresh (100 s).
    let rec = q.recover_stale(alive, 600.0, 3, T0 + 1000.0).unwrap();
    assert_eq!(rec.len(), 2);
    assert_eq!(rec[0].group_id, a);
    assert_eq!(rec[0].reason, StaleReason::OwnerDead);
    assert_eq!(rec[0].new_state, GroupState::Pending);
    assert_eq!(rec[0].retry_count, 1);
    assert_eq!(rec[1].group_id, b);
    assert_eq!(rec[1].reason, StaleReason::NoHeartbeat);
    let ra = q.group(&a).unwrap().unwrap();
    assert_eq!(ra.state, GroupState::Pending);
    assert_eq!(ra.retry_count, 1);
    assert_eq!(ra.owner, None);
    assert!(ra
        .error
        .as_deref()
        .unwrap()
        .starts_with(&format!("{ERROR_WORKER_LOST}: recovered after worker ")));
    assert_eq!(
        ra.error_message.as_deref(),
        Some("recovered after worker dead:1 stopped while processing (stage conversion)")
    );
    let rb = q.group(&b).unwrap().unwrap();
    assert!(rb.error_message.unwrap().contains("alive:2"));
    assert_eq!(state(&q, &c), GroupState::InProgress);
    // Nothing more to do.
    assert!(q
        .recover_stale(alive, 600.0, 3, T0 + 1000.0)
        .unwrap()
        .is_empty());
}

#[test]
fn recover_stale_fails_at_the_retry_limit() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 1, 1, T0);
    for k in 0..3 {
        q.acquire_next("dead:1", T0).unwrap().unwrap();
        let r = q.recover_stale(|_| false, 600.0, 2, T0 + 1.0).unwrap();
        let expect = if k < 2 {
            GroupState::Pending
        } else {
            GroupState::Failed
        };
        assert_eq!(r[0].new_state, expect, "round {k}");
    }
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.state, GroupState::Failed);
    assert_eq!(rec.retry_count, 2);
    let msg = rec.error_message.unwrap();
    assert!(
        msg.contains("dead:1") && msg.contains("retry limit 2"),
        "{msg}"
    );
}

#[test]
fn promote_partial_both_branches() {
    let (_d, q) = fresh();
    // 14 of 16: enough (min 12).
    let big = q.register_file("/in/b00.hdf5", sb(0), T0, 16, T0).unwrap();
    let RegisterOutcome::Added { group_id: big, .. } = big else {
        panic!()
    };
    for i in (1..16).filter(|&i| i != 3 && i != 7) {
        q.register_file(format!("/in/b{i:02}.hdf5"), sb(i), T0, 16, T0 + 1.0)
            .unwrap();
    }
    // 5 of 16: too few.
    let small = fill(&q, T0 + 309.0, 5, 16, T0 + 309.0);
    // Recent: untouched.
    let recent = fill(&q, T0 + 618.0, 1, 16, T0 + 618.0);

    // received_at of small is T0+309: at T0+909 it is exactly 600 s old.
    let out = q.promote_partial(600.0, 12, T0 + 909.0).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].group_id, big);
    assert_eq!(out[0].new_state, GroupState::Pending);
    assert_eq!(out[0].missing, vec![sb(3), sb(7)]);
    assert_eq!(out[0].present.len(), 14);
    assert_eq!(out[1].group_id, small);
    assert_eq!(out[1].new_state, GroupState::Failed);

    let rb = q.group(&big).unwrap().unwrap();
    assert_eq!(rb.state, GroupState::Pending);
    assert_eq!(rb.error, None);
    assert_eq!(
        rb.error_message.as_deref(),
        Some("partial group: missing sb03, sb07")
    );
    let rs = q.group(&small).unwrap().unwrap();
    assert_eq!(rs.state, GroupState::Failed);
    assert!(rs
        .error
        .as_deref()
        .unwrap()
        .starts_with(&format!("{ERROR_INCOMPLETE_GROUP}: ")));
    let msg = rs.error_message.unwrap();
    assert!(
        msg.contains("5 of 16") && msg.contains("sb05") && msg.contains("sb15"),
        "{msg}"
    );
    assert_eq!(state(&q, &recent), GroupState::Collecting);

    // A missing subband arriving for the promoted (pending) group joins it
    // and the partial note is updated.
    let out = q
        .register_file("/in/b03.hdf5", sb(3), T0, 16, T0 + 950.0)
        .unwrap();
    assert!(
        matches!(
            out,
            RegisterOutcome::Added {
                state: GroupState::Pending,
                n_subbands: 15,
                ..
            }
        ),
        "{out:?}"
    );
    let rb = q.group(&big).unwrap().unwrap();
    assert_eq!(
        rb.error_message.as_deref(),
        Some("partial group: missing sb07")
    );
    q.register_file("/in/b07.hdf5", sb(7), T0, 16, T0 + 951.0)
        .unwrap();
    assert_eq!(q.group(&big).unwrap().unwrap().error_message, None);
    let a = q.acquire_next(OWNER, T0 + 1000.0).unwrap().unwrap();
    assert_eq!(a.group_id, big);
    assert!(a.missing.is_empty());
}

#[test]
fn enqueue_for_conversion() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 1, 1, T0);
    assert_eq!(
        q.enqueue_group_for_conversion(&g, T0).unwrap(),
        EnqueueOutcome::AlreadyPending
    );
    q.acquire_next(OWNER, T0).unwrap();
    assert!(matches!(
        q.enqueue_group_for_conversion(&g, T0),
        Err(QueueError::WrongState { .. })
    ));
    let f = Failure {
        error: "e",
        message: "m",
        retryable: false,
    };
    q.fail(&g, OWNER, &f, &RetryPolicy::default(), T0).unwrap();
    assert_eq!(
        q.enqueue_group_for_conversion(&g, T0 + 5.0).unwrap(),
        EnqueueOutcome::Requeued {
            previous: GroupState::Failed
        }
    );
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.retry_count, rec.error),
        (GroupState::Pending, 0, None)
    );
    q.acquire_next(OWNER, T0).unwrap().unwrap();
    q.complete(&g, OWNER, T0).unwrap();
    assert_eq!(
        q.enqueue_group_for_conversion(&g, T0).unwrap(),
        EnqueueOutcome::Requeued {
            previous: GroupState::Completed
        }
    );
    let err = q
        .enqueue_group_for_conversion(&gid("2000-01-01T00:00:00"), T0)
        .unwrap_err();
    assert!(matches!(err, QueueError::UnknownGroup(_)));
    let c = fill(&q, T0 + 1000.0, 1, 16, T0);
    assert!(matches!(
        q.enqueue_group_for_conversion(&c, T0),
        Err(QueueError::WrongState { .. })
    ));
}

#[test]
fn counts_list_and_age() {
    let (_d, q) = fresh();
    let counts = q.counts_by_state().unwrap();
    assert_eq!(counts.len(), 5);
    assert!(counts.values().all(|&n| n == 0));
    assert_eq!(q.oldest_pending_age_s(T0).unwrap(), None);
    for k in 0..5 {
        fill(&q, T0 + 309.0 * f64::from(k), 1, 1, T0 + f64::from(k));
    }
    fill(&q, T0 + 5000.0, 1, 16, T0);
    q.acquire_next(OWNER, T0).unwrap();
    let counts = q.counts_by_state().unwrap();
    assert_eq!(counts[&GroupState::Pending], 4);
    assert_eq!(counts[&GroupState::InProgress], 1);
    assert_eq!(counts[&GroupState::Collecting], 1);
    assert_eq!(counts[&GroupState::Failed], 0);
    assert_eq!(q.oldest_pending_age_s(T0 + 100.0).unwrap(), Some(99.0));
    let (page, total) = q.list_groups(Some(GroupState::Pending), 2, 1).unwrap();
    assert_eq!(total, 4);
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].group_id, GroupId::from_unix_s(T0 + 618.0).unwrap());
    assert!(page.iter().all(|g| g.state == GroupState::Pending));
    let (all, total) = q.list_groups(None, 100, 0).unwrap();
    assert_eq!((all.len(), total), (6, 6));
    assert!(all.windows(2).all(|w| w[0].group_id < w[1].group_id));
}

#[test]
fn guide_sqlite3_queries_work_verbatim() {
    let (dir, q) = fresh();
    let a = fill(&q, T0, 1, 1, T0);
    fill(&q, T0 + 309.0, 1, 1, T0);
    fill(&q, T0 + 618.0, 1, 16, T0);
    q.acquire_next(OWNER, T0).unwrap();
    // A plain connection, as the sqlite3 CLI would open it.
    let c = Connection::open(dir.path().join("state/db/pipeline.sqlite3")).unwrap();
    let mut st = c
        .prepare("SELECT state, COUNT(*) FROM processing_queue GROUP BY state")
        .unwrap();
    let rows: BTreeMap<String, i64> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let want: BTreeMap<String, i64> = [("collecting", 1), ("in_progress", 1), ("pending", 1)]
        .into_iter()
        .map(|(s, n)| (s.to_owned(), n))
        .collect();
    assert_eq!(rows, want);
    let mut st = c
        .prepare("SELECT group_id, state, error FROM processing_queue WHERE state='in_progress'")
        .unwrap();
    let rows: Vec<(String, String, Option<String>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows, vec![(a.to_string(), "in_progress".to_owned(), None)]);
    let busy: i64 = q
        .conn()
        .unwrap()
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .unwrap();
    assert_eq!(busy, 30_000);
}

#[test]
fn group_metadata_setters() {
    let (_d, q) = fresh();
    let g = fill(&q, T0, 1, 16, T0);
    q.set_checkpoint_path(&g, Some(Path::new("/scratch/ck.json")))
        .unwrap();
    q.set_calibrators(&g, true, Some("3C286")).unwrap();
    q.set_chunk_minutes(&g, 5.0).unwrap();
    let rec = q.group(&g).unwrap().unwrap();
    assert_eq!(rec.checkpoint_path.as_deref(), Some("/scratch/ck.json"));
    assert_eq!(rec.has_calibrator, Some(true));
    assert_eq!(rec.calibrators.as_deref(), Some("3C286"));
    assert_eq!(rec.chunk_minutes, Some(5.0));
    let err = q
        .set_chunk_minutes(&gid("2000-01-01T00:00:00"), 5.0)
        .unwrap_err();
    assert!(matches!(err, QueueError::UnknownGroup(_)));
}

#[test]
fn invalid_files_rechecked_when_changed() {
    let (_d, q) = fresh();
    let p = "/in/bad_sb02.hdf5";
    assert!(!q.invalid_file_unchanged(p, 100, 5.5).unwrap());
    q.record_invalid_file(p, 100, 5.5, "truncated: Data/visdata missing", T0)
        .unwrap();
    assert!(q.invalid_file_unchanged(p, 100, 5.5).unwrap());
    assert!(!q.invalid_file_unchanged(p, 101, 5.5).unwrap());
    assert!(!q.invalid_file_unchanged(p, 100, 6.0).unwrap());
    q.record_invalid_file(p, 200, 7.0, "still bad", T0 + 1.0)
        .unwrap();
    assert!(q.invalid_file_unchanged(p, 200, 7.0).unwrap());
    assert_eq!(q.invalid_reason(p).unwrap().as_deref(), Some("still bad"));
    assert_eq!(q.invalid_reason("/in/other_sb03.hdf5").unwrap(), None);
    assert!(q.clear_invalid_file(p).unwrap());
    assert_eq!(q.invalid_reason(p).unwrap(), None);
    assert!(!q.clear_invalid_file(p).unwrap());
    assert!(!q.invalid_file_unchanged(p, 200, 7.0).unwrap());
}

#[test]
fn records_upsert() {
    let (dir, q) = fresh();
    let g = gid("2025-10-02T00:12:00");
    let mut perf = PerformanceRecord {
        group_id: g.clone(),
        load_time_s: Some(1.0),
        phase_time_s: Some(2.0),
        write_time_s: None,
        total_time_s: Some(3.5),
        writer_type: Some("direct".into()),
        recorded_at: T0,
    };
    q.record_performance(&perf).unwrap();
    perf.write_time_s = Some(0.5);
    q.record_performance(&perf).unwrap();
    assert_eq!(q.performance(&g).unwrap(), Some(perf));

    let mut h = Hdf5FileRecord {
        path: "/in/2025-10-02T00:12:00_sb05.hdf5".into(),
        filename: "2025-10-02T00:12:00_sb05.hdf5".into(),
        group_id: Some(g.clone()),
        subband: Some(sb(5)),
        timestamp_iso: Some("2025-10-02T00:12:00".into()),
        timestamp_mjd: Some(60950.00833),
        file_size_bytes: Some(142_000_000),
        modified_time: Some(T0),
        indexed_at: T0,
        stored: true,
        ra_deg: None,
        dec_deg: Some(54.57),
        obs_date: Some("2025-10-02".into()),
        obs_time: Some("00:12:00".into()),
    };
    q.record_hdf5_file(&h).unwrap();
    h.stored = false;
    q.record_hdf5_file(&h).unwrap();
    let c = Connection::open(dir.path().join("state/db/pipeline.sqlite3")).unwrap();
    let (n, code, num, stored): (i64, String, i64, i64) = c
        .query_row(
            "SELECT COUNT(*), subband_code, subband_num, stored FROM hdf5_files",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!((n, code.as_str(), num, stored), (1, "sb05", 5, 0));

    let mut ms = MsRecord {
        path: "/data/ms/2025-10-02T00:12:00.ms".into(),
        group_id: g.clone(),
        created_at: T0,
        start_mjd: Some(60950.0),
        end_mjd: Some(60950.1),
        mid_mjd: Some(60950.05),
        ra_deg: Some(10.0),
        dec_deg: Some(54.57),
        n_spw: Some(16),
        n_rows: Some(111_744),
        n_missing_subbands: Some(0),
        size_bytes: Some(2_300_000_000),
        status: "converted".into(),
    };
    q.record_ms(&ms).unwrap();
    ms.status = "calibrated".into();
    q.record_ms(&ms).unwrap();
    assert_eq!(q.ms_for_group(&g).unwrap(), vec![ms]);
}

#[test]
fn non_utf8_path_is_an_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let (_d, q) = fresh();
    let p = Path::new(std::ffi::OsStr::from_bytes(b"/in/\xff_sb00.hdf5"));
    let err = q.register_file(p, sb(0), T0, 16, T0).unwrap_err();
    assert!(matches!(err, QueueError::NonUtf8Path(_)));
}

#[test]
fn hdf5_files_between_pages_by_time_range() {
    let (_d, q) = fresh();
    for (i, mjd) in [(0u8, 60950.1), (1, 60950.2), (2, 60950.3)] {
        q.record_hdf5_file(&Hdf5FileRecord {
            path: format!("/in/f{i}_sb{i:02}.hdf5").into(),
            filename: format!("f{i}_sb{i:02}.hdf5"),
            group_id: Some(gid("2025-10-02T00:12:00")),
            subband: Some(sb(i)),
            timestamp_iso: None,
            timestamp_mjd: Some(mjd),
            file_size_bytes: Some(10),
            modified_time: None,
            indexed_at: T0,
            stored: true,
            ra_deg: None,
            dec_deg: None,
            obs_date: None,
            obs_time: None,
        })
        .unwrap();
    }
    let (all, n) = q.hdf5_files_between(None, None, 10, 0).unwrap();
    assert_eq!((all.len(), n), (3, 3));
    assert_eq!(all[0].subband, Some(sb(0)));
    let (some, n) = q
        .hdf5_files_between(Some(60950.15), Some(60950.35), 1, 1)
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(some.len(), 1);
    assert_eq!(some[0].filename, "f2_sb02.hdf5");
    let (none, n) = q.hdf5_files_between(Some(60951.0), None, 10, 0).unwrap();
    assert!(none.is_empty() && n == 0);
}

#[test]
fn conversion_stats_count_finished_groups_since() {
    let (_d, q) = fresh();
    let empty = q.conversion_stats(0.0).unwrap();
    assert_eq!(
        (
            empty.completed_since,
            empty.failed_since,
            empty.mean_total_time_s
        ),
        (0, 0, None)
    );
    let a = fill(&q, T0, 16, 16, T0);
    let b = fill(&q, T0 + 300.0, 16, 16, T0);
    let acquired = q.acquire_next(OWNER, T0 + 10.0).unwrap().unwrap();
    assert_eq!(acquired.group_id, a);
    q.complete(&a, OWNER, T0 + 20.0).unwrap();
    q.acquire_next(OWNER, T0 + 30.0).unwrap().unwrap();
    let no_retry = RetryPolicy {
        retry_limit: 0,
        ..RetryPolicy::default()
    };
    let failure = Failure {
        error: "corrupt_file",
        message: "bad",
        retryable: false,
    };
    q.fail(&b, OWNER, &failure, &no_retry, T0 + 40.0).unwrap();
    for (g, t) in [(&a, 4.0), (&b, 8.0)] {
        q.record_performance(&PerformanceRecord {
            group_id: g.clone(),
            load_time_s: None,
            phase_time_s: None,
            write_time_s: None,
            total_time_s: Some(t),
            writer_type: None,
            recorded_at: T0 + 20.0,
        })
        .unwrap();
    }
    let s = q.conversion_stats(T0).unwrap();
    assert_eq!((s.completed_since, s.failed_since), (1, 1));
    assert_eq!((s.mean_total_time_s, s.timed_conversions), (Some(6.0), 2));
    let later = q.conversion_stats(T0 + 25.0).unwrap();
    assert_eq!((later.completed_since, later.failed_since), (0, 1));
    assert_eq!(later.mean_total_time_s, None);
}

#[test]
fn list_groups_ordered_pages_both_ways_and_matches_list_groups() {
    let (_d, q) = fresh();
    let a = fill(&q, T0, 16, 16, T0);
    let b = fill(&q, T0 + 300.0, 3, 16, T0);
    let c = fill(&q, T0 + 600.0, 16, 16, T0);
    let (newest, n) = q.list_groups_ordered(None, true, 2, 0).unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        newest
            .iter()
            .map(|g| g.group_id.clone())
            .collect::<Vec<_>>(),
        vec![c.clone(), b.clone()]
    );
    let (rest, _) = q.list_groups_ordered(None, true, 2, 2).unwrap();
    assert_eq!(rest[0].group_id, a);
    let (pending, n) = q
        .list_groups_ordered(Some(GroupState::Pending), false, 10, 0)
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        pending
            .iter()
            .map(|g| g.group_id.clone())
            .collect::<Vec<_>>(),
        vec![a, c]
    );
    assert_eq!(
        q.list_groups(Some(GroupState::Pending), 10, 0).unwrap(),
        (pending, 2)
    );
    let (collecting, n) = q
        .list_groups_ordered(Some(GroupState::Collecting), true, 10, 0)
        .unwrap();
    assert_eq!((collecting[0].group_id.clone(), n), (b, 1));
}
