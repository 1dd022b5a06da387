//! Jobs, calibration sets, images (with FITS download and PNG preview),
//! mosaics and sources (light curves, variability, CSV export).

use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dsa110_queue::{
    solution_overview_path, CalStatus, CaltableType, GroupId, ImageRecord, ImageType, JobState,
    MosaicStatus, NewJob, PhotometryRecord, QueueError,
};
use serde_json::{json, Value};

use crate::auth::token_name;
use crate::conversion::{authorize_write, parse_body, parse_group_id};
use crate::error::ApiError;
use crate::params::{iso, Params};
use crate::state::{now_unix_s, AppState};

fn parse_id(what: &str, s: &str) -> Result<i64, ApiError> {
    match s.parse::<i64>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(ApiError::invalid(
            what,
            format!("expected a positive integer, got {s:?}"),
        )),
    }
}

fn job_json(j: &dsa110_queue::JobRecord) -> Value {
    let parse = |s: &Option<String>| {
        s.as_deref()
            .map(|t| serde_json::from_str::<Value>(t).unwrap_or_else(|_| json!(t)))
    };
    json!({
        "id": j.id,
        "kind": j.kind,
        "state": j.state,
        "group_ids": j.group_ids,
        "params": parse(&j.params_json),
        "result": parse(&j.result_json),
        "error": j.error,
        "created_at": iso(j.created_at),
        "started_at": j.started_at.and_then(iso),
        "finished_at": j.finished_at.and_then(iso),
        "requested_by": j.requested_by,
        "owner": j.owner,
        "heartbeat_at": j.heartbeat_at.and_then(iso),
    })
}

/// `GET /api/v1/jobs?state=&limit=&offset=`.
pub async fn list_jobs(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (limit, offset) = p.page()?;
    let state: Option<JobState> =
        p.parsed("state", "queued, running, completed, failed, cancelled")?;
    s.db(move |q| {
        let (jobs, total) = q.list_jobs(state, limit, offset)?;
        Ok(Json(json!({
            "jobs": jobs.iter().map(job_json).collect::<Vec<_>>(),
            "total": total, "limit": limit, "offset": offset,
        })))
    })
    .await
}

/// `GET /api/v1/jobs/{id}`.
pub async fn get_job(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id("id", &id)?;
    s.db(move |q| {
        let j = q
            .job(id)?
            .ok_or_else(|| ApiError::not_found("job", &id.to_string()))?;
        Ok(Json(job_json(&j)))
    })
    .await
}

/// `POST /api/v1/jobs/{id}/cancel`: only a `queued` job can be cancelled (409 otherwise).
pub async fn cancel_job(
    State(s): State<AppState>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    authorize_write(&s, &headers)?;
    let id = parse_id("id", &id)?;
    s.db(move |q| match q.cancel_job(id, now_unix_s()) {
        Ok(j) => Ok(Json(job_json(&j))),
        Err(QueueError::NotFound { .. }) => Err(ApiError::not_found("job", &id.to_string())),
        Err(QueueError::WrongStatus { status, .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "wrong_state",
            format!("job {id} is {status}: only a queued job can be cancelled"),
        )),
        Err(e) => Err(e.into()),
    })
    .await
}

/// `GET /api/v1/cal/sets?status=&limit=&offset=`.
pub async fn list_cal_sets(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (limit, offset) = p.page()?;
    let status: Option<CalStatus> = p.parsed("status", "solving, active, failed, retired")?;
    s.db(move |q| {
        let (sets, total) = q.list_cal_sets(status, limit, offset)?;
        Ok(Json(
            json!({"sets": sets, "total": total, "limit": limit, "offset": offset}),
        ))
    })
    .await
}

