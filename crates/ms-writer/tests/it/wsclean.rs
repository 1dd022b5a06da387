//! End-to-end sign convention: a synthetic 1 Jy point source, offset from the
//! phase centre, imaged by WSClean from our MS, must peak at its true position.

use std::process::Command;

use dsa110_astro::{itrf_to_local, Eop, ObsTime, PhaseCentre, SkyFrame, VisBlock};
use dsa110_ms_writer::{MsWriter, SpwSpec};
use ndarray::{Array2, Array3};
use num_complex::Complex32;

use crate::common::{all_antennas, baselines, freqs, run_py, site, spec, times, transit_field};

const C_M_S: f64 = 299_792_458.0;

/// Offsets of the image peak from (`ra`, `dec`) in pixels (RA·cosδ, Dec),
/// and the peak value.
struct Peak {
    dx_pix: f64,
    dy_pix: f64,
    peak: f64,
}

const PIX_DEG: f64 = 20.0 / 3600.0;

/// Write the synthetic MS (visibilities conjugated if `conj`, i.e. the wrong
/// convention), image it with WSClean and locate the peak relative to (ra, dec)
/// — the source position, or its mirror image through the phase centre.
fn image_point_source(dir: &std::path::Path, conj: bool) -> (Peak, Peak) {
    let ms = dir.join(if conj { "conj.ms" } else { "point.ms" });

    let antennas = all_antennas();
    // core E-W and N-S arms plus outriggers (DSA-103 ... DSA-117)
    let ants: Vec<u32> = vec![
        0, 5, 10, 20, 30, 40, 47, 51, 55, 60, 70, 80, 90, 100, 102, 104, 107, 110, 113, 116,
    ];
    let (a1, a2) = baselines(&ants);
    let nbls = a1.len();
    let int_s = 12.884_901_888;
    let t = times(2_460_676.8, 5, int_s);
    let field = transit_field(t[2], "phase_centre");
    let (ra0, dec0) = (field.ra_rad, field.dec_rad);
    let (ra_s, dec_s) = (ra0 + 0.3f64.to_radians(), dec0 + 0.2f64.to_radians());
    let df = 244_140.625;
    let f = freqs(1.40e9, df, 16);
    let pols = vec![-5, -6];
    let site = site();

    let nrows = nbls * t.len();
    let mut uvw = Array2::<f64>::zeros((nrows, 3));
    let mut data = Array3::<Complex32>::zeros((nrows, f.len(), 2));
    for (ti, &jd) in t.iter().enumerate() {
        let ot = ObsTime::from_jd_utc(jd).unwrap();
        let frame = SkyFrame::new(&ot, &site, &Eop::default()).unwrap();
        let basis = frame.uvw_basis(ra0, dec0);
        let s = frame.direction_local(ra_s, dec_s);
        let sp = [s[0] - basis.p[0], s[1] - basis.p[1], s[2] - basis.p[2]];
        for b in 0..nbls {
            let (p1, p2) = (
                antennas[a1[b] as usize].itrf_m,
                antennas[a2[b] as usize].itrf_m,
            );
            let bl = itrf_to_local([p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]], site.lon_rad);
            let r = ti * nbls + b;
            let u = basis.project(bl);
            for k in 0..3 {
                uvw[[r, k]] = u[k];
            }
            let delay_m = bl[0] * sp[0] + bl[1] * sp[1] + bl[2] * sp[2];
            for (c, &freq) in f.iter().enumerate() {
                // V = exp(+2πi b·(s − p)/λ)
                let phase = 2.0 * std::f64::consts::PI * delay_m * freq / C_M_S;
                let v = Complex32::new(phase.cos() as f32, phase.sin() as f32);
                let v = if conj { v.conj() } else { v };
                data[[r, c, 0]] = v;
                data[[r, c, 1]] = v;
            }
        }
    }
    let block = VisBlock {
        times_jd_utc: t.clone(),
        int_time_s: int_s,
        ant1: a1,
        ant2: a2,
        freqs_hz: f.clone(),
        chan_width_hz: df,
        pols: pols.clone(),
        uvw_m: uvw,
        data,
        flags: Array3::from_elem((nrows, 16, 2), false),
        nsamples: Array3::from_elem((nrows, 16, 2), 1.0),
        phase_centre: PhaseCentre::Icrs {
            name: field.name.clone(),
            ra_rad: ra0,
            dec_rad: dec0,
        },
    };
    let spws = vec![SpwSpec {
        name: "sb00".into(),
        freqs_hz: f,
        chan_width_hz: df,
    }];
    let s = spec(antennas, spws, pols, field, &t, int_s, nrows);
    let mut w = MsWriter::create(&ms, &s).unwrap();
    w.write_block(0, 0, &block).unwrap();
    w.finish().unwrap();

    let name = dir.join(if conj { "conj" } else { "img" });
    let out = Command::new("wsclean")
        .args([
            "-use-wgridder",
            "-size",
            "512",
            "512",
            "-scale",
            "20asec",
            "-niter",
            "0",
        ])
        .arg("-name")
        .arg(&name)
        .arg(&ms)
        .output()
        .expect("run wsclean (is it installed?)");
    assert!(
        out.status.success(),
        "wsclean failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let fits = dir.join(format!(
        "{}-image.fits",
        name.file_name().unwrap().to_string_lossy()
    ));
    let j = run_py("fits_peak.py", &[&fits]);
    println!("wsclean (conj = {conj}) peak: {j}");
    let ra_peak = j["ra_deg"].as_f64().unwrap().to_radians();
    let dec_peak = j["dec_deg"].as_f64().unwrap().to_radians();
    let peak = j["peak"].as_f64().unwrap();
    let offset = |ra: f64, dec: f64| {
        let dra = (ra_peak - ra + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU)
            - std::f64::consts::PI;
        Peak {
            dx_pix: dra.to_degrees() * dec.cos() / PIX_DEG,
            dy_pix: (dec_peak - dec).to_degrees() / PIX_DEG,
            peak,
        }
    };
    (
        offset(ra_s, dec_s),
        offset(2.0 * ra0 - ra_s, 2.0 * dec0 - dec_s),
    )
}

#[test]
fn wsclean_images_a_point_source_at_its_true_position() {
    let dir = tempfile::tempdir().unwrap();
    let (truth, _) = image_point_source(dir.path(), false);
    println!(
        "peak offset from truth: {:.2} px (RA·cosδ), {:.2} px (Dec)",
        truth.dx_pix, truth.dy_pix
    );
    assert!(
        truth.dx_pix.abs() <= 1.0 && truth.dy_pix.abs() <= 1.0,
        "peak {:.1}, {:.1} px from the source",
        truth.dx_pix,
        truth.dy_pix
    );
    assert!(
        truth.peak > 0.5,
        "peak {} Jy/beam is not the 1 Jy source",
        truth.peak
    );

    // control: the opposite convention images the mirror image, so this test
    // can tell the two apart
    let (wrong, mirror) = image_point_source(dir.path(), true);
    println!(
        "conjugated input: {:.1}, {:.1} px from truth; {:.2}, {:.2} px from the mirror image",
        wrong.dx_pix, wrong.dy_pix, mirror.dx_pix, mirror.dy_pix
    );
    assert!(wrong.dx_pix.hypot(wrong.dy_pix) > 50.0);
    assert!(mirror.dx_pix.abs() <= 2.0 && mirror.dy_pix.abs() <= 2.0);
}
