//! Good files: the correlator-style file and pyuvdata's rewrite of it read to the
//! same values; the phased copy reads as an ICRS phase centre.

use dsa110_astro::{PhaseCentre, VisBlock};
use dsa110_hdf5_ingest::{
    peek, read_all, subband_visibility_bytes, validate, FileFlavour, FloatWidth, IngestError,
    SubbandReader, VisLayout,
};

use crate::common::fixtures;

/// Baselines as antenna-number pairs (independent of the antenna table order).
pub(crate) fn baseline_numbers(p: &std::path::Path, b: &VisBlock) -> Vec<(i64, i64)> {
    let m = peek(p).unwrap();
    b.ant1
        .iter()
        .zip(&b.ant2)
        .map(|(&a, &c)| (m.antenna_numbers[a as usize], m.antenna_numbers[c as usize]))
        .collect()
}

pub(crate) fn assert_same(a: &VisBlock, b: &VisBlock, uvw_tol: f64) {
    a.validate().unwrap();
    b.validate().unwrap();
    assert_eq!(a.times_jd_utc, b.times_jd_utc);
    assert_eq!(a.freqs_hz, b.freqs_hz);
    assert_eq!(a.pols, b.pols);
    assert_eq!(a.chan_width_hz, b.chan_width_hz);
    assert!((a.int_time_s - b.int_time_s).abs() < 1e-9);
    assert_eq!(a.data, b.data);
    assert_eq!(a.flags, b.flags);
    assert_eq!(a.nsamples, b.nsamples);
    let d = (&a.uvw_m - &b.uvw_m).mapv(f64::abs);
    let max = d.iter().copied().fold(0.0, f64::max);
    assert!(max <= uvw_tol, "uvw differ by {max}");
}

#[test]
fn correlator_and_pyuvdata_files_read_the_same() {
    let fx = fixtures();
    let corr = fx.file("corr");
    let pyu = fx.file("pyuvdata");
    let a = read_all(&corr).unwrap();
    let b = read_all(&pyu).unwrap();
    assert_same(&a, &b, 1e-4);
    assert_eq!(baseline_numbers(&corr, &a), baseline_numbers(&pyu, &b));
    assert_eq!(a.ntimes(), 3);
    assert_eq!(a.nbls(), 21);
    assert_eq!(a.nchan(), 8);
    assert_eq!(a.pols, vec![-5, -6]);
    // autocorrelations are real and the flags are not all equal
    assert!(a.flags.iter().any(|&f| f) && a.flags.iter().any(|&f| !f));
    // float32 uvw read as f64: equal to float32 precision
    let uvw32 = a.uvw_m.mapv(|x| f64::from(x as f32));
    assert_eq!(uvw32, a.uvw_m);
    match a.phase_centre {
        PhaseCentre::MeridianDrift { dec_rad } => {
            assert!((dec_rad - fx.truth["dec_rad"].as_f64().unwrap()).abs() < 1e-12)
        }
        ref other => panic!("expected MeridianDrift, got {other:?}"),
    }
    assert_eq!(b.phase_centre, PhaseCentre::Unprojected);
}

