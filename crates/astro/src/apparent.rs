//! Apparent place: ICRS (J2000) catalogue directions to the true equator and
//! equinox of date, geocentric, as ERFA's `atci13` followed by subtracting the
//! equation of the origins — light deflection by the Sun, annual aberration,
//! frame bias, precession and nutation (IAU 2006/2000A). Proper motion and
//! parallax are zero (radio sources). Diurnal aberration (≤ 0.32″) is left
//! out, as `atci13` leaves it out.

use erfa::vectors_and_matrices::{
    inner_product, mat_mul_pvec, modulus_and_unit_vector, outer_product,
};

use crate::geometry::Site;
use crate::time::{last_rad, ObsTime};

/// Schwarzschild radius of the Sun (au).
const SRS_AU: f64 = 1.974_125_743_36e-8;
/// Speed of light (m/s).
const C_LIGHT: f64 = 299_792_458.0;
/// Light time for one au (s).
const AU_LIGHT_S: f64 = 149_597_870.7e3 / 299_792_458.0;

/// Right ascension and declination on the true equator and equinox of date.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ApparentRaDec {
    /// Apparent right ascension (rad, [0, 2π)).
    pub ra_rad: f64,
    /// Apparent declination (rad).
    pub dec_rad: f64,
}

/// The time-dependent part of the ICRS → apparent transformation, computed
/// once per instant and applied to many directions.
#[derive(Clone, Copy, Debug)]
pub struct ApparentFrame {
    /// Earth's barycentric velocity in units of c.
    v: [f64; 3],
    /// Reciprocal Lorentz factor sqrt(1 − |v|²).
    bm1: f64,
    /// Sun → Earth unit vector.
    e_hat: [f64; 3],
    /// Sun–Earth distance (au).
    em_au: f64,
    /// Bias-precession-nutation matrix (GCRS → true equator and equinox of date).
    bpn: [[f64; 3]; 3],
}

impl ApparentFrame {
    /// The geocentric frame at instant `t` (ERFA `atci13`: no diurnal aberration).
    pub fn at(t: &ObsTime) -> Self {
        Self::for_observer(t, [0.0; 3], [0.0; 3])
    }

    /// The frame for an observer at `pos_gcrs_m` from the geocentre moving at
    /// `vel_gcrs_m_s` (GCRS axes): the observer's velocity adds diurnal
    /// aberration, as ERFA's `apco13`/`atco13` do.
    pub fn for_observer(t: &ObsTime, pos_gcrs_m: [f64; 3], vel_gcrs_m_s: [f64; 3]) -> Self {
        let (t1, t2) = t.tt_jd2();
        let (_warn, pvh, pvb) = erfa::earth::position_velocity_00(t1, t2);
        let au_m = AU_LIGHT_S * C_LIGHT;
        let eh = [
            pvh[0][0] + pos_gcrs_m[0] / au_m,
            pvh[0][1] + pos_gcrs_m[1] / au_m,
            pvh[0][2] + pos_gcrs_m[2] / au_m,
        ];
        let (em_au, e_hat) = modulus_and_unit_vector(eh);
        let k = AU_LIGHT_S / 86_400.0;
        let v = [
            pvb[1][0] * k + vel_gcrs_m_s[0] / C_LIGHT,
            pvb[1][1] * k + vel_gcrs_m_s[1] / C_LIGHT,
            pvb[1][2] * k + vel_gcrs_m_s[2] / C_LIGHT,
        ];
        let bm1 = (1.0 - inner_product(v, v)).sqrt();
        let bpn = erfa::prenut::pn_matrix_06a(t1, t2);
        Self {
            v,
            bm1,
            e_hat,
            em_au,
            bpn,
        }
    }

    /// The bias-precession-nutation matrix (GCRS → true equator and equinox of date).
    pub fn bpn(&self) -> [[f64; 3]; 3] {
        self.bpn
    }

