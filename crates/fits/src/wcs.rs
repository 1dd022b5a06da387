//! The SIN (orthographic) projection, exactly as FITS WCS paper II defines it with
//! `PV2_1 = PV2_2 = 0` and `LONPOLE = 180°` (the default for a zenithal projection whose
//! reference point is not the pole), i.e. the radio astronomer's direction cosines:
//!
//! ```text
//! l = cos δ sin(α − α₀)
//! m = sin δ cos δ₀ − cos δ sin δ₀ cos(α − α₀)
//! n = sin δ sin δ₀ + cos δ cos δ₀ cos(α − α₀)
//! ```
//!
//! The intermediate world coordinates are `x = l·180/π`, `y = m·180/π` degrees, and the
//! pixel coordinates follow from `CDELT`/`CRPIX` with no rotation. **Pixel coordinates in
//! this API are 0-based** (the centre of the first pixel is `(0, 0)`); `crpix1`/`crpix2`
//! keep the 1-based FITS convention, so `x_fits = x + 1`.

use std::f64::consts::PI;

/// A SIN-projected celestial WCS without rotation (what WSClean writes).
///
/// `cdelt1_deg` is negative for the usual east-left orientation (RA increases to the left).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinWcs {
    /// Right ascension of the reference point (CRVAL1), degrees.
    pub crval_ra_deg: f64,
    /// Declination of the reference point (CRVAL2), degrees.
    pub crval_dec_deg: f64,
    /// Reference pixel on axis 1, **1-based** as in FITS (CRPIX1).
    pub crpix1: f64,
    /// Reference pixel on axis 2, **1-based** as in FITS (CRPIX2).
    pub crpix2: f64,
    /// Pixel increment on axis 1 (CDELT1), degrees; negative for RA increasing leftwards.
    pub cdelt1_deg: f64,
    /// Pixel increment on axis 2 (CDELT2), degrees.
    pub cdelt2_deg: f64,
}

impl SinWcs {
    /// A grid of `nx × ny` square pixels of `cell_deg` centred on (`ra_deg`, `dec_deg`), with
    /// the reference pixel where WSClean puts it (`CRPIX = n/2 + 1`, 1-based) and RA
    /// increasing to the left (`CDELT1 = −cell_deg`).
    pub fn centered(ra_deg: f64, dec_deg: f64, nx: usize, ny: usize, cell_deg: f64) -> Self {
        Self {
            crval_ra_deg: ra_deg.rem_euclid(360.0),
            crval_dec_deg: dec_deg,
            crpix1: (nx / 2) as f64 + 1.0,
            crpix2: (ny / 2) as f64 + 1.0,
            cdelt1_deg: -cell_deg,
            cdelt2_deg: cell_deg,
        }
    }

    /// Direction cosines `(l, m, n)` of (`ra_deg`, `dec_deg`) relative to the reference
    /// point. Always defined; `n < 0` means the far hemisphere (not visible in SIN).
    pub fn lmn_of(&self, ra_deg: f64, dec_deg: f64) -> (f64, f64, f64) {
        let (sd, cd) = dec_deg.to_radians().sin_cos();
        let (sd0, cd0) = self.crval_dec_deg.to_radians().sin_cos();
        let (sda, cda) = (ra_deg - self.crval_ra_deg).to_radians().sin_cos();
        let l = cd * sda;
        let m = sd * cd0 - cd * sd0 * cda;
        let n = sd * sd0 + cd * cd0 * cda;
        (l, m, n)
    }

    /// Direction cosines `(l, m)` of a sky position, or `None` if it lies in the far
    /// hemisphere (`n < 0`) where the SIN projection is not one-to-one.
    pub fn lm_of(&self, ra_deg: f64, dec_deg: f64) -> Option<(f64, f64)> {
        let (l, m, n) = self.lmn_of(ra_deg, dec_deg);
        (n >= 0.0 && l.is_finite() && m.is_finite()).then_some((l, m))
    }

