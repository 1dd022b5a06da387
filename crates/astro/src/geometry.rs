//! Site, frames and UVW geometry.
//!
//! Baselines live in the *local equatorial frame* of date (see the crate
//! docs): X toward (HA = 0, Dec = 0), Y east, Z toward the pole. ITRF vectors
//! are brought into it by a rotation about Z by the site longitude (polar
//! motion ignored). A [`UvwBasis`] holds the unit vectors (ê, n̂, p̂) in that
//! frame; `uvw = (b·ê, b·n̂, b·p̂)`.

use erfa::vectors_and_matrices::{inner_product, modulus_and_unit_vector, outer_product};

use crate::constants::{DSA110_ALT_M, DSA110_LAT_DEG, DSA110_LON_DEG};
use crate::time::ObsTime;
use crate::AstroError;

/// A place on the WGS84 ellipsoid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Site {
    /// Geodetic latitude (rad).
    pub lat_rad: f64,
    /// East longitude (rad).
    pub lon_rad: f64,
    /// Height above the ellipsoid (m).
    pub height_m: f64,
}

impl Site {
    /// From degrees and metres.
    pub fn from_deg(lat_deg: f64, lon_deg: f64, height_m: f64) -> Self {
        Self {
            lat_rad: lat_deg.to_radians(),
            lon_rad: lon_deg.to_radians(),
            height_m,
        }
    }
    /// The nominal DSA-110 site.
    pub fn dsa110() -> Self {
        Self::from_deg(DSA110_LAT_DEG, DSA110_LON_DEG, DSA110_ALT_M)
    }
    /// ITRF (ECEF) position, metres.
    pub fn itrf_m(&self) -> Result<[f64; 3], AstroError> {
        erfa::transform::geodetic_to_geocentric(
            erfa::Ellipsoid::WGS84,
            self.lon_rad,
            self.lat_rad,
            self.height_m,
        )
        .map_err(|e| AstroError::InvalidTime {
            what: "geodetic position",
            value: format!("{self:?}: {e:?}"),
        })
    }
    /// From an ITRF position (m).
    pub fn from_itrf_m(xyz: [f64; 3]) -> Self {
        let [lon, lat, h] = erfa::transform::geocentric_to_geodetic(erfa::Ellipsoid::WGS84, xyz);
        Self {
            lat_rad: lat,
            lon_rad: lon,
            height_m: h,
        }
    }
}

/// Rotate an ITRF vector (e.g. a baseline, metres) into the local equatorial frame.
pub fn itrf_to_local(v: [f64; 3], lon_rad: f64) -> [f64; 3] {
    let (s, c) = lon_rad.sin_cos();
    [c * v[0] + s * v[1], -s * v[0] + c * v[1], v[2]]
}

/// Direction vector in the local equatorial frame for (HA, Dec).
pub fn direction_from_hadec(ha_rad: f64, dec_rad: f64) -> [f64; 3] {
    let (sd, cd) = dec_rad.sin_cos();
    let (sh, ch) = ha_rad.sin_cos();
    [cd * ch, -cd * sh, sd]
}

/// Unit vectors (east, north, toward the phase centre) in the local frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UvwBasis {
    /// ê: increasing u.
    pub e: [f64; 3],
    /// n̂: increasing v.
    pub n: [f64; 3],
    /// p̂: the phase-centre direction (increasing w).
    pub p: [f64; 3],
}

impl UvwBasis {
    /// (u, v, w) of a local-frame vector.
    #[inline]
    pub fn project(&self, b: [f64; 3]) -> [f64; 3] {
        [
            inner_product(b, self.e),
            inner_product(b, self.n),
            inner_product(b, self.p),
        ]
    }

    fn from_p_and_north_hint(p: [f64; 3], north_hint: [f64; 3]) -> Self {
        let d = inner_product(north_hint, p);
        let n = [
            north_hint[0] - d * p[0],
            north_hint[1] - d * p[1],
            north_hint[2] - d * p[2],
        ];
        let n = modulus_and_unit_vector(n).1;
        let e = outer_product(n, p);
        Self { e, n, p }
    }
}

/// The basis of a phase centre fixed at HA = 0 and declination `dec_rad` of date:
/// what the correlator's constant "meridian" UVWs use.
pub fn uvw_basis_meridian(dec_rad: f64) -> UvwBasis {
    uvw_basis_hadec(0.0, dec_rad)
}

/// The basis for an apparent (HA, Dec) with north along the apparent meridian.
pub fn uvw_basis_hadec(ha_rad: f64, dec_rad: f64) -> UvwBasis {
    let p = direction_from_hadec(ha_rad, dec_rad);
    let (sd, cd) = dec_rad.sin_cos();
    let (sh, ch) = ha_rad.sin_cos();
    let n = [-sd * ch, sd * sh, cd];
    UvwBasis::from_p_and_north_hint(p, n)
}

