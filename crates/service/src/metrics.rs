//! The metric catalogue: every Prometheus metric the pipeline exports, in one place.
//!
//! All metrics go through the process-wide `metrics` recorder installed by
//! [`install_recorder`]; the monitoring server renders that one registry on `GET /metrics`.
//! Nothing else in the workspace should call `metrics::counter!`/`gauge!`/`histogram!`
//! directly: use the typed helpers below, whose label values come from small enums, so
//! label cardinality stays bounded (never a group id or a path as a label).
//!
//! Names follow `dsa110_<noun>_<unit>[_total]` and are rendered exactly as written here:
//! the recorder is built with the exporter's default naming (no unit or `_total` suffix
//! appended), and every name is already a valid Prometheus name, so nothing is sanitised.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `dsa110_streaming_queue` | gauge | `state` ∈ collecting, pending, in_progress, completed, failed |
//! | `dsa110_streaming_disk_free_gb` | gauge | `path` ∈ output, scratch |
//! | `dsa110_streaming_groups_total` | counter | `outcome` ∈ completed, failed, retried |
//! | `dsa110_streaming_group_duration_seconds` | histogram | — |
//! | `dsa110_streaming_stage_duration_seconds` | histogram | `stage` ∈ load, phase, write, conversion, flagging, calibration_solve, calibration_apply, imaging, photometry, mosaic |
//! | `dsa110_streaming_files_total` | counter | `outcome` ∈ registered, rejected, late, duplicate |
//! | `dsa110_streaming_last_success_timestamp_seconds` | gauge | — |
//! | `dsa110_streaming_up` | gauge | `component` ∈ watcher, worker, database |
//! | `dsa110_streaming_paused` | gauge | `reason` ∈ disk |
//! | `dsa110_streaming_oldest_pending_age_seconds` | gauge | — |
//! | `dsa110_streaming_realtime_factor` | gauge | — |
//! | `dsa110_streaming_build_info` | gauge | `version` (this build's version, one value) |

use std::fmt;
use std::str::FromStr;
#[cfg(feature = "server")]
use std::sync::{Mutex, PoisonError};

#[cfg(feature = "server")]
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

#[cfg(feature = "server")]
use crate::error::MonitoringError;

/// Groups currently in the queue, per state (`state` label). Every state is always
/// exported, zeros included.
pub const QUEUE: &str = "dsa110_streaming_queue";
/// Free space (1 GB = 10⁹ bytes, available to the daemon's user) of the output and
/// scratch directories (`path` label: `output` | `scratch`).
pub const DISK_FREE_GB: &str = "dsa110_streaming_disk_free_gb";
/// Groups that left processing, by `outcome` (completed | failed | retried).
pub const GROUPS_TOTAL: &str = "dsa110_streaming_groups_total";
/// Wall-clock time to process one group successfully, seconds (histogram).
pub const GROUP_DURATION_SECONDS: &str = "dsa110_streaming_group_duration_seconds";
/// Wall-clock time of one pipeline stage for one group, seconds (histogram, `stage` label).
pub const STAGE_DURATION_SECONDS: &str = "dsa110_streaming_stage_duration_seconds";
/// Subband files seen by the watcher, by `outcome` (registered | rejected | late | duplicate).
pub const FILES_TOTAL: &str = "dsa110_streaming_files_total";
/// Unix time (s) at which the last group completed successfully.
pub const LAST_SUCCESS_TIMESTAMP_SECONDS: &str = "dsa110_streaming_last_success_timestamp_seconds";
/// Liveness of a component (`component` label): 1 running and heartbeat fresh, else 0.
pub const UP: &str = "dsa110_streaming_up";
/// 1 while processing is paused for the given `reason` (`disk`), else 0.
pub const PAUSED: &str = "dsa110_streaming_paused";
/// Age (s) of the oldest `pending` group; 0 when nothing is pending.
pub const OLDEST_PENDING_AGE_SECONDS: &str = "dsa110_streaming_oldest_pending_age_seconds";
/// Last completed group's processing time divided by the group cadence (309 s):
/// above 1 the pipeline is slower than real time.
pub const REALTIME_FACTOR: &str = "dsa110_streaming_realtime_factor";
/// Always 1; the `version` label carries the build's version.
pub const BUILD_INFO: &str = "dsa110_streaming_build_info";
/// Flagged fraction of the last group flagged (all samples, after the RFI flagger).
pub const MS_FLAGGED_FRACTION: &str = "dsa110_ms_flagged_fraction";
/// Median SNR of the gain solutions of each calibration solve.
pub const CALIBRATION_SNR: &str = "dsa110_calibration_snr";
/// Calibration solves by outcome (`active`: passed QA; `failed`: error or QA failure).
pub const CALIBRATION_SOLVES_TOTAL: &str = "dsa110_calibration_solves_total";
/// Reference time (Unix s) of the newest calibration set that passed QA.
pub const CALIBRATION_NEWEST_VALID_SET_TIMESTAMP_SECONDS: &str =
    "dsa110_calibration_newest_valid_set_timestamp_seconds";
