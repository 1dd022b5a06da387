//! Full validation of a subband file: everything [`crate::peek`] checks, plus the
//! science facts of SPEC §2 (frequencies of the subband, polarisation codes,
//! positive widths) and a read of the last chunk of every `Data` dataset, which
//! catches files whose header survived a truncation.

use std::path::Path;

use dsa110_astro::constants::{channel_freq_hz, CHANNEL_WIDTH_HZ};
use dsa110_astro::PhaseCentre;
use ndarray::{s, IxDyn};
use num_complex::Complex32;

use crate::error::{IngestError, Result};
use crate::filename::{is_incomplete_name, parse_subband_filename};
use crate::h5::{file_len, Ds, H5File, Want};
use crate::meta::{peek_open, FileFlavour, FlagStorage, SubbandMeta};

/// Channels per subband in the real correlator output.
pub const CHANNELS_PER_SUBBAND: usize = 48;

/// Frequency tolerance (Hz).
const FREQ_TOL_HZ: f64 = 1.0;

/// Expected channel centres (Hz, descending as the correlator writes them) of
/// subband `sb` with `nfreqs` channels: the real channels when `nfreqs = 48`, the
/// averages of `48 / nfreqs` consecutive real channels when `nfreqs` divides 48
/// (the simulator's reduced scales). `None` if `nfreqs` does not divide 48.
pub fn expected_subband_freqs_hz(sb: u8, nfreqs: usize) -> Option<Vec<f64>> {
    if nfreqs == 0 || CHANNELS_PER_SUBBAND % nfreqs != 0 {
        return None;
    }
    let k = CHANNELS_PER_SUBBAND / nfreqs;
    Some(
        (0..nfreqs)
            .map(|m| {
                (0..k)
                    .map(|q| channel_freq_hz(usize::from(sb), m * k + q))
                    .sum::<f64>()
                    / k as f64
            })
            .collect(),
    )
}

/// Validate a subband file. `expected_subband` overrides the subband taken from the
/// file name; with neither, the frequencies are only checked for order and sign.
/// Returns the metadata on success.
pub fn validate(path: &Path, expected_subband: Option<u8>) -> Result<SubbandMeta> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if is_incomplete_name(name) {
        return Err(IngestError::Incomplete {
            path: path.to_path_buf(),
        });
    }
    let in_name = parse_subband_filename(name).ok().map(|n| n.subband);
    if let (Some(expected), Some(in_name)) = (expected_subband, in_name) {
        if expected != in_name {
            return Err(IngestError::SubbandMismatch {
                path: path.to_path_buf(),
                expected,
                in_name,
            });
        }
    }
    let subband = expected_subband.or(in_name);

    let f = H5File::open(path)?;
    let meta = peek_open(&f)?;
    check_semantics(&f, &meta, subband)?;
    read_last_chunks(&f, &meta)?;

    let now = file_len(path)?;
    if now != f.file_len {
        return Err(IngestError::SizeChanged {
            path: path.to_path_buf(),
            before: f.file_len,
            after: now,
        });
    }
    tracing::debug!(
        path = %path.display(),
        ntimes = meta.ntimes,
        nbls = meta.nbls,
        nfreqs = meta.nfreqs,
        "subband file valid"
    );
    Ok(meta)
}

