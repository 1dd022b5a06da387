//! Against WSClean 3.1 (`-use-wgridder`) on the same MS: dirty images
//! (natural to 1e-3 of the peak, Briggs 0 to 1 %) and the PSF fit.

use dsa110_imaging::ms::{read_ms_stokes_i, VisColumn};
use dsa110_imaging::{compute, product_path, CleanParams, ImagingError, ImagingParams, Weighting};

use crate::common::*;
use crate::msio::{write_ms, wsclean};

const N: usize = 512;
const SCALE: f64 = 24.0;

fn make_ms(dir: &Path) -> std::path::PathBuf {
    let ants = dsa_like_array(10, 10, 8, 330.0, 21);
    let dec = deg(54.57);
    let freqs: Vec<f64> = (0..16).map(|c| 1.3115e9 + c as f64 * 12.5e6).collect();
    let srcs = [
        Src {
            l: 0.0,
            m: 0.0,
            flux_jy: 1.0,
        },
        Src {
            l: deg(1.2),
            m: deg(-0.9),
            flux_jy: 0.7,
        },
        Src {
            l: deg(-1.55),
            m: deg(1.5),
            flux_jy: 0.9,
        },
        Src {
            l: deg(0.4),
            m: deg(1.1),
            flux_jy: 0.4,
        },
    ];
    let has: Vec<f64> = (0..6).map(|i| deg(-1.0 + 0.4 * i as f64)).collect();
    let mut v = simulate(&ants, &has, dec, &freqs, &srcs, 0.05, 9);
    v.chan_width_hz = 12.5e6;
    for (i, w) in v.weight.iter_mut().enumerate() {
        if i % 97 == 0 {
            *w = 0.0;
        }
    }
    let ms = dir.join("sim.ms");
    write_ms(&ms, &v, ants.len(), has.len(), deg(150.0), dec);
    ms
}

use std::path::Path;

fn ours(ms: &Path, weighting: Weighting) -> (dsa110_imaging::ImagingProducts, usize) {
    let mut v = read_ms_stokes_i(ms, VisColumn::Data).unwrap();
    let p = ImagingParams {
        size: N,
        scale_arcsec: SCALE,
        weighting,
        clean: CleanParams {
            niter: 0,
            ..Default::default()
        },
        write_dirty: true,
        eps: 1e-5,
        ..Default::default()
    };
    let nvis = v.weight.iter().filter(|w| **w > 0.0).count();
    (compute(&mut v, &p).unwrap(), nvis)
}

/// Beams (BMAJ″, BMIN″, BPA°): ours, WSClean's PSF fitted over its whole box, and
/// over the quadrant its fitter uses.
type Beams = ((f64, f64, f64), (f64, f64, f64), (f64, f64, f64));

