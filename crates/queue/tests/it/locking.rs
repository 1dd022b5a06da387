//! A database locked by another writer: the queue waits up to its busy
//! timeout, then reports a retryable error (never a panic).

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use dsa110_queue::{GroupState, Queue, QueueOptions, RegisterOutcome, SubbandIdx};
use rusqlite::Connection;

use crate::T0;

/// Holds `BEGIN EXCLUSIVE` on `path` for `hold`, signalling once locked.
fn hold_exclusive(
    path: std::path::PathBuf,
    hold: Duration,
) -> (thread::JoinHandle<()>, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let c = Connection::open(&path).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE; UPDATE processing_queue SET last_update = last_update;")
            .unwrap();
        tx.send(()).unwrap();
        thread::sleep(hold);
        c.execute_batch("COMMIT").unwrap();
    });
    (h, rx)
}

#[test]
fn writer_waits_for_a_lock_within_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.sqlite3");
    let q = Queue::open(&path).unwrap();
    let (h, locked) = hold_exclusive(path.clone(), Duration::from_millis(1500));
    locked.recv().unwrap();
    // Readers are not blocked in WAL mode.
    let t = Instant::now();
    assert_eq!(q.counts_by_state().unwrap()[&GroupState::Collecting], 0);
    assert!(t.elapsed() < Duration::from_millis(500));
    // The writer waits for the lock and succeeds.
    let t = Instant::now();
    let out = q
        .register_file("/in/a_sb00.hdf5", SubbandIdx::new(0).unwrap(), T0, 16, T0)
        .unwrap();
    let waited = t.elapsed();
    assert!(
        matches!(out, RegisterOutcome::Added { created: true, .. }),
        "{out:?}"
    );
    assert!(
        waited >= Duration::from_millis(1000),
        "did not wait: {waited:?}"
    );
    h.join().unwrap();
}

#[test]
fn short_busy_timeout_gives_a_retryable_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.sqlite3");
    let q = Queue::open_with(
        &path,
        QueueOptions {
            busy_timeout: Duration::from_millis(50),
            ..QueueOptions::default()
        },
    )
    .unwrap();
    let (h, locked) = hold_exclusive(path.clone(), Duration::from_millis(1500));
    locked.recv().unwrap();
    let err = q
        .register_file("/in/a_sb00.hdf5", SubbandIdx::new(0).unwrap(), T0, 16, T0)
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("q.sqlite3") && msg.contains("register_file"),
        "{msg}"
    );
    let err = q.acquire_next("w:1", T0).unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    h.join().unwrap();
    // Once the lock is gone the same call succeeds, and nothing was half-done.
    assert_eq!(q.list_groups(None, 10, 0).unwrap().1, 0);
    q.register_file("/in/a_sb00.hdf5", SubbandIdx::new(0).unwrap(), T0, 16, T0)
        .unwrap();
    assert_eq!(q.list_groups(None, 10, 0).unwrap().1, 1);
}
