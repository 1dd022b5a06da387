//! Intake: turning a file in the input directory into a queue entry.
//!
//! A file is considered only when its name is a final subband name
//! (`YYYY-MM-DDTHH:MM:SS_sbNN.hdf5`, never `*_incomplete.hdf5`) and it has
//! *settled*: its size and modification time are unchanged since the last look
//! and it was last modified at least `settle_s` ago. It is then validated
//! (header and last chunk of every Data dataset), indexed in `hdf5_files`, and
//! registered in its group. An invalid file is recorded in `invalid_files` with
//! the reason and still joins its group, so the group fails with an error
//! naming the file instead of waiting forever; it is re-checked when it
//! changes, and a group that failed because of it is queued again once it is
//! valid.
//!
//! Validation is pluggable ([`FileValidator`]): the fallback converter validates
//! in-process ([`InProcessValidator`]); the streaming daemon validates in a child
//! process ([`crate::validate_child::ChildValidator`]) because libhdf5 can crash on
//! some corrupted metadata, and a crash must cost one file, not the daemon.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use dsa110_astro::{direction_from_hadec, Eop, EopProvider, ObsTime, Site, SkyFrame};
use dsa110_hdf5_ingest::{is_incomplete_name, parse_subband_filename, validate, SubbandMeta};
use dsa110_queue::{
    GroupId, GroupState, Hdf5FileRecord, Queue, QueueError, RegisterOutcome, SubbandIdx,
};
use serde::{Deserialize, Serialize};

/// Intake settings.
#[derive(Clone, Debug)]
pub struct IntakeParams {
    /// Subbands in a complete group.
    pub expected_subbands: u8,
    /// A file must be unmodified for this long before it is read (s).
    pub settle_s: f64,
    /// Earth-orientation source (for the pointing RA in the file index), looked up at
    /// each file's own observation time.
    pub eop: Arc<EopProvider>,
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq)]
pub enum FileOutcome {
    /// Not a subband file name (or an `_incomplete` one): ignored.
    Ignored,
    /// Still being written or changed since the last look: try again later.
    NotSettled,
    /// Seen before with the same size and mtime: nothing to do.
    Unchanged,
    /// Valid and registered.
    Registered(RegisterOutcome),
    /// Invalid: recorded with the reason, and registered so its group fails naming it.
    Invalid {
        /// Why.
        reason: String,
        /// What the queue did with it.
        outcome: RegisterOutcome,
    },
    /// Looks like a subband file (`…_sbNN.hdf5`) but cannot be one (a subband outside
    /// 00–15, a malformed timestamp, a directory): recorded in `invalid_files` with the
    /// reason and reported once; it belongs to no group.
    Unusable {
        /// Why.
        reason: String,
    },
}

impl FileOutcome {
    /// Label for the `dsa110_streaming_files_total{outcome}` counter, if it counts.
    pub fn metric_outcome(&self) -> Option<&'static str> {
        match self {
            FileOutcome::Registered(RegisterOutcome::Added { .. }) => Some("registered"),
            FileOutcome::Registered(RegisterOutcome::Late { .. })
            | FileOutcome::Invalid {
                outcome: RegisterOutcome::Late { .. },
                ..
            } => Some("late"),
            FileOutcome::Registered(RegisterOutcome::DuplicateSubband { .. }) => Some("duplicate"),
            FileOutcome::Invalid { .. } | FileOutcome::Unusable { .. } => Some("rejected"),
            _ => None,
        }
    }
}

/// The verdict on one subband file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// The file is valid; what the index needs from it.
    Valid {
        /// ICRS RA (deg) of the meridian at the file's mid-time at its pointing declination.
        ra_deg: Option<f64>,
        /// Pointing declination (deg, ICRS).
        dec_deg: Option<f64>,
    },
    /// The file is invalid, and why (naming the file).
    Invalid {
        /// The reason.
        reason: String,
    },
    /// No verdict yet: reading the file failed in a way that can pass (an I/O error
    /// such as "Permission denied" or EIO, the file changing while it was read). The
    /// intake looks at it again later, a bounded number of times.
    Retry {
        /// The error, with its causes.
        reason: String,
    },
}