/// Groups by calibration outcome (`applied`, `uncalibrated`).
pub const CALIBRATION_GROUPS_TOTAL: &str = "dsa110_calibration_groups_total";
/// Robust rms (1.4826 × MAD) of each group's residual image, Jy/beam.
pub const IMAGE_NOISE_JY: &str = "dsa110_image_noise_jy";
/// Peak over robust rms of each group's restored image.
pub const IMAGE_DYNAMIC_RANGE: &str = "dsa110_image_dynamic_range";
/// Forced-photometry rows written.
pub const PHOTOMETRY_ROWS_TOTAL: &str = "dsa110_photometry_rows_total";
/// Sources currently flagged as variability candidates (ESE, flare, variable).
pub const VARIABLE_CANDIDATES: &str = "dsa110_variable_candidates";
/// Mosaics written, by outcome.
pub const MOSAICS_TOTAL: &str = "dsa110_mosaics_total";

/// Seconds between two observation groups from the correlator: the real-time budget.
pub const GROUP_CADENCE_S: f64 = 309.0;

/// Histogram bucket upper bounds (s) for the `_seconds` histograms: 0.5 s … 1000 s, with
/// a bound at the 309 s real-time budget.
pub const DURATION_BUCKETS_S: &[f64] = &[
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 180.0, 240.0, 309.0, 450.0, 600.0,
    1000.0,
];

