//! Rephasing a group of integrations to one ICRS phase centre.
//!
//! The DSA-110 correlator fringe-stops integration k at its own meridian,
//! p_k = (HA 0, Dec δ of date). Imaging all integrations of a group together
//! needs one fixed phase centre P; we take P = the old centre at the group's
//! mid-time, as an ICRS direction (or the file's own ICRS centre if it has
//! one). For integration k and baseline b (local equatorial frame, from the
//! antenna positions, not the file's float32 UVWs):
//!
//! `uvw′ = basis_k(P) · b`, `delay = w_old − w_new = b·p_k − b·P_k`,
//! `V′ = V · exp(+2πi f/c · delay)`,
//!
//! with P_k the observed direction of P and `basis_k` its UVW basis from
//! [`SkyFrame`] (apparent place, Earth rotation and polar motion as the
//! [`Eop`] given). [`GroupGeometry`] computes these once per group;
//! [`BlockRephaser`] applies them row by row (it is meant to be the per-row
//! hook of a single pass over the data, e.g. the MS writer's
//! `MsBlock::from_vis_with`), and [`rephase_row`] is the phase rotation of one
//! row.
//!
//! What it does not do: read files, decide where P is for anything but a
//! drift scan, or rephase data whose baselines are not the group's.

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::Array2;
use num_complex::{Complex32, Complex64};

use crate::constants::C_M_S;
use crate::geometry::{direction_from_hadec, itrf_to_local, Site};
use crate::skyframe::{Eop, SkyFrame};
use crate::time::ObsTime;
use crate::vis::{PhaseCentre, VisBlock};
use crate::AstroError;

/// Channels within this much of an equispaced grid (Hz) use the recurrence.
const EQUISPACED_TOL_HZ: f64 = 1e-3;

/// What the geometry of a group is computed from (one subband file's header:
/// every file of a group shares it).
#[derive(Clone, Copy, Debug)]
pub struct GeometryInput<'a> {
    /// Integration centres (UTC JD), in the order of the data.
    pub times_jd_utc: &'a [f64],
    /// First antenna of each baseline (index into `antenna_positions_m`).
    pub ant1: &'a [u32],
    /// Second antenna of each baseline (index into `antenna_positions_m`).
    pub ant2: &'a [u32],
    /// Antenna positions: ITRF offsets from the site (m).
    pub antenna_positions_m: &'a [[f64; 3]],
    /// How the data are phased now.
    pub phase_centre: &'a PhaseCentre,
}

/// The phase centre and per-(integration, baseline) UVWs and delays of a
/// group (see the module docs).
#[derive(Clone, Debug)]
pub struct GroupGeometry {
    /// The new phase centre P, ICRS (ra, dec) in rad.
    centre_rad: (f64, f64),
    /// First antenna per baseline.
    ant1: Vec<u32>,
    /// Second antenna per baseline.
    ant2: Vec<u32>,
    /// Per (integration, baseline): new uvw (m) and the delay w_old − w_new (m).
    rows: Array2<RowGeometry>,
}

/// The rephasing of one (integration, baseline).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct RowGeometry {
    uvw_m: [f64; 3],
    delay_m: f64,
}

impl GroupGeometry {
    /// Compute the geometry of a group observed from `site`.
    ///
    /// Fails if there are no integrations, a time is invalid, or a baseline
    /// names an antenna the antenna table does not have (never rephased
    /// against a made-up position).
    pub fn new(input: &GeometryInput<'_>, site: &Site, eop: &Eop) -> Result<Self, AstroError> {
        let times = input.times_jd_utc;
        let (Some(&t_first), Some(&t_last)) = (times.first(), times.last()) else {
            return Err(AstroError::InvalidTime {
                what: "group integration times",
                value: "none".into(),
            });
        };
        if input.ant1.len() != input.ant2.len() {
            return Err(AstroError::Shape(format!(
                "ant1 has {} baselines, ant2 {}",
                input.ant1.len(),
                input.ant2.len()
            )));
        }
        let position = |baseline: usize, antenna: u32| {
            usize::try_from(antenna)
                .ok()
                .and_then(|a| input.antenna_positions_m.get(a))
                .copied()
                .ok_or(AstroError::UnknownAntenna {
                    baseline,
                    antenna,
                    n_antennas: input.antenna_positions_m.len(),
                })
        };
        let baselines = input
            .ant1
            .iter()
            .zip(input.ant2)
            .enumerate()
            .map(|(b, (&a1, &a2))| {
                let (p1, p2) = (position(b, a1)?, position(b, a2)?);
                Ok(itrf_to_local(
                    [p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]],
                    site.lon_rad,
                ))
            })
            .collect::<Result<Vec<[f64; 3]>, AstroError>>()?;

