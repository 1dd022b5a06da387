//! Model visibilities of catalogue point sources, attenuated by the primary
//! beam at each integration and frequency.
//!
//! Convention: that of [`VisBlock`] (pyuvdata's; see `dsa110_astro`): with the
//! block's `uvw = b·(ê, n̂, p̂)` for `b = pos(ant2) − pos(ant1)`,
//!
//! ```text
//! M(row, f) = Σ_src S (f / 1.4 GHz)^α · A(θ_src(t), f) · exp(+2πi f/c · (u l + v m + w (n − 1)))
//! ```
//!
//! where (l, m, n) are the source's observed direction (`SkyFrame::direction_local`
//! at the integration's mid-time) projected on the phase centre's basis (ê, n̂, p̂):
//! for an ICRS phase centre `SkyFrame::uvw_basis` (pyuvdata's orientation, as
//! the converter phases), for the correlator's meridian drift
//! `uvw_basis_meridian(dec)`. `u l + v m + w(n − 1) = b·(s − p)` exactly, so
//! this is the simulator's formula. A Measurement Set stores `UVW = −uvw` and
//! `DATA = conj(V)`, i.e. `DATA ∝ exp(+2πi(U l + V m + W(n − 1))/λ)` with its own
//! UVWs; `dsa110_ms_writer::read_ms` returns blocks in this crate's convention.
//!
//! The beam `A` is the Airy power pattern of the dish at the angle θ between
//! the source and the pointing (HA = 0, Dec = pointing declination of date,
//! where the dishes stay while the sky drifts). The model is unpolarised:
//! XX = YY = I (SPEC §2), zero in the cross hands. Smearing is not modelled
//! (channel centres, integration mid-times), as in the simulator.

use dsa110_astro::constants::C_M_S;
use dsa110_astro::geometry::{uvw_basis_hadec, uvw_basis_meridian};
use dsa110_astro::{airy_power, direction_from_hadec, ObsTime, PhaseCentre, SkyFrame, VisBlock};
use ndarray::{Array2, ArrayView2};
use num_complex::{Complex32, Complex64};
use rayon::prelude::*;

use crate::catalog::Calibrator;
use crate::transit::{angle_between, BeamGeometry};
use crate::CalError;

/// Per integration and source: (l, m, n − 1) and amplitude per channel.
struct SrcTerm {
    lmn: [f64; 3],
    amp: Vec<f64>,
}

