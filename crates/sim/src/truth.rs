//! The truth file written beside a group: `<out_dir>/<group_id>_truth.json`, with the
//! gains in `<out_dir>/<group_id>_gains.npy` (see [`crate::gains`] for its layout).
//! Neither name matches `*_sbNN.hdf5`, so a watcher of the directory ignores them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{SourceSpec, NSUBBANDS, SEFD_JY};
use crate::model::{FileEntry, Plan, RfiPlan};
use crate::SimError;

/// Version tag of the truth format.
pub const TRUTH_FORMAT: &str = "dsa110-sim-truth/1";

/// Path of the truth JSON of group `group_id` in `out_dir`.
pub fn truth_path(out_dir: &Path, group_id: &str) -> PathBuf {
    out_dir.join(format!("{group_id}_truth.json"))
}

/// Path of the gains `.npy` of group `group_id` in `out_dir`.
pub fn gains_path(out_dir: &Path, group_id: &str) -> PathBuf {
    out_dir.join(format!("{group_id}_gains.npy"))
}

/// The configuration as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthConfig {
    /// Pointing declination (deg).
    pub dec_deg: f64,
    /// Active antennas.
    pub nants: usize,
    /// Integrations per file.
    pub ntimes: usize,
    /// Channels per subband.
    pub nchan_per_sb: usize,
    /// Subbands written.
    pub subbands: Vec<u8>,
    /// Seed.
    pub seed: u64,
    /// Noise scale (`None` = no noise).
    pub noise_scale: Option<f64>,
    /// Unit gains?
    pub unit_gains: bool,
    /// Hours of slow gain drift applied (0 = none).
    #[serde(default)]
    pub gain_drift_hours: f64,
    /// RFI injected?
    pub rfi: bool,
    /// Rows with nsamples = 0.
    pub zero_nsamples_rows: usize,
    /// Timestamp jitter bound (s).
    pub jitter_s: f64,
    /// Station table used.
    pub stations_csv: PathBuf,
    /// UT1 − UTC (s).
    pub dut1_s: f64,
    /// Integration time (s).
    pub int_time_s: f64,
}

/// Telescope location.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthSite {
    /// Latitude (deg).
    pub lat_deg: f64,
    /// Longitude (deg, east).
    pub lon_deg: f64,
    /// Altitude (m).
    pub alt_m: f64,
    /// ITRF (m).
    pub itrf_m: [f64; 3],
}

/// Noise parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthNoise {
    /// Effective SEFD (Jy) = noise_scale × 11,600.
    pub sefd_jy: f64,
    /// σ per real and imaginary part of a cross-correlation (Jy).
    pub sigma_cross_jy: f64,
    /// σ of an autocorrelation's real part (Jy).
    pub sigma_auto_jy: f64,
}

/// Everything needed to check a simulated group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// [`TRUTH_FORMAT`].
    pub format: String,
    /// Group id (nominal start, `YYYY-MM-DDTHH:MM:SS`).
    pub group_id: String,
    /// Nominal start (UTC JD).
    pub start_jd_utc: f64,
    /// The configuration.
    pub config: TruthConfig,
    /// Telescope location.
    pub site: TruthSite,
    /// Pointing declination (rad), as `extra_keywords/phase_center_dec`.
    pub pointing_dec_rad: f64,
    /// Files (subband, name, timestamp, jitter), in the order of `config.subbands`.
    pub files: Vec<FileEntry>,
    /// Active antenna numbers (0-based), sorted.
    pub active_antennas: Vec<usize>,
    /// Active antenna numbers in correlator input order.
    pub input_order: Vec<usize>,
    /// (ant_1, ant_2) per baseline, in file order.
    pub baselines: Vec<[usize; 2]>,
    /// Meridian UVW per baseline (m), f64.
    pub uvw_m: Vec<[f64; 3]>,
    /// The same as written (float32).
    pub uvw_f32: Vec<[f32; 3]>,
    /// Integration mid-times (UTC JD).
    pub times_jd_utc: Vec<f64>,
    /// Channel centres (Hz) per subband 0…15 (index = subband number), file order.
    pub freqs_hz: Vec<Vec<f64>>,
    /// Channel width (Hz).
    pub channel_width_hz: f64,
    /// The sources simulated.
    pub sources: Vec<SourceSpec>,
    /// Whether they are the generated default sky.
    pub default_sky: bool,
    /// Noise (`None` = off).
    pub noise: Option<TruthNoise>,
    /// RFI injected (empty lists when off).
    pub rfi: RfiPlan,
    /// (time index, baseline index) rows with nsamples = 0.
    pub zero_nsamples: Vec<[usize; 2]>,
    /// Gains file name (in the same directory).
    pub gains_npy: String,
    /// Layout of the gains array.
    pub gains_layout: String,
}

