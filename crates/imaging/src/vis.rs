//! [`ImagingVis`]: Stokes I visibilities ready for imaging, independent of the MS.

use num_complex::Complex32;

use crate::ImagingError;

/// Stokes I visibilities: rows × channels, row-major (channel fastest).
///
/// `uvw_m` is in the Measurement Set convention (as the MS stores it, i.e.
/// `DATA ∝ exp(+2πi(u·l + v·m + w(n−1))/λ)`); `weight` 0 means flagged.
#[derive(Clone, Debug, Default)]
pub struct ImagingVis {
    /// Per row: (u, v, w) in metres.
    pub uvw_m: Vec<[f64; 3]>,
    /// Per channel: centre frequency (Hz).
    pub freq_hz: Vec<f64>,
    /// Channel width (Hz), for the FITS bandwidth.
    pub chan_width_hz: f64,
    /// Per row × channel: Stokes I `(XX+YY)/2`.
    pub vis: Vec<Complex32>,
    /// Per row × channel: weight of the Stokes I visibility (0 = flagged).
    pub weight: Vec<f32>,
    /// Phase centre, pointing, date (for the WCS and the primary beam).
    pub obs: crate::ObsInfo,
}

impl ImagingVis {
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.uvw_m.len()
    }
    /// Number of channels.
    pub fn nchan(&self) -> usize {
        self.freq_hz.len()
    }
    /// Check lengths and values once.
    pub fn validate(&self) -> Result<(), ImagingError> {
        let n = self.nrows() * self.nchan();
        let bad = |reason: String| Err(ImagingError::InvalidVis { reason });
        if self.nchan() == 0 || self.nrows() == 0 {
            return bad(format!("{} rows × {} channels", self.nrows(), self.nchan()));
        }
        if self.vis.len() != n || self.weight.len() != n {
            return bad(format!(
                "vis has {} and weight {} values, expected rows × channels = {n}",
                self.vis.len(),
                self.weight.len()
            ));
        }
        if self.freq_hz.windows(2).any(|w| w[1] <= w[0]) {
            return bad("channel frequencies must be strictly ascending".into());
        }
        if let Some(f) = self.freq_hz.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
            return bad(format!("channel frequency {f} Hz"));
        }
        if let Some(r) = self
            .uvw_m
            .iter()
            .position(|u| u.iter().any(|x| !x.is_finite()))
        {
            return bad(format!("row {r} has a non-finite UVW"));
        }
        if let Some(i) = self
            .weight
            .iter()
            .position(|w| !(w.is_finite() && *w >= 0.0))
        {
            return bad(format!(
                "weight {} at row {} channel {}",
                self.weight[i],
                i / self.nchan(),
                i % self.nchan()
            ));
        }
        Ok(())
    }

    /// Stokes I weight from the two polarisations' weights, as WSClean forms it
    /// for `(XX+YY)/2`: the inverse variance `4 / (1/w_xx + 1/w_yy)`; 0 when either
    /// is flagged or has zero weight.
    pub fn stokes_i_weight(w_xx: f32, w_yy: f32, flagged: bool) -> f32 {
        if flagged || w_xx <= 0.0 || w_yy <= 0.0 {
            0.0
        } else {
            4.0 / (1.0 / w_xx + 1.0 / w_yy)
        }
    }
}
