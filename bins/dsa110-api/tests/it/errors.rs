//! JSON errors: 404 for unknown routes and things, 405 for wrong methods, 422
//! naming the parameter, 413 for big bodies; security headers everywhere.

use crate::common::*;

/// `(method, path, body, status, error code, parameter)`.
type Case = (
    &'static str,
    String,
    &'static str,
    u16,
    &'static str,
    Option<&'static str>,
);

fn check(port: u16, cases: &[Case]) {
    for (method, path, body, status, code, parameter) in cases {
        let auth = format!("Bearer {WRITE_TOKEN}");
        let r = request(
            port,
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        assert_eq!(r.status, *status, "{method} {path}: {}", r.text());
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "{method} {path}"
        );
        let v = r.json();
        assert_eq!(v["error"], *code, "{method} {path}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        if let Some(p) = parameter {
            assert_eq!(v["parameter"], *p, "{method} {path}: {v}");
            assert!(v["message"].as_str().unwrap().contains(p), "{v}");
        }
    }
}

#[test]
fn errors_are_json_with_the_right_status() {
    let f = fixture();
    let s = start(&f, &[]);
    let cases: Vec<Case> = vec![
        ("GET", "/nope".into(), "", 404, "no_route", None),
        ("GET", "/api/v1/nope".into(), "", 404, "no_route", None),
        (
            "GET",
            "/api/v1/conversion/status/2030-01-01T00:00:00".into(),
            "",
            404,
            "not_found",
            None,
        ),
        ("GET", "/api/v1/jobs/999".into(), "", 404, "not_found", None),
        (
            "GET",
            "/api/v1/images/999".into(),
            "",
            404,
            "not_found",
            None,
        ),
        (
            "GET",
            "/api/v1/cal/sets/nope".into(),
            "",
            404,
            "not_found",
            None,
        ),
        ("GET", "/api/mosaic/nope".into(), "", 404, "not_found", None),
        (
            "GET",
            "/api/v1/sources/nope".into(),
            "",
            404,
            "not_found",
            None,
        ),
        (
            "GET",
            "/api/v1/sources/nope/lightcurve".into(),
            "",
            404,
            "not_found",
            None,
        ),
        (
            "GET",
            "/api/v1/sources/nope/variability".into(),
            "",
            404,
            "not_found",
            None,
        ),
        (
            "GET",
            "/api/v1/sources/nope/export.csv".into(),
            "",
            404,
            "not_found",
            None,
        ),
        (
            "POST",
            "/api/v1/jobs/999/cancel".into(),
            "",
            404,
            "not_found",
            None,
        ),
        (
            "DELETE",
            "/api/v1/jobs".into(),
            "",
            405,
            "method_not_allowed",
            None,
        ),
        (
            "POST",
            "/api/v1/conversion/pending".into(),
            "",
            405,
            "method_not_allowed",
            None,
        ),
        (
            "GET",
            "/api/v1/conversion/convert".into(),
            "",
            405,
            "method_not_allowed",
            None,
        ),
        (
            "PUT",
            "/api/v1/health".into(),
            "",
            405,
            "method_not_allowed",
            None,
        ),
        (
            "GET",
            "/api/v1/conversion/pending?limit=0".into(),
            "",
            422,
            "invalid_parameter",
            Some("limit"),
        ),
        (
            "GET",
            "/api/v1/conversion/pending?limit=abc".into(),
            "",
            422,
            "invalid_parameter",
            Some("limit"),
        ),
        (
            "GET",
            "/api/v1/conversion/pending?complete_only=maybe".into(),
            "",
            422,
            "invalid_parameter",
            Some("complete_only"),
        ),
        (
            "GET",
            "/api/v1/conversion/pending?since_hours=-1".into(),
            "",
            422,
            "invalid_parameter",
            Some("since_hours"),
        ),
        (
            "GET",
            "/api/v1/conversion/pending?offset=-3".into(),
            "",
            422,
            "invalid_parameter",
            Some("offset"),
        ),
        (
            "GET",
            "/api/v1/conversion/status/yesterday".into(),
            "",
            422,
            "invalid_parameter",
            Some("group_id"),
        ),
        (
            "GET",
            "/api/v1/conversion/hdf5-index?start=tomorrow".into(),
            "",
            422,
            "invalid_parameter",
            Some("start"),
        ),
        (
            "GET",
            "/api/v1/conversion/hdf5-index?start=2025-10-03&end=2025-10-02".into(),
            "",
            422,
            "invalid_parameter",
            Some("end"),
        ),
        (
            "GET",
            "/api/v1/jobs?state=sleeping".into(),
            "",
            422,
            "invalid_parameter",
            Some("state"),
        ),
        (
            "GET",
            "/api/v1/jobs/abc".into(),
            "",
            422,
            "invalid_parameter",
            Some("id"),
        ),
        (
            "GET",
            "/api/v1/images?type=jpeg".into(),
            "",
            422,
            "invalid_parameter",
            Some("type"),
        ),
        (
            "GET",
            "/api/v1/cal/sets?status=x".into(),
            "",
            422,
            "invalid_parameter",
            Some("status"),
        ),
        (
            "GET",
            "/api/v1/cal/applied".into(),
            "",
            422,
            "invalid_parameter",
            Some("ms_path"),
        ),
        (
            "GET",
            format!(
                "/api/v1/sources/{}/lightcurve?start_date=soon",
                SOURCE.replace('+', "%2B")
            ),
            "",
            422,
            "invalid_parameter",
            Some("start_date"),
        ),
        (
            "POST",
            "/api/v1/conversion/convert".into(),
            "{",
            422,
            "invalid_parameter",
            Some("body"),
        ),
        (
            "POST",
            "/api/v1/conversion/convert".into(),
            r#"{"group_ids": []}"#,
            422,
            "invalid_parameter",
            Some("group_ids"),
        ),
        (
            "POST",
            "/api/v1/conversion/convert".into(),
            r#"{"group_ids": ["x"]}"#,
            422,
            "invalid_parameter",
            Some("group_ids[0]"),
        ),
        (
            "POST",
            "/api/v1/conversion/convert".into(),
            r#"{"group_ids": "2025-10-02T00:05:18"}"#,
            422,
            "invalid_parameter",
            Some("body"),
        ),
        (
            "POST",
            "/api/v1/conversion/convert".into(),
            r#"{"group_ids": ["2025-10-02T00:05:18"], "priority": 1000}"#,
            422,
            "invalid_parameter",
            Some("priority"),
        ),
        (
            "POST",
            "/api/v1/conversion/convert".into(),
            r#"{"group_ids": ["2025-10-02T00:05:18"], "colour": "red"}"#,
            422,
            "invalid_parameter",
            Some("body"),
        ),
        (
            "POST",
            "/api/mosaic/create".into(),
            r#"{"start": "2025-10-03", "end": "2025-10-02"}"#,
            422,
            "invalid_parameter",
            Some("end"),
        ),
    ];
    check(s.port, &cases);

    // a body over the limit
    let big = format!(r#"{{"group_ids": ["{}"]}}"#, "x".repeat(100_000));
    let auth = format!("Bearer {WRITE_TOKEN}");
    let r = request(
        s.port,
        "POST",
        "/api/v1/conversion/convert",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        big.as_bytes(),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    // the wrong content type
    let r = request(
        s.port,
        "POST",
        "/api/v1/conversion/convert",
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        b"{}",
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    // 405 names the allowed methods
    assert!(request(s.port, "DELETE", "/api/v1/jobs", &[], b"")
        .header("allow")
        .unwrap()
        .contains("GET"));
}

#[test]
fn security_headers_and_cors() {
    let f = fixture();
    let s = start(&f, &["--cors-origin", "https://dash.example.org"]);
    for p in ["/", "/api/v1/health", "/nope", "/api/v1/conversion/stats"] {
        let r = get(s.port, p);
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{p}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{p}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{p}");
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .contains("default-src 'self'"),
            "{p}"
        );
    }
    let r = request(
        s.port,
        "GET",
        "/api/v1/conversion/stats",
        &[("Origin", "https://dash.example.org")],
        b"",
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://dash.example.org")
    );
    let r = request(
        s.port,
        "GET",
        "/api/v1/conversion/stats",
        &[("Origin", "https://evil.example.org")],
        b"",
    );
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = request(
        s.port,
        "OPTIONS",
        "/api/v1/conversion/convert",
        &[
            ("Origin", "https://dash.example.org"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    assert!(r
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
}
