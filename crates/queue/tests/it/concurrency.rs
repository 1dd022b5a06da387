//! Several processes (this test binary re-invoked as children) and several
//! threads with their own pools share one database file.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dsa110_queue::{GroupId, GroupState, Queue, RegisterOutcome, SubbandIdx};

use crate::T0;

const ENV_ROLE: &str = "DSA110_QUEUE_IT_ROLE";
const ENV_DB: &str = "DSA110_QUEUE_IT_DB";
const ENV_OUT: &str = "DSA110_QUEUE_IT_OUT";
const ENV_INDEX: &str = "DSA110_QUEUE_IT_INDEX";
const ENV_START: &str = "DSA110_QUEUE_IT_START";
const N_GROUPS: usize = 50;

fn wall_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Sleeps until the shared start instant so that all workers contend.
fn wait_for_start() {
    if let Some(start) = std::env::var(ENV_START)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        let dt = start - wall_s();
        if dt > 0.0 {
            thread::sleep(Duration::from_secs_f64(dt));
        }
    }
}

/// Seeds `n` pending groups (two subbands each), 309 s apart.
fn seed(path: &Path, n: usize) -> Vec<GroupId> {
    let q = Queue::open(path).unwrap();
    let mut ids = Vec::new();
    // Register in reverse time order: acquisition must still go oldest first.
    for k in (0..n).rev() {
        let obs = T0 + 309.0 * k as f64;
        for s in 0..2u8 {
            let out = q
                .register_file(
                    format!("/in/g{k}_sb{s:02}.hdf5"),
                    SubbandIdx::new(s).unwrap(),
                    obs,
                    2,
                    T0,
                )
                .unwrap();
            if let RegisterOutcome::Added {
                group_id, state, ..
            } = out
            {
                if s == 1 {
                    assert_eq!(state, GroupState::Pending);
                    ids.push(group_id);
                }
            }
        }
    }
    ids.sort();
    assert_eq!(ids.len(), n);
    ids
}

/// Acquires until the queue is empty, writing each group id (one per line)
/// to `out`; returns the ids in acquisition order.
fn drain(q: &Queue, owner: &str, out: &mut dyn Write) -> Vec<GroupId> {
    let mut got = Vec::new();
    loop {
        match q.acquire_next(owner, T0 + 1.0) {
            Ok(Some(g)) => {
                assert_eq!(g.files.len(), 2, "{owner} got {g:?}");
                writeln!(out, "{}", g.group_id).unwrap();
                out.flush().unwrap();
                thread::sleep(Duration::from_millis(2));
                q.complete(&g.group_id, owner, T0 + 2.0).unwrap();
                got.push(g.group_id);
            }
            Ok(None) => return got,
            Err(e) if e.is_retryable() => continue,
            Err(e) => panic!("{owner}: {e}"),
        }
    }
}

/// Entry point of the child processes; a no-op in a normal test run.
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ENV_ROLE) else {
        return;
    };
    let db = PathBuf::from(std::env::var(ENV_DB).unwrap());
    let index: u8 = std::env::var(ENV_INDEX).unwrap().parse().unwrap();
    let owner = format!("child{index}:{}", std::process::id());
    wait_for_start();
    match role.as_str() {
        "acquire" => {
            let q = Queue::open(&db).unwrap();
            let mut out = std::fs::File::create(std::env::var(ENV_OUT).unwrap()).unwrap();
            drain(&q, &owner, &mut out);
        }
        "open" => {
            // Opens a file nobody has initialised yet, racing the others.
            let q = Queue::open(&db).unwrap();
            let out = q
                .register_file(
                    format!("/in/open_sb{index:02}.hdf5"),
                    SubbandIdx::new(index).unwrap(),
                    T0 + f64::from(index),
                    16,
                    T0,
                )
                .unwrap();
            assert!(matches!(out, RegisterOutcome::Added { .. }), "{out:?}");
        }
        other => panic!("unknown role {other}"),
    }
}

