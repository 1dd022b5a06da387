//! Records of the product registry: `images`, `caltables`,
//! `calibration_applied`, `photometry`, `variability_stats`, `mosaics`,
//! `mosaic_images` and `jobs`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{QueueError, Result};
use crate::types::GroupId;

/// A closed set of strings stored in a TEXT column: `as_str`, `FromStr`,
/// `Display` and serde as the same strings.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $var,)+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The string stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = QueueError;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(QueueError::InvalidInput { what: $what, value: s.to_owned() }),
                }
            }
        }
    };
}

text_enum!(
    /// Kind of an image product (`images.type`), named as WSClean names the files.
    ImageType, "image type (image|residual|model|psf|dirty|pb|image-pb|png)", {
        /// Restored image.
        Image => "image",
        /// Residual.
        Residual => "residual",
        /// Clean-component model.
        Model => "model",
        /// Point-spread function.
        Psf => "psf",
        /// Dirty image.
        Dirty => "dirty",
        /// Primary beam.
        Pb => "pb",
        /// Primary-beam-corrected image.
        ImagePb => "image-pb",
        /// PNG preview.
        Png => "png",
    }
);

text_enum!(
    /// Kind of a calibration table (`caltables.table_type`).
    CaltableType, "caltable type (B|G)", {
        /// Bandpass (`B Jones`).
        B => "B",
        /// Complex gains (`G Jones`).
        G => "G",
    }
);

text_enum!(
    /// Status of a calibration set (`caltables.status`).
    CalStatus, "calibration status (solving|active|failed|retired)", {
        /// Being solved: targets near it wait (the fence).
        Solving => "solving",
        /// Valid: may be applied.
        Active => "active",
        /// Solve or QA failed: never applied.
        Failed => "failed",
        /// Superseded: not applied any more.
        Retired => "retired",
    }
);

text_enum!(
    /// Status of a mosaic (`mosaics.status`).
    MosaicStatus, "mosaic status (planned|building|completed|failed)", {
        /// Waiting for its images.
        Planned => "planned",
        /// Being built.
        Building => "building",
        /// Written.
        Completed => "completed",
        /// Failed (reason in `error`).
        Failed => "failed",
    }
);

text_enum!(
    /// State of an on-demand job (`jobs.state`).
    JobState, "job state (queued|running|completed|failed|cancelled)", {
        /// Waiting for a daemon to take it.
        Queued => "queued",
        /// Taken by a daemon.
        Running => "running",
        /// Finished successfully.
        Completed => "completed",
        /// Finished with an error.
        Failed => "failed",
        /// Cancelled before it ran.
        Cancelled => "cancelled",
    }
);

/// One image product (`images`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Row id (ignored when writing; set by queries).
    pub id: Option<i64>,
    /// FITS/PNG path (unique key).
    pub path: PathBuf,
    /// Measurement Set imaged.
    pub ms_path: Option<PathBuf>,
    /// Group imaged.
    pub group_id: Option<GroupId>,
    /// When written (Unix s).
    pub created_at: f64,
    /// Kind of product (`type` column).
    pub image_type: ImageType,
    /// Restoring beam major axis FWHM, arcsec.
    pub beam_major_arcsec: Option<f64>,
    /// Restoring beam minor axis FWHM, arcsec.
    pub beam_minor_arcsec: Option<f64>,
    /// Restoring beam position angle, degrees.
    pub beam_pa_deg: Option<f64>,
    /// Robust noise, Jy/beam.
    pub noise_jy: Option<f64>,
    /// Peak over noise.
    pub dynamic_range: Option<f64>,
    /// Whether primary-beam corrected.
    pub pbcor: Option<bool>,
    /// Image centre RA, degrees.
    pub center_ra_deg: Option<f64>,
    /// Image centre Dec, degrees.
    pub center_dec_deg: Option<f64>,
    /// Width, pixels.
    pub imsize_x: Option<u32>,
    /// Height, pixels.
    pub imsize_y: Option<u32>,
    /// Pixel size, arcsec.
    pub cellsize_arcsec: Option<f64>,
    /// Centre frequency, GHz.
    pub freq_ghz: Option<f64>,
    /// Bandwidth, MHz.
    pub bandwidth_mhz: Option<f64>,
    /// Integration time, s.
    pub integration_sec: Option<f64>,
    /// Middle of the data, MJD.
    pub mid_mjd: Option<f64>,
}

/// Where the daemon writes the overview of the set whose B table is `bcal` (the
/// solutions for the dashboard's plots, JSON): `<stem>.solutions.json` beside it.
pub fn solution_overview_path(bcal: &std::path::Path) -> std::path::PathBuf {
    bcal.with_extension("solutions.json")
}