/// The validator could not reach a verdict (e.g. the child process could not be
/// started); the file is looked at again on the next scan.
#[derive(Debug, thiserror::Error)]
#[error("cannot validate {path}: {reason}")]
pub struct ValidatorError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// Decides whether a subband file is valid (header, frequencies, last chunk of the data).
pub trait FileValidator: Send + Sync + fmt::Debug {
    /// Validate `path`, expected to hold subband `subband`. Blocking.
    ///
    /// # Errors
    /// [`ValidatorError`] when no verdict could be reached (retrying can help).
    fn validate(&self, path: &Path, subband: u8, eop: &Eop) -> Result<Verdict, ValidatorError>;
}

/// Validates in the calling process with [`dsa110_hdf5_ingest::validate`].
#[derive(Clone, Copy, Debug, Default)]
pub struct InProcessValidator;

impl FileValidator for InProcessValidator {
    fn validate(&self, path: &Path, subband: u8, eop: &Eop) -> Result<Verdict, ValidatorError> {
        no_retry_verdict(path, validate_here(path, subband, eop))
    }
}

/// A [`Verdict::Retry`] as the [`ValidatorError`] it is (no verdict reached); other
/// verdicts unchanged. What a [`FileValidator`] returns never holds `Retry`.
pub fn no_retry_verdict(path: &Path, v: Verdict) -> Result<Verdict, ValidatorError> {
    match v {
        Verdict::Retry { reason } => Err(ValidatorError {
            path: path.to_path_buf(),
            reason,
        }),
        v => Ok(v),
    }
}

/// Validates `path` in this process and reduces the result to a [`Verdict`].
pub fn validate_here(path: &Path, subband: u8, eop: &Eop) -> Verdict {
    match validate(path, Some(subband)) {
        Ok(meta) => {
            let p = pointing_radec_deg(&meta, eop);
            Verdict::Valid {
                ra_deg: p.map(|p| p.0),
                dec_deg: p.map(|p| p.1),
            }
        }
        Err(e) if e.is_retryable() => Verdict::Retry {
            reason: crate::error::display_chain(&e),
        },
        Err(e) => Verdict::Invalid {
            reason: crate::error::display_chain(&e),
        },
    }
}

/// Remembers what each path looked like, to detect settling and changes.
#[derive(Debug)]
pub struct Intake {
    seen: HashMap<PathBuf, (u64, f64, bool)>,
    validator: Box<dyn FileValidator>,
    /// Consecutive validator failures (not verdicts) per path, and when (Unix s) the
    /// path may be tried again.
    failures: HashMap<PathBuf, (u32, f64)>,
}

/// Validator failures (no verdict reached: an I/O error reading the file, the validator
/// could not start, was killed by SIGKILL or timed out, printed no verdict, …) tolerated
/// per file before the file is recorded invalid with the last failure as the reason. An
/// invalid file is checked again when it changes.
pub const MAX_VALIDATOR_FAILURES: u32 = 5;

/// Wait before the attempt after the `n`-th failure (n ≥ 1): the settle time (at least
/// 1 s), doubled after each failure, so that 5 attempts span about 15 settle times.
fn retry_delay_s(settle_s: f64, n: u32) -> f64 {
    settle_s.max(1.0) * f64::from(1u32 << (n - 1).min(10))
}

impl Default for Intake {
    fn default() -> Self {
        Self::with_validator(Box::new(InProcessValidator))
    }
}

/// Size and mtime (Unix s) of a regular file; `None` for anything else.
fn stat(path: &Path) -> Option<(u64, f64)> {
    let m = std::fs::metadata(path).ok()?;
    m.is_file().then(|| size_mtime(&m))
}

fn size_mtime(m: &std::fs::Metadata) -> (u64, f64) {
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    (m.len(), mtime)
}

impl Intake {
    /// A fresh intake validating in-process.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh intake with the given validator.
    pub fn with_validator(validator: Box<dyn FileValidator>) -> Self {
        Self {
            seen: HashMap::new(),
            validator,
            failures: HashMap::new(),
        }
    }

    /// Paths seen and not yet registered or rejected (still settling).
    pub fn n_unsettled(&self) -> usize {
        self.seen.values().filter(|(_, _, done)| !done).count()
    }