impl Truth {
    /// The truth of a prepared plan.
    pub fn from_plan(plan: &Plan) -> Self {
        let cfg = &plan.cfg;
        let arr = &plan.array;
        let mut active = arr.input_order.clone();
        active.sort_unstable();
        Self {
            format: TRUTH_FORMAT.to_string(),
            group_id: plan.group_id.clone(),
            start_jd_utc: cfg.start.jd_utc(),
            config: TruthConfig {
                dec_deg: cfg.dec_deg,
                nants: cfg.nants,
                ntimes: cfg.ntimes,
                nchan_per_sb: cfg.nchan_per_sb,
                subbands: cfg.subbands.clone(),
                seed: cfg.seed,
                noise_scale: cfg.noise_scale,
                unit_gains: cfg.unit_gains,
                gain_drift_hours: cfg.gain_drift_hours,
                rfi: cfg.rfi,
                zero_nsamples_rows: cfg.zero_nsamples_rows,
                jitter_s: cfg.jitter_s,
                stations_csv: cfg.stations_csv.clone(),
                dut1_s: cfg.dut1_s,
                int_time_s: cfg.int_time_s(),
            },
            site: TruthSite {
                lat_deg: arr.site.lat_rad.to_degrees(),
                lon_deg: arr.site.lon_rad.to_degrees(),
                alt_m: arr.site.height_m,
                itrf_m: arr.telescope_itrf_m,
            },
            pointing_dec_rad: plan.dec_rad,
            files: plan.files.clone(),
            active_antennas: active,
            input_order: arr.input_order.clone(),
            baselines: arr
                .ant1
                .iter()
                .zip(&arr.ant2)
                .map(|(&a, &b)| [a, b])
                .collect(),
            uvw_m: arr.uvw_m.clone(),
            uvw_f32: arr
                .uvw_m
                .iter()
                .map(|u| [u[0] as f32, u[1] as f32, u[2] as f32])
                .collect(),
            times_jd_utc: plan.times_jd.clone(),
            freqs_hz: plan.freqs_hz.clone(),
            channel_width_hz: plan.chan_width_hz,
            sources: plan.sources.clone(),
            default_sky: plan.default_sky,
            noise: plan.noise_sigma_jy.map(|s| TruthNoise {
                sefd_jy: cfg.noise_scale.unwrap_or(0.0) * SEFD_JY,
                sigma_cross_jy: s,
                sigma_auto_jy: s * std::f64::consts::SQRT_2,
            }),
            rfi: plan.rfi.clone(),
            zero_nsamples: plan.zero_rows.iter().map(|&(t, b)| [t, b]).collect(),
            gains_npy: format!("{}_gains.npy", plan.group_id),
            gains_layout: format!(
                "complex64 (117, npol=2, {}): channel c = subband*{} + channel in file order \
                 (sb00 first: descending frequency); all 16 subbands",
                NSUBBANDS * cfg.nchan_per_sb,
                cfg.nchan_per_sb
            ),
        }
    }

    /// Write as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<u64, SimError> {
        let text = serde_json::to_string_pretty(self).map_err(|source| SimError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        std::fs::write(path, &text).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(text.len() as u64)
    }

    /// Read a truth file.
    pub fn read(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SimError::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}
