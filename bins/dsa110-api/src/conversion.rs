//! `/api/v1/conversion/*`: the groups waiting for conversion, statistics,
//! triggering a conversion (a `jobs` row plus the groups marked `pending`),
//! one group's status and the raw-file index.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dsa110_queue::{
    EnqueueOutcome, GroupId, GroupState, GroupSummary, NewJob, QueueError, SubbandFile,
};
use serde_json::{json, Value};

use crate::auth::token_name;
use crate::error::ApiError;
use crate::params::{iso, Params};
use crate::state::{now_unix_s, AppState};

/// Most groups one conversion request may name.
pub const MAX_GROUPS_PER_REQUEST: usize = 500;

/// Parses a group id from the URL or a body; 422 naming `what` when malformed.
pub fn parse_group_id(what: &str, s: &str) -> Result<GroupId, ApiError> {
    GroupId::parse(s).map_err(|_| {
        ApiError::invalid(
            what,
            format!("expected a group id YYYY-MM-DDTHH:MM:SS, got {s:?}"),
        )
    })
}

/// The JSON of one group in a listing; `files` only when the caller asked for them.
fn group_summary(g: &GroupSummary, files: Option<&[SubbandFile]>) -> Value {
    let r = &g.group;
    let mut v = json!({
        "group_id": r.group_id,
        "state": r.state,
        "file_count": g.file_count,
        "expected_subbands": g.expected_subbands(),
        "is_complete": g.is_complete(),
        "first_seen": iso(r.received_at),
        "first_seen_unix": r.received_at,
        "last_update": iso(r.last_update),
        "retry_count": r.retry_count,
        "error": r.error,
        "error_message": r.error_message,
    });
    if let Some(files) = files {
        v["files"] = json!(files
            .iter()
            .map(|f| json!({"subband": f.subband.get(), "subband_code": f.subband.code(), "path": f.path}))
            .collect::<Vec<_>>());
    }
    v
}

/// `GET /api/v1/conversion/pending`: groups waiting for conversion
/// (`collecting` and `pending`), oldest first.
pub async fn pending(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (limit, offset) = p.page()?;
    let complete_only = p.bool("complete_only", false)?;
    let include_files = p.bool("include_files", false)?;
    let since_hours = p.f64("since_hours", 0.0, 24.0 * 366.0 * 100.0)?;
    let now = now_unix_s();
    s.db(move |q| {
        let since = since_hours.map(|h| now - h * 3600.0);
        let page = q.waiting_groups(complete_only, since, limit, offset)?;
        let mut files = if include_files {
            let ids: Vec<GroupId> = page
                .groups
                .iter()
                .map(|g| g.group.group_id.clone())
                .collect();
            q.files_of_groups(&ids)?
        } else {
            BTreeMap::new()
        };
        let groups: Vec<Value> = page
            .groups
            .iter()
            .map(|g| {
                let f = include_files.then(|| files.remove(&g.group.group_id).unwrap_or_default());
                group_summary(g, f.as_deref())
            })
            .collect();
        Ok(Json(json!({
            "groups": groups,
            "total": page.total,
            "total_waiting": page.total_waiting,
            "total_complete": page.total_complete,
            "limit": limit,
            "offset": offset,
            "filters": {
                "complete_only": complete_only,
                "include_files": include_files,
                "since_hours": since_hours,
            },
        })))
    })
    .await
}

/// `GET /api/v1/groups?state=&limit=&offset=`: groups newest first, each with
/// its stage timings.
pub async fn groups(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (limit, offset) = p.page()?;
    let state: Option<GroupState> = p.parsed(
        "state",
        "collecting, pending, in_progress, completed, failed",
    )?;
    s.db(move |q| {
        let (rows, total) = q.group_summaries(state, true, limit, offset)?;
        let ids: Vec<GroupId> = rows.iter().map(|g| g.group.group_id.clone()).collect();
        let mut stages = q.stages_of_groups(&ids)?;
        let out: Vec<Value> = rows
            .iter()
            .map(|g| {
                let r = &g.group;
                let mut v = group_summary(g, None);
                v["processing_stage"] = json!(r.processing_stage);
                v["stages"] = json!(stages.remove(&r.group_id).unwrap_or_default());
                v["started_at"] = json!(r.started_at.and_then(iso));
                v["finished_at"] = json!(r.finished_at.and_then(iso));
                v
            })
            .collect();
        Ok(Json(
            json!({"groups": out, "total": total, "limit": limit, "offset": offset}),
        ))
    })
    .await
}

