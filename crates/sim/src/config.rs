//! What to simulate: scales, the configuration, sources, correlator-mode options.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dsa110_astro::constants::INTEGRATION_TIME_S;
use dsa110_astro::ObsTime;
use serde::{Deserialize, Serialize};

use crate::SimError;

/// Channels per subband of the real correlator.
pub const REAL_NCHAN_PER_SB: usize = 48;
/// Number of subbands in a group.
pub const NSUBBANDS: usize = dsa110_astro::N_SUBBANDS as usize;
/// Number of stations (antennas in the antenna table).
pub const NANTS_TELESCOPE: usize = 117;
/// Polarisations written (XX, YY), as the correlator writes by default.
pub const POLARIZATIONS: [i64; 2] = [-5, -6];
/// System equivalent flux density per dish (Jy), SPEC §2.
pub const SEFD_JY: f64 = 11_600.0;
/// Reference frequency of source fluxes (Hz).
pub const REF_FREQ_HZ: f64 = 1.4e9;

/// Preset sizes of a simulated group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// 10 antennas (2 outriggers), 4 integrations, 8 channels per subband: ≈ 0.1 MB per
    /// file, ≈ 2 MB per group.
    Tiny,
    /// 32 antennas (4 outriggers), 24 integrations, 48 channels: ≈ 16 MB per file,
    /// ≈ 250 MB per group.
    Small,
    /// 96 antennas, 24 integrations, 48 channels, 2 pols: ≈ 145 MB per file, as the real correlator.
    Full,
}

impl Scale {
    /// Parse `tiny`, `small` or `full`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tiny" => Some(Self::Tiny),
            "small" => Some(Self::Small),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
    /// (antennas, integrations, channels per subband).
    pub fn dims(self) -> (usize, usize, usize) {
        match self {
            Self::Tiny => (10, 4, 8),
            Self::Small => (32, 24, 48),
            Self::Full => (96, 24, 48),
        }
    }
}

/// A Gaussian source shape (FWHM on the sky; position angle east of north).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaussianShape {
    /// Major-axis FWHM (arcsec).
    pub major_fwhm_arcsec: f64,
    /// Minor-axis FWHM (arcsec).
    pub minor_fwhm_arcsec: f64,
    /// Position angle of the major axis, east of (apparent) north (deg).
    pub pa_deg: f64,
}

/// One sky component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    /// Label (written to the truth file only).
    pub name: String,
    /// ICRS right ascension (deg).
    pub ra_deg: f64,
    /// ICRS declination (deg).
    pub dec_deg: f64,
    /// Flux density at 1.4 GHz (Jy); XX = YY = this (unpolarised).
    pub flux_jy: f64,
    /// Spectral index α: S(f) = S (f / 1.4 GHz)^α.
    pub spectral_index: f64,
    /// `None` for a point source.
    pub shape: Option<GaussianShape>,
}

impl SourceSpec {
    /// A flat-spectrum point source.
    pub fn point(name: &str, ra_deg: f64, dec_deg: f64, flux_jy: f64) -> Self {
        Self {
            name: name.to_string(),
            ra_deg,
            dec_deg,
            flux_jy,
            spectral_index: 0.0,
            shape: None,
        }
    }
}

/// Everything that defines one simulated observation group.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Directory the files are written to (created if missing).
    pub out_dir: PathBuf,
    /// Nominal start of the group (start of the first integration); also the group id.
    pub start: ObsTime,
    /// Pointing declination (deg), treated as the apparent declination of date.
    pub dec_deg: f64,
    /// Number of active antennas (1..=117).
    pub nants: usize,
    /// Integrations per file.
    pub ntimes: usize,
    /// Channels per subband; must divide 48 (k = 48 / n real channels are averaged).
    pub nchan_per_sb: usize,
    /// Subbands to write (0..=15); omit some for a partial group.
    pub subbands: Vec<u8>,
    /// Seed of every random choice (antennas, order, sky, gains, noise, RFI, jitter).
    pub seed: u64,
    /// Thermal noise: `None` = off; `Some(x)` = x × the real noise (SEFD 11,600 Jy).
    pub noise_scale: Option<f64>,
    /// All complex gains exactly 1.
    pub unit_gains: bool,
    /// Hours of slow gain drift on top of the seeded gains (0 = none): see
    /// [`crate::gains::apply_drift`]. Groups of one seed recorded hours apart share their
    /// gains up to this drift.
    pub gain_drift_hours: f64,
    /// The sky; empty = the default sky (a few sources in the beam, see [`crate::sky`]).
    pub sources: Vec<SourceSpec>,
    /// Add RFI (narrow-band channels at all times and one-integration broadband bursts).
    pub rfi: bool,
    /// Rows (time, baseline) whose nsamples are set to 0 in every subband.
    pub zero_nsamples_rows: usize,
    /// File-name timestamps jitter uniformly within ±`jitter_s` of `start`.
    pub jitter_s: f64,
    /// The station table (`DSA110_Station_Coordinates.csv`).
    pub stations_csv: PathBuf,
    /// UT1 − UTC (s).
    pub dut1_s: f64,
}