    /// Sky position (`ra_deg` in [0, 360), `dec_deg`) of the direction cosines `(l, m)`, or
    /// `None` if `l² + m² > 1` or they are not finite.
    pub fn radec_of_lm(&self, l: f64, m: f64) -> Option<(f64, f64)> {
        let r2 = l * l + m * m;
        if r2.is_nan() || r2 > 1.0 {
            return None;
        }
        let n = (1.0 - r2).sqrt();
        let (sd0, cd0) = self.crval_dec_deg.to_radians().sin_cos();
        let dec = (m * cd0 + n * sd0).clamp(-1.0, 1.0).asin();
        let dra = l.atan2(n * cd0 - m * sd0);
        let ra = (self.crval_ra_deg.to_radians() + dra).rem_euclid(2.0 * PI);
        let ra_deg = ra.to_degrees();
        // rem_euclid can round up to exactly 360 for tiny negative inputs.
        let ra_deg = if ra_deg >= 360.0 { 0.0 } else { ra_deg };
        Some((ra_deg, dec.to_degrees()))
    }

    /// Direction cosines of the **0-based** pixel position `(x, y)`.
    pub fn pixel_to_lm(&self, x: f64, y: f64) -> (f64, f64) {
        let l = ((x + 1.0 - self.crpix1) * self.cdelt1_deg).to_radians();
        let m = ((y + 1.0 - self.crpix2) * self.cdelt2_deg).to_radians();
        (l, m)
    }

    /// **0-based** pixel position of the direction cosines `(l, m)`.
    pub fn lm_to_pixel(&self, l: f64, m: f64) -> (f64, f64) {
        let x = l.to_degrees() / self.cdelt1_deg + self.crpix1 - 1.0;
        let y = m.to_degrees() / self.cdelt2_deg + self.crpix2 - 1.0;
        (x, y)
    }

    /// Sky position of the **0-based** pixel `(x, y)`: `(ra_deg in [0, 360), dec_deg)`, or
    /// `None` outside the projection's disc.
    pub fn pixel_to_world(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let (l, m) = self.pixel_to_lm(x, y);
        self.radec_of_lm(l, m)
    }

    /// **0-based** pixel position of a sky position, or `None` if it is in the far
    /// hemisphere. The result may lie outside the image: check it against `nx`/`ny`.
    pub fn world_to_pixel(&self, ra_deg: f64, dec_deg: f64) -> Option<(f64, f64)> {
        let (l, m) = self.lm_of(ra_deg, dec_deg)?;
        Some(self.lm_to_pixel(l, m))
    }

    /// Pixel area in steradians at the reference point (|CDELT1·CDELT2| in rad²).
    pub fn pixel_area_sr(&self) -> f64 {
        (self.cdelt1_deg.to_radians() * self.cdelt2_deg.to_radians()).abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_pixel_maps_to_crval() {
        let w = SinWcs::centered(359.9, 37.2, 100, 80, 0.001);
        let (ra, dec) = w.pixel_to_world(50.0, 40.0).unwrap_or((f64::NAN, f64::NAN));
        assert!((ra - 359.9).abs() < 1e-12 && (dec - 37.2).abs() < 1e-12);
    }

    #[test]
    fn ra_increases_to_the_left() {
        let w = SinWcs::centered(10.0, 0.0, 100, 100, 0.01);
        let (ra_left, _) = w.pixel_to_world(40.0, 50.0).unwrap_or((f64::NAN, 0.0));
        assert!(ra_left > 10.0);
    }

    #[test]
    fn round_trip_wraps_ra() {
        let w = SinWcs::centered(0.5, 71.0, 1000, 1000, 0.01);
        for &(x, y) in &[(0.0, 0.0), (999.0, 3.0), (700.2, 999.9), (500.0, 500.0)] {
            let (ra, dec) = w.pixel_to_world(x, y).unwrap_or((f64::NAN, f64::NAN));
            assert!((0.0..360.0).contains(&ra));
            let (x2, y2) = w.world_to_pixel(ra, dec).unwrap_or((f64::NAN, f64::NAN));
            assert!(
                (x - x2).abs() < 1e-8 && (y - y2).abs() < 1e-8,
                "{x} {y} {x2} {y2}"
            );
        }
    }

    #[test]
    fn far_hemisphere_is_none() {
        let w = SinWcs::centered(0.0, 0.0, 10, 10, 1.0);
        assert!(w.world_to_pixel(180.0, 0.0).is_none());
        assert!(w.radec_of_lm(0.8, 0.8).is_none());
    }
}
