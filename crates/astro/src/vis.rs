//! The in-memory visibility type every format and science crate speaks.
//!
//! A [`VisBlock`] holds one spectral window (one subband) for a run of
//! consecutive integrations, rows in *time-major* order: row `r = t·nbls + b`,
//! every integration listing the same baselines in the same order (the
//! correlator's order). Arrays are `(nrows, nchan, npol)`, the layout of a UVH5
//! `Data/visdata` without its spw axis and of a Measurement Set DATA cell.
//! Visibilities follow pyuvdata's convention (see the crate docs).

use ndarray::{Array2, Array3};
use num_complex::Complex32;

use crate::AstroError;

/// How the visibilities of a block are phased.
#[derive(Clone, Debug, PartialEq)]
pub enum PhaseCentre {
    /// Each integration phased to (HA = 0, apparent Dec = `dec_rad`) at its own
    /// mid-time, UVWs the constant meridian UVWs: the DSA-110 correlator's output.
    MeridianDrift {
        /// Pointing declination (rad), as `extra_keywords/phase_center_dec`.
        dec_rad: f64,
    },
    /// Phased to a fixed ICRS direction.
    Icrs {
        /// Catalogue name of the centre.
        name: String,
        /// ICRS right ascension (rad).
        ra_rad: f64,
        /// ICRS declination (rad).
        dec_rad: f64,
    },
    /// Not phased (zenith drift): pyuvdata's "unprojected".
    Unprojected,
}

/// One subband's visibilities for consecutive integrations (see module docs).
#[derive(Clone, Debug)]
pub struct VisBlock {
    /// UTC Julian Date of each integration's centre (`ntimes`).
    pub times_jd_utc: Vec<f64>,
    /// Integration time (s).
    pub int_time_s: f64,
    /// First antenna (index into the antenna table) per baseline (`nbls`).
    pub ant1: Vec<u32>,
    /// Second antenna per baseline (`nbls`).
    pub ant2: Vec<u32>,
    /// Channel centre frequencies (Hz), in file order (`nchan`).
    pub freqs_hz: Vec<f64>,
    /// Channel width (Hz, positive).
    pub chan_width_hz: f64,
    /// Polarisation codes (AIPS: −5 XX, −6 YY, −7 XY, −8 YX) (`npol`).
    pub pols: Vec<i32>,
    /// UVW (m) per row, `(nrows, 3)`, `pos(ant2) − pos(ant1)` projected.
    pub uvw_m: Array2<f64>,
    /// Visibilities `(nrows, nchan, npol)`.
    pub data: Array3<Complex32>,
    /// Flags, same shape (true = bad).
    pub flags: Array3<bool>,
    /// Number of samples (weights), same shape.
    pub nsamples: Array3<f32>,
    /// Phasing of the data.
    pub phase_centre: PhaseCentre,
}

impl VisBlock {
    /// Number of integrations.
    pub fn ntimes(&self) -> usize {
        self.times_jd_utc.len()
    }
    /// Number of baselines per integration.
    pub fn nbls(&self) -> usize {
        self.ant1.len()
    }
    /// Number of rows (`ntimes × nbls`).
    pub fn nrows(&self) -> usize {
        self.ntimes() * self.nbls()
    }
    /// Number of channels.
    pub fn nchan(&self) -> usize {
        self.freqs_hz.len()
    }
    /// Number of polarisations.
    pub fn npol(&self) -> usize {
        self.pols.len()
    }

    /// Check that every array agrees with the declared sizes.
    pub fn validate(&self) -> Result<(), AstroError> {
        let (nr, nc, np) = (self.nrows(), self.nchan(), self.npol());
        if self.ant2.len() != self.nbls() {
            return Err(AstroError::Shape(format!(
                "ant1 has {} baselines, ant2 {}",
                self.nbls(),
                self.ant2.len()
            )));
        }
        if self.uvw_m.dim() != (nr, 3) {
            return Err(AstroError::Shape(format!(
                "uvw {:?} != ({nr}, 3)",
                self.uvw_m.dim()
            )));
        }
        for (name, dim) in [
            ("data", self.data.dim()),
            ("flags", self.flags.dim()),
            ("nsamples", self.nsamples.dim()),
        ] {
            if dim != (nr, nc, np) {
                return Err(AstroError::Shape(format!(
                    "{name} {dim:?} != ({nr}, {nc}, {np})"
                )));
            }
        }
        Ok(())
    }
}