        // the old phase centre of an integration, as a local-frame direction
        let old_centre = |frame: &SkyFrame| -> [f64; 3] {
            match input.phase_centre {
                PhaseCentre::MeridianDrift { dec_rad } => direction_from_hadec(0.0, *dec_rad),
                PhaseCentre::Icrs {
                    ra_rad, dec_rad, ..
                } => frame.direction_local(*ra_rad, *dec_rad),
                PhaseCentre::Unprojected => direction_from_hadec(0.0, site.lat_rad),
            }
        };
        let centre_rad = match input.phase_centre {
            PhaseCentre::Icrs {
                ra_rad, dec_rad, ..
            } => (*ra_rad, *dec_rad),
            _ => {
                let mid =
                    SkyFrame::new(&ObsTime::from_jd_utc(0.5 * (t_first + t_last))?, site, eop)?;
                mid.local_to_icrs(old_centre(&mid))
            }
        };

        let mut rows = Array2::from_elem((times.len(), baselines.len()), RowGeometry::default());
        for (k, &jd) in times.iter().enumerate() {
            let frame = SkyFrame::new(&ObsTime::from_jd_utc(jd)?, site, eop)?;
            let basis = frame.uvw_basis(centre_rad.0, centre_rad.1);
            let p_old = old_centre(&frame);
            for (bl, row) in baselines.iter().zip(rows.row_mut(k)) {
                let uvw_m = basis.project(*bl);
                let w_old = bl[0] * p_old[0] + bl[1] * p_old[1] + bl[2] * p_old[2];
                *row = RowGeometry {
                    uvw_m,
                    delay_m: w_old - uvw_m[2],
                };
            }
        }
        Ok(Self {
            centre_rad,
            ant1: input.ant1.to_vec(),
            ant2: input.ant2.to_vec(),
            rows,
        })
    }

    /// The new phase centre, ICRS (ra, dec) in rad.
    pub fn centre_rad(&self) -> (f64, f64) {
        self.centre_rad
    }
    /// Number of integrations.
    pub fn ntimes(&self) -> usize {
        self.rows.nrows()
    }
    /// Number of baselines per integration.
    pub fn nbls(&self) -> usize {
        self.rows.ncols()
    }
    /// The new uvw (m, pyuvdata's convention) of integration `t`, baseline `b`.
    pub fn uvw_m(&self, t: usize, b: usize) -> Option<[f64; 3]> {
        self.rows.get((t, b)).map(|r| r.uvw_m)
    }
    /// The rephasing delay w_old − w_new (m) of integration `t`, baseline `b`.
    pub fn delay_m(&self, t: usize, b: usize) -> Option<f64> {
        self.rows.get((t, b)).map(|r| r.delay_m)
    }
    /// The new uvws of every row, `(ntimes × nbls, 3)`, time-major like a
    /// [`VisBlock`] of the whole group.
    pub fn uvw_rows_m(&self) -> Array2<f64> {
        let mut out = Array2::zeros((self.rows.len(), 3));
        for (mut o, g) in out.rows_mut().into_iter().zip(self.rows.iter()) {
            o.assign(&ndarray::ArrayView1::from(&g.uvw_m));
        }
        out
    }

    /// A rephaser for `block`, whose first integration is integration
    /// `t_index0` of the group. Fails if the block does not lie within the
    /// group: integrations past the group's, or other baselines.
    pub fn rephaser(
        &self,
        block: &VisBlock,
        t_index0: usize,
    ) -> Result<BlockRephaser<'_>, AstroError> {
        let outside = || AstroError::OutsideGroup {
            first_integration: t_index0,
            end_integration: t_index0.saturating_add(block.ntimes()),
            n_baselines: block.nbls(),
            group_integrations: self.ntimes(),
            group_baselines: self.nbls(),
        };
        let end = t_index0.checked_add(block.ntimes()).ok_or_else(outside)?;
        if end > self.ntimes() || block.nbls() != self.nbls() {
            return Err(outside());
        }
        if let Some(b) = (0..self.nbls()).find(|&b| {
            block.ant1.get(b) != self.ant1.get(b) || block.ant2.get(b) != self.ant2.get(b)
        }) {
            return Err(AstroError::BaselineMismatch {
                baseline: b,
                block: (
                    block.ant1.get(b).copied().unwrap_or(u32::MAX),
                    block.ant2.get(b).copied().unwrap_or(u32::MAX),
                ),
                group: (self.ant1[b], self.ant2[b]),
            });
        }
        Ok(BlockRephaser {
            geometry: self,
            t_index0,
            nbls: self.nbls().max(1),
            npol: block.npol().max(1),
            channels: Channels::new(&block.freqs_hz),
            first_bad_row: AtomicUsize::new(usize::MAX),
        })
    }
}