/// Buckets of [`CALIBRATION_SNR`] (QA fails below a median G SNR of 10).
pub const SNR_BUCKETS: &[f64] = &[3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Buckets of [`IMAGE_NOISE_JY`], Jy/beam (a full DSA-110 group reaches ≈ 1 mJy/beam).
pub const NOISE_BUCKETS_JY: &[f64] = &[
    1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 1.0,
];

/// Buckets of [`IMAGE_DYNAMIC_RANGE`].
pub const DYNAMIC_RANGE_BUCKETS: &[f64] = &[
    5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
];

/// The Prometheus type of a catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic counter (name ends in `_total`).
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram with [`DURATION_BUCKETS_S`] buckets.
    Histogram,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct MetricSpec {
    /// Histogram bucket upper bounds (empty for counters and gauges).
    pub buckets: &'static [f64],
    /// Exact rendered name.
    pub name: &'static str,
    /// Prometheus type.
    pub kind: MetricKind,
    /// `# HELP` text.
    pub help: &'static str,
    /// The single label this metric carries, with every value it can take.
    pub label: Option<(&'static str, &'static [&'static str])>,
}

/// Every metric the pipeline exports.
pub const CATALOGUE: &[MetricSpec] = &[
    MetricSpec {
        buckets: &[],
        name: QUEUE,
        kind: MetricKind::Gauge,
        help: "Observation groups in the processing queue, per state.",
        label: Some(("state", QueueState::NAMES)),
    },
    MetricSpec {
        buckets: &[],
        name: DISK_FREE_GB,
        kind: MetricKind::Gauge,
        help: "Free disk space available to the pipeline, in GB (1e9 bytes).",
        label: Some(("path", DiskLabel::NAMES)),
    },
    MetricSpec {
        buckets: &[],
        name: GROUPS_TOTAL,
        kind: MetricKind::Counter,
        help: "Observation groups that left processing, by outcome.",
        label: Some(("outcome", GroupOutcome::NAMES)),
    },
    MetricSpec {
        buckets: DURATION_BUCKETS_S,
        name: GROUP_DURATION_SECONDS,
        kind: MetricKind::Histogram,
        help: "Wall-clock time to process one observation group successfully, in seconds.",
        label: None,
    },
    MetricSpec {
        buckets: DURATION_BUCKETS_S,
        name: STAGE_DURATION_SECONDS,
        kind: MetricKind::Histogram,
        help: "Wall-clock time of one pipeline stage for one group, in seconds.",
        label: Some(("stage", Stage::NAMES)),
    },
    MetricSpec {
        buckets: &[],
        name: FILES_TOTAL,
        kind: MetricKind::Counter,
        help: "Subband files seen by the watcher, by outcome.",
        label: Some(("outcome", FileOutcome::NAMES)),
    },
    MetricSpec {
        buckets: &[],
        name: LAST_SUCCESS_TIMESTAMP_SECONDS,
        kind: MetricKind::Gauge,
        help: "Unix time at which the last observation group completed successfully.",
        label: None,
    },
    MetricSpec {
        buckets: &[],
        name: UP,
        kind: MetricKind::Gauge,
        help: "1 when the component is running and its heartbeat is fresh, else 0.",
        label: Some(("component", Component::NAMES)),
    },
    MetricSpec {
        buckets: &[],
        name: PAUSED,
        kind: MetricKind::Gauge,
        help: "1 while processing is paused for the given reason, else 0.",
        label: Some(("reason", PauseReason::NAMES)),
    },
    MetricSpec {
        buckets: &[],
        name: OLDEST_PENDING_AGE_SECONDS,
        kind: MetricKind::Gauge,
        help: "Age of the oldest pending observation group in seconds (0 when none is pending).",
        label: None,
    },
    MetricSpec {
        buckets: &[],
        name: REALTIME_FACTOR,
        kind: MetricKind::Gauge,
        help: "Processing time of the last completed group divided by the 309 s group cadence.",
        label: None,
    },
    MetricSpec {
        buckets: &[],
        name: BUILD_INFO,
        kind: MetricKind::Gauge,
        help: "Always 1; the version label carries the build version.",
        label: Some(("version", &[VERSION])),
    },
    MetricSpec {
        buckets: &[],
        name: MS_FLAGGED_FRACTION,
        kind: MetricKind::Gauge,
        help: "Flagged fraction of the last group's visibilities after RFI flagging.",
        label: None,
    },
    MetricSpec {
        buckets: SNR_BUCKETS,
        name: CALIBRATION_SNR,
        kind: MetricKind::Histogram,
        help: "Median SNR of the gain solutions of each calibration solve.",
        label: None,
    },
    MetricSpec {
        buckets: &[],
        name: CALIBRATION_SOLVES_TOTAL,
        kind: MetricKind::Counter,
        help: "Calibration solves, by outcome (active: passed QA; failed: error or QA failure).",
        label: Some(("outcome", SolveOutcome::NAMES)),
    },
    MetricSpec {
        buckets: &[],
        name: CALIBRATION_NEWEST_VALID_SET_TIMESTAMP_SECONDS,
        kind: MetricKind::Gauge,
        help: "Reference time (calibrator transit, Unix s) of the newest calibration set that passed QA.",
        label: None,
    },
    MetricSpec {
        buckets: &[],
        name: CALIBRATION_GROUPS_TOTAL,
        kind: MetricKind::Counter,
        help: "Groups by calibration outcome (applied: CORRECTED_DATA from a valid set; uncalibrated: none within the validity window).",
        label: Some(("outcome", CalOutcome::NAMES)),
    },
    MetricSpec {
        buckets: NOISE_BUCKETS_JY,
        name: IMAGE_NOISE_JY,
        kind: MetricKind::Histogram,
        help: "Robust rms (1.4826 x MAD) of each group's residual image, Jy/beam.",
        label: None,
    },
    MetricSpec {
        buckets: DYNAMIC_RANGE_BUCKETS,
        name: IMAGE_DYNAMIC_RANGE,
        kind: MetricKind::Histogram,
        help: "Peak over robust rms of each group's restored image.",
        label: None,
    },
    MetricSpec {
        buckets: &[],
        name: PHOTOMETRY_ROWS_TOTAL,
        kind: MetricKind::Counter,
        help: "Forced-photometry measurements written to the photometry table.",
        label: None,
    },
    MetricSpec {
        buckets: &[],
        name: VARIABLE_CANDIDATES,
        kind: MetricKind::Gauge,
        help: "Sources flagged as variability candidates (ESE, flare or variable) after the last update.",
        label: None,
    },
    MetricSpec {
        buckets: &[],
        name: MOSAICS_TOTAL,
        kind: MetricKind::Counter,
        help: "Mosaics built, by outcome.",
        label: Some(("outcome", MosaicOutcome::NAMES)),
    },
];

/// This build's version (the `version` label of [`BUILD_INFO`]).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Defines a label enum with `as_str`, `ALL`, `NAMES`, `Display` and `FromStr`.
macro_rules! label_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in catalogue order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every label value, in catalogue order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownLabel;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownLabel { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }
    };
}

/// A string that is not one of a label enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value {value:?}")]
pub struct UnknownLabel {
    /// The enum that was parsed.
    pub kind: &'static str,
    /// The rejected text.
    pub value: String,
}

label_enum! {
    /// A queue state (`processing_queue.state`), the `state` label of [`QUEUE`].
    QueueState {
        /// Waiting for the rest of its subbands.
        Collecting => "collecting",
        /// Complete, waiting for a worker.
        Pending => "pending",
        /// Being processed.
        InProgress => "in_progress",
        /// Done.
        Completed => "completed",
        /// Gave up, with a reason in `error`.
        Failed => "failed",
    }
}

label_enum! {
    /// How a group left processing, the `outcome` label of [`GROUPS_TOTAL`].
    GroupOutcome {
        /// Processed successfully.
        Completed => "completed",
        /// Ended `failed`, by any path: a stage failed for good (not retryable, or the
        /// retry limit reached), a `collecting` group timed out with too few subbands, or
        /// recovery of a dead worker's group reached the retry limit. The counter's
        /// increase equals the queue's new `failed` rows.
        Failed => "failed",
        /// An attempt failed (or its worker died) and the group was put back for
        /// another try.
        Retried => "retried",
    }
}

label_enum! {
    /// A timed pipeline stage, the `stage` label of [`STAGE_DURATION_SECONDS`].
    Stage {
        /// Reading the subband files.
        Load => "load",
        /// Phasing / UVW computation.
        Phase => "phase",
        /// Writing the Measurement Set.
        Write => "write",
        /// The whole conversion (load + phase + write).
        Conversion => "conversion",
        /// RFI flagging of the Measurement Set.
        Flagging => "flagging",
        /// Solving a calibration set on a calibrator transit.
        CalibrationSolve => "calibration_solve",
        /// Applying the nearest valid calibration set (CORRECTED_DATA).
        CalibrationApply => "calibration_apply",
        /// Imaging and deconvolution.
        Imaging => "imaging",
        /// Forced photometry and variability statistics.
        Photometry => "photometry",
        /// Building a mosaic.
        Mosaic => "mosaic",
    }
}

label_enum! {
    /// Outcome of a calibration solve, the `outcome` label of [`CALIBRATION_SOLVES_TOTAL`].
    SolveOutcome {
        /// Passed QA; the set is active.
        Active => "active",
        /// Failed (an error, or QA).
        Failed => "failed",
    }
}

label_enum! {
    /// Calibration of a group, the `outcome` label of [`CALIBRATION_GROUPS_TOTAL`].
    CalOutcome {
        /// A valid set was applied.
        Applied => "applied",
        /// No valid set (or it could not be applied): the group went on uncalibrated.
        Uncalibrated => "uncalibrated",
    }
}

label_enum! {
    /// Outcome of a mosaic, the `outcome` label of [`MOSAICS_TOTAL`].
    MosaicOutcome {
        /// Written.
        Completed => "completed",
        /// Failed.
        Failed => "failed",
    }
}

label_enum! {
    /// What the watcher did with a file, the `outcome` label of [`FILES_TOTAL`].
    FileOutcome {
        /// Registered in a group.
        Registered => "registered",
        /// Failed name or content validation.
        Rejected => "rejected",
        /// Arrived for a group that was already processed (recorded, not reprocessed).
        Late => "late",
        /// Already registered (same path, or same subband of the same group).
        Duplicate => "duplicate",
    }
}

label_enum! {
    /// A monitored component, the `component` label of [`UP`].
    Component {
        /// The directory watcher.
        Watcher => "watcher",
        /// The group worker.
        Worker => "worker",
        /// The queue database (1 when the last status read succeeded).
        Database => "database",
    }
}

label_enum! {
    /// Why processing is paused, the `reason` label of [`PAUSED`].
    PauseReason {
        /// Output free space below the pause threshold.
        Disk => "disk",
    }
}

label_enum! {
    /// Which directory a disk measurement is for, the `path` label of [`DISK_FREE_GB`].
    DiskLabel {
        /// The Measurement Set output directory.
        Output => "output",
        /// The scratch (temporary products) directory.
        Scratch => "scratch",
    }
}

/// Registers `# HELP` text for every catalogue metric with the installed recorder.
pub fn describe_metrics() {
    for spec in CATALOGUE {
        match spec.kind {
            MetricKind::Counter => ::metrics::describe_counter!(spec.name, spec.help),
            MetricKind::Gauge => ::metrics::describe_gauge!(spec.name, spec.help),
            MetricKind::Histogram if spec.name.ends_with("_seconds") => {
                ::metrics::describe_histogram!(spec.name, ::metrics::Unit::Seconds, spec.help);
            }
            MetricKind::Histogram => ::metrics::describe_histogram!(spec.name, spec.help),
        }
    }
}

/// Creates every bounded series so that a scrape shows them from the start: queue gauges
/// and counters at 0, empty histograms, liveness 0, not paused, `build_info` 1.
///
/// Disk gauges, the last-success timestamp and the real-time factor are left absent until
/// first measured (a 0 there would look like a full disk or a success in 1970).
pub fn init_series() {
    for &state in QueueState::ALL {
        set_queue_depth(state, 0);
    }
    for &outcome in GroupOutcome::ALL {
        ::metrics::counter!(GROUPS_TOTAL, "outcome" => outcome.as_str()).increment(0);
    }
    for &outcome in FileOutcome::ALL {
        ::metrics::counter!(FILES_TOTAL, "outcome" => outcome.as_str()).increment(0);
    }
    // Registering a histogram handle is enough for it to be rendered (with zero counts).
    let _ = ::metrics::histogram!(GROUP_DURATION_SECONDS);
    for &stage in Stage::ALL {
        let _ = ::metrics::histogram!(STAGE_DURATION_SECONDS, "stage" => stage.as_str());
    }
    for &component in Component::ALL {
        set_liveness(component, false);
    }
    for &reason in PauseReason::ALL {
        set_paused(reason, false);
    }
    set_oldest_pending_age(0.0);
    ::metrics::gauge!(BUILD_INFO, "version" => VERSION).set(1.0);
    for &o in SolveOutcome::ALL {
        ::metrics::counter!(CALIBRATION_SOLVES_TOTAL, "outcome" => o.as_str()).increment(0);
    }
    for &o in CalOutcome::ALL {
        ::metrics::counter!(CALIBRATION_GROUPS_TOTAL, "outcome" => o.as_str()).increment(0);
    }
    for &o in MosaicOutcome::ALL {
        ::metrics::counter!(MOSAICS_TOTAL, "outcome" => o.as_str()).increment(0);
    }
    ::metrics::counter!(PHOTOMETRY_ROWS_TOTAL).increment(0);
    let _ = ::metrics::histogram!(CALIBRATION_SNR);
    let _ = ::metrics::histogram!(IMAGE_NOISE_JY);
    let _ = ::metrics::histogram!(IMAGE_DYNAMIC_RANGE);
}

/// Sets the flagged fraction of the last group flagged.
pub fn set_ms_flagged_fraction(fraction: f64) {
    ::metrics::gauge!(MS_FLAGGED_FRACTION).set(fraction);
}

/// Records one calibration solve: its outcome, the median gain SNR when there is one, and
/// for an active set its reference time (Unix s) when newer than any before.
pub fn calibration_solved(outcome: SolveOutcome, median_snr: Option<f64>, set_unix_s: Option<f64>) {
    ::metrics::counter!(CALIBRATION_SOLVES_TOTAL, "outcome" => outcome.as_str()).increment(1);
    if let Some(snr) = median_snr.filter(|s| s.is_finite()) {
        ::metrics::histogram!(CALIBRATION_SNR).record(snr);
    }
    if let Some(t) = set_unix_s {
        set_newest_valid_cal_set(t);
    }
}

/// Sets the reference time (Unix s) of the newest valid calibration set.
pub fn set_newest_valid_cal_set(unix_s: f64) {
    ::metrics::gauge!(CALIBRATION_NEWEST_VALID_SET_TIMESTAMP_SECONDS).set(unix_s);
}

/// Counts one group by its calibration outcome.
pub fn group_calibration(outcome: CalOutcome) {
    ::metrics::counter!(CALIBRATION_GROUPS_TOTAL, "outcome" => outcome.as_str()).increment(1);
}

/// Records one image's QA.
pub fn image_qa(noise_jy: f64, dynamic_range: f64) {
    if noise_jy.is_finite() {
        ::metrics::histogram!(IMAGE_NOISE_JY).record(noise_jy);
    }
    if dynamic_range.is_finite() {
        ::metrics::histogram!(IMAGE_DYNAMIC_RANGE).record(dynamic_range);
    }
}

/// Counts photometry rows written and sets the number of variability candidates.
pub fn photometry_written(rows: u64, candidates: u64) {
    ::metrics::counter!(PHOTOMETRY_ROWS_TOTAL).increment(rows);
    ::metrics::gauge!(VARIABLE_CANDIDATES).set(candidates as f64);
}

/// Counts one mosaic by outcome.
pub fn mosaic_built(outcome: MosaicOutcome) {
    ::metrics::counter!(MOSAICS_TOTAL, "outcome" => outcome.as_str()).increment(1);
}

/// Sets the number of groups in `state`.
pub fn set_queue_depth(state: QueueState, groups: u64) {
    ::metrics::gauge!(QUEUE, "state" => state.as_str()).set(groups as f64);
}

/// Records that a group left processing. For [`GroupOutcome::Completed`], `seconds` (the
/// group's processing time) also goes into [`GROUP_DURATION_SECONDS`] and sets
/// [`REALTIME_FACTOR`]; for the other outcomes `seconds` is ignored.
pub fn group_finished(outcome: GroupOutcome, seconds: f64) {
    ::metrics::counter!(GROUPS_TOTAL, "outcome" => outcome.as_str()).increment(1);
    if outcome == GroupOutcome::Completed && seconds.is_finite() && seconds >= 0.0 {
        ::metrics::histogram!(GROUP_DURATION_SECONDS).record(seconds);
        set_realtime_factor(seconds / GROUP_CADENCE_S);
    }
}

/// Records the duration of one stage for one group.
pub fn stage_duration(stage: Stage, seconds: f64) {
    ::metrics::histogram!(STAGE_DURATION_SECONDS, "stage" => stage.as_str()).record(seconds);
}

/// Counts one file seen by the watcher.
pub fn file_seen(outcome: FileOutcome) {
    ::metrics::counter!(FILES_TOTAL, "outcome" => outcome.as_str()).increment(1);
}

/// Sets the free space of a directory, in GB (10⁹ bytes).
pub fn set_disk_free_gb(path: DiskLabel, gb: f64) {
    ::metrics::gauge!(DISK_FREE_GB, "path" => path.as_str()).set(gb);
}

/// Sets the Unix time (s) of the last successful group.
pub fn set_last_success(unix_s: f64) {
    ::metrics::gauge!(LAST_SUCCESS_TIMESTAMP_SECONDS).set(unix_s);
}

/// Sets a component's liveness.
pub fn set_liveness(component: Component, up: bool) {
    ::metrics::gauge!(UP, "component" => component.as_str()).set(if up { 1.0 } else { 0.0 });
}

/// Sets whether processing is paused for `reason`.
pub fn set_paused(reason: PauseReason, paused: bool) {
    ::metrics::gauge!(PAUSED, "reason" => reason.as_str()).set(if paused { 1.0 } else { 0.0 });
}

/// Sets the age (s) of the oldest pending group (0 when none is pending).
pub fn set_oldest_pending_age(seconds: f64) {
    ::metrics::gauge!(OLDEST_PENDING_AGE_SECONDS).set(seconds);
}

/// Sets the real-time factor (processing time / [`GROUP_CADENCE_S`]).
pub fn set_realtime_factor(factor: f64) {
    ::metrics::gauge!(REALTIME_FACTOR).set(factor);
}

#[cfg(feature = "server")]
/// The Prometheus builder with the catalogue's histogram buckets and default naming (no
/// suffixes appended). No HTTP listener: the monitoring server renders the handle.
fn builder() -> Result<PrometheusBuilder, MonitoringError> {
    let mut builder = PrometheusBuilder::new();
    for spec in CATALOGUE.iter().filter(|s| s.kind == MetricKind::Histogram) {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(spec.name.to_owned()), spec.buckets)
            .map_err(|source| MonitoringError::Recorder { source })?;
    }
    Ok(builder)
}