/// `GET /api/v1/cal/sets/{name}`: the set, its tables (with QA) and validity.
pub async fn get_cal_set(
    State(s): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    s.db(move |q| {
        let set = q
            .cal_set(&name)?
            .ok_or_else(|| ApiError::not_found("calibration set", &name))?;
        let mut v = json!(set);
        v["tables"] = json!(set
            .tables
            .iter()
            .map(|t| {
                let mut tv = json!(t);
                tv["qa"] = t
                    .qa_json
                    .as_deref()
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .unwrap_or(Value::Null);
                tv
            })
            .collect::<Vec<_>>());
        Ok(Json(v))
    })
    .await
}

/// `GET /api/v1/cal/sets/{name}/solutions?antenna=NAME`: one antenna's solutions of a
/// set, for plots (the overview the daemon writes beside the tables, in CASA's CPARAM
/// convention, `null` where flagged): bandpass amplitude and phase per receptor against
/// frequency, gain amplitude and phase per receptor and window against time, with the
/// list of antennas. Without `antenna`, the first antenna that is not the reference.
pub async fn cal_set_solutions(
    State(s): State<AppState>,
    UrlPath(name): UrlPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let wanted = p.str("antenna").map(str::to_owned);
    let set_name = name.clone();
    let bcal = s
        .db(move |q| {
            let set = q
                .cal_set(&name)?
                .ok_or_else(|| ApiError::not_found("calibration set", &name))?;
            set.tables
                .iter()
                .find(|t| t.table_type == CaltableType::B)
                .map(|t| t.path.clone())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "no_solutions",
                        format!("calibration set {name} has no bandpass table"),
                    )
                })
        })
        .await?;
    let path = solution_overview_path(&bcal);
    if tokio::fs::metadata(&path).await.is_err() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_solutions",
            format!(
                "calibration set {set_name} has no solution overview ({} is not on disk: \
                 the set was solved before overviews were written, or its solve failed \
                 before the tables were written)",
                path.display()
            ),
        ));
    }
    let bytes = read_product(s.params.output_dir.as_deref(), &path).await?;
    let mut overview: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "corrupt_file",
            format!("{} is not a solution overview: {e}", path.display()),
        )
    })?;
    let antennas = overview
        .get_mut("antennas")
        .map(Value::take)
        .and_then(|a| match a {
            Value::Array(a) => Some(a),
            _ => None,
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt_file",
                format!("{} lists no antennas", path.display()),
            )
        })?;
    let name_of = |a: &Value| {
        a.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let names: Vec<String> = antennas.iter().map(name_of).collect();
    let refant = overview.get("refant").and_then(Value::as_str).unwrap_or("");
    let pick = match &wanted {
        Some(w) => names.iter().position(|n| n == w).ok_or_else(|| {
            ApiError::invalid(
                "antenna",
                format!(
                    "no antenna {w:?} in set {set_name} (it has {})",
                    names.len()
                ),
            )
        })?,
        None => names.iter().position(|n| n != refant).unwrap_or(0),
    };
    let chosen = antennas.into_iter().nth(pick).unwrap_or(Value::Null);
    let Value::Object(mut out) = overview else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "corrupt_file",
            format!("{} is not a JSON object", path.display()),
        ));
    };
    out.insert("set_name".into(), json!(set_name));
    out.insert(
        "convention".into(),
        json!("CASA CPARAM (as plotms shows the tables)"),
    );
    out.insert("antennas".into(), json!(names));
    out.insert("antenna".into(), json!(names.get(pick)));
    out.insert("solutions".into(), chosen);
    Ok(Json(Value::Object(out)))
}

/// `GET /api/v1/cal/applied?ms_path=…` or `?group_id=…`: which set each MS got.
pub async fn cal_applied(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let ms_path = p.str("ms_path").map(PathBuf::from);
    let group = p
        .str("group_id")
        .map(|g| parse_group_id("group_id", g))
        .transpose()?;
    if ms_path.is_none() && group.is_none() {
        return Err(ApiError::invalid("ms_path", "give ms_path or group_id"));
    }
    s.db(move |q| {
        let rows = match (&ms_path, &group) {
            (Some(m), _) => q.cal_applied_for_ms(m)?,
            (None, Some(g)) => q.cal_applied_for_group(g)?,
            (None, None) => Vec::new(),
        };
        Ok(Json(json!({"applied": rows, "total": rows.len()})))
    })
    .await
}