    /// Look at one path (see the module docs). Blocking.
    pub fn consider(
        &mut self,
        queue: &Queue,
        path: &Path,
        params: &IntakeParams,
        now_unix_s: f64,
    ) -> Result<FileOutcome, QueueError> {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return Ok(FileOutcome::Ignored);
        };
        if is_incomplete_name(&name) {
            return Ok(FileOutcome::Ignored);
        }
        let parsed = match parse_subband_filename(&name) {
            Ok(p) => p,
            Err(e) if looks_like_subband_file(&name) => {
                return self.unusable(queue, path, &e.to_string(), now_unix_s);
            }
            Err(_) => return Ok(FileOutcome::Ignored),
        };
        if path.is_dir() {
            let reason = format!("{} is a directory, not a subband file", path.display());
            return self.unusable(queue, path, &reason, now_unix_s);
        }
        let Some((size, mtime)) = stat(path) else {
            return Ok(FileOutcome::NotSettled);
        };
        match self.seen.get(path) {
            Some(&(s, m, done)) if s == size && m == mtime => {
                if done {
                    return Ok(FileOutcome::Unchanged);
                }
            }
            // first look, or it changed since: remember what it looks like now
            _ => {
                self.seen.insert(path.to_path_buf(), (size, mtime, false));
            }
        }
        // no write for `settle_s`: the size is stable
        if now_unix_s - mtime < params.settle_s {
            return Ok(FileOutcome::NotSettled);
        }
        if queue.invalid_file_unchanged(path, size, mtime)? {
            self.seen.insert(path.to_path_buf(), (size, mtime, true));
            return Ok(FileOutcome::Unchanged);
        }
        if matches!(self.failures.get(path), Some(&(_, next)) if now_unix_s < next) {
            return Ok(FileOutcome::NotSettled);
        }
        let subband = SubbandIdx::new(parsed.subband)?;
        let eop = params
            .eop
            .eop_for(crate::process::unix_s_to_jd(parsed.obs_unix_s))
            .0;
        let validation = match self
            .validator
            .validate(path, parsed.subband, &eop)
            .and_then(|v| no_retry_verdict(path, v))
        {
            Ok(v) => {
                self.failures.remove(path);
                v
            }
            Err(e) => {
                let (n, next) = self.failures.entry(path.to_path_buf()).or_insert((0, 0.0));
                *n += 1;
                if *n < MAX_VALIDATOR_FAILURES {
                    let delay = retry_delay_s(params.settle_s, *n);
                    *next = now_unix_s + delay;
                    tracing::warn!(path = %path.display(), attempt = *n,
                        "{e}; will try again in {delay:.0} s ({} attempts at most)",
                        MAX_VALIDATOR_FAILURES);
                    return Ok(FileOutcome::NotSettled);
                }
                let attempts = *n;
                self.failures.remove(path);
                tracing::error!(path = %path.display(), attempts,
                    "{e}; giving up: the file is recorded invalid until it changes");
                Verdict::Invalid {
                    reason: format!("no verdict after {attempts} validation attempts: {e}"),
                }
            }
        };
        let outcome = queue.register_file(
            path,
            subband,
            parsed.obs_unix_s,
            params.expected_subbands,
            now_unix_s,
        )?;
        let group_id = match &outcome {
            RegisterOutcome::Added { group_id, .. }
            | RegisterOutcome::AlreadyRegistered { group_id, .. }
            | RegisterOutcome::DuplicateSubband { group_id, .. }
            | RegisterOutcome::Late { group_id, .. } => group_id.clone(),
        };
        let pointing = match &validation {
            Verdict::Valid {
                ra_deg: Some(ra),
                dec_deg: Some(dec),
            } => Some((*ra, *dec)),
            _ => None,
        };
        queue.record_hdf5_file(&index_record(
            path,
            &name,
            &parsed.timestamp_iso,
            parsed.obs_unix_s,
            subband,
            &group_id,
            size,
            mtime,
            pointing,
            now_unix_s,
        ))?;
        self.seen.insert(path.to_path_buf(), (size, mtime, true));
        match validation {
            Verdict::Valid { .. } => {
                if queue.clear_invalid_file(path)? {
                    // it was invalid before: a group that failed because of it gets another chance
                    if let Some(g) = queue.group(&group_id)? {
                        if g.state == GroupState::Failed {
                            queue.enqueue_group_for_conversion(&group_id, now_unix_s)?;
                            tracing::info!(group_id = %group_id, path = %path.display(),
                                "file is valid now; group queued again");
                        }
                    }
                }
                Ok(FileOutcome::Registered(outcome))
            }
            // (no `Retry` here: `no_retry_verdict` made it an error above)
            Verdict::Invalid { reason } | Verdict::Retry { reason } => {
                queue.record_invalid_file(path, size, mtime, &reason, now_unix_s)?;
                tracing::warn!(group_id = %group_id, path = %path.display(), %reason, "invalid subband file");
                Ok(FileOutcome::Invalid { reason, outcome })
            }
        }
    }

    /// Records a path that looks like a subband file but cannot be one, once per
    /// (size, mtime) of the path.
    fn unusable(
        &mut self,
        queue: &Queue,
        path: &Path,
        reason: &str,
        now_unix_s: f64,
    ) -> Result<FileOutcome, QueueError> {
        let (size, mtime) = std::fs::metadata(path)
            .map(|m| size_mtime(&m))
            .unwrap_or((0, 0.0));
        if matches!(self.seen.get(path), Some(&(s, m, true)) if s == size && m == mtime) {
            return Ok(FileOutcome::Unchanged);
        }
        self.seen.insert(path.to_path_buf(), (size, mtime, true));
        if queue.invalid_file_unchanged(path, size, mtime)? {
            return Ok(FileOutcome::Unchanged);
        }
        queue.record_invalid_file(path, size, mtime, reason, now_unix_s)?;
        tracing::warn!(path = %path.display(), %reason,
            "named like a subband file but unusable; recorded in invalid_files");
        Ok(FileOutcome::Unusable {
            reason: reason.to_owned(),
        })
    }

    /// Forget paths that no longer exist (keeps the map bounded over months).
    pub fn prune(&mut self) {
        self.seen.retain(|p, _| p.exists());
        self.failures.retain(|p, _| p.exists());
    }
}