fn check_semantics(f: &H5File, m: &SubbandMeta, subband: Option<u8>) -> Result<()> {
    let path = &f.path;
    let hdr = f.group("Header")?;

    // polarisations
    let correlator = m.flavour == FileFlavour::Correlator;
    for &p in &m.pols {
        let ok = (-8..=-5).contains(&p)
            || (!correlator && ((-4..=-1).contains(&p) || (1..=4).contains(&p)));
        if !ok {
            return Err(IngestError::BadPolarization {
                path: path.clone(),
                dataset: "Header/polarization_array".into(),
                code: i64::from(p),
            });
        }
    }
    for (i, p) in m.pols.iter().enumerate() {
        if m.pols[..i].contains(p) {
            return Err(IngestError::BadPolarization {
                path: path.clone(),
                dataset: "Header/polarization_array".into(),
                code: i64::from(*p),
            });
        }
    }

    // positive integration times and channel widths (every element)
    for name in ["integration_time", "channel_width"] {
        let d = f.dataset(&hdr, "Header", name)?;
        let v = d.read_f64s(Want::Number)?;
        check_positive(&d, &v)?;
    }

    // frequencies
    let fname = "Header/freq_array";
    if let Some(i) = m.freqs_hz.iter().position(|x| !x.is_finite()) {
        return Err(IngestError::NonFinite {
            path: path.clone(),
            dataset: fname.into(),
            index: i,
        });
    }
    let descending = m.freqs_hz.windows(2).all(|w| w[0] > w[1]);
    let fmis = |sb: u8, reason: String| IngestError::FrequencyMismatch {
        path: path.clone(),
        dataset: fname.into(),
        subband: sb,
        reason,
    };
    if correlator && !descending {
        return Err(fmis(
            subband.unwrap_or(0),
            "correlator frequencies must be strictly descending".into(),
        ));
    }
    if let Some(sb) = subband {
        let expected = expected_subband_freqs_hz(sb, m.nfreqs).ok_or_else(|| {
            fmis(
                sb,
                format!(
                    "Nfreqs = {} does not divide {CHANNELS_PER_SUBBAND}",
                    m.nfreqs
                ),
            )
        })?;
        let matches = |fr: &[f64], ex: &mut dyn Iterator<Item = f64>| {
            fr.iter().zip(ex).all(|(a, b)| (a - b).abs() <= FREQ_TOL_HZ)
        };
        let in_order = matches(&m.freqs_hz, &mut expected.iter().copied());
        let reversed = !correlator && matches(&m.freqs_hz, &mut expected.iter().rev().copied());
        if !in_order && !reversed {
            let (i, got, want) = m
                .freqs_hz
                .iter()
                .zip(&expected)
                .enumerate()
                .find(|(_, (a, b))| (**a - **b).abs() > FREQ_TOL_HZ)
                .map(|(i, (a, b))| (i, *a, *b))
                .unwrap_or((0, f64::NAN, f64::NAN));
            return Err(fmis(
                sb,
                format!("channel {i} is {got} Hz, expected {want} Hz"),
            ));
        }
        let want_w = CHANNEL_WIDTH_HZ * (CHANNELS_PER_SUBBAND / m.nfreqs) as f64;
        if (m.chan_width_hz.abs() - want_w).abs() > FREQ_TOL_HZ {
            return Err(IngestError::FrequencyMismatch {
                path: path.clone(),
                dataset: "Header/channel_width".into(),
                subband: sb,
                reason: format!("channel width {} Hz, expected {want_w} Hz", m.chan_width_hz),
            });
        }
    }

    // phase centre
    let pc_bad = match &m.phase_centre {
        PhaseCentre::MeridianDrift { dec_rad } => !dec_rad.is_finite() || dec_rad.abs() > 1.6,
        PhaseCentre::Icrs {
            ra_rad, dec_rad, ..
        } => !ra_rad.is_finite() || !dec_rad.is_finite() || dec_rad.abs() > 1.6,
        PhaseCentre::Unprojected => false,
    };
    if pc_bad {
        return Err(IngestError::NonFinite {
            path: path.clone(),
            dataset: match m.phase_centre {
                PhaseCentre::MeridianDrift { .. } => "Header/extra_keywords/phase_center_dec",
                _ => "Header/phase_center_catalog",
            }
            .into(),
            index: 0,
        });
    }

    // uvw and antenna positions finite
    for name in ["uvw_array", "antenna_positions"] {
        let d = f.dataset(&hdr, "Header", name)?;
        let v = d.read_f64s(Want::Number)?;
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(IngestError::NonFinite {
                path: path.clone(),
                dataset: d.name.clone(),
                index: i,
            });
        }
    }
    Ok(())
}