/// `GET /api/v1/conversion/stats`.
pub async fn stats(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = now_unix_s();
    let day_start = (now / 86_400.0).floor() * 86_400.0;
    s.db(move |q| {
        let counts = q.counts_by_state()?;
        let today = q.conversion_stats(day_start)?;
        let (oldest, _) = q.list_groups_ordered(Some(GroupState::Pending), false, 1, 0)?;
        let age = q.oldest_pending_age_s(now)?;
        let count = |st: GroupState| counts.get(&st).copied().unwrap_or(0);
        Ok(Json(json!({
            "pending": count(GroupState::Pending),
            "collecting": count(GroupState::Collecting),
            "in_progress": count(GroupState::InProgress),
            "completed": count(GroupState::Completed),
            "failed": count(GroupState::Failed),
            "converted_today": today.completed_since,
            "failed_today": today.failed_since,
            "mean_conversion_time_s": today.mean_total_time_s,
            "conversions_timed_today": today.timed_conversions,
            "oldest_pending": oldest.first().map(|g| json!({
                "group_id": g.group_id,
                "first_seen": iso(g.received_at),
            })),
            "oldest_pending_age_s": age,
            "counts_by_state": counts.iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "day_start": iso(day_start),
            "generated_at": iso(now),
        })))
    })
    .await
}

/// Body of `POST /api/v1/conversion/convert`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConvertRequest {
    group_ids: Vec<String>,
    #[serde(default)]
    output_dir: Option<String>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    force: Option<bool>,
}

/// Parses a JSON body into `T`; 422 with serde's message (which names the field).
pub fn parse_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    if let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        if !ct
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("expected Content-Type: application/json, got {ct:?}"),
            ));
        }
    }
    serde_json::from_slice(body).map_err(|e| {
        let field = e
            .to_string()
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| "body".to_string());
        ApiError::invalid("body", format!("{e}")).with("field", field)
    })
}

/// `output_dir` must be absolute, without `..`, and inside `--output-dir` when given.
fn check_output_dir(requested: &str, root: Option<&Path>) -> Result<PathBuf, ApiError> {
    let p = PathBuf::from(requested);
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(ApiError::invalid(
            "output_dir",
            format!("expected an absolute path without '..', got {requested:?}"),
        ));
    }
    if let Some(root) = root {
        if !p.starts_with(root) {
            return Err(ApiError::invalid(
                "output_dir",
                format!(
                    "{requested:?} is outside the output directory {}",
                    root.display()
                ),
            ));
        }
    }
    Ok(p)
}

/// Checks the write token and the rate limit; counts refusals.
pub fn authorize_write(s: &AppState, headers: &HeaderMap) -> Result<[u8; 32], ApiError> {
    let token = s.params.tokens.require_write(headers).inspect_err(|e| {
        s.metrics.refused(e.code);
    })?;
    s.limiter
        .check(&token, s.params.writes_per_minute)
        .inspect_err(|_| s.metrics.refused("rate_limited"))?;
    Ok(token)
}

