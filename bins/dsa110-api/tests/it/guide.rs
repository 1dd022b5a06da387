//! The operations guide's "Dashboard / API Integration" commands, run verbatim
//! with `curl` (only the port changes: the server runs on a free port).

use dsa110_queue::{GroupId, GroupState, JobOutcome, JobState, Queue};
use serde_json::Value;

use crate::common::*;

use dsa110_test_support::{guide_api_commands as commands, GUIDE_API_BLOCK as GUIDE_BLOCK};

/// Runs one command against our port; stdout as JSON.
fn run(cmd: &str, port: u16, token: &str, cwd: &std::path::Path) -> Value {
    dsa110_test_support::run_guide_curl(cmd, port, token, cwd)
}

#[test]
fn the_block_is_the_guides() {
    let guide = dsa110_test_support::workspace_root()
        .join("../shared/seed/dsa110-stream-operations-guide.md");
    if let Ok(text) = std::fs::read_to_string(&guide) {
        assert!(
            text.contains(GUIDE_BLOCK),
            "the guide's example changed: update GUIDE_BLOCK"
        );
    }
    assert_eq!(commands().len(), 3);
}

#[test]
fn every_guide_curl_does_what_the_guide_says() {
    let f = fixture();
    let s = start(&f, &[]);
    let cmds = commands();

    // 1. pending complete groups: the complete pending group, not the collecting one
    let pending = run(&cmds[0], s.port, WRITE_TOKEN, f.dir.path());
    let groups = pending["groups"].as_array().unwrap();
    let ids: Vec<&str> = groups
        .iter()
        .map(|g| g["group_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![PENDING], "{pending}");
    let g = &groups[0];
    assert_eq!(g["file_count"], 16);
    assert_eq!(g["expected_subbands"], 16);
    assert_eq!(g["is_complete"], true);
    assert!(g["first_seen"].as_str().unwrap().ends_with('Z'));
    assert_eq!(pending["total"], 1);
    assert_eq!(pending["total_waiting"], 2, "pending + collecting");

    // 2. trigger conversion: a job for both groups; the failed one is pending again
    let before = Queue::open(&f.db).unwrap();
    assert_eq!(
        before
            .group(&GroupId::parse(FAILED).unwrap())
            .unwrap()
            .unwrap()
            .state,
        GroupState::Failed
    );
    let resp = run(&cmds[1], s.port, WRITE_TOKEN, f.dir.path());
    let job_id = resp["job_id"].as_i64().unwrap_or_else(|| panic!("{resp}"));
    assert_eq!(resp["status"], "queued");
    let accepted: Vec<&str> = resp["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["group_id"].as_str().unwrap())
        .collect();
    assert_eq!(accepted, vec![PENDING, FAILED]);
    assert_eq!(resp["accepted"][1]["action"], "requeued");
    assert_eq!(resp["unknown"].as_array().unwrap().len(), 0);
    let q = Queue::open(&f.db).unwrap();
    let job = q.job(job_id).unwrap().unwrap();
    assert_eq!(job.kind, "convert");
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(
        job.group_ids
            .iter()
            .map(GroupId::as_str)
            .collect::<Vec<_>>(),
        vec![PENDING, FAILED]
    );
    assert!(job.requested_by.as_deref().unwrap().starts_with("token:"));
    assert!(!job.requested_by.as_deref().unwrap().contains(WRITE_TOKEN));
    assert_eq!(
        q.group(&GroupId::parse(FAILED).unwrap())
            .unwrap()
            .unwrap()
            .state,
        GroupState::Pending
    );

    // 3. status of the group
    let st = run(&cmds[2], s.port, WRITE_TOKEN, f.dir.path());
    assert_eq!(st["group_id"], PENDING);
    assert_eq!(st["state"], "pending");
    assert_eq!(st["file_count"], 16);
    assert!(
        st["received_at"].is_string() && st.get("ms_path").is_some() && st.get("error").is_some()
    );

    // The daemon's side (not this binary): claim and finish the job; the API shows it completed.
    let claimed = q
        .claim_next_job(&["convert"], "test:1:jobs", now())
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, job_id);
    let running = get(s.port, &format!("/api/v1/jobs/{job_id}")).json();
    assert_eq!(running["state"], "running");
    q.finish_job(
        job_id,
        &JobOutcome {
            success: true,
            result_json: Some(r#"{"converted": 2}"#),
            error: None,
        },
        now(),
    )
    .unwrap();
    let done = get(s.port, &format!("/api/v1/jobs/{job_id}")).json();
    assert_eq!(done["state"], "completed");
    assert_eq!(done["result"]["converted"], 2);
    assert!(done["finished_at"].is_string());
}

#[test]
fn conversion_rules_completed_needs_force_and_unknown_ids_are_reported() {
    let f = fixture();
    let s = start(&f, &[]);
    let unknown = "2025-10-03T00:00:00";
    let body = format!(
        r#"{{"group_ids": ["{COMPLETED}", "{unknown}", "{IN_PROGRESS}", "{COLLECTING}"]}}"#
    );
    let before = db_snapshot(&f.db);
    let r = post_json(
        s.port,
        "/api/v1/conversion/convert",
        Some(WRITE_TOKEN),
        &body,
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"], "nothing_to_convert");
    assert_eq!(v["unknown"][0], unknown);
    assert_eq!(v["rejected"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(
        db_snapshot(&f.db),
        before,
        "a refused conversion changes nothing"
    );

    let body = format!(
        r#"{{"group_ids": ["{COMPLETED}", "{unknown}"], "force": true, "priority": 5, "output_dir": "{}"}}"#,
        f.output.join("redo").display()
    );
    let r = post_json(
        s.port,
        "/api/v1/conversion/convert",
        Some(WRITE_TOKEN),
        &body,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let v = r.json();
    assert_eq!(v["accepted"][0]["group_id"], COMPLETED);
    assert_eq!(v["accepted"][0]["previous_state"], "completed");
    assert_eq!(
        v["unknown"][0], unknown,
        "unknown ids are reported, not dropped"
    );
    let job = get(s.port, &format!("/api/v1/jobs/{}", v["job_id"])).json();
    assert_eq!(job["params"]["priority"], 5);
    assert_eq!(job["params"]["unknown"][0], unknown);
    let st = get(s.port, &format!("/api/v1/conversion/status/{COMPLETED}")).json();
    assert_eq!(st["state"], "pending");

    // output_dir outside --output-dir is a 422 naming it
    let body = format!(r#"{{"group_ids": ["{PENDING}"], "output_dir": "/etc"}}"#);
    let r = post_json(
        s.port,
        "/api/v1/conversion/convert",
        Some(WRITE_TOKEN),
        &body,
    );
    assert_eq!(
        (r.status, r.json()["parameter"].as_str()),
        (422, Some("output_dir"))
    );

    // cancel: queued → cancelled, then 409
    let id = v["job_id"].as_i64().unwrap();
    let c = post_json(
        s.port,
        &format!("/api/v1/jobs/{id}/cancel"),
        Some(WRITE_TOKEN),
        "",
    );
    assert_eq!(
        (c.status, c.json()["state"].as_str()),
        (200, Some("cancelled"))
    );
    let c = post_json(
        s.port,
        &format!("/api/v1/jobs/{id}/cancel"),
        Some(WRITE_TOKEN),
        "",
    );
    assert_eq!(
        (c.status, c.json()["error"].as_str()),
        (409, Some("wrong_state"))
    );
    let jobs = get(s.port, "/api/v1/jobs?state=cancelled").json();
    assert_eq!(jobs["total"], 1);
}

#[test]
fn stats_and_hdf5_index() {
    let f = fixture();
    let s = start(&f, &[]);
    let st = get(s.port, "/api/v1/conversion/stats").json();
    assert_eq!(
        (
            st["pending"].as_u64(),
            st["collecting"].as_u64(),
            st["in_progress"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        (st["completed"].as_u64(), st["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(st["converted_today"], 1);
    assert_eq!(st["failed_today"], 1);
    assert_eq!(st["mean_conversion_time_s"], 35.0);
    assert_eq!(st["oldest_pending"]["group_id"], PENDING);
    assert!(st["oldest_pending_age_s"].as_f64().unwrap() > 0.0);

    let idx = get(
        s.port,
        "/api/v1/conversion/hdf5-index?start=2025-10-02&end=2025-10-02T00:10:00&limit=5",
    )
    .json();
    assert_eq!(idx["total"], 16);
    assert_eq!(idx["files"].as_array().unwrap().len(), 5);
    assert_eq!(idx["files"][0]["group_id"], PENDING);
    let none = get(s.port, "/api/v1/conversion/hdf5-index?start=2025-10-03").json();
    assert_eq!(none["total"], 0);

    let p = get(
        s.port,
        "/api/v1/conversion/pending?include_files=true&limit=1",
    )
    .json();
    assert_eq!(p["total"], 2);
    assert_eq!(p["groups"].as_array().unwrap().len(), 1);
    assert_eq!(p["groups"][0]["files"].as_array().unwrap().len(), 16);
    let recent = get(s.port, "/api/v1/conversion/pending?since_hours=0.0001").json();
    assert_eq!(
        recent["total"], 0,
        "the fixture's groups arrived 10 minutes ago"
    );

    let groups = get(s.port, "/api/v1/groups?limit=2").json();
    assert_eq!(groups["total"], 5);
    assert_eq!(groups["groups"][0]["group_id"], IN_PROGRESS, "newest first");
    let done = get(s.port, "/api/v1/groups?state=completed").json();
    assert_eq!(done["groups"][0]["stages"][0]["stage"], "convert");
    assert_eq!(done["groups"][0]["stages"][0]["duration_s"], 35.0);
}