/// Nominal start used by the presets.
pub const DEFAULT_START_ISO: &str = "2025-10-02T00:12:00";
/// Pointing declination used by the presets (the most common in real data).
pub const DEFAULT_DEC_DEG: f64 = 54.57;

impl SimConfig {
    /// The preset for `scale`: start 2025-10-02T00:12:00, Dec 54.57°, seed 1, real noise,
    /// random gains, default sky, no RFI, jitter ±25 s, all 16 subbands, stations from
    /// [`default_stations_csv`].
    pub fn for_scale(scale: Scale, out_dir: impl Into<PathBuf>) -> Self {
        let (nants, ntimes, nchan_per_sb) = scale.dims();
        // DEFAULT_START_ISO is a constant that parses; fall back to a fixed JD anyway.
        let start = ObsTime::from_iso(DEFAULT_START_ISO)
            .or_else(|_| ObsTime::from_jd_utc(2_460_950.508_333_333))
            .unwrap_or_else(|_| unreachable_time());
        Self {
            out_dir: out_dir.into(),
            start,
            dec_deg: DEFAULT_DEC_DEG,
            nants,
            ntimes,
            nchan_per_sb,
            subbands: (0..NSUBBANDS as u8).collect(),
            seed: 1,
            noise_scale: Some(1.0),
            unit_gains: false,
            gain_drift_hours: 0.0,
            sources: Vec::new(),
            rfi: false,
            zero_nsamples_rows: 0,
            jitter_s: 25.0,
            stations_csv: default_stations_csv(),
            dut1_s: 0.0,
        }
    }

    /// Integration time (s).
    pub fn int_time_s(&self) -> f64 {
        INTEGRATION_TIME_S
    }

    /// The group id: the nominal start as `YYYY-MM-DDTHH:MM:SS`.
    pub fn group_id(&self) -> String {
        self.start.to_iso_seconds()
    }

    /// Check the invariants; called by the simulators.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |reason: String| Err(SimError::InvalidConfig { reason });
        if self.nants == 0 || self.nants > NANTS_TELESCOPE {
            return bad(format!("nants = {} not in 1..=117", self.nants));
        }
        if self.ntimes == 0 {
            return bad("ntimes = 0".into());
        }
        if self.nchan_per_sb == 0 || REAL_NCHAN_PER_SB % self.nchan_per_sb != 0 {
            return bad(format!(
                "nchan_per_sb = {} does not divide 48",
                self.nchan_per_sb
            ));
        }
        if self.subbands.is_empty() {
            return bad("no subbands".into());
        }
        let mut seen = [false; NSUBBANDS];
        for &s in &self.subbands {
            let Some(slot) = seen.get_mut(s as usize) else {
                return bad(format!("subband {s} > 15"));
            };
            if *slot {
                return bad(format!("subband {s} listed twice"));
            }
            *slot = true;
        }
        if !(self.dec_deg.is_finite() && (-90.0..=90.0).contains(&self.dec_deg)) {
            return bad(format!("dec_deg = {}", self.dec_deg));
        }
        if let Some(x) = self.noise_scale {
            if !(x.is_finite() && x >= 0.0) {
                return bad(format!("noise_scale = {x}"));
            }
        }
        if !(self.jitter_s.is_finite() && self.jitter_s >= 0.0) {
            return bad(format!("jitter_s = {}", self.jitter_s));
        }
        if !self.dut1_s.is_finite() || self.dut1_s.abs() > 1.0 {
            return bad(format!("dut1_s = {}", self.dut1_s));
        }
        for s in &self.sources {
            let ok = [s.ra_deg, s.dec_deg, s.flux_jy, s.spectral_index]
                .iter()
                .all(|v| v.is_finite())
                && (-90.0..=90.0).contains(&s.dec_deg)
                && s.shape.is_none_or(|g| {
                    g.major_fwhm_arcsec.is_finite()
                        && g.minor_fwhm_arcsec.is_finite()
                        && g.pa_deg.is_finite()
                        && g.major_fwhm_arcsec >= 0.0
                        && g.minor_fwhm_arcsec >= 0.0
                });
            if !ok {
                return bad(format!("bad source {s:?}"));
            }
        }
        Ok(())
    }
}

#[allow(clippy::panic)]
fn unreachable_time() -> ObsTime {
    // Both constant inputs above are valid; this cannot be reached.
    panic!("constant start time failed to parse")
}

/// `<workspace>/fixtures/stations/DSA110_Station_Coordinates.csv`,
/// canonicalised when it exists (the station table committed with the workspace).
pub fn default_stations_csv() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/stations/DSA110_Station_Coordinates.csv");
    p.canonicalize().unwrap_or(p)
}

/// How [`crate::simulate_group_like_correlator`] writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrelatorMode {
    /// Write the subbands in a seeded random order (as the 16 correlator nodes finish
    /// in no particular order) instead of sb00 … sb15.
    pub shuffle_subbands: bool,
    /// Sleep this long after each integration is flushed (0 = as fast as possible).
    pub delay_per_integration: Duration,
}

impl Default for CorrelatorMode {
    fn default() -> Self {
        Self {
            shuffle_subbands: true,
            delay_per_integration: Duration::ZERO,
        }
    }
}