fn compare(ms: &Path, dir: &Path, weighting: Weighting, wsargs: &[&str], tol: f64) -> Beams {
    let name = dir.join(format!("ws-{}", weighting.describe().replace(' ', "")));
    let size = N.to_string();
    let scale = format!("{SCALE}asec");
    let mut args = vec![
        "-use-wgridder",
        "-size",
        &size,
        &size,
        "-scale",
        &scale,
        "-niter",
        "0",
        "-make-psf",
        "-no-update-model-required",
        // WSClean's default "small inversion" grids at the smallest size the
        // longest baseline needs (here 540² instead of the padded 616²) and
        // Fourier-interpolates up; that is not exact where the image is not
        // band-limited (the w-term, emission at the edges) and left 9.3e-3 of the
        // peak at the edge row. Without it WSClean equals a direct Fourier sum
        // to 2e-6 of the peak, as we do.
        "-no-small-inversion",
    ];
    args.extend_from_slice(wsargs);
    let t_ws = wsclean(ms, &name, &args);
    let (prod, nvis) = ours(ms, weighting);
    eprintln!(
        "{} visibilities; wsclean {:.2} s, ours {:.2} s",
        nvis,
        t_ws.as_secs_f64(),
        prod.report.timings.total_s
    );
    let ws = dsa110_fits::read_image(product_path(&name, "dirty", "fits")).unwrap();
    let dirty = prod.dirty.as_ref().unwrap();
    let peak = ws.data.iter().map(|x| x.abs()).fold(0.0f32, f32::max) as f64;
    let mut maxerr = 0.0f64;
    let mut at = 0;
    for (i, (a, b)) in dirty.iter().zip(&ws.data).enumerate() {
        let e = (a - *b as f64).abs();
        if e > maxerr {
            maxerr = e;
            at = i;
        }
    }
    eprintln!(
        "{}: WSClean peak {peak:.5}, ours {:.5}; max |diff| {maxerr:.3e} = {:.2e} of peak at ({}, {})",
        weighting.describe(),
        dirty.iter().cloned().fold(f64::MIN, f64::max),
        maxerr / peak,
        at % N,
        at / N
    );
    assert!(
        maxerr < tol * peak,
        "{}: max diff {maxerr} vs peak {peak}",
        weighting.describe()
    );
    // the PSFs themselves
    let wsp = dsa110_fits::read_image(product_path(&name, "psf", "fits")).unwrap();
    let psf_err = prod
        .psf
        .iter()
        .zip(&wsp.data)
        .map(|(a, b)| (a - *b as f64).abs())
        .fold(0.0, f64::max);
    eprintln!("PSF: max |diff| {psf_err:.2e}");
    assert!(psf_err < tol, "PSF differs from WSClean's by {psf_err}");
    // WSClean's beam fit, done independently here on WSClean's PSF: over its
    // whole fitting box (what WSClean means to do, and what we do), and over
    // the quadrant x ≥ 0, y ≥ 0 of the box only (what WSClean 3.1 does: its
    // pixel offsets are computed in unsigned arithmetic, so the other three
    // quadrants drop out of its fit)
    let wsi = dsa110_fits::read_image(product_path(&name, "image", "fits")).unwrap();
    let b = wsi.meta.beam.as_ref().unwrap();
    let header = (b.bmaj_deg * 3600.0, b.bmin_deg * 3600.0, b.bpa_deg);
    let v = read_ms_stokes_i(ms, VisColumn::Data).unwrap();
    let theoretic_px = theoretic_beam_rad(&v).to_degrees() * 3600.0 / SCALE;
    let box_fit = ws_fit(&wsp.data, N, theoretic_px, false);
    let quadrant_fit = ws_fit(&wsp.data, N, theoretic_px, true);
    let ob = prod.report.beam;
    let ours = (ob.bmaj_arcsec, ob.bmin_arcsec, ob.bpa_deg);
    let show = |b: (f64, f64, f64)| format!("{:.2}″ × {:.2}″ PA {:.2}°", b.0, b.1, b.2);
    eprintln!(
        "beam: ours {}; WSClean's PSF fitted over the box {}, over the quadrant {}; \
         WSClean's header {}",
        show(ours),
        show(box_fit),
        show(quadrant_fit),
        show(header)
    );
    // the header is the quadrant fit: this is why a beam is compared with the box fit
    check_beam(
        "WSClean's header vs the quadrant fit",
        header,
        quadrant_fit,
        0.005,
        0.2,
    );
    (ours, box_fit, quadrant_fit)
}

fn check_beam(what: &str, got: (f64, f64, f64), want: (f64, f64, f64), rel: f64, deg: f64) {
    let dpa = (got.2 - want.2 + 90.0).rem_euclid(180.0) - 90.0;
    assert!(
        (got.0 / want.0 - 1.0).abs() < rel && (got.1 / want.1 - 1.0).abs() < rel && dpa.abs() < deg,
        "{what}: {got:?} vs {want:?}"
    );
}

