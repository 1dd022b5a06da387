//! The sky model: the default sky, and per-integration source geometry.
//!
//! For integration k (mid-time t_k) the correlator phase centre is
//! p_k = `direction_from_hadec(0, dec_ptg)` and a source at ICRS (α, δ) lies at
//! s_k = `SkyFrame::new(t_k, site, eop).direction_local(α, δ)` (observed place of
//! date — aberration including diurnal, precession, nutation, Earth rotation —
//! in the local equatorial frame, the same model the converter uses). The dishes point at p_k, so the primary
//! beam is `airy_power(∠(s_k, p_k), f, 4.65 m)`.
//!
//! Gaussian components multiply the point-source visibility by
//! `exp(−2π² (σ_maj² u_maj² + σ_min² u_min²))`, where σ = FWHM / √(8 ln 2) (rad),
//! (u, v) are the baseline's components in wavelengths on the plane of the sky *at
//! the source* (basis `uvw_basis_hadec(HA_s, Dec_s)`, north along the apparent
//! meridian), and `u_maj = u sin PA + v cos PA`, `u_min = u cos PA − v sin PA`
//! (PA east of apparent north; it differs from J2000 north by < 0.5°).

use dsa110_astro::geometry::uvw_basis_hadec;
use dsa110_astro::{direction_from_hadec, Eop, ObsTime, Site, SkyFrame, UvwBasis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::SourceSpec;
use crate::{seed_for, SimError};

/// Geometry of one source at one integration.
#[derive(Clone, Copy, Debug)]
pub struct SourceGeom {
    /// s_k − p_k in the local frame (unit-vector difference).
    pub delta: [f64; 3],
    /// Angle from the pointing centre (rad).
    pub theta_rad: f64,
    /// Basis at the source (for Gaussian envelopes).
    pub basis: UvwBasis,
}

/// Geometry of every source at one integration.
pub fn source_geometry(
    t: &ObsTime,
    site: &Site,
    eop: &Eop,
    dec_ptg_rad: f64,
    sources: &[SourceSpec],
) -> Result<Vec<SourceGeom>, SimError> {
    let frame = SkyFrame::new(t, site, eop)?;
    let p = direction_from_hadec(0.0, dec_ptg_rad);
    Ok(sources
        .iter()
        .map(|src| {
            let s = frame.direction_local(src.ra_deg.to_radians(), src.dec_deg.to_radians());
            let delta = [s[0] - p[0], s[1] - p[1], s[2] - p[2]];
            let cross = [
                s[1] * p[2] - s[2] * p[1],
                s[2] * p[0] - s[0] * p[2],
                s[0] * p[1] - s[1] * p[0],
            ];
            let sin_t = (cross[0] * cross[0] + cross[1] * cross[1] + cross[2] * cross[2]).sqrt();
            let cos_t = s[0] * p[0] + s[1] * p[1] + s[2] * p[2];
            let theta_rad = sin_t.atan2(cos_t);
            let dec_s = s[2].clamp(-1.0, 1.0).asin();
            let ha_s = (-s[1]).atan2(s[0]);
            SourceGeom {
                delta,
                theta_rad,
                basis: uvw_basis_hadec(ha_s, dec_s),
            }
        })
        .collect())
}

/// The ICRS position (deg) of the observed meridian point (HA = 0, Dec = `dec_rad`
/// of date) at `t`.
pub fn meridian_icrs_deg(
    t: &ObsTime,
    site: &Site,
    eop: &Eop,
    dec_rad: f64,
) -> Result<(f64, f64), SimError> {
    let (ra, dec) = SkyFrame::new(t, site, eop)?.local_to_icrs(direction_from_hadec(0.0, dec_rad));
    Ok((ra.to_degrees(), dec.to_degrees()))
}

/// The default sky: 3–6 point sources inside the primary beam around the pointing
/// at the group's mid-time `t_mid`, deterministic from `seed`: one bright (3–5 Jy)
/// within 0.2° of the centre, the others 0.5–3 Jy within 1.5°; α = −0.7 ± 0.2.
pub fn default_sky(
    t_mid: &ObsTime,
    site: &Site,
    eop: &Eop,
    dec_ptg_rad: f64,
    seed: u64,
) -> Result<Vec<SourceSpec>, SimError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed_for(seed, &[0x5C]));
    let (ra0, dec0) = meridian_icrs_deg(t_mid, site, eop, dec_ptg_rad)?;
    let n = rng.random_range(3..=6usize);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (rmax, flux) = if i == 0 {
            (0.2, rng.random_range(3.0..5.0))
        } else {
            (1.5, rng.random_range(0.5..3.0))
        };
        let r = rmax * rng.random::<f64>().sqrt();
        let phi = rng.random_range(0.0..std::f64::consts::TAU);
        let dec = (dec0 + r * phi.sin()).clamp(-89.9, 89.9);
        let ra = (ra0 + r * phi.cos() / dec0.to_radians().cos().max(0.05)).rem_euclid(360.0);
        out.push(SourceSpec {
            name: format!("sim{i}"),
            ra_deg: ra,
            dec_deg: dec,
            flux_jy: flux,
            spectral_index: -0.7 + rng.random_range(-0.2..0.2),
            shape: None,
        });
    }
    Ok(out)
}

/// 2π² σ_maj², 2π² σ_min² (rad²) and (sin PA, cos PA) of a Gaussian shape.
pub(crate) fn gaussian_coeffs(g: &crate::config::GaussianShape) -> (f64, f64, f64, f64) {
    let fwhm_to_sigma = 1.0 / (8.0 * std::f64::consts::LN_2).sqrt();
    let arcsec = std::f64::consts::PI / 180.0 / 3600.0;
    let smaj = g.major_fwhm_arcsec * arcsec * fwhm_to_sigma;
    let smin = g.minor_fwhm_arcsec * arcsec * fwhm_to_sigma;
    let k = 2.0 * std::f64::consts::PI * std::f64::consts::PI;
    let (sp, cp) = g.pa_deg.to_radians().sin_cos();
    (k * smaj * smaj, k * smin * smin, sp, cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sky_is_a_few_sources_in_the_beam() -> Result<(), SimError> {
        let t = ObsTime::from_iso("2025-10-02T00:14:34")?;
        let site = Site::dsa110();
        let eop = Eop::default();
        let dec = 54.57_f64.to_radians();
        for seed in 0..20 {
            let sky = default_sky(&t, &site, &eop, dec, seed)?;
            assert_eq!(sky, default_sky(&t, &site, &eop, dec, seed)?);
            assert!((3..=6).contains(&sky.len()));
            let g = source_geometry(&t, &site, &eop, dec, &sky)?;
            assert!(g[0].theta_rad.to_degrees() < 0.21 && sky[0].flux_jy >= 3.0);
            for (s, g) in sky.iter().zip(&g) {
                assert!(g.theta_rad.to_degrees() < 1.51, "{s:?} at {}", g.theta_rad);
                assert!((0.5..=5.0).contains(&s.flux_jy));
                assert!((s.spectral_index + 0.7).abs() <= 0.2);
            }
        }
        Ok(())
    }
}
