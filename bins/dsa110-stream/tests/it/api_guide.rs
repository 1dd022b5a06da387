//! The operations guide's dashboard-API `curl` commands, verbatim, against a running
//! `dsa110-api` on a database filled by a running daemon; the triggered conversion is
//! executed by the daemon.
//!
//! `dsa110-api` is the sibling binary of the daemon under test (same target directory):
//! `cargo test --workspace` (the README's test command) builds it before any test runs.

use std::path::Path;
use std::time::Duration;

use dsa110_sim::Scale;
use dsa110_test_support::{guide_api_commands, run_guide_curl};

use crate::common::*;

const TOKEN: &str = "guide-test-token";
/// The groups the guide's commands name.
const GROUP_A: &str = "2025-10-02T00:05:18";
const GROUP_B: &str = "2025-10-02T00:10:22";

/// The seconds from the test clock's origin to a guide timestamp.
fn offset_of(iso: &str) -> f64 {
    let t = dsa110_astro::ObsTime::from_iso(iso).unwrap();
    let t0 = dsa110_astro::ObsTime::from_iso(T0_ISO).unwrap();
    ((t.jd_utc() - t0.jd_utc()) * 86_400.0).round()
}

#[test]
fn the_guides_api_commands_work_on_a_database_the_daemon_filled() {
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.staging()).unwrap();
    // The operator's situation: the daemon is up but paused (low disk space) while the
    // correlator delivers the two groups of the guide, so they wait, complete, in the queue.
    let mut daemon = Daemon::start_paused(&dirs, &["--no-flagging", "--no-imaging"]);
    for (i, id) in [GROUP_A, GROUP_B].into_iter().enumerate() {
        let mut cfg = sim_config(
            Scale::Tiny,
            &dirs.staging(),
            offset_of(id),
            61 + i as u64,
            &all_subbands(),
        );
        cfg.jitter_s = 0.0; // every file named with the guide's timestamp
        let files = write_staged(&cfg);
        deliver(&files, &dirs.input());
    }
    wait_for(
        "both groups registered complete",
        Duration::from_secs(30),
        || {
            let g = groups(&dirs.db());
            (g.len() == 2
                && g.iter()
                    .all(|r| r.files.len() == 16 && r.state == "pending"))
            .then_some(())
        },
    );
    let ids: Vec<String> = groups(&dirs.db()).into_iter().map(|r| r.group_id).collect();
    assert_eq!(ids, vec![GROUP_A, GROUP_B], "the simulator's group ids");

    let api = start_api(&dirs, TOKEN);
    let cmds = guide_api_commands();
    let cwd = dirs.root();

    // 1. "List pending complete groups": both, complete, with their files counted
    let pending = run_guide_curl(&cmds[0], api.port, TOKEN, cwd);
    let listed: Vec<&str> = pending["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("{pending}"))
        .iter()
        .map(|g| g["group_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![GROUP_A, GROUP_B], "{pending}");
    for g in pending["groups"].as_array().unwrap() {
        assert_eq!(
            (&g["file_count"], &g["expected_subbands"], &g["is_complete"]),
            (&16.into(), &16.into(), &true.into()),
            "{g}"
        );
    }

    // 2. "Trigger conversion for specific groups": a job for both
    let resp = run_guide_curl(&cmds[1], api.port, TOKEN, cwd);
    let job_id = resp["job_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no job id: {resp}"));
    let accepted: Vec<&str> = resp["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["group_id"].as_str().unwrap())
        .collect();
    assert_eq!(accepted, vec![GROUP_A, GROUP_B], "{resp}");

    // 3. "Check conversion status": pending while the daemon is paused
    let status = run_guide_curl(&cmds[2], api.port, TOKEN, cwd);
    assert_eq!(
        (status["group_id"].as_str(), status["state"].as_str()),
        (Some(GROUP_A), Some("pending")),
        "{status}"
    );

    // Space is freed: the daemon resumes by itself and executes the job.
    std::fs::write(Daemon::free_space_file(&dirs), "100").unwrap();
    let job = wait_for("the job to finish", Duration::from_secs(90), || {
        let j = dsa110_test_support::http_get(api.port, &format!("/api/v1/jobs/{job_id}"))?.json();
        matches!(j["state"].as_str(), Some("completed" | "failed")).then_some(j)
    });
    assert_eq!(job["state"], "completed", "{job}\n{}", daemon.stderr());
    // the guide's status command now says completed, with the MS
    let status = run_guide_curl(&cmds[2], api.port, TOKEN, cwd);
    assert_eq!(status["state"], "completed", "{status}");
    let ms = status["ms_path"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}"));
    assert!(Path::new(ms).join("table.dat").is_file(), "{ms}");
    // and the pending list is empty
    let pending = run_guide_curl(&cmds[0], api.port, TOKEN, cwd);
    assert_eq!(
        pending["groups"].as_array().map(Vec::len),
        Some(0),
        "{pending}"
    );
    daemon.stop_ok(Duration::from_secs(20));
}