#[test]
fn metadata_of_each_layout() {
    let fx = fixtures();
    let m = peek(&fx.file("corr")).unwrap();
    assert_eq!(m.flavour, FileFlavour::Correlator);
    assert_eq!((m.ntimes, m.nbls, m.nblts), (3, 21, 63));
    assert_eq!((m.nfreqs, m.npols, m.nspws), (8, 2, 1));
    assert_eq!((m.nants_data, m.nants_telescope), (6, 8));
    assert_eq!(m.uvw_width, FloatWidth::F32);
    assert_eq!(m.vis_width, FloatWidth::F32);
    assert_eq!(m.vis_layout, VisLayout::WithSpwAxis);
    assert_eq!(m.visdata.shape, vec![63, 1, 8, 2]);
    assert_eq!(m.visdata.chunks, Some(vec![21, 1, 8, 2]));
    assert!(!m.flags.filtered);
    assert_eq!(m.times_per_chunk(), Some(1));
    assert_eq!(m.phase_type.as_deref(), Some("drift"));
    assert_eq!(m.telescope.name, "OVRO_MMA");
    assert_eq!(m.telescope.instrument.as_deref(), Some("DSA"));
    assert!((m.telescope.latitude_deg - 37.233386982).abs() < 1e-9);
    assert!((m.telescope.altitude_m - 1188.05209818).abs() < 1e-6);
    assert_eq!(
        m.antenna_names,
        (1..=8).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(m.antenna_numbers, (0..8).collect::<Vec<i64>>());
    assert_eq!(m.antenna_diameters_m.as_deref(), Some(&[4.65; 8][..]));
    // correlator input order [5, 2, 7, 0, 3, 1], autos included
    assert_eq!(&m.ant1[..6], &[5, 5, 5, 5, 5, 5]);
    assert_eq!(&m.ant2[..6], &[5, 2, 7, 0, 3, 1]);
    assert!(m.freqs_hz.windows(2).all(|w| w[0] > w[1]));
    assert!((m.chan_width_hz - 6.0 * 244_140.625).abs() < 1e-6);
    assert!((m.int_time_s - 12.884902000427246).abs() < 1e-12);
    assert_eq!(m.times_jd_utc.len(), 3);
    assert_eq!(subband_visibility_bytes(&m), 63 * 8 * 2 * 8);
    assert_eq!(m.suggested_block_times(1), 1);
    assert_eq!(m.suggested_block_times(1 << 30), 3);

    let p = peek(&fx.file("pyuvdata")).unwrap();
    assert_eq!(p.flavour, FileFlavour::Uvh5);
    assert_eq!(p.vis_layout, VisLayout::NoSpwAxis);
    assert_eq!(p.uvw_width, FloatWidth::F64);
    assert_eq!(p.visdata.shape, vec![63, 8, 2]);
    assert!(
        p.flags.filtered && p.nsamples.filtered,
        "pyuvdata writes LZF flags/nsamples"
    );
    assert_eq!(p.phase_type, None);
    assert_eq!(p.phase_centre, PhaseCentre::Unprojected);
    assert_eq!(p.pointing_dec_rad, m.pointing_dec_rad);
    assert_eq!(p.times_jd_utc, m.times_jd_utc);
    assert_eq!(p.freqs_hz, m.freqs_hz);
    assert_eq!(p.antenna_names, m.antenna_names);
    assert_eq!(p.telescope.name, m.telescope.name);
}

#[test]
fn phased_file_has_icrs_centre_from_catalog() {
    let fx = fixtures();
    let m = peek(&fx.file("phased")).unwrap();
    let t = &fx.truth["phased"];
    match &m.phase_centre {
        PhaseCentre::Icrs {
            name,
            ra_rad,
            dec_rad,
        } => {
            assert_eq!(name, t["name"].as_str().unwrap());
            assert!((ra_rad - t["ra_rad"].as_f64().unwrap()).abs() < 1e-12);
            assert!((dec_rad - t["dec_rad"].as_f64().unwrap()).abs() < 1e-12);
        }
        other => panic!("expected Icrs, got {other:?}"),
    }
    let b = read_all(&fx.file("phased")).unwrap();
    assert_eq!(b.phase_centre, m.phase_centre);
    // same flags/nsamples/times as the correlator file; data rephased
    let a = read_all(&fx.file("corr")).unwrap();
    assert_eq!(a.flags, b.flags);
    assert_eq!(a.nsamples, b.nsamples);
    assert_eq!(a.times_jd_utc, b.times_jd_utc);
    assert_ne!(a.data, b.data);
    validate(&fx.file("phased"), Some(3)).unwrap();
}

#[test]
fn variable_length_strings_read_like_fixed_ones() {
    let fx = fixtures();
    let a = peek(&fx.file("corr")).unwrap();
    let b = peek(&fx.file("corr_vlen")).unwrap();
    assert_eq!(a.antenna_names, b.antenna_names);
    assert_eq!(a.telescope, b.telescope);
    assert_eq!(a.phase_type, b.phase_type);
    assert_eq!(a.phase_centre, b.phase_centre);
    assert_eq!(a.flavour, b.flavour);
}

#[test]
fn float64_visdata_and_one_element_scalars() {
    let fx = fixtures();
    let p = fx.file("corr_f64");
    let m = validate(&p, Some(3)).unwrap();
    assert_eq!(m.vis_width, FloatWidth::F64);
    assert_eq!(m.nsamples_width, FloatWidth::F64);
    assert_eq!(m.nfreqs, 8);
    let a = read_all(&fx.file("corr")).unwrap();
    let b = read_all(&p).unwrap();
    assert_same(&a, &b, 0.0);
}

#[test]
fn streaming_blocks_equal_read_all() {
    let fx = fixtures();
    for variant in ["corr", "pyuvdata", "corr_f64"] {
        let p = fx.file(variant);
        let r = SubbandReader::open(&p).unwrap();
        let all = r.read_all().unwrap();
        for nt in [1, 2, 3, 7] {
            let blocks: Vec<VisBlock> = r.blocks(nt).map(|b| b.unwrap()).collect();
            assert_eq!(blocks.len(), 3usize.div_ceil(nt.min(3)));
            let mut t = 0;
            for b in &blocks {
                b.validate().unwrap();
                let rows = t * all.nbls()..(t + b.ntimes()) * all.nbls();
                assert_eq!(b.data, all.data.slice(ndarray::s![rows.clone(), .., ..]));
                assert_eq!(b.flags, all.flags.slice(ndarray::s![rows.clone(), .., ..]));
                assert_eq!(
                    b.nsamples,
                    all.nsamples.slice(ndarray::s![rows.clone(), .., ..])
                );
                assert_eq!(b.uvw_m, all.uvw_m.slice(ndarray::s![rows, ..]));
                assert_eq!(b.times_jd_utc, all.times_jd_utc[t..t + b.ntimes()]);
                t += b.ntimes();
            }
            assert_eq!(t, 3);
        }
        let b = r.read_times(1, 1).unwrap();
        assert_eq!(b.times_jd_utc, vec![all.times_jd_utc[1]]);
    }
}

#[test]
fn read_times_out_of_range_is_an_error() {
    let fx = fixtures();
    let r = SubbandReader::open(&fx.file("corr")).unwrap();
    for (t0, nt) in [(0, 0), (0, 4), (3, 1), (2, 2), (usize::MAX, 2)] {
        let e = r.read_times(t0, nt).unwrap_err();
        assert!(matches!(e, IngestError::TimeRange { .. }), "{e}");
        assert!(!e.is_retryable());
    }
}

#[test]
fn good_files_validate() {
    let fx = fixtures();
    for v in ["corr", "corr_vlen", "corr_f64", "pyuvdata", "phased"] {
        let p = fx.file(v);
        validate(&p, Some(3)).unwrap_or_else(|e| panic!("{v}: {e}"));
        validate(&p, None).unwrap_or_else(|e| panic!("{v}: {e}"));
    }
}
