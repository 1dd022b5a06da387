//! What an MS contains besides the visibilities: antennas, windows,
//! polarisations, the field, the observation and history.

use std::path::Path;

use crate::MsError;

/// One station of the array (a row of the ANTENNA table).
#[derive(Clone, Debug, PartialEq)]
pub struct AntennaSpec {
    /// Antenna name, e.g. `DSA-001`.
    pub name: String,
    /// Station name, e.g. `DSA-001`.
    pub station: String,
    /// Absolute ITRF position (m).
    pub itrf_m: [f64; 3],
    /// Dish diameter (m), 4.65 for DSA-110.
    pub diameter_m: f64,
    /// Mount type, `ALT-AZ` for DSA-110.
    pub mount: String,
}

/// One spectral window (one subband).
#[derive(Clone, Debug, PartialEq)]
pub struct SpwSpec {
    /// Window name, e.g. `sb15`.
    pub name: String,
    /// Channel centre frequencies (Hz), strictly ascending.
    pub freqs_hz: Vec<f64>,
    /// Channel width (Hz, positive).
    pub chan_width_hz: f64,
}

impl SpwSpec {
    /// Number of channels.
    pub fn nchan(&self) -> usize {
        self.freqs_hz.len()
    }
}

/// The phase centre (FIELD, SOURCE and POINTING tables), J2000.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSpec {
    /// Field / source name.
    pub name: String,
    /// J2000 right ascension (rad).
    pub ra_rad: f64,
    /// J2000 declination (rad).
    pub dec_rad: f64,
}

/// One row of the HISTORY table.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    /// Free text (MESSAGE).
    pub message: String,
    /// Application name and version (APPLICATION), e.g. `dsa110-stream 0.1.0`.
    pub application: String,
    /// The command line (CLI_COMMAND).
    pub cli_command: String,
}

/// Everything [`MsWriter::create`](crate::MsWriter::create) needs to lay out an MS.
#[derive(Clone, Debug, PartialEq)]
pub struct MsSpec {
    /// All stations; ANTENNA1/ANTENNA2 index this list (117 for DSA-110).
    pub antennas: Vec<AntennaSpec>,
    /// One per subband, in ascending frequency; all with the same `nchan`.
    pub spws: Vec<SpwSpec>,
    /// AIPS polarisation codes (−5 XX, −6 YY, −7 XY, −8 YX), in data order.
    pub pols: Vec<i32>,
    /// Receptor angles (rad) of the X and Y feeds (FEED `RECEPTOR_ANGLE`).
    /// pyuvdata reads X = 0 as `x_orientation = "north"` and X = π/2 as `"east"`.
    pub feed_angles_rad: [f64; 2],
    /// The phase centre.
    pub field: FieldSpec,
    /// OBSERVATION `TELESCOPE_NAME`; `OVRO_MMA` is known to pyuvdata and CASA.
    pub telescope_name: String,
    /// Array reference position (ITRF, m), the OBSERVATION `TELESCOPE_LOCATION` column.
    pub telescope_itrf_m: [f64; 3],
    /// OBSERVATION `OBSERVER`.
    pub observer: String,
    /// OBSERVATION `PROJECT`.
    pub project: String,
    /// First and last instants covered (MJD seconds, UTC), OBSERVATION `TIME_RANGE`.
    pub time_range_mjd_s: (f64, f64),
    /// HISTORY rows (command line, application and version).
    pub history: Vec<HistoryEntry>,
    /// Main-table rows per spectral window (`ntimes × nbls`). Rows are
    /// spw-major: window `s` occupies rows `s·n_rows_per_spw ..`.
    pub n_rows_per_spw: usize,
}

/// Map an AIPS polarisation code to the MS `CORR_TYPE` (Stokes enum) and the
/// receptor pair (`CORR_PRODUCT`, 0 = X, 1 = Y).
pub(crate) fn aips_to_corr(pol: i32) -> Option<(i32, [i32; 2])> {
    match pol {
        -5 => Some((9, [0, 0])),
        -6 => Some((12, [1, 1])),
        -7 => Some((10, [0, 1])),
        -8 => Some((11, [1, 0])),
        _ => None,
    }
}

/// Inverse of [`aips_to_corr`] (linear feeds only).
pub(crate) fn corr_to_aips(corr: i32) -> Option<i32> {
    match corr {
        9 => Some(-5),
        12 => Some(-6),
        10 => Some(-7),
        11 => Some(-8),
        _ => None,
    }
}

impl MsSpec {
    /// Number of channels per window.
    pub fn nchan(&self) -> usize {
        self.spws.first().map_or(0, SpwSpec::nchan)
    }

    /// Total main-table rows.
    pub fn n_rows(&self) -> usize {
        self.spws.len() * self.n_rows_per_spw
    }

    /// Check the invariants the writer relies on.
    pub(crate) fn validate(&self, path: &Path) -> Result<(), MsError> {
        let bad = |reason: String| MsError::InvalidSpec {
            path: path.to_path_buf(),
            reason,
        };
        if self.antennas.is_empty() {
            return Err(bad("no antennas".into()));
        }
        if self.spws.is_empty() {
            return Err(bad("no spectral windows".into()));
        }
        let nchan = self.nchan();
        if nchan == 0 {
            return Err(bad("spectral windows have no channels".into()));
        }
        for (i, spw) in self.spws.iter().enumerate() {
            if spw.nchan() != nchan {
                return Err(bad(format!(
                    "spw {i} has {} channels, spw 0 has {nchan}",
                    spw.nchan()
                )));
            }
            if spw.freqs_hz.windows(2).any(|w| w[1] <= w[0]) {
                return Err(bad(format!("spw {i} frequencies are not ascending")));
            }
            if spw.chan_width_hz.is_nan() || spw.chan_width_hz <= 0.0 {
                return Err(bad(format!("spw {i} channel width is not positive")));
            }
            if i > 0 && spw.freqs_hz[0] <= self.spws[i - 1].freqs_hz[0] {
                return Err(bad(format!(
                    "spw {i} starts below spw {}: windows must ascend",
                    i - 1
                )));
            }
        }
        if self.pols.is_empty() {
            return Err(bad("no polarisations".into()));
        }
        for &p in &self.pols {
            if aips_to_corr(p).is_none() {
                return Err(bad(format!(
                    "polarisation code {p} is not a linear-feed product (-5..-8)"
                )));
            }
        }
        for (i, &p) in self.pols.iter().enumerate() {
            if self.pols[..i].contains(&p) {
                return Err(bad(format!("polarisation code {p} repeated")));
            }
        }
        if self.time_range_mjd_s.1 < self.time_range_mjd_s.0 {
            return Err(bad("time range ends before it starts".into()));
        }
        Ok(())
    }
}
