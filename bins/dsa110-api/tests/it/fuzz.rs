//! Random paths, parameters and bodies never give a 5xx, and errors are JSON.

use proptest::prelude::*;

use crate::common::*;

const SEGMENTS: &[&str] = &[
    "api",
    "v1",
    "conversion",
    "pending",
    "stats",
    "convert",
    "status",
    "hdf5-index",
    "jobs",
    "cancel",
    "cal",
    "sets",
    "applied",
    "images",
    "fits",
    "png",
    "imaging",
    "groups",
    "mosaic",
    "list",
    "create",
    "sources",
    "lightcurve",
    "variability",
    "export.csv",
    "health",
    "metrics",
    "openapi.json",
    "docs",
    "1",
    "0",
    "-1",
    "99999999999999999999",
    "2025-10-02T00:05:18",
    "2025-10-02T00:00:10",
    "J0123%2B4567",
    "%00",
    "%FF",
    "..",
    "%2e%2e",
    "a%20b",
    "3C286_2025-10-02",
];
const PARAMS: &[&str] = &[
    "limit",
    "offset",
    "complete_only",
    "include_files",
    "since_hours",
    "start",
    "end",
    "state",
    "type",
    "status",
    "search",
    "start_date",
    "end_date",
    "ms_path",
    "group_id",
    "candidates_only",
];
const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "1000",
    "1001",
    "4294967296",
    "true",
    "false",
    "nan",
    "inf",
    "1e308",
    "2025-10-02",
    "2025-10-02T00:05:18",
    "60950.5",
    "%00",
    "%FF%FE",
    "a%27b%22c",
    "%3Cscript%3E",
    "completed",
    "queued",
    "image",
    "..%2F..%2Fetc%2Fpasswd",
    "%E2%9C%93",
];

/// A route template with its captures filled from the vocabulary, or random segments.
fn base_path() -> impl Strategy<Value = String> {
    let templates: Vec<&'static str> = dsa110_api::routes::ROUTES.iter().map(|r| r.path).collect();
    prop_oneof![
        4 => (prop::sample::select(templates), prop::collection::vec(prop::sample::select(SEGMENTS), 3))
            .prop_map(|(t, fill)| {
                let mut k = 0;
                t.split('/')
                    .map(|seg| {
                        if seg.starts_with('{') {
                            k += 1;
                            fill[(k - 1) % fill.len()].to_string()
                        } else {
                            seg.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            }),
        1 => (prop::collection::vec(prop::sample::select(SEGMENTS), 0..6), "[a-zA-Z0-9._~%-]{0,12}")
            .prop_map(|(segs, junk)| {
                let mut p = format!("/{}", segs.join("/"));
                if !junk.is_empty() {
                    p.push('/');
                    p.push_str(&junk);
                }
                p
            }),
    ]
}

fn path_strategy() -> impl Strategy<Value = String> {
    (
        base_path(),
        prop::collection::vec(
            (prop::sample::select(PARAMS), prop::sample::select(VALUES)),
            0..4,
        ),
    )
        .prop_map(|(mut p, params)| {
            if !params.is_empty() {
                let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                p.push('?');
                p.push_str(&q.join("&"));
            }
            p
        })
}

fn body_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        any::<String>(),
        prop::collection::vec(prop::sample::select(&["2025-10-02T00:05:18", "2025-10-02T00:10:22", "x", "", "2025-10-02T00:00:10"][..]), 0..4)
            .prop_map(|ids| serde_json::json!({"group_ids": ids}).to_string()),
        (any::<i64>(), any::<bool>(), "[ -~]{0,20}")
            .prop_map(|(p, f, d)| serde_json::json!({"group_ids": ["2025-10-02T00:05:18"], "priority": p, "force": f, "output_dir": d}).to_string()),
        ("[ -~]{0,12}", "[ -~]{0,12}").prop_map(|(a, b)| serde_json::json!({"start": a, "end": b}).to_string()),
    ]
}

/// Whether a request path (query dropped) matches a route template of the table.
fn matches_a_route(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').collect();
    dsa110_api::routes::ROUTES.iter().any(|r| {
        let t: Vec<&str> = r.path.split('/').collect();
        t.len() == segs.len()
            && t.iter().zip(&segs).all(|(a, b)| {
                if a.starts_with('{') {
                    !b.is_empty()
                } else {
                    a == b
                }
            })
    })
}

#[test]
fn random_requests_never_give_a_server_error() {
    let f = fixture();
    let s = start(&f, &["--writes-per-minute", "100000"]);
    let config = ProptestConfig {
        cases: 1500,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let auth_write = format!("Bearer {WRITE_TOKEN}");
    proptest!(config, |(path in path_strategy(), body in body_strategy(), method in prop::sample::select(&["GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD"][..]), token in 0..3u8)| {
        let mut headers = vec![("Content-Type", "application/json")];
        match token {
            1 => headers.push(("Authorization", auth_write.as_str())),
            2 => headers.push(("Authorization", "Bearer read-token-abcdef")),
            _ => {}
        }
        let r = request(s.port, method, &path, &headers, body.as_bytes());
        prop_assert!(r.status < 500, "{} {} {:?} -> {} {}", method, path, body, r.status, r.text());
        if r.status >= 400 && method != "HEAD" {
            let v: serde_json::Value = serde_json::from_slice(&r.body)
                .map_err(|e| TestCaseError::fail(format!("{method} {path}: {e}: {}", r.text())))?;
            prop_assert!(v["error"].is_string() && v["message"].is_string(), "{}", v);
        }
        // whatever the router answers as a route (anything but its own 404) is in the
        // table (HEAD answers have no body to tell the two 404s apart)
        if method != "HEAD" {
            let no_route = r.status == 404
                && serde_json::from_slice::<serde_json::Value>(&r.body)
                    .is_ok_and(|v| v["error"] == "no_route");
            prop_assert_eq!(!no_route, matches_a_route(&path), "{} {} -> {}", method, path, r.status);
        }
    });
    // still alive and answering
    assert_eq!(get(s.port, "/api/v1/conversion/stats").status, 200);
}
