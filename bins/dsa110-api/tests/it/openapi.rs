//! The OpenAPI document lists exactly the routes the server answers; the docs
//! page and /metrics (checked by promtool).

use crate::common::*;

/// A concrete path for a template, with the fixture's values.
fn concrete(template: &str, image_id: i64) -> String {
    if template == "/api/v1/cal/applied" {
        return format!("{template}?group_id={COMPLETED}");
    }
    template
        .replace("{group_id}", COMPLETED)
        .replace(
            "{id}",
            if template.starts_with("/api/v1/images") {
                "IMG"
            } else if template.starts_with("/api/v1/sources") {
                "J0123%2B4567"
            } else {
                "1"
            },
        )
        .replace("IMG", &image_id.to_string())
        .replace(
            "{name}",
            if template.starts_with("/api/mosaic") {
                MOSAIC
            } else {
                CAL_SET
            },
        )
}

#[test]
fn the_document_lists_every_route_the_server_answers() {
    let f = fixture();
    let s = start(&f, &[]);
    // a job to find
    assert_eq!(
        post_json(
            s.port,
            "/api/mosaic/create",
            Some(WRITE_TOKEN),
            r#"{"start": "60950", "end": "60951"}"#
        )
        .status,
        202
    );
    let doc = get(s.port, "/api/openapi.json").json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().unwrap();

    // the router's own list: the same table the router is built from
    let mut table: Vec<(String, String)> = dsa110_api::routes::ROUTES
        .iter()
        .map(|r| (r.method.to_lowercase(), r.path.to_string()))
        .collect();
    table.sort();
    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            listed.push((method.clone(), path.clone()));
            assert!(
                op["responses"].is_object() && op["summary"].is_string(),
                "{method} {path}"
            );
            // every {param} of the template is declared as a path parameter
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{path}: {name}"
                );
            }
        }
    }
    listed.sort();
    assert_eq!(listed, table);
    for must in [
        "/api/v1/conversion/pending",
        "/api/v1/conversion/stats",
        "/api/v1/conversion/convert",
        "/api/v1/conversion/status/{group_id}",
        "/api/v1/conversion/hdf5-index",
        "/api/v1/health",
        "/metrics",
        "/api/openapi.json",
    ] {
        assert!(paths.contains_key(must), "{must}");
    }

    // each answers (not the router's 404 or 405)
    let auth = format!("Bearer {WRITE_TOKEN}");
    for (method, path) in &listed {
        let url = concrete(path, f.image_id);
        let body = if path.ends_with("convert") {
            format!(r#"{{"group_ids": ["{PENDING}"]}}"#)
        } else if path.ends_with("create") {
            r#"{"start": "60950", "end": "60951"}"#.into()
        } else {
            String::new()
        };
        let r = request(
            s.port,
            &method.to_uppercase(),
            &url,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        assert!(r.status < 400, "{method} {url}: {} {}", r.status, r.text());
        let declared = paths[path.as_str()][method.as_str()]["responses"]
            .as_object()
            .unwrap();
        assert!(
            declared.contains_key(&r.status.to_string()),
            "{method} {url}: {} not declared",
            r.status
        );
    }
    // and the same methods on other paths are the router's 404
    let r = get(s.port, "/api/v1/conversion/pendingx");
    assert_eq!(r.json()["error"], "no_route");
}

#[test]
fn docs_page_and_metrics() {
    let f = fixture();
    let s = start(&f, &[]);
    let docs = get(s.port, "/api/docs");
    assert_eq!(docs.status, 200);
    assert!(docs
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let html = docs.text();
    assert!(html.contains("/api/openapi.json"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
    let dash = get(s.port, "/").text();
    assert!(
        !dash.contains("<script src") && !dash.contains("https://"),
        "no external assets"
    );

    for p in [
        "/api/v1/conversion/stats",
        "/api/v1/conversion/stats",
        "/nope",
        "/api/v1/jobs?limit=0",
    ] {
        get(s.port, p);
    }
    let m = get(s.port, "/metrics");
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = m.text();
    dsa110_test_support::promtool_check_metrics(&text, &[]);
    assert!(text.contains(r#"dsa110_api_requests_total{route="/api/v1/conversion/stats",method="GET",status="200"} 2"#), "{text}");
    assert!(
        text.contains(
            r#"dsa110_api_requests_total{route="unmatched",method="GET",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"dsa110_api_requests_total{route="/api/v1/jobs",method="GET",status="422"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"dsa110_api_request_duration_seconds_count{route="/api/v1/conversion/stats"} 2"#
        ),
        "{text}"
    );
    for (state, n) in [
        ("collecting", 1),
        ("pending", 1),
        ("in_progress", 1),
        ("completed", 1),
        ("failed", 1),
    ] {
        assert!(
            text.contains(&format!(
                "dsa110_streaming_queue{{state=\"{state}\"}} {n}\n"
            )),
            "{state}: {text}"
        );
    }
    assert!(text.contains("dsa110_api_database_up 1"));
}