#[cfg(feature = "server")]
/// Builds a recorder and its handle without installing it, for use with
/// `metrics::with_local_recorder` (tests, tools).
///
/// # Errors
/// [`MonitoringError::Recorder`] if the builder rejects the bucket configuration.
pub fn build_recorder() -> Result<(PrometheusRecorder, PrometheusHandle), MonitoringError> {
    let recorder = builder()?.build_recorder();
    let handle = recorder.handle();
    Ok((recorder, handle))
}

#[cfg(feature = "server")]
static INSTALLED: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

#[cfg(feature = "server")]
/// Installs the Prometheus recorder as the process-wide `metrics` recorder, describes every
/// metric and creates the bounded series ([`init_series`]); returns the handle that
/// `GET /metrics` renders.
///
/// Call it first thing in the daemon: samples recorded before it are dropped by the
/// default no-op recorder.
///
/// Idempotent: a second call returns the handle installed by the first, so tests and the
/// daemon can both call it. The caller (or [`crate::monitoring::serve`]) must run
/// [`PrometheusHandle::run_upkeep`] periodically.
///
/// # Errors
/// [`MonitoringError::Recorder`] if another (non-Prometheus) recorder was already installed.
pub fn install_recorder() -> Result<PrometheusHandle, MonitoringError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let handle = builder()?
        .install_recorder()
        .map_err(|source| MonitoringError::Recorder { source })?;
    describe_metrics();
    init_series();
    *installed = Some(handle.clone());
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_follow_the_convention() {
        for spec in CATALOGUE {
            assert!(spec.name.starts_with("dsa110_"), "{}", spec.name);
            assert!(
                spec.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                spec.name
            );
            assert_eq!(
                spec.kind == MetricKind::Counter,
                spec.name.ends_with("_total"),
                "only counters end in _total: {}",
                spec.name
            );
            if spec.kind == MetricKind::Histogram {
                assert!(!spec.buckets.is_empty(), "{} has no buckets", spec.name);
                assert!(
                    spec.buckets.windows(2).all(|w| w[0] < w[1]),
                    "{} buckets not increasing",
                    spec.name
                );
            } else {
                assert!(spec.buckets.is_empty(), "{}", spec.name);
            }
        }
    }

    #[test]
    fn label_enums_round_trip() {
        for &s in QueueState::ALL {
            assert_eq!(s.as_str().parse::<QueueState>(), Ok(s));
        }
        assert_eq!(
            "in_progress".parse::<QueueState>(),
            Ok(QueueState::InProgress)
        );
        let err = "stuck".parse::<QueueState>().unwrap_err();
        assert_eq!(err.value, "stuck");
        assert_eq!(
            QueueState::NAMES,
            [
                "collecting",
                "pending",
                "in_progress",
                "completed",
                "failed"
            ]
        );
    }

    #[cfg(feature = "server")]
    #[test]
    fn local_recorder_renders_exact_names_and_buckets() {
        let (recorder, handle) = build_recorder().unwrap();
        ::metrics::with_local_recorder(&recorder, || {
            describe_metrics();
            init_series();
            group_finished(GroupOutcome::Completed, 154.5);
            stage_duration(Stage::Write, 40.0);
            set_disk_free_gb(DiskLabel::Output, 12.5);
        });
        let text = handle.render();
        assert!(
            text.contains("dsa110_streaming_queue{state=\"pending\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("dsa110_streaming_groups_total{outcome=\"completed\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("dsa110_streaming_realtime_factor 0.5\n"),
            "{text}"
        );
        assert!(
            text.contains("dsa110_streaming_group_duration_seconds_bucket{le=\"309\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("dsa110_streaming_group_duration_seconds_bucket{le=\"120\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("dsa110_streaming_stage_duration_seconds_count{stage=\"write\"} 1\n"),
            "{text}"
        );
        // Empty histograms are rendered too.
        assert!(
            text.contains(
                "dsa110_streaming_stage_duration_seconds_count{stage=\"conversion\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("dsa110_streaming_disk_free_gb{path=\"output\"} 12.5\n"),
            "{text}"
        );
        assert!(text.contains(&format!(
            "dsa110_streaming_build_info{{version=\"{VERSION}\"}} 1\n"
        )));
        assert!(
            !text.contains("quantile="),
            "histograms, not summaries: {text}"
        );
    }
}