/// One calibration table of a set (`caltables`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaltableRecord {
    /// Row id (set by queries).
    pub id: Option<i64>,
    /// The set it belongs to.
    pub set_name: String,
    /// Table directory (unique).
    pub path: PathBuf,
    /// B or G.
    pub table_type: CaltableType,
    /// Order of application within the set.
    pub order_index: u32,
    /// Calibrator solved on.
    pub calibrator: Option<String>,
    /// Reference antenna.
    pub refant: Option<String>,
    /// Group the calibrator was observed in.
    pub group_id: Option<GroupId>,
    /// When registered (Unix s).
    pub created_at: f64,
    /// Reference time of the set (calibrator transit), MJD.
    pub mid_mjd: Option<f64>,
    /// Start of validity, MJD.
    pub valid_start_mjd: Option<f64>,
    /// End of validity, MJD.
    pub valid_end_mjd: Option<f64>,
    /// Status.
    pub status: CalStatus,
    /// Solver parameters, JSON.
    pub params_json: Option<String>,
    /// QA figures, JSON.
    pub qa_json: Option<String>,
    /// Why the solve failed.
    pub error: Option<String>,
}

/// A calibration set: the tables sharing a `set_name`, in application order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalSet {
    /// Set name.
    pub set_name: String,
    /// Status (the same for all its tables).
    pub status: CalStatus,
    /// Calibrator solved on.
    pub calibrator: Option<String>,
    /// Reference antenna.
    pub refant: Option<String>,
    /// Group the calibrator was observed in.
    pub group_id: Option<GroupId>,
    /// When registered (Unix s).
    pub created_at: f64,
    /// Reference time, MJD.
    pub mid_mjd: Option<f64>,
    /// Start of validity, MJD.
    pub valid_start_mjd: Option<f64>,
    /// End of validity, MJD.
    pub valid_end_mjd: Option<f64>,
    /// Why the solve failed.
    pub error: Option<String>,
    /// Its tables, by `order_index`.
    pub tables: Vec<CaltableRecord>,
}

/// A table a solve will write, for [`crate::Queue::begin_solve`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCaltable {
    /// Table directory.
    pub path: PathBuf,
    /// B or G.
    pub table_type: CaltableType,
    /// Order of application.
    pub order_index: u32,
}

/// A solve about to start, for [`crate::Queue::begin_solve`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveStart<'a> {
    /// Set name (unique per set).
    pub set_name: &'a str,
    /// Calibrator.
    pub calibrator: Option<&'a str>,
    /// Reference antenna, if chosen already.
    pub refant: Option<&'a str>,
    /// Calibrator group.
    pub group_id: Option<&'a GroupId>,
    /// Reference time of the set (the transit), MJD: the fence compares
    /// target times with it.
    pub mid_mjd: f64,
    /// Solver parameters, JSON.
    pub params_json: Option<&'a str>,
    /// The tables it will write (at least one).
    pub tables: &'a [PlannedCaltable],
}

/// A successful solve, for [`crate::Queue::finish_solve`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolveResult {
    /// Start of validity, MJD.
    pub valid_start_mjd: f64,
    /// End of validity, MJD.
    pub valid_end_mjd: f64,
    /// Reference antenna used (replaces the planned one if given).
    pub refant: Option<String>,
    /// QA figures, JSON.
    pub qa_json: Option<String>,
}

/// One application of calibration to a Measurement Set (`calibration_applied`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalAppliedRecord {
    /// Row id (ignored when writing).
    pub id: Option<i64>,
    /// Measurement Set.
    pub ms_path: PathBuf,
    /// Its group.
    pub group_id: Option<GroupId>,
    /// Set applied.
    pub set_name: Option<String>,
    /// Tables applied, in order (a JSON list in the table).
    pub caltable_paths: Vec<PathBuf>,
    /// When (Unix s).
    pub applied_at: f64,
    /// Whether CORRECTED_DATA was written.
    pub success: bool,
    /// Why not.
    pub error: Option<String>,
}

/// The calibration and stage columns of an `ms_index` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsStatus {
    /// NULL (not attempted), false (uncalibrated), true (calibrated).
    pub cal_applied: Option<bool>,
    /// Last stage run on it.
    pub stage: Option<String>,
    /// That stage's status.
    pub stage_status: Option<String>,
}

/// One source measured on one image (`photometry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotometryRecord {
    /// Row id (ignored when writing).
    pub id: Option<i64>,
    /// Catalogue source name.
    pub source_id: String,
    /// Image measured.
    pub image_path: PathBuf,
    /// Group of the image.
    pub group_id: Option<GroupId>,
    /// RA, degrees.
    pub ra_deg: Option<f64>,
    /// Dec, degrees.
    pub dec_deg: Option<f64>,
    /// Catalogue flux, Jy.
    pub catalog_flux_jy: Option<f64>,
    /// Peak flux, Jy/beam.
    pub peak_flux_jy: Option<f64>,
    /// Its error.
    pub peak_flux_err_jy: Option<f64>,
    /// Integrated flux, Jy.
    pub int_flux_jy: Option<f64>,
    /// Its error.
    pub int_flux_err_jy: Option<f64>,
    /// Normalised flux, Jy.
    pub norm_flux_jy: Option<f64>,
    /// Its error.
    pub norm_flux_err_jy: Option<f64>,
    /// Local noise, Jy/beam.
    pub local_rms_jy: Option<f64>,
    /// Signal to noise.
    pub snr: Option<f64>,
    /// Primary beam response there.
    pub pb: Option<f64>,
    /// Epoch, MJD.
    pub mjd: f64,
    /// Flag bits.
    pub flags: Option<i64>,
    /// When written (Unix s).
    pub created_at: Option<f64>,
}