/// WSClean's theoretical beam, its starting point: 1 / the longest baseline (λ).
fn theoretic_beam_rad(v: &dsa110_imaging::ImagingVis) -> f64 {
    let fmax = v.freq_hz.iter().cloned().fold(0.0, f64::max);
    let uv = v
        .uvw_m
        .iter()
        .map(|b| (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt())
        .fold(0.0, f64::max);
    C_M_S / (fmax * uv)
}

/// WSClean's PSF fit (FWHM major, minor in arcsec, PA in degrees), written
/// anew: a centred Gaussian of peak 1, least squares over the box of side
/// 10 × the beam (even), the box enlarged while the major axis exceeds
/// 0.08 × the box, up to 5 times; `quadrant` keeps only the pixels at offsets
/// x ≥ 0, y ≥ 0 of the box. Parameters of `exp(−(a x² + b x y + c y²))` in
/// pixel offsets (x along the image's x axis, to the west), Gauss–Newton with
/// numerical derivatives and step halving.
fn ws_fit(psf: &[f32], n: usize, estimate_px: f64, quadrant: bool) -> (f64, f64, f64) {
    let even = |x: f64| {
        let b = (x * 10.0).ceil().max(10.0) as usize;
        b + b % 2
    };
    let mut side = even(estimate_px);
    let mut p = {
        let s = estimate_px / 2.354_820_045;
        [0.5 / (s * s), 0.0, 0.5 / (s * s)]
    };
    let mut out = (0.0, 0.0, 0.0);
    for _ in 0..5 {
        let (c, h) = ((n / 2) as i64, (side / 2) as i64);
        let mut pts = Vec::new();
        for dy in -h..side as i64 - h {
            for dx in -h..side as i64 - h {
                if quadrant && (dx < 0 || dy < 0) {
                    continue;
                }
                let v = psf[(c + dy) as usize * n + (c + dx) as usize] as f64;
                pts.push((dx as f64, dy as f64, v));
            }
        }
        let cost = |p: &[f64; 3]| -> f64 {
            pts.iter()
                .map(|&(x, y, v)| {
                    (v - (-(p[0] * x * x + p[1] * x * y + p[2] * y * y)).exp()).powi(2)
                })
                .sum()
        };
        for _ in 0..500 {
            let h = 1e-7;
            let mut jtj = [[0.0; 3]; 3];
            let mut jtr = [0.0; 3];
            for &(x, y, v) in &pts {
                let g = |p: &[f64; 3]| (-(p[0] * x * x + p[1] * x * y + p[2] * y * y)).exp();
                let g0 = g(&p);
                let mut j = [0.0; 3];
                for (k, jk) in j.iter_mut().enumerate() {
                    let (mut pp, mut pm) = (p, p);
                    pp[k] += h;
                    pm[k] -= h;
                    *jk = (g(&pp) - g(&pm)) / (2.0 * h);
                }
                for a in 0..3 {
                    jtr[a] += j[a] * (v - g0);
                    for b in 0..3 {
                        jtj[a][b] += j[a] * j[b];
                    }
                }
            }
            let d = solve(jtj, jtr);
            let c0 = cost(&p);
            let mut t = 1.0;
            let mut moved = false;
            while t > 1e-6 {
                let q = [p[0] + t * d[0], p[1] + t * d[1], p[2] + t * d[2]];
                if q[0] > 0.0 && q[2] > 0.0 && 4.0 * q[0] * q[2] > q[1] * q[1] && cost(&q) < c0 {
                    p = q;
                    moved = true;
                    break;
                }
                t /= 2.0;
            }
            if !moved || d.iter().map(|x| x.abs()).fold(0.0, f64::max) < 1e-13 {
                break;
            }
        }
        // axes and PA (east of north; east = −x, north = +y)
        let (a, b, c) = (p[0], p[1] / 2.0, p[2]);
        let disc = (((a - c) / 2.0).powi(2) + b * b).sqrt();
        let (l1, l2) = ((a + c) / 2.0 - disc, (a + c) / 2.0 + disc);
        let fwhm = |l: f64| 2.354_820_045 / (2.0 * l).sqrt();
        // eigenvector of l1 in (x, y)
        let (vx, vy) = if b.abs() > 1e-300 {
            (b, l1 - a)
        } else if a <= c {
            (1.0, 0.0)
        } else {
            (0.0, 1.0)
        };
        let pa = (-vx).atan2(vy).to_degrees().rem_euclid(180.0);
        out = (fwhm(l1) * SCALE, fwhm(l2) * SCALE, pa);
        let bmaj_px = fwhm(l1);
        if bmaj_px * 10.0 * 0.8 < side as f64 {
            break;
        }
        side = even(bmaj_px);
    }
    out
}

fn solve(m: [[f64; 3]; 3], r: [f64; 3]) -> [f64; 3] {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&m);
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut mk = m;
        for i in 0..3 {
            mk[i][k] = r[i];
        }
        *o = det(&mk) / d;
    }
    out
}

