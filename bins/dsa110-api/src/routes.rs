//! The route table: one list drives the router, the OpenAPI document and the
//! tests, so the document lists exactly the routes the server answers.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use serde_json::{json, Value};

use crate::error::{code_for_status, ApiError};
use crate::state::AppState;
use crate::{conversion, products, system};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, always (health, metrics, the pages).
    Open,
    /// Anyone, or a read/write token with `--require-read-token`.
    Read,
    /// A write token.
    Write,
}

/// One query parameter: name, OpenAPI type, description.
pub type QueryParam = (&'static str, &'static str, &'static str);

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path template (`{name}` captures).
    pub path: &'static str,
    /// OpenAPI tag.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Query parameters.
    pub query: &'static [QueryParam],
    /// JSON request body schema (a JSON text), if any.
    pub body: Option<&'static str>,
    /// Access.
    pub access: Access,
    /// Content type of the success response.
    pub produces: &'static str,
}

const JSON: &str = "application/json";

macro_rules! route {
    ($m:literal, $p:literal, $tag:literal, $s:literal, $q:expr, $b:expr, $a:expr, $prod:expr) => {
        RouteDoc {
            method: $m,
            path: $p,
            tag: $tag,
            summary: $s,
            query: $q,
            body: $b,
            access: $a,
            produces: $prod,
        }
    };
}