fn image_json(i: &ImageRecord) -> Value {
    let mut v = json!(i);
    if let Some(id) = i.id {
        v["fits_url"] = json!(format!("/api/v1/images/{id}/fits"));
        v["png_url"] = json!(format!("/api/v1/images/{id}/png"));
    }
    v["created"] = json!(iso(i.created_at));
    v
}

/// `GET /api/v1/images?type=&limit=&offset=`.
pub async fn list_images(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (limit, offset) = p.page()?;
    let kind: Option<ImageType> = p.parsed(
        "type",
        "image, residual, model, psf, dirty, pb, image-pb, png",
    )?;
    s.db(move |q| {
        let (images, total) = q.list_images(kind, limit, offset)?;
        Ok(Json(json!({
            "images": images.iter().map(image_json).collect::<Vec<_>>(),
            "total": total, "limit": limit, "offset": offset,
        })))
    })
    .await
}

/// `GET /api/v1/imaging/groups/{group_id}/images`.
pub async fn group_images(
    State(s): State<AppState>,
    UrlPath(g): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_group_id("group_id", &g)?;
    s.db(move |q| {
        if q.group(&id)?.is_none() {
            return Err(ApiError::not_found("group", id.as_str()));
        }
        let images = q.images_for_group(&id)?;
        Ok(Json(json!({
            "group_id": id,
            "images": images.iter().map(image_json).collect::<Vec<_>>(),
            "total": images.len(),
        })))
    })
    .await
}

/// `GET /api/v1/images/{id}`.
pub async fn get_image(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id("id", &id)?;
    s.db(move |q| {
        let i = q
            .image(id)?
            .ok_or_else(|| ApiError::not_found("image", &id.to_string()))?;
        let photometry = q.photometry_for_image(&i.path)?;
        let mut v = image_json(&i);
        v["n_photometry"] = json!(photometry.len());
        Ok(Json(v))
    })
    .await
}

/// A product file, refused when outside `--output-dir` (after resolving links).
async fn read_product(root: Option<&Path>, path: &Path) -> Result<Vec<u8>, ApiError> {
    let gone = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "file_missing",
            format!(
                "the file {} recorded in the database is not on disk",
                path.display()
            ),
        )
    };
    let real = tokio::fs::canonicalize(path).await.map_err(|_| gone())?;
    if let Some(root) = root {
        let root = tokio::fs::canonicalize(root)
            .await
            .unwrap_or_else(|_| root.to_path_buf());
        if !real.starts_with(&root) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "outside_output_dir",
                format!(
                    "{} is outside the output directory {}",
                    path.display(),
                    root.display()
                ),
            ));
        }
    }
    tokio::fs::read(&real).await.map_err(|_| gone())
}

fn file_response(bytes: Vec<u8>, content_type: &'static str, filename: Option<&str>) -> Response {
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(name) = filename {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-:+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
    }
    r
}

fn has_ext(p: &Path, exts: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// `GET /api/v1/images/{id}/fits`: the FITS file.
pub async fn image_fits(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let img = s
        .db(move |q| {
            q.image(id)?
                .ok_or_else(|| ApiError::not_found("image", &id.to_string()))
        })
        .await?;
    if !has_ext(&img.path, &["fits", "fit", "fts"]) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_fits",
            format!("image {id} is not a FITS file ({})", img.path.display()),
        ));
    }
    let bytes = read_product(s.params.output_dir.as_deref(), &img.path).await?;
    let name = img
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string);
    Ok(file_response(bytes, "application/fits", name.as_deref()))
}