/// The channel frequencies of a block, prepared for [`rephase_row`].
#[derive(Clone, Debug, PartialEq)]
pub struct Channels {
    freqs_hz: Vec<f64>,
    f0_hz: f64,
    df_hz: f64,
    equispaced: bool,
}

impl Channels {
    /// From the channel centres (Hz) in data order, ascending or descending.
    pub fn new(freqs_hz: &[f64]) -> Self {
        let f0_hz = freqs_hz.first().copied().unwrap_or(0.0);
        let df_hz = match freqs_hz {
            [a, b, ..] => b - a,
            _ => 0.0,
        };
        let equispaced = freqs_hz
            .iter()
            .enumerate()
            .all(|(j, f)| (f - (f0_hz + j as f64 * df_hz)).abs() < EQUISPACED_TOL_HZ);
        Self {
            freqs_hz: freqs_hz.to_vec(),
            f0_hz,
            df_hz,
            equispaced,
        }
    }
    /// Number of channels.
    pub fn len(&self) -> usize {
        self.freqs_hz.len()
    }
    /// Whether there are no channels.
    pub fn is_empty(&self) -> bool {
        self.freqs_hz.is_empty()
    }
    /// Whether the channels lie on an equispaced grid (to 1 mHz), so that
    /// the phase of channel j+1 follows from channel j's by one product.
    pub fn is_equispaced(&self) -> bool {
        self.equispaced
    }
}

/// Multiply one row's visibilities, `(nchan, npol)` in channel order, by
/// `exp(+2πi f/c · delay_m)` (pyuvdata's sign: `delay = w_old − w_new`).
///
/// Equispaced channels use the recurrence `exp(iφ f_{j+1}) = exp(iφ f_j) ·
/// exp(iφ Δf)` in double precision (two `sin_cos` per row instead of one
/// per channel); others compute each channel's phase directly.
#[inline]
pub fn rephase_row(vis: &mut [Complex32], npol: usize, channels: &Channels, delay_m: f64) {
    let phase_per_hz = std::f64::consts::TAU / C_M_S * delay_m;
    if phase_per_hz == 0.0 {
        return;
    }
    let npol = npol.max(1);
    if channels.equispaced {
        let mut rot = Complex64::from_polar(1.0, phase_per_hz * channels.f0_hz);
        let step = Complex64::from_polar(1.0, phase_per_hz * channels.df_hz);
        for chan in vis.chunks_mut(npol) {
            let r = Complex32::new(rot.re as f32, rot.im as f32);
            chan.iter_mut().for_each(|v| *v *= r);
            rot *= step;
        }
    } else {
        for (chan, f) in vis.chunks_mut(npol).zip(&channels.freqs_hz) {
            let rot = Complex64::from_polar(1.0, phase_per_hz * f);
            let r = Complex32::new(rot.re as f32, rot.im as f32);
            chan.iter_mut().for_each(|v| *v *= r);
        }
    }
}

