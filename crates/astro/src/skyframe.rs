//! The observer's frame at one instant: ICRS directions to the site's local
//! equatorial frame, as a radio interferometer needs them.
//!
//! This follows ERFA's `atco13` (what pyuvdata uses to phase): light
//! deflection, annual *and diurnal* aberration (the observer's velocity),
//! bias-precession-nutation, Earth rotation (GAST from UT1) and polar motion,
//! with refraction off. Earth-orientation parameters are explicit ([`Eop`]);
//! with all zero the direction error is below 0.5″ (|xp|, |yp| < 0.5″ and
//! |UT1 − UTC| < 0.9 s, i.e. < 0.05 s·15″/s in recent years).

use erfa::vectors_and_matrices::mat_mul_pvec;

use crate::apparent::{to_ra_dec, transpose, unit_vector, ApparentFrame};
use crate::geometry::{itrf_to_local, Site, UvwBasis};
use crate::time::{gast_rad, ObsTime};
use crate::AstroError;

/// Earth's rotation rate (rad/s), as ERFA's `pvtob` uses.
const EARTH_OMEGA_RAD_S: f64 = 1.002_737_811_911_354_5 * std::f64::consts::TAU / 86_400.0;

/// Earth-orientation parameters (IERS): UT1 − UTC and the pole coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Eop {
    /// UT1 − UTC (s).
    pub dut1_s: f64,
    /// Polar motion x (rad).
    pub xp_rad: f64,
    /// Polar motion y (rad).
    pub yp_rad: f64,
}

/// Everything time-dependent needed to turn ICRS directions into the site's
/// local frame at one instant (compute once per integration).
#[derive(Clone, Copy, Debug)]
pub struct SkyFrame {
    apparent: ApparentFrame,
    gast: f64,
    lon_rad: f64,
    /// ITRS = rpom · TIRS.
    rpom: [[f64; 3]; 3],
}

fn rot_z(angle: f64, v: [f64; 3]) -> [f64; 3] {
    let (s, c) = angle.sin_cos();
    [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]]
}

/// ERFA `pom00` with s′ = 0: the polar-motion matrix, `V(ITRS) = rpom · V(TIRS)`.
fn polar_motion_matrix(xp: f64, yp: f64) -> [[f64; 3]; 3] {
    let mut r = [[0.0; 3]; 3];
    erfa::vectors_and_matrices::init_matrix(&mut r);
    rotate_y(-xp, &mut r);
    erfa::vectors_and_matrices::rotate_x(-yp, &mut r);
    r
}

/// ERFA `Ry`: rotate an r-matrix about the y-axis.
fn rotate_y(theta: f64, r: &mut [[f64; 3]; 3]) {
    let (s, c) = theta.sin_cos();
    let (r0, r2) = (r[0], r[2]);
    for j in 0..3 {
        r[0][j] = c * r0[j] - s * r2[j];
        r[2][j] = s * r0[j] + c * r2[j];
    }
}

impl SkyFrame {
    /// The frame at `t` for an observer at `site`.
    pub fn new(t: &ObsTime, site: &Site, eop: &Eop) -> Result<Self, AstroError> {
        let gast = gast_rad(t, eop.dut1_s);
        let rpom = polar_motion_matrix(eop.xp_rad, eop.yp_rad);
        // observer position/velocity: ITRS → TIRS → true equator of date → GCRS
        let r_itrs = site.itrf_m()?;
        let r_tirs = mat_mul_pvec(transpose(rpom), r_itrs);
        let v_tirs = [
            -EARTH_OMEGA_RAD_S * r_tirs[1],
            EARTH_OMEGA_RAD_S * r_tirs[0],
            0.0,
        ];
        let geo = ApparentFrame::at(t);
        let bpn_t = transpose(geo.bpn());
        let pos = mat_mul_pvec(bpn_t, rot_z(gast, r_tirs));
        let vel = mat_mul_pvec(bpn_t, rot_z(gast, v_tirs));
        Ok(Self {
            apparent: ApparentFrame::for_observer(t, pos, vel),
            gast,
            lon_rad: site.lon_rad,
            rpom,
        })
    }

    /// Local apparent sidereal time (rad).
    pub fn last_rad(&self) -> f64 {
        (self.gast + self.lon_rad).rem_euclid(std::f64::consts::TAU)
    }

    /// Apparent (true equator and equinox of date) vector → local frame.
    fn apparent_to_local(&self, a: [f64; 3]) -> [f64; 3] {
        let tirs = rot_z(-self.gast, a);
        itrf_to_local(mat_mul_pvec(self.rpom, tirs), self.lon_rad)
    }

    fn local_to_apparent(&self, l: [f64; 3]) -> [f64; 3] {
        let (s, c) = self.lon_rad.sin_cos();
        let itrs = [c * l[0] - s * l[1], s * l[0] + c * l[1], l[2]];
        rot_z(self.gast, mat_mul_pvec(transpose(self.rpom), itrs))
    }

    /// Local-frame unit vector of an ICRS direction.
    pub fn direction_local(&self, ra_rad: f64, dec_rad: f64) -> [f64; 3] {
        self.apparent_to_local(self.apparent.apply(unit_vector(ra_rad, dec_rad)))
    }

    /// The ICRS direction whose observed place is the local-frame vector `d`.
    pub fn local_to_icrs(&self, d: [f64; 3]) -> (f64, f64) {
        to_ra_dec(self.apparent.invert(self.local_to_apparent(d)))
    }

    /// UVW basis for an ICRS phase centre: p̂ its observed direction, u and v
    /// aligned with ICRS east and north as pyuvdata aligns them (so a J2000
    /// FIELD in a Measurement Set describes them).
    pub fn uvw_basis(&self, ra_rad: f64, dec_rad: f64) -> UvwBasis {
        let p = self.direction_local(ra_rad, dec_rad);
        crate::geometry::basis_oriented_to_icrs(p, |d| self.local_to_icrs(d))
    }
}