fn check_positive(d: &Ds<'_>, v: &[f64]) -> Result<()> {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(IngestError::NonFinite {
            path: d.path().to_path_buf(),
            dataset: d.name.clone(),
            index: i,
        });
    }
    if let Some(i) = v.iter().position(|&x| x <= 0.0) {
        return Err(IngestError::NonPositive {
            path: d.path().to_path_buf(),
            dataset: d.name.clone(),
            index: i,
            value: v[i],
        });
    }
    Ok(())
}

/// Read the rows of the last chunk (or the last row, if contiguous) of each `Data`
/// dataset, converting as a full read would.
fn read_last_chunks(f: &H5File, m: &SubbandMeta) -> Result<()> {
    let data = f.group("Data")?;
    for name in ["visdata", "flags", "nsamples"] {
        let d = f.dataset(&data, "Data", name)?;
        let shape = d.shape()?;
        let Some(&nrows) = shape.first() else {
            continue;
        };
        if nrows == 0 {
            continue;
        }
        let chunk_rows =
            d.ds.chunk()
                .and_then(|c| c.first().copied())
                .filter(|&c| c > 0)
                .unwrap_or(1);
        let start = ((nrows - 1) / chunk_rows) * chunk_rows;
        let row_elems: usize = shape[1..].iter().product();
        d.check_alloc((nrows - start) * row_elems, 8)?;
        let res = match name {
            "visdata" => read_rows::<Complex32>(&d, start, nrows, shape.len()),
            "flags" => match m.flag_storage {
                FlagStorage::BoolEnum => read_rows::<bool>(&d, start, nrows, shape.len()),
                FlagStorage::Int8 => read_rows::<u8>(&d, start, nrows, shape.len()),
            },
            _ => read_rows::<f32>(&d, start, nrows, shape.len()),
        };
        res.map_err(|e| d.h5(&e))?;
    }
    Ok(())
}

/// Read rows `start..end` of a 3- or 4-dimensional dataset and drop them.
fn read_rows<T: hdf5::H5Type>(
    d: &Ds<'_>,
    start: usize,
    end: usize,
    ndim: usize,
) -> hdf5::Result<()> {
    let r = d.ds.as_reader();
    match ndim {
        4 => r
            .read_slice::<T, _, IxDyn>(s![start..end, .., .., ..])
            .map(drop),
        3 => r
            .read_slice::<T, _, IxDyn>(s![start..end, .., ..])
            .map(drop),
        2 => r.read_slice::<T, _, IxDyn>(s![start..end, ..]).map(drop),
        _ => r.read_slice::<T, _, IxDyn>(s![start..end]).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_freqs_real_and_averaged() {
        let f48 = expected_subband_freqs_hz(0, 48).unwrap();
        assert_eq!(f48.len(), 48);
        assert_eq!(f48[0], channel_freq_hz(0, 0));
        assert!((f48[0] - 1_498_643_188.476_562_5).abs() < 1e-3);
        assert!(f48.windows(2).all(|w| w[0] > w[1]));
        // sb15 channel 47 is the bottom of the band
        let last = expected_subband_freqs_hz(15, 48).unwrap()[47];
        assert!((last - 1_311_387_329.101_562_5).abs() < 1e-3);
        // 8 channels: means of 6 consecutive real channels
        let f8 = expected_subband_freqs_hz(3, 8).unwrap();
        let want: f64 = (6..12).map(|j| channel_freq_hz(3, j)).sum::<f64>() / 6.0;
        assert_eq!(f8[1], want);
        assert_eq!(expected_subband_freqs_hz(3, 1).unwrap().len(), 1);
        assert!(expected_subband_freqs_hz(3, 7).is_none());
        assert!(expected_subband_freqs_hz(3, 0).is_none());
        assert!(expected_subband_freqs_hz(3, 96).is_none());
    }
}