/// `POST /api/v1/conversion/convert`: records a `convert` job for the
/// accepted groups and marks them `pending`. `pending` and `failed` groups are
/// accepted, `completed` ones only with `"force": true`; unknown ids and
/// groups in other states are reported.
pub async fn convert(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match convert_inner(s, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn convert_inner(s: AppState, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let token = authorize_write(&s, &headers)?;
    let req: ConvertRequest = parse_body(&headers, &body)?;
    if req.group_ids.is_empty() {
        return Err(ApiError::invalid("group_ids", "give at least one group id"));
    }
    if req.group_ids.len() > MAX_GROUPS_PER_REQUEST {
        return Err(ApiError::invalid(
            "group_ids",
            format!("at most {MAX_GROUPS_PER_REQUEST} groups per request"),
        ));
    }
    let mut ids = Vec::new();
    for (i, g) in req.group_ids.iter().enumerate() {
        let id = parse_group_id(&format!("group_ids[{i}]"), g)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let output_dir = req
        .output_dir
        .as_deref()
        .map(|d| check_output_dir(d, s.params.output_dir.as_deref()))
        .transpose()?;
    if let Some(p) = req.priority {
        if !(-100..=100).contains(&p) {
            return Err(ApiError::invalid(
                "priority",
                "expected an integer from -100 to 100",
            ));
        }
    }
    let force = req.force.unwrap_or(false);
    let requested_by = token_name(&token);
    let now = now_unix_s();
    s.db(move |q| {
        let mut accepted = Vec::new();
        let mut accepted_ids = Vec::new();
        let mut unknown = Vec::new();
        let mut rejected = Vec::new();
        // Decide first (reads), then change: nothing is marked when nothing is accepted.
        let mut to_enqueue = Vec::new();
        for id in &ids {
            match q.group(id)? {
                None => unknown.push(json!(id)),
                Some(g) => match g.state {
                    GroupState::Pending | GroupState::Failed => to_enqueue.push((id.clone(), g.state)),
                    GroupState::Completed if force => to_enqueue.push((id.clone(), g.state)),
                    GroupState::Completed => rejected.push(json!({
                        "group_id": id, "state": g.state,
                        "reason": "already converted; send \"force\": true to convert it again",
                    })),
                    other => rejected.push(json!({
                        "group_id": id, "state": other,
                        "reason": format!("a {other} group cannot be queued for conversion"),
                    })),
                },
            }
        }
        for (id, previous) in to_enqueue {
            match q.enqueue_group_for_conversion(&id, now) {
                Ok(outcome) => {
                    let action = match outcome {
                        EnqueueOutcome::Requeued { .. } => "requeued",
                        EnqueueOutcome::AlreadyPending => "already_pending",
                    };
                    accepted.push(json!({"group_id": id, "previous_state": previous, "action": action}));
                    accepted_ids.push(id);
                }
                Err(QueueError::UnknownGroup(_)) => unknown.push(json!(id)),
                Err(QueueError::WrongState { state, .. }) => rejected.push(json!({
                    "group_id": id, "state": state,
                    "reason": format!("the group became {state} meanwhile"),
                })),
                Err(e) => return Err(e.into()),
            }
        }
        if accepted_ids.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "nothing_to_convert",
                "none of the groups can be queued for conversion",
            )
            .with("unknown", unknown)
            .with("rejected", rejected));
        }
        let params = json!({
            "output_dir": output_dir,
            "priority": req.priority,
            "force": force,
            "unknown": unknown,
            "rejected": rejected,
        })
        .to_string();
        let job_id = q.create_job(
            &NewJob {
                kind: "convert",
                group_ids: &accepted_ids,
                params_json: Some(&params),
                requested_by: Some(&requested_by),
            },
            now,
        )?;
        tracing::info!(job_id, groups = accepted_ids.len(), requested_by = %requested_by, "conversion requested");
        Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "job_id": job_id,
                "status": "queued",
                "accepted": accepted,
                "unknown": unknown,
                "rejected": rejected,
                "job_url": format!("/api/v1/jobs/{job_id}"),
            })),
        )
            .into_response())
    })
    .await
}

/// `GET /api/v1/conversion/status/{group_id}`.
pub async fn status(
    State(s): State<AppState>,
    UrlPath(group_id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_group_id("group_id", &group_id)?;
    s.db(move |q| {
        let g = q
            .group(&id)?
            .ok_or_else(|| ApiError::not_found("group", id.as_str()))?;
        let files = q.group_files(&id)?;
        let ms = q.ms_for_group(&id)?;
        let stages = q.stages(&id)?;
        let perf = q.performance(&id)?;
        let images = q.images_for_group(&id)?;
        let cal = q.cal_applied_for_group(&id)?;
        Ok(Json(json!({
            "group_id": g.group_id,
            "state": g.state,
            "processing_stage": g.processing_stage,
            "ms_path": ms.first().map(|m| &m.path),
            "measurement_sets": ms,
            "error": g.error,
            "error_message": g.error_message,
            "retry_count": g.retry_count,
            "expected_subbands": g.expected_subbands,
            "file_count": files.len(),
            "files": files.iter().map(|f| json!({"subband": f.subband.get(), "path": f.path})).collect::<Vec<_>>(),
            "excluded_files": g.excluded_files,
            "received_at": iso(g.received_at),
            "started_at": g.started_at.and_then(iso),
            "finished_at": g.finished_at.and_then(iso),
            "last_update": iso(g.last_update),
            "times_unix": {
                "received_at": g.received_at, "started_at": g.started_at,
                "finished_at": g.finished_at, "last_update": g.last_update,
            },
            "stages": stages,
            "performance": perf,
            "images": images.iter().map(|i| json!({"id": i.id, "type": i.image_type, "path": i.path})).collect::<Vec<_>>(),
            "calibration_applied": cal,
        })))
    })
    .await
}

/// `GET /api/v1/conversion/hdf5-index`: raw files by observation time
/// (`start`/`end` as dates, date-times or MJD).
pub async fn hdf5_index(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (limit, offset) = p.page()?;
    let start = p.mjd("start")?;
    let end = p.mjd("end")?;
    if let (Some(a), Some(b)) = (start, end) {
        if a > b {
            return Err(ApiError::invalid("end", "end is before start"));
        }
    }
    s.db(move |q| {
        let (files, total) = q.hdf5_files_between(start, end, limit, offset)?;
        Ok(Json(json!({
            "files": files,
            "total": total,
            "limit": limit,
            "offset": offset,
            "start_mjd": start,
            "end_mjd": end,
        })))
    })
    .await
}