/// Model visibilities `(nrows, nchan)` for rows `t·nbls + b` with the given
/// UVWs (m), channel frequencies, phase centre and sources; the beam from
/// `beam` (pointing, site, dish) unless `apply_beam` is false.
#[allow(clippy::too_many_arguments)]
pub fn predict(
    times_jd_utc: &[f64],
    nbls: usize,
    uvw_m: ArrayView2<'_, f64>,
    freqs_hz: &[f64],
    phase_centre: &PhaseCentre,
    sources: &[Calibrator],
    beam: &BeamGeometry,
    apply_beam: bool,
) -> Result<Array2<Complex32>, CalError> {
    let nt = times_jd_utc.len();
    let nrows = nt * nbls;
    if uvw_m.dim() != (nrows, 3) {
        return Err(CalError::Shape {
            what: "uvw_m",
            detail: format!("{:?} != ({nrows}, 3)", uvw_m.dim()),
        });
    }
    let nchan = freqs_hz.len();
    let pointing = direction_from_hadec(0.0, beam.pointing_dec_rad);
    // geometry per integration (serial: a SkyFrame per integration is cheap)
    let mut terms: Vec<Vec<SrcTerm>> = Vec::with_capacity(nt);
    for &jd in times_jd_utc {
        let t = ObsTime::from_jd_utc(jd).map_err(|source| CalError::Astro {
            what: "integration time",
            source,
        })?;
        let frame = SkyFrame::new(&t, &beam.site, &beam.eop).map_err(|source| CalError::Astro {
            what: "sky frame",
            source,
        })?;
        let basis = match phase_centre {
            PhaseCentre::Icrs {
                ra_rad, dec_rad, ..
            } => frame.uvw_basis(*ra_rad, *dec_rad),
            PhaseCentre::MeridianDrift { dec_rad } => uvw_basis_meridian(*dec_rad),
            PhaseCentre::Unprojected => uvw_basis_hadec(0.0, beam.site.lat_rad),
        };
        let mut v = Vec::with_capacity(sources.len());
        for src in sources {
            let s = frame.direction_local(src.ra_deg.to_radians(), src.dec_deg.to_radians());
            let dot = |a: [f64; 3]| a[0] * s[0] + a[1] * s[1] + a[2] * s[2];
            let lmn = [dot(basis.e), dot(basis.n), dot(basis.p) - 1.0];
            let theta = angle_between(s, pointing);
            let amp = freqs_hz
                .iter()
                .map(|&f| {
                    let a = if apply_beam {
                        airy_power(theta, f, beam.dish_diameter_m)
                    } else {
                        1.0
                    };
                    src.flux_at_jy(f) * a
                })
                .collect();
            v.push(SrcTerm { lmn, amp });
        }
        terms.push(v);
    }
    // uniform channel spacing → phasor recurrence along the channels
    let step = if nchan > 1 {
        freqs_hz[1] - freqs_hz[0]
    } else {
        0.0
    };
    let uniform = nchan > 1
        && freqs_hz
            .windows(2)
            .all(|w| ((w[1] - w[0]) - step).abs() <= 1e-9 * step.abs().max(1.0));
    let mut out = Array2::<Complex32>::zeros((nrows, nchan));
    let Some(out_slice) = out.as_slice_mut() else {
        return Err(CalError::Shape {
            what: "model",
            detail: "not contiguous".into(),
        });
    };
    if nchan == 0 {
        return Ok(out);
    }
    out_slice.par_chunks_mut(nchan).enumerate().for_each_init(
        || vec![Complex64::new(0.0, 0.0); nchan],
        |acc, (r, row)| {
            let t = r / nbls.max(1);
            let uvw = [uvw_m[[r, 0]], uvw_m[[r, 1]], uvw_m[[r, 2]]];
            acc.fill(Complex64::new(0.0, 0.0));
            for st in &terms[t] {
                let tau_m = uvw[0] * st.lmn[0] + uvw[1] * st.lmn[1] + uvw[2] * st.lmn[2];
                let k = std::f64::consts::TAU * tau_m / C_M_S;
                if uniform {
                    let mut z = Complex64::from_polar(1.0, k * freqs_hz[0]);
                    let dz = Complex64::from_polar(1.0, k * step);
                    for (a, &amp) in acc.iter_mut().zip(&st.amp) {
                        *a += z * amp;
                        z *= dz;
                    }
                } else {
                    for ((a, &amp), &f) in acc.iter_mut().zip(&st.amp).zip(freqs_hz) {
                        *a += Complex64::from_polar(amp, k * f);
                    }
                }
            }
            for (o, a) in row.iter_mut().zip(acc.iter()) {
                *o = Complex32::new(a.re as f32, a.im as f32);
            }
        },
    );
    Ok(out)
}

/// [`predict`] for a block (its times, UVWs, channels and phase centre), with the beam.
pub fn predict_block(
    block: &VisBlock,
    sources: &[Calibrator],
    beam: &BeamGeometry,
) -> Result<Array2<Complex32>, CalError> {
    block.validate().map_err(|source| CalError::Astro {
        what: "visibility block shape",
        source,
    })?;
    predict(
        &block.times_jd_utc,
        block.nbls(),
        block.uvw_m.view(),
        &block.freqs_hz,
        &block.phase_centre,
        sources,
        beam,
        true,
    )
}

/// The pointing declination of date (rad) under an ICRS phase centre at `jd_utc`:
/// for a group the converter phased to the meridian at its mid-time this is the
/// correlator's `phase_center_dec`.
pub fn pointing_dec_of_icrs_centre(
    ra_rad: f64,
    dec_rad: f64,
    jd_utc: f64,
    beam: &BeamGeometry,
) -> Result<f64, CalError> {
    let t = ObsTime::from_jd_utc(jd_utc).map_err(|source| CalError::Astro {
        what: "time",
        source,
    })?;
    let frame = SkyFrame::new(&t, &beam.site, &beam.eop).map_err(|source| CalError::Astro {
        what: "sky frame",
        source,
    })?;
    let p = frame.direction_local(ra_rad, dec_rad);
    Ok(p[2].clamp(-1.0, 1.0).asin())
}