fn spawn_child(role: &str, db: &Path, index: usize, out: Option<&Path>, start: f64) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "concurrency::child_role",
        "--exact",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env(ENV_ROLE, role)
    .env(ENV_DB, db)
    .env(ENV_INDEX, index.to_string())
    .env(ENV_START, start.to_string())
    .stdout(Stdio::null());
    if let Some(out) = out {
        cmd.env(ENV_OUT, out);
    }
    cmd.spawn().unwrap()
}

/// Waits for a child, killing it (by handle) if it overruns.
fn wait_child(mut child: Child, deadline: Instant) {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "child {} failed: {status}", child.id());
            return;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("child {} did not finish in time", child.id());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn check_partition(expected: &[GroupId], per_worker: &[Vec<String>]) {
    let mut seen = BTreeSet::new();
    for (w, ids) in per_worker.iter().enumerate() {
        for id in ids {
            assert!(
                seen.insert(id.clone()),
                "group {id} acquired twice (again by worker {w})"
            );
        }
    }
    let want: BTreeSet<String> = expected.iter().map(|g| g.to_string()).collect();
    assert_eq!(seen, want, "every group acquired exactly once");
}

#[test]
fn processes_never_acquire_the_same_group() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/db/pipeline.sqlite3");
    let ids = seed(&db, N_GROUPS);
    let start = wall_s() + 1.0;
    let outs: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("child{i}.txt")))
        .collect();
    let children: Vec<Child> = outs
        .iter()
        .enumerate()
        .map(|(i, out)| spawn_child("acquire", &db, i, Some(out), start))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for c in children {
        wait_child(c, deadline);
    }
    let per_worker: Vec<Vec<String>> = outs
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    for (w, ids) in per_worker.iter().enumerate() {
        // Each worker sees groups in increasing id order.
        assert!(
            ids.windows(2).all(|p| p[0] < p[1]),
            "worker {w} out of order: {ids:?}"
        );
    }
    check_partition(&ids, &per_worker);
    let counts = Queue::open(&db).unwrap().counts_by_state().unwrap();
    assert_eq!(counts[&GroupState::Completed], N_GROUPS as u64);
    eprintln!(
        "groups per child process: {:?}",
        per_worker.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn processes_opening_a_fresh_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh/pipeline.sqlite3");
    let start = wall_s() + 1.0;
    let children: Vec<Child> = (0..3)
        .map(|i| spawn_child("open", &db, i, None, start))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for c in children {
        wait_child(c, deadline);
    }
    let q = Queue::open_readonly(&db).unwrap();
    let (groups, total) = q.list_groups(None, 10, 0).unwrap();
    assert_eq!(total, 1, "{groups:?}");
    assert_eq!(q.group_files(&groups[0].group_id).unwrap().len(), 3);
}

#[test]
fn threads_with_separate_pools_never_acquire_the_same_group() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.sqlite3");
    let ids = seed(&db, N_GROUPS);
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let db = db.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let q = Queue::open(&db).unwrap();
                barrier.wait();
                let mut sink = Vec::new();
                drain(&q, &format!("thread{i}:1"), &mut sink)
                    .into_iter()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let per_worker: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    check_partition(&ids, &per_worker);
}

#[test]
fn threads_opening_a_fresh_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a/b/c.sqlite3");
    let barrier = Arc::new(Barrier::new(6));
    let handles: Vec<_> = (0..6u8)
        .map(|i| {
            let db = db.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let q = Queue::open(&db).unwrap();
                q.register_file(
                    format!("/in/t_sb{i:02}.hdf5"),
                    SubbandIdx::new(i).unwrap(),
                    T0,
                    6,
                    T0,
                )
                .unwrap()
            })
        })
        .collect();
    for h in handles {
        assert!(matches!(h.join().unwrap(), RegisterOutcome::Added { .. }));
    }
    let q = Queue::open(&db).unwrap();
    assert_eq!(q.counts_by_state().unwrap()[&GroupState::Pending], 1);
}
