//! The queue flow: several groups (jittered timestamps), one partial, one corrupt.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{convert_once, sqlite, stderr, tiny_group, TestResult};

fn ms_dirs(out: &Path) -> BTreeSet<String> {
    std::fs::read_dir(out)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn converts_good_groups_fails_the_corrupt_one_and_reruns_are_no_ops() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let input = tmp.path().join("incoming");
    let output = tmp.path().join("ms");
    let db = tmp.path().join("state/db/pipeline.sqlite3");
    std::fs::create_dir_all(&input)?;
    let starts = [
        "2025-10-02T00:12:00",
        "2025-10-02T00:17:09",
        "2025-10-02T00:22:18",
        "2025-10-02T00:27:27",
    ];
    let mut corrupt = None;
    for (i, iso) in starts.iter().enumerate() {
        let g = tiny_group(&input, iso, 10 + i as u64, |c| {
            if i == 2 {
                c.subbands = (0..16).filter(|&s| s != 7).collect();
            }
        });
        if i == 3 {
            // five truncated files: 11 valid subbands, fewer than --min-subbands (12), so
            // the group cannot be processed as a partial one and fails naming the files
            for sb in ["05", "06", "08", "09", "10"] {
                let f = g
                    .files
                    .iter()
                    .find(|f| f.to_string_lossy().ends_with(&format!("_sb{sb}.hdf5")))
                    .unwrap();
                let len = std::fs::metadata(f)?.len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(f)?
                    .set_len(len / 2)?;
                if sb == "05" {
                    corrupt = Some(f.clone());
                }
            }
        }
    }
    let corrupt = corrupt.unwrap();

    // watch the output directory while converting: any *.ms that appears must be complete
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (out, stop) = (output.clone(), Arc::clone(&stop));
        std::thread::spawn(move || -> Vec<String> {
            let mut bad = Vec::new();
            let mut seen = BTreeSet::new();
            while !stop.load(Ordering::SeqCst) {
                for name in ms_dirs(&out) {
                    if name.ends_with(".ms") && seen.insert(name.clone()) {
                        let d = out.join(&name);
                        let complete = d.join("table.info").exists()
                            && d.join("table.dat").exists()
                            && d.join("SPECTRAL_WINDOW/table.dat").exists();
                        if !complete {
                            bad.push(name);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            bad
        })
    };
    let run1 = convert_once(&input, &output, &db, &[]);
    stop.store(true, Ordering::SeqCst);
    let incomplete = watcher.join().unwrap();
    assert!(
        incomplete.is_empty(),
        "half-written MS visible at a final path: {incomplete:?}"
    );
    assert_eq!(
        run1.status.code(),
        Some(1),
        "one group failed, so exit 1:\n{}",
        stderr(&run1)
    );

    // the guide's query, verbatim
    assert_eq!(
        sqlite(
            &db,
            "SELECT state, COUNT(*) FROM processing_queue GROUP BY state"
        ),
        "completed|3\nfailed|1"
    );
    assert_eq!(
        sqlite(
            &db,
            "SELECT group_id, state, error FROM processing_queue WHERE state='in_progress'"
        ),
        ""
    );
    let failed_error = sqlite(
        &db,
        "SELECT error FROM processing_queue WHERE state='failed'",
    );
    assert!(
        failed_error.contains(&corrupt.display().to_string())
            && failed_error.contains("_sb10.hdf5")
            && failed_error.contains("fewer than the minimum of 12"),
        "the error names the corrupt files and the minimum: {failed_error}"
    );
    assert_eq!(sqlite(&db, "SELECT COUNT(*) FROM invalid_files"), "5");
    // the partial group's missing subband is a flagged window
    assert_eq!(
        sqlite(
            &db,
            "SELECT n_spw, n_missing_subbands FROM ms_index ORDER BY group_id"
        ),
        "16|0\n16|0\n16|1"
    );
    assert_eq!(
        sqlite(
            &db,
            "SELECT COUNT(*) FROM performance_metrics WHERE total_time > 0"
        ),
        "3"
    );
    let names = ms_dirs(&output);
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".ms")).count(),
        3,
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| !n.contains(".tmp")),
        "temporaries left: {names:?}"
    );

    // re-running is a no-op for completed groups (and leaves the failed one alone)
    let before = sqlite(
        &db,
        "SELECT group_id, state, retry_count, last_update FROM processing_queue ORDER BY group_id",
    );
    let mtimes: Vec<_> = names
        .iter()
        .map(|n| {
            std::fs::metadata(output.join(n).join("table.dat"))
                .and_then(|m| m.modified())
                .unwrap()
        })
        .collect();
    let run2 = convert_once(&input, &output, &db, &[]);
    assert_eq!(run2.status.code(), Some(0), "{}", stderr(&run2));
    assert_eq!(
        sqlite(&db, "SELECT group_id, state, retry_count, last_update FROM processing_queue ORDER BY group_id"),
        before
    );
    let mtimes2: Vec<_> = names
        .iter()
        .map(|n| {
            std::fs::metadata(output.join(n).join("table.dat"))
                .and_then(|m| m.modified())
                .unwrap()
        })
        .collect();
    assert_eq!(mtimes, mtimes2, "products were rewritten");
    Ok(())
}