/// `GET /api/v1/images/{id}/png`: the PNG preview written beside the image
/// (the record itself when it is a PNG, `<name>.png`, or the group's PNG product).
pub async fn image_png(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let id = parse_id("id", &id)?;
    let candidates = s
        .db(move |q| {
            let img = q
                .image(id)?
                .ok_or_else(|| ApiError::not_found("image", &id.to_string()))?;
            let mut c = Vec::new();
            if img.image_type == ImageType::Png || has_ext(&img.path, &["png"]) {
                c.push(img.path.clone());
            }
            c.push(img.path.with_extension("png"));
            let mut appended = img.path.clone().into_os_string();
            appended.push(".png");
            c.push(PathBuf::from(appended));
            if let Some(g) = &img.group_id {
                for other in q.images_for_group(g)? {
                    if other.image_type == ImageType::Png {
                        c.push(other.path);
                    }
                }
            }
            Ok(c)
        })
        .await?;
    for c in &candidates {
        if has_ext(c, &["png"]) && tokio::fs::metadata(c).await.is_ok() {
            let bytes = read_product(s.params.output_dir.as_deref(), c).await?;
            return Ok(file_response(bytes, "image/png", None));
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "no_preview",
        format!("image {id} has no PNG preview on disk"),
    ))
}

/// `GET /api/mosaic/list?status=&limit=&offset=`.
pub async fn list_mosaics(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (limit, offset) = p.page()?;
    let status: Option<MosaicStatus> =
        p.parsed("status", "planned, building, completed, failed")?;
    s.db(move |q| {
        let (mosaics, total) = q.list_mosaics(status, limit, offset)?;
        Ok(Json(
            json!({"mosaics": mosaics, "total": total, "limit": limit, "offset": offset}),
        ))
    })
    .await
}