/// Natural weighting: dirty images to 1e-3 of the peak everywhere, the PSFs to
/// 1e-3, and WSClean's header beam is its fit over one quadrant of its box.
#[test]
fn natural_dirty_image_and_psf_agree_with_wsclean() {
    let dir = tempfile::tempdir().unwrap();
    let ms = make_ms(dir.path());
    compare(
        &ms,
        dir.path(),
        Weighting::Natural,
        &["-weight", "natural"],
        1e-3,
    );
}

/// Briggs 0 (WSClean's weight grid: the padded image's uv cells, floor binning):
/// dirty images and PSFs to 1 % of the peak.
#[test]
fn briggs_0_dirty_image_and_psf_agree_with_wsclean() {
    let dir = tempfile::tempdir().unwrap();
    let ms = make_ms(dir.path());
    compare(
        &ms,
        dir.path(),
        Weighting::Briggs { robust: 0.0 },
        &["-weight", "briggs", "0"],
        1e-2,
    );
}

/// Open (issue 11): our restoring beam is a fit to the PSF's main lobe (pixels
/// above 0.35); WSClean's definition is a least-squares fit over a box of 10
/// beams, whose negative sidelobes pull it in. On this PSF (2–5 pixels per
/// beam) ours is 89.30″ × 54.15″ PA 101.41° (Briggs 0) and 115.99″ × 72.06″
/// PA 101.47° (natural) against the box fit's 84.15″ × 47.15″ PA 101.51° and
/// 123.39″ × 70.57″ PA 101.75° (WSClean's header, its quadrant fit: 84.77″ ×
/// 48.88″ PA 98.16° and 124.58″ × 73.32″ PA 98.04°). Fitting the box as WSClean
/// does made this pass, but lowered the daemon quick-start test's photometry of
/// T1 from −1.6 % to −2.6 % (its limit is 2 %), so it is not in.
/// Our fit is CASA's definition instead, and equals tclean's to 0.3 % and 0.8°
/// (`fidelity::restoring_beam_equals_casa_tclean_fit_of_the_psf`).
#[test]
#[ignore = "open: our beam is a main-lobe fit, WSClean's a box fit (5-15 % apart here), issue 11"]
fn restoring_beam_agrees_with_wsclean_fit_of_the_same_psf() {
    let dir = tempfile::tempdir().unwrap();
    let ms = make_ms(dir.path());
    for (w, args) in [
        (Weighting::Natural, &["-weight", "natural"][..]),
        (
            Weighting::Briggs { robust: 0.0 },
            &["-weight", "briggs", "0"][..],
        ),
    ] {
        let (ours, box_fit, _) = compare(&ms, dir.path(), w, args, 1e-2);
        check_beam(
            "ours vs WSClean's PSF fitted over the box",
            ours,
            box_fit,
            0.02,
            2.0,
        );
    }
}

#[test]
fn ms_adapter_round_trips_and_missing_corrected_data_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ms = make_ms(dir.path());
    let v = read_ms_stokes_i(&ms, VisColumn::Data).unwrap();
    assert_eq!(v.nchan(), 16);
    assert_eq!(v.nrows(), 28 * 27 / 2 * 6);
    assert!((v.obs.phase_centre_ra_deg - 150.0).abs() < 1e-9);
    assert!(
        v.obs.date_obs.starts_with("2025-10-0"),
        "{}",
        v.obs.date_obs
    );
    let e = read_ms_stokes_i(&ms, VisColumn::Corrected).unwrap_err();
    assert!(
        matches!(&e, ImagingError::MissingColumn { column, .. } if column == "CORRECTED_DATA"),
        "{e}"
    );
    assert!(
        e.to_string().contains("CORRECTED_DATA") && e.to_string().contains("sim.ms"),
        "{e}"
    );
}