    /// ICRS unit vector → apparent unit vector (true equator and equinox of date).
    pub fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        let deflected = self.deflect_by_sun(p);
        let aberrated = self.aberrate(deflected);
        mat_mul_pvec(self.bpn, aberrated)
    }

    /// Gravitational light deflection by the Sun (ERFA `ld` with the Sun's
    /// mass and a distant source, limited near the Sun as `ldsun` does).
    fn deflect_by_sun(&self, p: [f64; 3]) -> [f64; 3] {
        let e = self.e_hat;
        let em2 = (self.em_au * self.em_au).max(1.0);
        let dlim = 1e-6 / em2;
        let qpe = [p[0] + e[0], p[1] + e[1], p[2] + e[2]];
        let qdqpe = inner_product(p, qpe);
        let w = SRS_AU / self.em_au / qdqpe.max(dlim);
        let eq = outer_product(e, p);
        let peq = outer_product(p, eq);
        [p[0] + w * peq[0], p[1] + w * peq[1], p[2] + w * peq[2]]
    }

    /// Stellar aberration, relativistic, including the Sun's potential (ERFA `ab`).
    fn aberrate(&self, pnat: [f64; 3]) -> [f64; 3] {
        let v = self.v;
        let pdv = inner_product(pnat, v);
        let w1 = 1.0 + pdv / (1.0 + self.bm1);
        let w2 = SRS_AU / self.em_au;
        let mut out = [0.0; 3];
        for i in 0..3 {
            out[i] = pnat[i] * self.bm1 + w1 * v[i] + w2 * (v[i] - pdv * pnat[i]);
        }
        modulus_and_unit_vector(out).1
    }

    /// Apparent → ICRS, by fixed-point iteration on the forward transform
    /// (converges to < 1e-12 rad in a few steps: the transform is a small
    /// perturbation of a rotation).
    pub fn invert(&self, p_app: [f64; 3]) -> [f64; 3] {
        let bpn_t = transpose(self.bpn);
        let mut q = mat_mul_pvec(bpn_t, p_app);
        for _ in 0..8 {
            let f = self.apply(q);
            let d = [p_app[0] - f[0], p_app[1] - f[1], p_app[2] - f[2]];
            let dq = mat_mul_pvec(bpn_t, d);
            q = modulus_and_unit_vector([q[0] + dq[0], q[1] + dq[1], q[2] + dq[2]]).1;
            if inner_product(d, d) < 1e-30 {
                break;
            }
        }
        q
    }
}

pub(crate) fn transpose(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut t = [[0.0; 3]; 3];
    for (i, row) in m.iter().enumerate() {
        for (j, x) in row.iter().enumerate() {
            t[j][i] = *x;
        }
    }
    t
}

pub(crate) fn unit_vector(ra_rad: f64, dec_rad: f64) -> [f64; 3] {
    let (sd, cd) = dec_rad.sin_cos();
    let (sa, ca) = ra_rad.sin_cos();
    [cd * ca, cd * sa, sd]
}

pub(crate) fn to_ra_dec(p: [f64; 3]) -> (f64, f64) {
    let (ra, dec) = erfa::transform::cartesian_to_spherical(p);
    (ra.rem_euclid(std::f64::consts::TAU), dec)
}

/// ICRS (ra, dec) → apparent (true equator and equinox of date) at `t`.
pub fn icrs_to_apparent(ra_rad: f64, dec_rad: f64, t: &ObsTime) -> ApparentRaDec {
    let p = ApparentFrame::at(t).apply(unit_vector(ra_rad, dec_rad));
    let (ra_rad, dec_rad) = to_ra_dec(p);
    ApparentRaDec { ra_rad, dec_rad }
}

/// Apparent (true equator and equinox of date) → ICRS at `t`.
pub fn apparent_to_icrs(app: ApparentRaDec, t: &ObsTime) -> (f64, f64) {
    let p = ApparentFrame::at(t).invert(unit_vector(app.ra_rad, app.dec_rad));
    to_ra_dec(p)
}

/// ICRS (ra, dec) → apparent hour angle and declination at the site
/// (HA = LAST − apparent RA, wrapped to (−π, π]).
pub fn icrs_to_hadec(
    ra_rad: f64,
    dec_rad: f64,
    t: &ObsTime,
    site: &Site,
    dut1_s: f64,
) -> (f64, f64) {
    let app = icrs_to_apparent(ra_rad, dec_rad, t);
    let ha = wrap_pi(last_rad(t, dut1_s, site.lon_rad) - app.ra_rad);
    (ha, app.dec_rad)
}

/// Wrap an angle to (−π, π].
pub fn wrap_pi(a: f64) -> f64 {
    let x = a.rem_euclid(std::f64::consts::TAU);
    if x > std::f64::consts::PI {
        x - std::f64::consts::TAU
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_roundtrips() -> Result<(), crate::AstroError> {
        let t = ObsTime::from_iso("2025-10-02T00:12:00")?;
        for &(ra, dec) in &[(0.1, 0.9), (3.5, -0.4), (5.9, 1.5), (2.0, 0.0)] {
            let app = icrs_to_apparent(ra, dec, &t);
            let (r2, d2) = apparent_to_icrs(app, &t);
            assert!((wrap_pi(r2 - ra) * dec.cos()).abs() < 1e-11, "{ra} {dec}");
            assert!((d2 - dec).abs() < 1e-11);
        }
        Ok(())
    }
}