/// The rephasing of one [`VisBlock`] within its group, row by row: checked
/// against the group once ([`GroupGeometry::rephaser`]), then applied to
/// each row by [`apply`](Self::apply) from any thread.
#[derive(Debug)]
pub struct BlockRephaser<'a> {
    geometry: &'a GroupGeometry,
    t_index0: usize,
    nbls: usize,
    npol: usize,
    channels: Channels,
    /// The first row asked for that lies outside the group (never one, for
    /// rows of the block the rephaser was made for); reported by `finish`.
    first_bad_row: AtomicUsize,
}

impl BlockRephaser<'_> {
    /// Rephase row `row` of the block (time-major: integration `row / nbls`,
    /// baseline `row % nbls`): replace its `uvw` (3 values, pyuvdata's
    /// convention) with the new one and rotate its visibilities
    /// (`(nchan, npol)`, the block's channel order).
    ///
    /// A row outside the block's group is left untouched and remembered:
    /// [`finish`](Self::finish) then fails.
    #[inline]
    pub fn apply(&self, row: usize, vis: &mut [Complex32], uvw: &mut [f64]) {
        let t = self.t_index0 + row / self.nbls;
        let (Some(g), 3) = (self.geometry.rows.get((t, row % self.nbls)), uvw.len()) else {
            self.first_bad_row.fetch_min(row, Ordering::Relaxed);
            return;
        };
        uvw.copy_from_slice(&g.uvw_m);
        rephase_row(vis, self.npol, &self.channels, g.delay_m);
    }

    /// Ok if every row [`apply`](Self::apply) saw lay within the group.
    pub fn finish(self) -> Result<(), AstroError> {
        match self.first_bad_row.into_inner() {
            usize::MAX => Ok(()),
            row => {
                let t = self.t_index0.saturating_add(row / self.nbls);
                Err(AstroError::OutsideGroup {
                    first_integration: t,
                    end_integration: t.saturating_add(1),
                    n_baselines: self.geometry.nbls(),
                    group_integrations: self.geometry.ntimes(),
                    group_baselines: self.geometry.nbls(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::{channel_freq_hz, INTEGRATION_TIME_S, SECONDS_PER_DAY};
    use ndarray::Array3;

    /// ITRF offsets (m) of a small array with baselines up to ~3 km.
    const ANTENNAS_M: [[f64; 3]; 4] = [
        [0.0, 0.0, 0.0],
        [1200.0, -800.0, 300.0],
        [-2000.0, 1500.0, -600.0],
        [300.0, 2400.0, 100.0],
    ];
    const POINTING_DEC_RAD: f64 = 0.95;

    struct Group {
        times: Vec<f64>,
        ant1: Vec<u32>,
        ant2: Vec<u32>,
        centre: PhaseCentre,
    }

    /// 24 integrations of every baseline (autocorrelations included) of
    /// [`ANTENNAS_M`], phased like the correlator's output.
    fn group() -> Result<Group, AstroError> {
        let t0 = ObsTime::from_iso("2025-10-02T00:12:00")?.jd_utc();
        let times = (0..24)
            .map(|k| t0 + k as f64 * INTEGRATION_TIME_S / SECONDS_PER_DAY)
            .collect();
        let (mut ant1, mut ant2) = (Vec::new(), Vec::new());
        for a in 0..4u32 {
            for b in a..4u32 {
                ant1.push(a);
                ant2.push(b);
            }
        }
        Ok(Group {
            times,
            ant1,
            ant2,
            centre: PhaseCentre::MeridianDrift {
                dec_rad: POINTING_DEC_RAD,
            },
        })
    }

    fn input(g: &Group) -> GeometryInput<'_> {
        GeometryInput {
            times_jd_utc: &g.times,
            ant1: &g.ant1,
            ant2: &g.ant2,
            antenna_positions_m: &ANTENNAS_M,
            phase_centre: &g.centre,
        }
    }

    fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
        a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    }

    /// A block of the group's integrations `t0..t0 + nt` with the given data.
    fn block(
        g: &Group,
        t0: usize,
        nt: usize,
        freqs_hz: Vec<f64>,
        data: Array3<Complex32>,
    ) -> VisBlock {
        let nrows = nt * g.ant1.len();
        let shape = data.dim();
        VisBlock {
            times_jd_utc: g.times[t0..t0 + nt].to_vec(),
            int_time_s: INTEGRATION_TIME_S,
            ant1: g.ant1.clone(),
            ant2: g.ant2.clone(),
            freqs_hz,
            chan_width_hz: 244_140.625,
            pols: vec![-5, -6],
            uvw_m: Array2::zeros((nrows, 3)),
            data,
            flags: Array3::from_elem(shape, false),
            nsamples: Array3::from_elem(shape, 1.0),
            phase_centre: g.centre.clone(),
        }
    }

    /// Known answer: the correlator's visibilities of a point source at the
    /// new phase centre P, `V = exp(+2πi f/c · b·(s_k − p_k))` with s_k the
    /// observed direction of P and p_k the meridian at the pointing
    /// declination, become 1 everywhere once rephased to P.
    #[test]
    fn a_point_source_at_the_new_centre_becomes_constant() -> Result<(), AstroError> {
        let g = group()?;
        let site = Site::dsa110();
        let eop = Eop {
            dut1_s: 0.09,
            xp_rad: 0.2 * crate::constants::ARCSEC,
            yp_rad: 0.3 * crate::constants::ARCSEC,
        };
        let geometry = GroupGeometry::new(&input(&g), &site, &eop)?;
        let (ra, dec) = geometry.centre_rad();
        // the correlator's descending channels of subband 3
        let freqs: Vec<f64> = (0..48).map(|j| channel_freq_hz(3, j)).collect();
        let (nbls, npol) = (g.ant1.len(), 2);
        let mut data = Array3::zeros((g.times.len() * nbls, freqs.len(), npol));
        let mut max_turns: f64 = 0.0;
        for (k, &jd) in g.times.iter().enumerate() {
            let frame = SkyFrame::new(&ObsTime::from_jd_utc(jd)?, &site, &eop)?;
            let s = frame.direction_local(ra, dec);
            let p = direction_from_hadec(0.0, POINTING_DEC_RAD);
            for b in 0..nbls {
                let (p1, p2) = (
                    ANTENNAS_M[g.ant1[b] as usize],
                    ANTENNAS_M[g.ant2[b] as usize],
                );
                let bl = itrf_to_local([p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]], site.lon_rad);
                let path_m = dot(bl, s) - dot(bl, p);
                for (j, f) in freqs.iter().enumerate() {
                    let turns = f / C_M_S * path_m;
                    max_turns = max_turns.max(turns.abs());
                    let v = Complex64::from_polar(1.0, std::f64::consts::TAU * turns);
                    for q in 0..npol {
                        data[(k * nbls + b, j, q)] = Complex32::new(v.re as f32, v.im as f32);
                    }
                }
            }
        }
        // the source is far enough from the old centres for the test to mean something
        assert!(max_turns > 10.0, "max phase {max_turns} turns");
        // in two blocks, as the converter streams them
        let mut worst: f32 = 0.0;
        for (t0, nt) in [(0, 10), (10, 14)] {
            let rows = t0 * nbls..(t0 + nt) * nbls;
            let mut blk = block(
                &g,
                t0,
                nt,
                freqs.clone(),
                data.slice(ndarray::s![rows, .., ..]).to_owned(),
            );
            let rephaser = geometry.rephaser(&blk, t0)?;
            let cell = freqs.len() * npol;
            let (Some(d), Some(u)) = (blk.data.as_slice_mut(), blk.uvw_m.as_slice_mut()) else {
                panic!("standard layout");
            };
            for (row, (vis, uvw)) in d.chunks_mut(cell).zip(u.chunks_mut(3)).enumerate() {
                rephaser.apply(row, vis, uvw);
            }
            rephaser.finish()?;
            for v in blk.data.iter() {
                worst = worst.max((v - Complex32::new(1.0, 0.0)).norm());
            }
            // the new w is the baseline along the observed direction of P
            for (row, uvw) in blk.uvw_m.rows().into_iter().enumerate() {
                let (k, b) = (t0 + row / nbls, row % nbls);
                assert_eq!(Some([uvw[0], uvw[1], uvw[2]]), geometry.uvw_m(k, b));
            }
        }
        assert!(
            worst < 2e-5,
            "rephased visibilities differ from 1 by up to {worst}"
        );
        Ok(())
    }

    #[test]
    fn new_uvws_keep_baseline_lengths_and_w_points_at_the_centre() -> Result<(), AstroError> {
        let g = group()?;
        let site = Site::dsa110();
        let eop = Eop::default();
        let geometry = GroupGeometry::new(&input(&g), &site, &eop)?;
        let (ra, dec) = geometry.centre_rad();
        let rows = geometry.uvw_rows_m();
        assert_eq!(rows.dim(), (24 * 10, 3));
        for (k, &jd) in g.times.iter().enumerate() {
            let s =
                SkyFrame::new(&ObsTime::from_jd_utc(jd)?, &site, &eop)?.direction_local(ra, dec);
            for b in 0..g.ant1.len() {
                let (p1, p2) = (
                    ANTENNAS_M[g.ant1[b] as usize],
                    ANTENNAS_M[g.ant2[b] as usize],
                );
                let bl = itrf_to_local([p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]], site.lon_rad);
                let uvw = geometry
                    .uvw_m(k, b)
                    .ok_or(AstroError::Shape("no row".into()))?;
                assert!((dot(uvw, uvw).sqrt() - dot(bl, bl).sqrt()).abs() < 1e-9);
                assert!(
                    (uvw[2] - dot(bl, s)).abs() < 1e-9,
                    "w {} vs b·s {}",
                    uvw[2],
                    dot(bl, s)
                );
                let r = k * g.ant1.len() + b;
                assert_eq!([rows[(r, 0)], rows[(r, 1)], rows[(r, 2)]], uvw);
            }
        }
        // the centre is the meridian at the pointing declination at mid-time
        let t_mid = 0.5 * (g.times[0] + g.times[23]);
        let mid = SkyFrame::new(&ObsTime::from_jd_utc(t_mid)?, &site, &eop)?;
        let p = mid.direction_local(ra, dec);
        let want = direction_from_hadec(0.0, POINTING_DEC_RAD);
        assert!(1.0 - dot(p, want) < 1e-15);
        Ok(())
    }

    #[test]
    fn data_already_phased_to_an_icrs_centre_keep_their_phase() -> Result<(), AstroError> {
        let mut g = group()?;
        g.centre = PhaseCentre::Icrs {
            name: "src".into(),
            ra_rad: 1.2,
            dec_rad: 0.7,
        };
        let geometry = GroupGeometry::new(&input(&g), &Site::dsa110(), &Eop::default())?;
        assert_eq!(geometry.centre_rad(), (1.2, 0.7));
        for k in 0..geometry.ntimes() {
            for b in 0..geometry.nbls() {
                let d = geometry
                    .delay_m(k, b)
                    .ok_or(AstroError::Shape("no row".into()))?;
                assert!(d.abs() < 1e-9, "delay {d} m");
            }
        }
        Ok(())
    }

    /// `exp(+2πi f/c · d)` computed channel by channel.
    fn direct(freqs: &[f64], delay_m: f64, npol: usize) -> Vec<Complex32> {
        freqs
            .iter()
            .flat_map(|f| {
                let r = Complex64::from_polar(1.0, std::f64::consts::TAU * f / C_M_S * delay_m);
                std::iter::repeat_n(Complex32::new(r.re as f32, r.im as f32), npol)
            })
            .collect()
    }

    #[test]
    fn row_rotation_matches_the_direct_phase_for_every_channel_order() {
        let descending: Vec<f64> = (0..48).map(|j| channel_freq_hz(0, j)).collect();
        let ascending: Vec<f64> = descending.iter().rev().copied().collect();
        let mut uneven = ascending.clone();
        uneven[5] += 1000.0;
        for (freqs, equispaced) in [(descending, true), (ascending, true), (uneven, false)] {
            let channels = Channels::new(&freqs);
            assert_eq!(channels.is_equispaced(), equispaced);
            assert_eq!(channels.len(), 48);
            for delay_m in [0.0, 1e-3, -37.25, 2900.0] {
                let mut vis = vec![Complex32::new(1.0, 0.0); 48 * 4];
                rephase_row(&mut vis, 4, &channels, delay_m);
                let want = direct(&freqs, delay_m, 4);
                let worst = vis
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).norm())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-6, "delay {delay_m}: off by {worst}");
            }
        }
    }

    #[test]
    fn an_antenna_outside_the_table_is_an_error_not_the_origin() -> Result<(), AstroError> {
        let mut g = group()?;
        g.ant2[4] = 7;
        match GroupGeometry::new(&input(&g), &Site::dsa110(), &Eop::default()) {
            Err(AstroError::UnknownAntenna {
                baseline: 4,
                antenna: 7,
                n_antennas: 4,
            }) => Ok(()),
            other => panic!("expected UnknownAntenna, got {other:?}"),
        }
    }

    #[test]
    fn a_group_without_integrations_is_an_error() -> Result<(), AstroError> {
        let mut g = group()?;
        g.times.clear();
        let r = GroupGeometry::new(&input(&g), &Site::dsa110(), &Eop::default());
        assert!(matches!(r, Err(AstroError::InvalidTime { .. })), "{r:?}");
        Ok(())
    }

    #[test]
    fn blocks_outside_the_group_are_refused() -> Result<(), AstroError> {
        let g = group()?;
        let geometry = GroupGeometry::new(&input(&g), &Site::dsa110(), &Eop::default())?;
        let freqs = vec![1.4e9, 1.41e9];
        let rows = |nt: usize| Array3::zeros((nt * g.ant1.len(), 2, 2));
        // the last two integrations fit; one more does not
        assert!(geometry
            .rephaser(&block(&g, 22, 2, freqs.clone(), rows(2)), 22)
            .is_ok());
        let late = block(&g, 22, 2, freqs.clone(), rows(2));
        let r = geometry.rephaser(&late, 23).map(|_| ());
        assert!(
            matches!(
                r,
                Err(AstroError::OutsideGroup {
                    first_integration: 23,
                    end_integration: 25,
                    ..
                })
            ),
            "{r:?}"
        );
        // other baselines
        let mut fewer = block(&g, 0, 1, freqs.clone(), rows(1));
        fewer.ant1.pop();
        fewer.ant2.pop();
        fewer.uvw_m = Array2::zeros((fewer.nrows(), 3));
        let r = geometry.rephaser(&fewer, 0).map(|_| ());
        assert!(
            matches!(r, Err(AstroError::OutsideGroup { n_baselines: 9, .. })),
            "{r:?}"
        );
        let mut swapped = block(&g, 0, 1, freqs, rows(1));
        swapped.ant2.swap(1, 2);
        let r = geometry.rephaser(&swapped, 0).map(|_| ());
        assert!(
            matches!(r, Err(AstroError::BaselineMismatch { baseline: 1, .. })),
            "{r:?}"
        );
        Ok(())
    }

    #[test]
    fn a_row_past_the_block_is_reported_by_finish() -> Result<(), AstroError> {
        let g = group()?;
        let geometry = GroupGeometry::new(&input(&g), &Site::dsa110(), &Eop::default())?;
        let blk = block(&g, 23, 1, vec![1.4e9], Array3::zeros((g.ant1.len(), 1, 2)));
        let mut vis = [Complex32::new(1.0, 0.0); 2];
        let mut uvw = [0.0; 3];
        let rephaser = geometry.rephaser(&blk, 23)?;
        rephaser.apply(3, &mut vis, &mut uvw);
        assert_ne!(uvw, [0.0; 3]);
        rephaser.finish()?;
        let rephaser = geometry.rephaser(&blk, 23)?;
        rephaser.apply(g.ant1.len(), &mut vis, &mut uvw); // integration 24: none
        let r = rephaser.finish();
        assert!(
            matches!(
                r,
                Err(AstroError::OutsideGroup {
                    first_integration: 24,
                    ..
                })
            ),
            "{r:?}"
        );
        Ok(())
    }
}