/// Every route the server answers.
pub const ROUTES: &[RouteDoc] = &[
    route!(
        "GET",
        "/",
        "dashboard",
        "Web dashboard (HTML)",
        &[],
        None,
        Access::Open,
        "text/html"
    ),
    route!(
        "GET",
        "/api/docs",
        "meta",
        "API documentation page (HTML, renders /api/openapi.json)",
        &[],
        None,
        Access::Open,
        "text/html"
    ),
    route!(
        "GET",
        "/api/openapi.json",
        "meta",
        "This OpenAPI 3 document",
        &[],
        None,
        Access::Open,
        JSON
    ),
    route!(
        "GET",
        "/metrics",
        "meta",
        "Prometheus metrics: request counts and latencies, queue counts",
        &[],
        None,
        Access::Open,
        "text/plain"
    ),
    route!(
        "GET",
        "/api/v1/health",
        "meta",
        "Health: database and disk checks (503 when unhealthy)",
        &[],
        None,
        Access::Open,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/conversion/pending",
        "conversion",
        "List pending subband groups",
        &[
            ("limit", "integer", "page size, 1-1000 (default 50)"),
            ("offset", "integer", "groups to skip (default 0)"),
            (
                "complete_only",
                "boolean",
                "only groups with all expected subbands"
            ),
            ("include_files", "boolean", "list each group's files"),
            (
                "since_hours",
                "number",
                "only groups first seen in the last N hours"
            ),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/conversion/stats",
        "conversion",
        "Get conversion statistics",
        &[],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "POST",
        "/api/v1/conversion/convert",
        "conversion",
        "Trigger conversion (auth needed): records a convert job and marks the groups pending",
        &[],
        Some(
            r#"{"type":"object","required":["group_ids"],"additionalProperties":false,"properties":{"group_ids":{"type":"array","items":{"type":"string","example":"2025-10-02T00:05:18"}},"output_dir":{"type":"string"},"priority":{"type":"integer","minimum":-100,"maximum":100},"force":{"type":"boolean","description":"re-convert completed groups"}}}"#
        ),
        Access::Write,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/groups",
        "conversion",
        "Groups of the queue (any state), newest first, with their stage timings",
        &[
            (
                "state",
                "string",
                "collecting, pending, in_progress, completed or failed"
            ),
            ("limit", "integer", "page size, 1-1000 (default 50)"),
            ("offset", "integer", "groups to skip (default 0)"),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/conversion/status/{group_id}",
        "conversion",
        "Get group conversion status (404 when unknown)",
        &[],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/conversion/hdf5-index",
        "conversion",
        "Query raw HDF5 file index by observation time",
        &[
            (
                "start",
                "string",
                "start: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or MJD"
            ),
            (
                "end",
                "string",
                "end: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or MJD"
            ),
            ("limit", "integer", "page size, 1-1000 (default 50)"),
            ("offset", "integer", "rows to skip (default 0)"),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/jobs",
        "jobs",
        "List on-demand jobs, newest first",
        &[
            (
                "state",
                "string",
                "queued, running, completed, failed or cancelled"
            ),
            ("limit", "integer", "page size, 1-1000 (default 50)"),
            ("offset", "integer", "rows to skip (default 0)"),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/jobs/{id}",
        "jobs",
        "One job: state, groups, result, error, times",
        &[],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "POST",
        "/api/v1/jobs/{id}/cancel",
        "jobs",
        "Cancel a queued job (auth needed)",
        &[],
        None,
        Access::Write,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/cal/sets",
        "calibration",
        "Calibration sets with validity windows",
        &[
            ("status", "string", "solving, active, failed or retired"),
            ("limit", "integer", "page size, 1-1000 (default 50)"),
            ("offset", "integer", "rows to skip (default 0)"),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/cal/sets/{name}",
        "calibration",
        "One calibration set: tables, QA, validity",
        &[],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/cal/sets/{name}/solutions",
        "calibration",
        "One antenna's bandpass and gain solutions of a set, for plots (CASA's convention, null where flagged), and the set's antennas",
        &[("antenna", "string", "antenna name (default: the first that is not the reference)")],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/cal/applied",
        "calibration",
        "Which calibration set each Measurement Set got",
        &[
            ("ms_path", "string", "a Measurement Set path"),
            ("group_id", "string", "or a group id"),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/images",
        "imaging",
        "Image products with QA, newest first",
        &[
            (
                "type",
                "string",
                "image, residual, model, psf, dirty, pb, image-pb or png"
            ),
            ("limit", "integer", "page size, 1-1000 (default 50)"),
            ("offset", "integer", "rows to skip (default 0)"),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/images/{id}",
        "imaging",
        "One image with its QA",
        &[],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/images/{id}/fits",
        "imaging",
        "Download the FITS file",
        &[],
        None,
        Access::Read,
        "application/fits"
    ),
    route!(
        "GET",
        "/api/v1/images/{id}/png",
        "imaging",
        "PNG preview",
        &[],
        None,
        Access::Read,
        "image/png"
    ),
    route!(
        "GET",
        "/api/v1/imaging/groups/{group_id}/images",
        "imaging",
        "A group's image products",
        &[],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/mosaic/list",
        "mosaics",
        "List mosaics",
        &[
            ("status", "string", "planned, building, completed or failed"),
            ("limit", "integer", "page size, 1-1000 (default 50)"),
            ("offset", "integer", "rows to skip (default 0)"),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "POST",
        "/api/mosaic/create",
        "mosaics",
        "Request a mosaic for a time range (auth needed): records a mosaic job",
        &[],
        Some(
            r#"{"type":"object","required":["start","end"],"additionalProperties":false,"properties":{"start":{"type":"string"},"end":{"type":"string"},"dec_strip_deg":{"type":"number"},"name":{"type":"string"}}}"#
        ),
        Access::Write,
        JSON
    ),
    route!(
        "GET",
        "/api/mosaic/{name}",
        "mosaics",
        "One mosaic: status and member images",
        &[],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/sources",
        "sources",
        "Sources with photometry",
        &[
            (
                "search",
                "string",
                "case-insensitive substring of the source id"
            ),
            ("limit", "integer", "page size, 1-1000 (default 50)"),
            ("offset", "integer", "rows to skip (default 0)"),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/sources/{id}",
        "sources",
        "One source",
        &[],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/sources/{id}/lightcurve",
        "sources",
        "A source's light curve",
        &[
            (
                "start_date",
                "string",
                "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or MJD"
            ),
            (
                "end_date",
                "string",
                "YYYY-MM-DD (whole day), YYYY-MM-DDTHH:MM:SS or MJD"
            ),
        ],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/sources/{id}/variability",
        "sources",
        "A source's variability statistics",
        &[],
        None,
        Access::Read,
        JSON
    ),
    route!(
        "GET",
        "/api/v1/sources/{id}/export.csv",
        "sources",
        "A source's light curve as CSV",
        &[
            (
                "start_date",
                "string",
                "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or MJD"
            ),
            (
                "end_date",
                "string",
                "YYYY-MM-DD (whole day), YYYY-MM-DDTHH:MM:SS or MJD"
            ),
        ],
        None,
        Access::Read,
        "text/csv"
    ),
    route!(
        "GET",
        "/api/v1/variability",
        "sources",
        "Variability statistics of all sources",
        &[
            ("candidates_only", "boolean", "only variable/ESE candidates"),
            ("limit", "integer", "page size, 1-1000 (default 50)"),
            ("offset", "integer", "rows to skip (default 0)"),
        ],
        None,
        Access::Read,
        JSON
    ),
];

fn handler(method: &str, path: &str) -> Option<MethodRouter<AppState>> {
    Some(match (method, path) {
        ("GET", "/") => get(system::dashboard),
        ("GET", "/api/docs") => get(system::docs),
        ("GET", "/api/openapi.json") => get(system::openapi),
        ("GET", "/metrics") => get(system::metrics),
        ("GET", "/api/v1/health") => get(system::health),
        ("GET", "/api/v1/conversion/pending") => get(conversion::pending),
        ("GET", "/api/v1/conversion/stats") => get(conversion::stats),
        ("POST", "/api/v1/conversion/convert") => post(conversion::convert),
        ("GET", "/api/v1/groups") => get(conversion::groups),
        ("GET", "/api/v1/conversion/status/{group_id}") => get(conversion::status),
        ("GET", "/api/v1/conversion/hdf5-index") => get(conversion::hdf5_index),
        ("GET", "/api/v1/jobs") => get(products::list_jobs),
        ("GET", "/api/v1/jobs/{id}") => get(products::get_job),
        ("POST", "/api/v1/jobs/{id}/cancel") => post(products::cancel_job),
        ("GET", "/api/v1/cal/sets") => get(products::list_cal_sets),
        ("GET", "/api/v1/cal/sets/{name}") => get(products::get_cal_set),
        ("GET", "/api/v1/cal/sets/{name}/solutions") => get(products::cal_set_solutions),
        ("GET", "/api/v1/cal/applied") => get(products::cal_applied),
        ("GET", "/api/v1/images") => get(products::list_images),
        ("GET", "/api/v1/images/{id}") => get(products::get_image),
        ("GET", "/api/v1/images/{id}/fits") => get(products::image_fits),
        ("GET", "/api/v1/images/{id}/png") => get(products::image_png),
        ("GET", "/api/v1/imaging/groups/{group_id}/images") => get(products::group_images),
        ("GET", "/api/mosaic/list") => get(products::list_mosaics),
        ("POST", "/api/mosaic/create") => post(products::create_mosaic),
        ("GET", "/api/mosaic/{name}") => get(products::get_mosaic),
        ("GET", "/api/v1/sources") => get(products::list_sources),
        ("GET", "/api/v1/sources/{id}") => get(products::get_source),
        ("GET", "/api/v1/sources/{id}/lightcurve") => get(products::lightcurve),
        ("GET", "/api/v1/sources/{id}/variability") => get(products::variability),
        ("GET", "/api/v1/sources/{id}/export.csv") => get(products::export_csv),
        ("GET", "/api/v1/variability") => get(products::list_variability),
        _ => return None,
    })
}

/// The application: every route of [`ROUTES`], JSON errors, security headers,
/// CORS, the read-token check, body limit and metrics.
pub fn router(state: AppState) -> Result<Router, String> {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for r in ROUTES {
        let h = handler(r.method, r.path)
            .ok_or_else(|| format!("route {} {} has no handler", r.method, r.path))?;
        let merged = match by_path.remove(r.path) {
            Some(existing) => existing.merge(h),
            None => h,
        };
        by_path.insert(r.path, merged);
    }
    let mut app = Router::new();
    for (path, mr) in by_path {
        app = app.route(path, mr);
    }
    let max_body = state.params.max_body_bytes;
    Ok(app
        .fallback(no_route)
        .layer(axum::middleware::from_fn_with_state(state.clone(), around))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state))
}

async fn no_route(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!(
            "no route {} {} (see /api/openapi.json)",
            req.method(),
            req.uri().path()
        ),
    )
}

fn access_of(path: &str) -> Access {
    ROUTES
        .iter()
        .find(|r| r.path == path)
        .map(|r| r.access)
        .unwrap_or(Access::Read)
}

/// Around every request: CORS preflight, the read-token check, then the
/// handler; afterwards non-JSON errors become JSON, security and CORS headers
/// are added and the request is counted.
async fn around(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let method = req.method().clone();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| s.params.cors_origins.iter().any(|a| a == o))
        .map(str::to_string);

    let mut resp = if method == Method::OPTIONS && origin.is_some() {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        let needs_read_token =
            s.params.require_read_token && route.as_deref().map(access_of) == Some(Access::Read);
        match needs_read_token
            .then(|| s.params.tokens.authenticate(req.headers()))
            .transpose()
        {
            Err(e) => e.into_response(),
            Ok(_) => next.run(req).await,
        }
    };

    if resp.status().is_client_error() || resp.status().is_server_error() {
        resp = ensure_json_error(resp).await;
    }
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    if let Some(o) = origin {
        if let Ok(v) = HeaderValue::from_str(&o) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    let label = route.unwrap_or_else(|| "unmatched".to_string());
    s.metrics.observe(
        &label,
        match method.as_str() {
            m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
            _ => "OTHER",
        },
        resp.status().as_u16(),
        t0.elapsed().as_secs_f64(),
    );
    resp
}

/// Turns an error answered by axum itself (405, 413, a path rejection…) into
/// `{"error", "message"}`, keeping its status and text.
async fn ensure_json_error(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let status = parts.status;
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut new = ApiError::new(status, code_for_status(status), message).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        new.headers_mut().insert(header::ALLOW, allow.clone());
    }
    new
}

fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// The OpenAPI 3.0 document, built from [`ROUTES`].
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let mut params: Vec<Value> = path_params(r.path)
            .into_iter()
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(r.query.iter().map(|(n, t, d)| {
            json!({"name": n, "in": "query", "required": false, "description": d, "schema": {"type": t}})
        }));
        let mut responses = serde_json::Map::new();
        let ok = if r.method == "POST" && r.body.is_some() {
            "202"
        } else {
            "200"
        };
        let content = if r.produces == JSON {
            json!({"application/json": {"schema": {"type": "object"}}})
        } else {
            json!({r.produces: {"schema": {"type": "string"}}})
        };
        responses.insert(
            ok.into(),
            json!({"description": "success", "content": content}),
        );
        let err = json!({"$ref": "#/components/responses/Error"});
        for code in ["404", "422"] {
            responses.insert(code.into(), err.clone());
        }
        if r.access == Access::Write {
            for code in ["401", "403", "409", "429"] {
                responses.insert(code.into(), err.clone());
            }
        }
        if r.path == "/api/v1/health" {
            responses.insert("503".into(), json!({"description": "unhealthy", "content": {"application/json": {"schema": {"type": "object"}}}}));
        }
        let mut op = json!({
            "summary": r.summary,
            "tags": [r.tag],
            "operationId": format!("{}_{}", r.method.to_lowercase(), r.path.trim_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if let Some(schema) = r.body {
            let schema: Value = serde_json::from_str(schema).unwrap_or(json!({"type": "object"}));
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": schema}}});
        }
        match r.access {
            Access::Write => op["security"] = json!([{"bearer": []}]),
            Access::Read => op["security"] = json!([{}, {"bearer": []}]),
            Access::Open => op["security"] = json!([]),
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "DSA-110 pipeline API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Queue, conversion, jobs, calibration, images, mosaics and sources of the DSA-110 streaming pipeline. Writes need Authorization: Bearer <token>; errors are {\"error\": CODE, \"message\": ...}.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "parameter": {"type": "string"}},
            }},
            "responses": {"Error": {
                "description": "error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_handler_and_an_openapi_entry() {
        let doc = openapi_document();
        for r in ROUTES {
            assert!(
                handler(r.method, r.path).is_some(),
                "{} {}",
                r.method,
                r.path
            );
            assert!(
                doc["paths"][r.path][r.method.to_lowercase()].is_object(),
                "{}",
                r.path
            );
        }
        assert_eq!(doc["openapi"], "3.0.3");
    }
}
