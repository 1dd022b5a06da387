//! Every write: no token → 401, a wrong one → 401, a read-only one → 403, and the
//! database unchanged; reads with `--require-read-token`; the write limit.

use crate::common::*;

fn writes() -> Vec<(String, String)> {
    vec![
        (
            "/api/v1/conversion/convert".to_string(),
            format!(r#"{{"group_ids": ["{PENDING}", "{FAILED}"]}}"#),
        ),
        ("/api/v1/jobs/1/cancel".to_string(), String::new()),
        (
            "/api/mosaic/create".to_string(),
            r#"{"start": "2025-10-02", "end": "2025-10-03"}"#.to_string(),
        ),
    ]
}

#[test]
fn writes_need_a_write_token_and_refusals_change_nothing() {
    let f = fixture();
    let s = start(&f, &[]);
    // a queued job for the cancel route to find
    let r = post_json(
        s.port,
        "/api/v1/conversion/convert",
        Some(WRITE_TOKEN),
        &format!(r#"{{"group_ids": ["{PENDING}"]}}"#),
    );
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["job_id"], 1);
    // every route the OpenAPI document marks as a write is covered here
    let doc = get(s.port, "/api/openapi.json").json();
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if let Some(post) = item.get("post") {
            assert_eq!(
                post["security"][0]["bearer"],
                serde_json::json!([]),
                "{path}"
            );
            documented.push(path.replace("{id}", "1"));
        }
    }
    documented.sort();
    let mut ours: Vec<String> = writes().into_iter().map(|(p, _)| p).collect();
    ours.sort();
    assert_eq!(documented, ours);

    let before = db_snapshot(&f.db);
    for (path, body) in writes() {
        for (token, status, code) in [
            (None, 401, "unauthorized"),
            (Some("wrong-token"), 401, "unauthorized"),
            (Some(""), 401, "unauthorized"),
            (Some(READ_TOKEN), 403, "forbidden"),
        ] {
            let r = post_json(s.port, &path, token, &body);
            assert_eq!(r.status, status, "{path} {token:?}: {}", r.text());
            let v = r.json();
            assert_eq!(v["error"], code, "{path}");
            assert!(v["message"].is_string());
        }
        // "Bearer" must be the scheme
        let r = request(
            s.port,
            "POST",
            &path,
            &[("Authorization", WRITE_TOKEN)],
            body.as_bytes(),
        );
        assert_eq!(r.status, 401, "{path}");
    }
    assert_eq!(
        db_snapshot(&f.db),
        before,
        "refused writes changed the database"
    );

    let m = get(s.port, "/metrics").text();
    assert!(
        m.contains("dsa110_api_writes_refused_total{reason=\"unauthorized\"} 12"),
        "{m}"
    );
    assert!(
        m.contains("dsa110_api_writes_refused_total{reason=\"forbidden\"} 3"),
        "{m}"
    );

    // with a write token all three work
    for (path, body) in writes() {
        let r = post_json(s.port, &path, Some(WRITE_TOKEN), &body);
        assert!(r.status == 200 || r.status == 202, "{path}: {}", r.text());
    }
    assert_ne!(db_snapshot(&f.db), before);
}

#[test]
fn reads_can_require_a_token() {
    let f = fixture();
    let open = start(&f, &[]);
    assert_eq!(get(open.port, "/api/v1/conversion/stats").status, 200);
    let s = start(&f, &["--require-read-token"]);
    let r = get(s.port, "/api/v1/conversion/stats");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("unauthorized"))
    );
    for token in [READ_TOKEN, WRITE_TOKEN] {
        let auth = format!("Bearer {token}");
        let r = request(
            s.port,
            "GET",
            "/api/v1/conversion/stats",
            &[("Authorization", &auth)],
            b"",
        );
        assert_eq!(r.status, 200);
    }
    let r = request(
        s.port,
        "GET",
        "/api/v1/sources",
        &[("Authorization", "Bearer nope")],
        b"",
    );
    assert_eq!(r.status, 401);
    // health, metrics and the pages stay open
    for p in ["/api/v1/health", "/metrics", "/", "/api/openapi.json"] {
        assert_eq!(get(s.port, p).status, 200, "{p}");
    }
}

#[test]
fn writes_per_minute_are_limited() {
    let f = fixture();
    let s = start(&f, &["--writes-per-minute", "3"]);
    let body = r#"{"start": "2025-10-02", "end": "2025-10-03"}"#;
    for _ in 0..3 {
        assert_eq!(
            post_json(s.port, "/api/mosaic/create", Some(WRITE_TOKEN), body).status,
            202
        );
    }
    let r = post_json(s.port, "/api/mosaic/create", Some(WRITE_TOKEN), body);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (429, Some("rate_limited"))
    );
    // another token has its own allowance
    assert_eq!(
        post_json(s.port, "/api/mosaic/create", Some("other-token"), body).status,
        202
    );
}