#[allow(clippy::too_many_arguments)]
fn index_record(
    path: &Path,
    name: &str,
    timestamp_iso: &str,
    obs_unix_s: f64,
    subband: SubbandIdx,
    group_id: &GroupId,
    size: u64,
    mtime: f64,
    pointing: Option<(f64, f64)>,
    now_unix_s: f64,
) -> Hdf5FileRecord {
    let (obs_date, obs_time) = match timestamp_iso.split_once('T') {
        Some((d, t)) => (Some(d.to_string()), Some(t.to_string())),
        None => (None, None),
    };
    Hdf5FileRecord {
        path: path.to_path_buf(),
        filename: name.to_string(),
        group_id: Some(group_id.clone()),
        subband: Some(subband),
        timestamp_iso: Some(timestamp_iso.to_string()),
        timestamp_mjd: ObsTime::from_unix_s(obs_unix_s).ok().map(|t| t.mjd_utc()),
        file_size_bytes: Some(size),
        modified_time: Some(mtime),
        indexed_at: now_unix_s,
        stored: true,
        ra_deg: pointing.map(|p| p.0),
        dec_deg: pointing.map(|p| p.1),
        obs_date,
        obs_time,
    }
}

/// ICRS (RA, Dec) in degrees of the meridian at the file's mid-time at its
/// pointing declination.
pub fn pointing_radec_deg(meta: &SubbandMeta, eop: &Eop) -> Option<(f64, f64)> {
    let dec = meta.pointing_dec_rad?;
    let first = *meta.times_jd_utc.first()?;
    let last = *meta.times_jd_utc.last()?;
    let t = ObsTime::from_jd_utc(0.5 * (first + last)).ok()?;
    let site = Site::from_deg(
        meta.telescope.latitude_deg,
        meta.telescope.longitude_deg,
        meta.telescope.altitude_m,
    );
    let frame = SkyFrame::new(&t, &site, eop).ok()?;
    let (ra, dec) = frame.local_to_icrs(direction_from_hadec(0.0, dec));
    Some((ra.to_degrees(), dec.to_degrees()))
}

/// Paths of the regular files directly in `dir`, sorted by name.
pub fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hdf5"))
        .collect();
    out.sort();
    Ok(out)
}

/// The subband index of a final subband file name (`…_sbNN.hdf5`), if it is one.
pub fn subband_of_name(name: &str) -> Option<u8> {
    parse_subband_filename(name).ok().map(|p| p.subband)
}

/// Whether a name that does not parse still claims to be a subband file (ends in
/// `.hdf5` and has an `_sb` part), so that it is reported rather than silently ignored.
fn looks_like_subband_file(name: &str) -> bool {
    name.ends_with(".hdf5") && name.contains("_sb")
}