/// The basis at instant `t` for a phase centre at ICRS (`ra_rad`, `dec_rad`)
/// seen from `site` (see [`crate::SkyFrame::uvw_basis`]), with EOP zero but UT1 − UTC.
pub fn uvw_basis_icrs(
    ra_rad: f64,
    dec_rad: f64,
    t: &ObsTime,
    site: &Site,
    dut1_s: f64,
) -> Result<UvwBasis, AstroError> {
    let eop = crate::skyframe::Eop {
        dut1_s,
        ..Default::default()
    };
    Ok(crate::skyframe::SkyFrame::new(t, site, &eop)?.uvw_basis(ra_rad, dec_rad))
}

/// Half-length of the chord used to measure the frame rotation (rad): 0.5°.
const FRAME_PA_OFFSET_RAD: f64 = 0.5 * std::f64::consts::PI / 180.0;

/// The UVW basis for a phase centre whose observed direction is `p` (local
/// frame), oriented to ICRS north the way pyuvdata orients it.
///
/// u and v start along apparent east and north, then rotate by the *frame
/// position angle*: minus the ICRS position angle, measured at the lower
/// point, of the chord between the apparent positions 0.5° below and above
/// the centre (pyuvdata's `calc_frame_pos_angle`). Measuring at the chord's
/// end rather than at the centre biases the angle by about (0.5°·θ·tan δ) for a
/// frame rotation θ — ≈1″ — which moves sources at the field edge by < 0.05″;
/// we keep pyuvdata's definition on purpose so that our UVWs and pyuvdata's
/// agree to well under a millimetre.
pub(crate) fn basis_oriented_to_icrs(
    p: [f64; 3],
    to_icrs: impl Fn([f64; 3]) -> (f64, f64),
) -> UvwBasis {
    let dec = p[2].clamp(-1.0, 1.0).asin();
    let ha = (-p[1]).atan2(p[0]);
    let app = uvw_basis_hadec(ha, dec);
    let point = |d: f64| {
        // past a pole, continue over it (pyuvdata's convention)
        let (h, d) = if d > std::f64::consts::FRAC_PI_2 {
            (ha + std::f64::consts::PI, std::f64::consts::PI - d)
        } else if d < -std::f64::consts::FRAC_PI_2 {
            (ha + std::f64::consts::PI, -std::f64::consts::PI - d)
        } else {
            (ha, d)
        };
        to_icrs(direction_from_hadec(h, d))
    };
    let (al, ap) = point(dec - FRAME_PA_OFFSET_RAD);
    let (bl, bp) = point(dec + FRAME_PA_OFFSET_RAD);
    let dl = bl - al;
    let pas = (dl.sin() * bp.cos()).atan2(bp.sin() * ap.cos() - bp.cos() * ap.sin() * dl.cos());
    let (s, c) = pas.sin_cos();
    let e = [
        c * app.e[0] + s * app.n[0],
        c * app.e[1] + s * app.n[1],
        c * app.e[2] + s * app.n[2],
    ];
    let n = [
        -s * app.e[0] + c * app.n[0],
        -s * app.e[1] + c * app.n[1],
        -s * app.e[2] + c * app.n[2],
    ];
    UvwBasis { e, n, p: app.p }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meridian_basis_is_orthonormal_and_east_is_y() {
        let b = uvw_basis_meridian(54.57_f64.to_radians());
        assert!((b.e[1] - 1.0).abs() < 1e-15);
        for (x, y) in [(b.e, b.n), (b.n, b.p), (b.p, b.e)] {
            assert!(inner_product(x, y).abs() < 1e-14);
        }
        // an east-west baseline has u only
        let uvw = b.project([0.0, 100.0, 0.0]);
        assert!((uvw[0] - 100.0).abs() < 1e-12 && uvw[1].abs() < 1e-12 && uvw[2].abs() < 1e-12);
    }

    #[test]
    fn itrf_local_rotation() {
        // at longitude 90°E, ITRF +y is the local X (toward the meridian).
        let v = itrf_to_local([0.0, 1.0, 0.0], std::f64::consts::FRAC_PI_2);
        assert!((v[0] - 1.0).abs() < 1e-15 && v[1].abs() < 1e-15);
    }

    #[test]
    fn icrs_basis_on_meridian_matches_hadec_basis() -> Result<(), AstroError> {
        let site = Site::dsa110();
        let t = ObsTime::from_iso("2025-10-02T00:12:00")?;
        let frame = crate::SkyFrame::new(&t, &site, &crate::Eop::default())?;
        let dec_app = 0.9;
        let (ra, dec) = frame.local_to_icrs(direction_from_hadec(0.0, dec_app));
        let b = frame.uvw_basis(ra, dec);
        let m = uvw_basis_meridian(dec_app);
        assert!(1.0 - inner_product(b.p, m.p) < 1e-15);
        // north differs by the small frame rotation since J2000 (< 0.5°)
        assert!(inner_product(b.n, m.n) > (0.5_f64.to_radians()).cos());
        Ok(())
    }
}