#[test]
fn bad_arguments_exit_non_zero_naming_the_option() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let missing = tmp.path().join("nope");
    let o = convert_once(&missing, tmp.path(), &tmp.path().join("q.sqlite3"), &[]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("--input-dir"), "{}", stderr(&o));
    for (extra, option) in [
        (&["--expected-subbands", "17"][..], "--expected-subbands"),
        (&["--min-subbands", "0"][..], "--min-subbands"),
        (&["--chunk-duration=-1"][..], "--chunk-duration"),
        (&["--eop", "3,0,0"][..], "--eop"),
        (&["--eop", "x"][..], "--eop"),
    ] {
        let o = convert_once(tmp.path(), tmp.path(), &tmp.path().join("q.sqlite3"), extra);
        assert_ne!(o.status.code(), Some(0), "{extra:?}");
        assert!(stderr(&o).contains(option), "{extra:?}: {}", stderr(&o));
    }
    let o = crate::common::converter()
        .arg("--output-dir")
        .arg(tmp.path())
        .output()?;
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("--input-dir"), "{}", stderr(&o));
    Ok(())
}

/// The fallback converter on a full output disk (a 1 MB tmpfs; the tests run as root, as
/// CI does): the attempt fails with the OS's message, the process ends normally (no
/// casacore abort), nothing temporary is left, and once space is freed the retry
/// completes the group.
#[test]
fn a_full_output_disk_is_an_error_with_the_os_message_not_an_abort() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let input = tmp.path().join("incoming");
    let output = tmp.path().join("ms");
    let db = tmp.path().join("state/db/pipeline.sqlite3");
    std::fs::create_dir_all(&input)?;
    std::fs::create_dir_all(&output)?;
    let mount = |args: &[&str]| {
        let out = std::process::Command::new("mount")
            .args(args)
            .arg(&output)
            .output();
        let out = out.expect("run mount");
        assert!(
            out.status.success(),
            "mount {args:?} (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"]);
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(output.clone());
    tiny_group(&input, "2025-10-02T00:12:00", 61, |_| {});

    let run1 = convert_once(&input, &output, &db, &[]);
    assert!(
        run1.status.code().is_some(),
        "killed by a signal (abort?): {:?}\n{}",
        run1.status,
        stderr(&run1)
    );
    let error = sqlite(&db, "SELECT error FROM processing_queue");
    assert!(
        error.contains("No space left on device") && error.contains(".ms"),
        "{error}\n{}",
        stderr(&run1)
    );
    // --once retries at once, up to the retry limit, then records the failure
    assert_eq!(
        sqlite(&db, "SELECT state, retry_count FROM processing_queue"),
        "failed|3"
    );
    let left = ms_dirs(&output);
    assert!(left.is_empty(), "left on the full disk: {left:?}");

    // space freed; the group re-queued (as `dsa110-api`'s convert does) completes
    mount(&["-o", "remount,size=200m"]);
    sqlite(
        &db,
        "UPDATE processing_queue SET state = 'pending', retry_count = 0, next_attempt_at = NULL",
    );
    let run2 = convert_once(&input, &output, &db, &[]);
    assert_eq!(run2.status.code(), Some(0), "{}", stderr(&run2));
    assert_eq!(
        sqlite(&db, "SELECT state FROM processing_queue"),
        "completed"
    );
    Ok(())
}
