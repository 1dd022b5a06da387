//! Transit detection: which catalogue calibrators pass through the primary
//! beam while a group is recorded.
//!
//! The dishes point at (HA = 0, Dec = pointing declination of date). A source's
//! observed direction at time t is `SkyFrame::direction_local` (apparent place
//! with aberration, precession–nutation and Earth rotation, as the simulator and
//! converter compute it); its offset from the pointing is the angle between the
//! two local-frame vectors. The transit time is where the source's hour angle
//! is zero (found by two Newton steps at the sidereal rate from the group's
//! mid-time, so the transit nearest the group is found); the smallest offset
//! during the group is the offset at transit when the transit falls in the
//! group's span, otherwise the offset at the nearer end. A calibrator is
//! reported when that offset is within the beam's half-power radius
//! (FWHM/2 = 1.029 λ/D / 2 at the band centre, 1.35° at 1.405 GHz for 4.65 m).

use dsa110_astro::beam::airy_fwhm_rad;
use dsa110_astro::constants::{DISH_DIAMETER_M, SECONDS_PER_DAY};
use dsa110_astro::{direction_from_hadec, Eop, ObsTime, Site, SkyFrame};
use serde::Serialize;

use crate::catalog::{Calibrator, Catalog};
use crate::CalError;

/// Earth's sidereal rotation rate (rad/s).
const SIDEREAL_RAD_S: f64 = 7.292_115_855_3e-5;

/// DSA-110 band centre (Hz): the middle of 1311.25–1498.75 MHz.
pub const BAND_CENTRE_HZ: f64 = 1.405e9;

/// Where the telescope points and what counts as "in the beam".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BeamGeometry {
    /// Pointing declination of date (rad), as the correlator's `phase_center_dec`.
    pub pointing_dec_rad: f64,
    /// Observatory.
    pub site: Site,
    /// Earth-orientation parameters.
    pub eop: Eop,
    /// Frequency at which the beam radius is evaluated (Hz).
    pub freq_hz: f64,
    /// Dish diameter (m).
    pub dish_diameter_m: f64,
}

impl BeamGeometry {
    /// DSA-110 defaults (site, 4.65 m dishes, band centre) at `pointing_dec_rad`.
    pub fn dsa110(pointing_dec_rad: f64) -> Self {
        Self {
            pointing_dec_rad,
            site: Site::dsa110(),
            eop: Eop::default(),
            freq_hz: BAND_CENTRE_HZ,
            dish_diameter_m: DISH_DIAMETER_M,
        }
    }

    /// Half-power radius (rad): FWHM / 2.
    pub fn half_power_radius_rad(&self) -> f64 {
        airy_fwhm_rad(self.freq_hz, self.dish_diameter_m) / 2.0
    }

    /// Offset (rad) of an ICRS direction from the pointing at `t`.
    pub fn offset_rad(&self, t: &ObsTime, ra_rad: f64, dec_rad: f64) -> Result<f64, CalError> {
        let frame = SkyFrame::new(t, &self.site, &self.eop).map_err(|source| CalError::Astro {
            what: "sky frame",
            source,
        })?;
        let s = frame.direction_local(ra_rad, dec_rad);
        Ok(angle_between(
            s,
            direction_from_hadec(0.0, self.pointing_dec_rad),
        ))
    }

    /// Hour angle (rad, in (−π, π]) of an ICRS direction at `t`.
    fn hour_angle_rad(&self, t: &ObsTime, ra_rad: f64, dec_rad: f64) -> Result<f64, CalError> {
        let frame = SkyFrame::new(t, &self.site, &self.eop).map_err(|source| CalError::Astro {
            what: "sky frame",
            source,
        })?;
        let s = frame.direction_local(ra_rad, dec_rad);
        Ok((-s[1]).atan2(s[0]))
    }
}

/// Angle between two unit vectors (rad), accurate at small angles.
pub(crate) fn angle_between(a: [f64; 3], b: [f64; 3]) -> f64 {
    let cross = [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ];
    let s = (cross[0] * cross[0] + cross[1] * cross[1] + cross[2] * cross[2]).sqrt();
    let c = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    s.atan2(c)
}

/// A calibrator passing through the beam during a group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transit {
    /// The calibrator.
    pub calibrator: Calibrator,
    /// UTC Julian Date of its transit (HA = 0) nearest the group.
    pub transit_jd_utc: f64,
    /// Smallest offset from the pointing during the group (rad).
    pub min_offset_rad: f64,
    /// Whether the transit itself falls inside the group's span.
    pub transit_in_group: bool,
}

fn jd_time(jd: f64) -> Result<ObsTime, CalError> {
    ObsTime::from_jd_utc(jd).map_err(|source| CalError::Astro {
        what: "group time",
        source,
    })
}

/// The transit (HA = 0) of `cal` nearest `jd_utc`.
pub fn transit_time_jd(
    cal: &Calibrator,
    jd_utc: f64,
    beam: &BeamGeometry,
) -> Result<f64, CalError> {
    let (ra, dec) = (cal.ra_deg.to_radians(), cal.dec_deg.to_radians());
    let mut jd = jd_utc;
    for _ in 0..3 {
        let ha = beam.hour_angle_rad(&jd_time(jd)?, ra, dec)?;
        jd -= ha / SIDEREAL_RAD_S / SECONDS_PER_DAY;
    }
    Ok(jd)
}

/// Calibrators of `catalog` within the half-power radius of the beam at some
/// time between `start_jd_utc` and `end_jd_utc` (the group's first and last
/// integration centres), nearest first.
pub fn find_transits(
    catalog: &Catalog,
    start_jd_utc: f64,
    end_jd_utc: f64,
    beam: &BeamGeometry,
) -> Result<Vec<Transit>, CalError> {
    if !(start_jd_utc.is_finite() && end_jd_utc.is_finite() && end_jd_utc >= start_jd_utc) {
        return Err(CalError::InvalidParam {
            name: "group span",
            reason: format!("{start_jd_utc} .. {end_jd_utc}"),
        });
    }
    let radius = beam.half_power_radius_rad();
    let mid = 0.5 * (start_jd_utc + end_jd_utc);
    let mut out = Vec::new();
    for cal in &catalog.sources {
        // apparent and J2000 declinations differ by < 0.5° this century
        if (cal.dec_deg.to_radians() - beam.pointing_dec_rad).abs() > radius + 0.5f64.to_radians() {
            continue;
        }
        let tr = transit_time_jd(cal, mid, beam)?;
        let inside = (start_jd_utc..=end_jd_utc).contains(&tr);
        let t_min = if inside {
            tr
        } else if tr < start_jd_utc {
            start_jd_utc
        } else {
            end_jd_utc
        };
        let off = beam.offset_rad(
            &jd_time(t_min)?,
            cal.ra_deg.to_radians(),
            cal.dec_deg.to_radians(),
        )?;
        if off <= radius {
            out.push(Transit {
                calibrator: cal.clone(),
                transit_jd_utc: tr,
                min_offset_rad: off,
                transit_in_group: inside,
            });
        }
    }
    out.sort_by(|a, b| a.min_offset_rad.total_cmp(&b.min_offset_rad));
    Ok(out)
}