/// A source with measurements, for listings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    /// Source name.
    pub source_id: String,
    /// Number of photometry rows.
    pub n_measurements: u64,
    /// RA, degrees (any of its rows).
    pub ra_deg: Option<f64>,
    /// Dec, degrees.
    pub dec_deg: Option<f64>,
    /// First epoch, MJD.
    pub first_mjd: f64,
    /// Last epoch, MJD.
    pub last_mjd: f64,
}

/// Variability statistics of one source (`variability_stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariabilityRecord {
    /// Source name (key).
    pub source_id: String,
    /// Epochs used.
    pub n_epochs: u32,
    /// Mean flux, Jy.
    pub mean_flux_jy: Option<f64>,
    /// Median flux, Jy.
    pub median_flux_jy: Option<f64>,
    /// η, weighted reduced χ².
    pub eta: Option<f64>,
    /// V, fractional standard deviation.
    pub v: Option<f64>,
    /// χ²ν.
    pub chi2_nu: Option<f64>,
    /// Largest deviation from the mean, σ.
    pub max_sigma_dev: Option<f64>,
    /// Modulation index.
    pub m: Option<f64>,
    /// Largest two-epoch Vs.
    pub vs_max: Option<f64>,
    /// Two-epoch m at that pair.
    pub m_vs: Option<f64>,
    /// Whether flagged as a variable/ESE candidate.
    pub is_candidate: bool,
    /// Why.
    pub candidate_reason: Option<String>,
    /// When computed (Unix s).
    pub updated_at: f64,
}

/// One mosaic (`mosaics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MosaicRecord {
    /// Row id (ignored when writing).
    pub id: Option<i64>,
    /// Name (unique key).
    pub name: String,
    /// FITS path once written.
    pub path: Option<PathBuf>,
    /// Declination strip, degrees.
    pub dec_strip_deg: Option<f64>,
    /// First image, MJD.
    pub start_mjd: Option<f64>,
    /// Last image, MJD.
    pub end_mjd: Option<f64>,
    /// Images combined.
    pub n_images: Option<u32>,
    /// Noise, Jy/beam.
    pub noise_jy: Option<f64>,
    /// Status.
    pub status: MosaicStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// When planned (Unix s).
    pub created_at: Option<f64>,
}

/// One on-demand job (`jobs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Id.
    pub id: i64,
    /// Kind (`convert`, …).
    pub kind: String,
    /// State.
    pub state: JobState,
    /// Groups concerned (a JSON list in the table).
    pub group_ids: Vec<GroupId>,
    /// Parameters, JSON.
    pub params_json: Option<String>,
    /// Result, JSON.
    pub result_json: Option<String>,
    /// Error.
    pub error: Option<String>,
    /// When requested (Unix s).
    pub created_at: f64,
    /// When taken (Unix s).
    pub started_at: Option<f64>,
    /// When finished or cancelled (Unix s).
    pub finished_at: Option<f64>,
    /// Who asked (token name).
    pub requested_by: Option<String>,
    /// The process running it (`host:pid:jobs`), while `running`.
    pub owner: Option<String>,
    /// Its owner's last heartbeat (Unix s), while `running`.
    pub heartbeat_at: Option<f64>,
}

/// A `running` job taken back by [`crate::Queue::recover_jobs`].
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredJob {
    /// Job id.
    pub id: i64,
    /// Kind.
    pub kind: String,
    /// The owner that stopped (`None`: claimed before owners were recorded).
    pub owner: Option<String>,
    /// Why, in words (also stored in the job's `error` until it runs again).
    pub reason: String,
}

/// A job to create, for [`crate::Queue::create_job`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewJob<'a> {
    /// Kind (`convert`, …).
    pub kind: &'a str,
    /// Groups concerned.
    pub group_ids: &'a [GroupId],
    /// Parameters, JSON.
    pub params_json: Option<&'a str>,
    /// Who asked.
    pub requested_by: Option<&'a str>,
}

/// How a job ended, for [`crate::Queue::finish_job`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobOutcome<'a> {
    /// `completed` if true, else `failed`.
    pub success: bool,
    /// Result, JSON.
    pub result_json: Option<&'a str>,
    /// Error text.
    pub error: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_enums_roundtrip() {
        fn check<T>(all: &[T])
        where
            T: Copy + fmt::Display + FromStr<Err = QueueError> + PartialEq + fmt::Debug + Serialize,
        {
            for &v in all {
                let s = v.to_string();
                assert_eq!(s.parse::<T>().unwrap(), v);
                assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{s}\""));
            }
        }
        check(ImageType::ALL);
        check(CaltableType::ALL);
        check(CalStatus::ALL);
        check(MosaicStatus::ALL);
        check(JobState::ALL);
        assert_eq!(ImageType::ImagePb.as_str(), "image-pb");
        assert!("K".parse::<CaltableType>().is_err());
        assert!("done".parse::<JobState>().is_err());
    }
}