/// `GET /api/mosaic/{name}`: the mosaic, its status and member images.
pub async fn get_mosaic(
    State(s): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    s.db(move |q| {
        let m = q
            .mosaic(&name)?
            .ok_or_else(|| ApiError::not_found("mosaic", &name))?;
        let images = q.mosaic_images(&name)?;
        let mut v = json!(m);
        v["images"] = json!(images);
        Ok(Json(v))
    })
    .await
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MosaicRequest {
    start: String,
    end: String,
    #[serde(default)]
    dec_strip_deg: Option<f64>,
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api/mosaic/create`: records a `mosaic` job for a time range.
pub async fn create_mosaic(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = authorize_write(&s, &headers)?;
    let req: MosaicRequest = parse_body(&headers, &body)?;
    let start = crate::params::parse_time_mjd(&req.start).ok_or_else(|| {
        ApiError::invalid(
            "start",
            "expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or an MJD",
        )
    })?;
    let end = crate::params::parse_time_mjd(&req.end).ok_or_else(|| {
        ApiError::invalid("end", "expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or an MJD")
    })?;
    if end <= start {
        return Err(ApiError::invalid("end", "end must be after start"));
    }
    if let Some(d) = req.dec_strip_deg {
        if !(d.is_finite() && (-90.0..=90.0).contains(&d)) {
            return Err(ApiError::invalid(
                "dec_strip_deg",
                "expected degrees from -90 to 90",
            ));
        }
    }
    if let Some(n) = &req.name {
        if n.is_empty() || n.len() > 200 || n.chars().any(|c| c.is_control() || c == '/') {
            return Err(ApiError::invalid(
                "name",
                "expected 1-200 characters without '/'",
            ));
        }
    }
    let params = json!({"start_mjd": start, "end_mjd": end, "dec_strip_deg": req.dec_strip_deg, "name": req.name}).to_string();
    let by = token_name(&token);
    s.db(move |q| {
        let id = q.create_job(
            &NewJob {
                kind: "mosaic",
                group_ids: &[],
                params_json: Some(&params),
                requested_by: Some(&by),
            },
            now_unix_s(),
        )?;
        Ok((
            StatusCode::ACCEPTED,
            Json(
                json!({"job_id": id, "status": "queued", "job_url": format!("/api/v1/jobs/{id}")}),
            ),
        )
            .into_response())
    })
    .await
}

/// `GET /api/v1/sources?search=&limit=&offset=`.
pub async fn list_sources(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (limit, offset) = p.page()?;
    let search = p.str("search").map(str::to_string);
    if search.as_ref().is_some_and(|s| s.len() > 200) {
        return Err(ApiError::invalid("search", "at most 200 characters"));
    }
    s.db(move |q| {
        let (sources, total) = q.list_sources(search.as_deref(), limit, offset)?;
        Ok(Json(
            json!({"sources": sources, "total": total, "limit": limit, "offset": offset}),
        ))
    })
    .await
}

/// `GET /api/v1/sources/{id}`.
pub async fn get_source(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    s.db(move |q| {
        let rows = q.photometry_for_source(&id, None, None)?;
        let Some(last) = rows.last() else {
            return Err(ApiError::not_found("source", &id));
        };
        let var = q.variability(&id)?;
        Ok(Json(json!({
            "source_id": id,
            "ra_deg": last.ra_deg,
            "dec_deg": last.dec_deg,
            "catalog_flux_jy": last.catalog_flux_jy,
            "n_measurements": rows.len(),
            "first_mjd": rows.first().map(|r| r.mjd),
            "last_mjd": last.mjd,
            "variability": var,
            "lightcurve_url": format!("/api/v1/sources/{}/lightcurve", encode(&id)),
        })))
    })
    .await
}

/// Percent-encodes a path segment.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn date_range(p: &Params) -> Result<(Option<f64>, Option<f64>), ApiError> {
    let start = p.mjd("start_date")?;
    let mut end = p.mjd("end_date")?;
    // A bare end date includes that whole day.
    if let (Some(e), Some(text)) = (end, p.str("end_date")) {
        if text.trim().len() == 10 {
            end = Some(e + 1.0 - 1e-9);
        }
    }
    if let (Some(a), Some(b)) = (start, end) {
        if a > b {
            return Err(ApiError::invalid(
                "end_date",
                "end_date is before start_date",
            ));
        }
    }
    Ok((start, end))
}

/// One point of a light curve. Fields in alphabetical order, the order the
/// `serde_json::Value` maps this replaced wrote them in.
#[derive(Debug, serde::Serialize)]
struct LightcurvePoint<'a> {
    flags: Option<i64>,
    flux_err_jy: Option<f64>,
    flux_jy: Option<f64>,
    group_id: Option<&'a GroupId>,
    image_path: &'a std::path::Path,
    mjd: f64,
    norm_flux_err_jy: Option<f64>,
    norm_flux_jy: Option<f64>,
    peak_flux_err_jy: Option<f64>,
    peak_flux_jy: Option<f64>,
    snr: Option<f64>,
    time: Option<String>,
}

impl<'a> From<&'a PhotometryRecord> for LightcurvePoint<'a> {
    fn from(r: &'a PhotometryRecord) -> Self {
        LightcurvePoint {
            flags: r.flags,
            flux_err_jy: r.norm_flux_err_jy.or(r.peak_flux_err_jy),
            flux_jy: r.norm_flux_jy.or(r.peak_flux_jy),
            group_id: r.group_id.as_ref(),
            image_path: &r.image_path,
            mjd: r.mjd,
            norm_flux_err_jy: r.norm_flux_err_jy,
            norm_flux_jy: r.norm_flux_jy,
            peak_flux_err_jy: r.peak_flux_err_jy,
            peak_flux_jy: r.peak_flux_jy,
            snr: r.snr,
            time: iso(crate::params::mjd_to_unix(r.mjd)),
        }
    }
}

/// The body of a light curve, fields in alphabetical order as before.
#[derive(Debug, serde::Serialize)]
struct LightcurveBody<'a> {
    end_mjd: Option<f64>,
    points: Vec<LightcurvePoint<'a>>,
    source_id: &'a str,
    start_mjd: Option<f64>,
    total: usize,
}

/// `GET /api/v1/sources/{id}/lightcurve?start_date=&end_date=`.
pub async fn lightcurve(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (start, end) = date_range(&p)?;
    let cache = s.lightcurves.clone();
    s.db(move |q| {
        let generation = q.photometry_generation(&id)?;
        let body = match cache.get(&id, start, end, generation) {
            Some(body) => body,
            None => {
                let (generation, rows) = q.photometry_snapshot(&id, start, end)?;
                // An empty range of a known source is an empty curve; an unknown source is 404.
                if rows.is_empty() && q.source_summary(&id)?.is_none() {
                    return Err(ApiError::not_found("source", &id));
                }
                let points: Vec<LightcurvePoint<'_>> =
                    rows.iter().map(LightcurvePoint::from).collect();
                let total = points.len();
                // Serialised straight from the records: a light curve has thousands
                // of points, and a `Value` map per point costs more than the query.
                let body = serde_json::to_vec(&LightcurveBody {
                    end_mjd: end,
                    points,
                    source_id: &id,
                    start_mjd: start,
                    total,
                })
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_error",
                        format!("cannot serialise the light curve: {e}"),
                    )
                })?;
                let body = Bytes::from(body);
                cache.put(&id, start, end, generation, body.clone());
                body
            }
        };
        Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response())
    })
    .await
}

/// `GET /api/v1/sources/{id}/variability`.
pub async fn variability(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    s.db(move |q| {
        let v = q
            .variability(&id)?
            .ok_or_else(|| ApiError::not_found("variability of source", &id))?;
        Ok(Json(json!(v)))
    })
    .await
}

/// `GET /api/v1/sources/variability?candidates_only=&limit=&offset=`.
pub async fn list_variability(
    State(s): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (limit, offset) = p.page()?;
    let candidates = p.bool("candidates_only", false)?;
    s.db(move |q| {
        let (rows, total) = q.list_variability(candidates, limit, offset)?;
        Ok(Json(
            json!({"variability": rows, "total": total, "limit": limit, "offset": offset}),
        ))
    })
    .await
}

fn csv_field(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `GET /api/v1/sources/{id}/export.csv`: the light curve as CSV.
pub async fn export_csv(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let (start, end) = date_range(&p)?;
    let name = id.clone();
    let rows = s
        .db(move |q| {
            let rows = q.photometry_for_source(&id, start, end)?;
            if rows.is_empty() && q.source_summary(&id)?.is_none() {
                return Err(ApiError::not_found("source", &id));
            }
            Ok(rows)
        })
        .await?;
    let mut out = String::from(
        "source_id,mjd,peak_flux_jy,peak_flux_err_jy,int_flux_jy,int_flux_err_jy,norm_flux_jy,norm_flux_err_jy,local_rms_jy,snr,pb,flags,group_id,image_path\n",
    );
    for r in &rows {
        let fields = [
            csv_text(&r.source_id),
            r.mjd.to_string(),
            csv_field(r.peak_flux_jy),
            csv_field(r.peak_flux_err_jy),
            csv_field(r.int_flux_jy),
            csv_field(r.int_flux_err_jy),
            csv_field(r.norm_flux_jy),
            csv_field(r.norm_flux_err_jy),
            csv_field(r.local_rms_jy),
            csv_field(r.snr),
            csv_field(r.pb),
            r.flags.map(|f| f.to_string()).unwrap_or_default(),
            r.group_id
                .as_ref()
                .map(|g| g.to_string())
                .unwrap_or_default(),
            csv_text(&r.image_path.to_string_lossy()),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    let mut r = file_response(out.into_bytes(), "text/csv; charset=utf-8", None);
    let fname: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{fname}.csv\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
