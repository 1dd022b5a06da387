//! The Measurement Set adapter: DATA or CORRECTED_DATA, FLAG,
//! WEIGHT_SPECTRUM (or WEIGHT), UVW and the SPECTRAL_WINDOW frequencies of
//! every window → one [`ImagingVis`] (rows = time × baseline, channels of all
//! windows in ascending frequency), autocorrelations excluded, through
//! `dsa110_ms_writer`'s chunked reader.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;

use dsa110_ms_writer::{ChunkColumns, ChunkSpec, DataColumn, FlatChunk, MsError, MsTable};
use num_complex::Complex32;

use crate::{ImagingError, ImagingVis, ObsInfo};

/// Which visibility column to image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisColumn {
    /// DATA.
    Data,
    /// CORRECTED_DATA (calibrated).
    Corrected,
}

impl VisColumn {
    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            VisColumn::Data => "DATA",
            VisColumn::Corrected => "CORRECTED_DATA",
        }
    }
}

fn ms_err(path: &Path, what: &str, e: MsError) -> ImagingError {
    ImagingError::Ms {
        path: path.to_path_buf(),
        what: what.to_string(),
        source: Some(Box::new(e)),
    }
}

/// Civil date from days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// ISO 8601 UTC string of an MJD in seconds.
pub fn mjd_s_to_iso(mjd_s: f64) -> String {
    // MJD 40587 = 1970-01-01
    let unix = mjd_s - 40_587.0 * 86_400.0;
    let ms_total = (unix * 1000.0).round() as i64;
    let days = ms_total.div_euclid(86_400_000);
    let rem = ms_total.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, ms) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}")
}

/// Read `column` of the MS at `path` into an [`ImagingVis`]: Stokes I =
/// (XX+YY)/2, weight `4/(1/w_xx + 1/w_yy)` (0 if either is flagged),
/// autocorrelations left out. The pointing is the drift-scan track through
/// the FIELD phase centre: the phase centre's right ascension plus the
/// sidereal time elapsed since the middle of the observation, per integration
/// (weighted by its summed weight).
pub fn read_ms_stokes_i(path: &Path, column: VisColumn) -> Result<ImagingVis, ImagingError> {
    let mut ms = MsTable::open(path).map_err(|e| ms_err(path, "open", e))?;
    if !ms
        .has_column(column.name())
        .map_err(|e| ms_err(path, "list columns", e))?
    {
        return Err(ImagingError::MissingColumn {
            path: path.to_path_buf(),
            column: column.name().into(),
        });
    }
    let meta = ms.meta().clone();
    let ixx = meta.pols.iter().position(|p| *p == -5);
    let iyy = meta.pols.iter().position(|p| *p == -6);
    let (Some(ixx), Some(iyy)) = (ixx, iyy) else {
        return Err(ImagingError::Ms {
            path: path.to_path_buf(),
            what: format!("polarisations {:?} lack XX and YY", meta.pols),
            source: None,
        });
    };
    // global channel list, ascending
    let mut chans: Vec<(f64, usize, usize)> = Vec::new();
    for (s, spw) in meta.spws.iter().enumerate() {
        if meta.n_rows_in_spw(s) == 0 {
            continue;
        }
        for (c, f) in spw.freqs_hz.iter().enumerate() {
            chans.push((*f, s, c));
        }
    }
    chans.sort_by(|a, b| a.0.total_cmp(&b.0));
    if chans.windows(2).any(|w| w[1].0 <= w[0].0) || chans.is_empty() {
        return Err(ImagingError::Ms {
            path: path.to_path_buf(),
            what: "channel frequencies overlap between spectral windows (or there are none)".into(),
            source: None,
        });
    }
    let nchan = chans.len();
    let mut global: HashMap<(usize, usize), usize> = HashMap::new();
    for (g, &(_, s, c)) in chans.iter().enumerate() {
        global.insert((s, c), g);
    }
    let col = match column {
        VisColumn::Data => DataColumn::Data,
        VisColumn::Corrected => DataColumn::Corrected,
    };
    let cols = ChunkColumns {
        data: Some(col),
        flag: true,
        weight_spectrum: true,
    };
    let mut out = ImagingVis {
        freq_hz: chans.iter().map(|c| c.0).collect(),
        chan_width_hz: meta.spws.first().map_or(0.0, |s| s.chan_width_hz),
        ..Default::default()
    };
    // casacore reads the chunks on this thread (the table is not `Send`)
    // while a second thread forms Stokes I from the previous chunks; a
    // bounded channel keeps at most a few chunks in flight
    let to_global: Vec<Vec<Option<usize>>> = meta
        .spws
        .iter()
        .enumerate()
        .map(|(s, spw)| {
            (0..spw.freqs_hz.len())
                .map(|c| global.get(&(s, c)).copied())
                .collect()
        })
        .collect();
    // the largest window's row count is the number of output rows when every
    // window holds the same baselines and times (as a group's MS does): the
    // Stokes I buffers are reserved for that many once (grown by doubling, they
    // copied up to a gigabyte at a time and faulted its pages in again: 6 s of a
    // full group's 10 s read); more rows still grow them
    let max_rows = (0..meta.spws.len())
        .map(|s| meta.n_rows_in_spw(s))
        .max()
        .unwrap_or(0);
    out.uvw_m.reserve(max_rows);
    let mut row_of: HashMap<(u64, i32, i32), usize> = HashMap::with_capacity(max_rows);
    let mut max_interval = 0.0f64;
    let mut times: Vec<f64> = Vec::with_capacity(max_rows);
    let (tx, rx) = mpsc::sync_channel::<StokesWork>(2);
    let (read, acc) = std::thread::scope(|scope| {
        let worker = scope.spawn(|| accumulate_stokes_i(rx, &to_global, nchan, ixx, iyy, max_rows));
        let read = (|| -> Result<(), ImagingError> {
            for s in 0..meta.spws.len() {
                if meta.n_rows_in_spw(s) == 0 {
                    continue;
                }
                let ranges = ms
                    .chunk_ranges(ChunkSpec {
                        spw: s,
                        max_rows: 8192,
                    })
                    .map_err(|e| ms_err(path, "chunk ranges", e))?;
                for range in ranges {
                    let ch = ms
                        .read_chunk_flat(&range, cols)
                        .map_err(|e| ms_err(path, &format!("rows {:?}", range.rows), e))?;
                    let mut out_rows = Vec::with_capacity(ch.nrows());
                    let mut chunk_uvw: Vec<[f64; 3]> = Vec::new();
                    for i in 0..ch.nrows() {
                        let (a1, a2) = (ch.ant1[i], ch.ant2[i]);
                        if a1 == a2 {
                            out_rows.push(None);
                            continue;
                        }
                        let t = ch.time_mjd_s[i];
                        let key = (t.to_bits(), a1, a2);
                        let row = match row_of.get(&key) {
                            Some(row) => *row,
                            None => {
                                let row = out.uvw_m.len();
                                row_of.insert(key, row);
                                // the chunk's UVW, one bulk read, when a row first needs it
                                if chunk_uvw.is_empty() {
                                    chunk_uvw = ms.read_uvw_rows(ch.rows.clone()).map_err(|e| {
                                        ms_err(path, &format!("UVW rows {:?}", ch.rows), e)
                                    })?;
                                }
                                out.uvw_m.push(chunk_uvw[i]);
                                times.push(t);
                                row
                            }
                        };
                        out_rows.push(Some(row));
                    }
                    if ch.time_mjd_s.len() > 1 {
                        let dt = ch
                            .time_mjd_s
                            .windows(2)
                            .map(|w| (w[1] - w[0]).abs())
                            .fold(0.0, f64::max);
                        max_interval = max_interval.max(dt);
                    }
                    let work = StokesWork {
                        chunk: ch,
                        out_rows,
                        n_out_rows: out.uvw_m.len(),
                    };
                    if tx.send(work).is_err() {
                        // the worker stopped: its join below reports why
                        break;
                    }
                }
            }
            Ok(())
        })();
        drop(tx);
        let acc = worker
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (read, acc)
    });
    read?;
    let StokesAcc {
        vis,
        weight,
        time_weight,
    } = acc;
    out.vis = vis;
    out.weight = weight;
    if out.uvw_m.is_empty() {
        return Err(ImagingError::Ms {
            path: path.to_path_buf(),
            what: "no cross-correlation rows".into(),
            source: None,
        });
    }
    let row_times = times.clone();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let dt = if times.len() > 1 {
        (times[times.len() - 1] - times[0]) / (times.len() - 1) as f64
    } else {
        max_interval
    };
    let (t0, t1) = meta.time_range_mjd_s;
    let ra = meta.field.ra_rad.to_degrees().rem_euclid(360.0);
    let dec = meta.field.dec_rad.to_degrees();
    // drift scan: the dishes point at the meridian, so the pointing moves in
    // right ascension with sidereal time around the phase centre (taken to be
    // the pointing at the middle of the observation)
    let t_mid = 0.5 * (times[0] + times[times.len() - 1]);
    let sidereal_deg_per_s = 360.0 * 1.002_737_909_35 / 86_400.0;
    let pointings: Vec<(f64, f64, f64)> = times
        .iter()
        .map(|t| {
            let w = time_weight.get(&t.to_bits()).copied().unwrap_or(0.0);
            (
                (ra + (t - t_mid) * sidereal_deg_per_s).rem_euclid(360.0),
                dec,
                w,
            )
        })
        .collect();
    out.obs = ObsInfo {
        phase_centre_ra_deg: ra,
        phase_centre_dec_deg: dec,
        pointing_ra_deg: ra,
        pointing_dec_deg: dec,
        date_obs: mjd_s_to_iso(t0 - 0.5 * dt),
        integration_s: t1 - t0 + dt,
        object: meta.field.name.clone(),
        pointings,
        row_pointing: row_times
            .iter()
            .map(|t| times.partition_point(|u| u < t) as u32)
            .collect(),
    };
    Ok(out)
}

/// One chunk handed to [`accumulate_stokes_i`]: its cells, the output row
/// of each of its rows (`None` for autocorrelations), and the number of
/// output rows known so far.
struct StokesWork {
    chunk: FlatChunk,
    out_rows: Vec<Option<usize>>,
    n_out_rows: usize,
}

/// What [`accumulate_stokes_i`] builds: the Stokes I visibilities and
/// weights (`rows × nchan`) and the summed weight of each integration
/// (keyed by the bits of its TIME).
struct StokesAcc {
    vis: Vec<Complex32>,
    weight: Vec<f32>,
    time_weight: HashMap<u64, f64>,
}

/// Form Stokes I of the chunks received, in the order sent (so each
/// integration's weight is summed in the order the rows are read).
fn accumulate_stokes_i(
    rx: mpsc::Receiver<StokesWork>,
    to_global: &[Vec<Option<usize>>],
    nchan: usize,
    ixx: usize,
    iyy: usize,
    max_rows: usize,
) -> StokesAcc {
    let mut acc = StokesAcc {
        vis: Vec::with_capacity(max_rows * nchan),
        weight: Vec::with_capacity(max_rows * nchan),
        time_weight: HashMap::new(),
    };
    for work in rx {
        let ch = &work.chunk;
        let n = work.n_out_rows * nchan;
        if acc.vis.len() < n {
            acc.vis.resize(n, Complex32::new(0.0, 0.0));
            acc.weight.resize(n, 0.0);
        }
        let Some(to_global) = to_global.get(ch.spw) else {
            continue;
        };
        let cell = ch.nchan * ch.npol;
        if cell == 0 {
            continue;
        }
        let rows = ch
            .data
            .chunks_exact(cell)
            .zip(ch.flag.chunks_exact(cell))
            .zip(ch.weight_spectrum.chunks_exact(cell))
            .zip(&work.out_rows)
            .zip(&ch.time_mjd_s);
        for ((((data, flag), wsp), row), t) in rows {
            let Some(row) = *row else {
                continue;
            };
            let base = row * nchan;
            let mut row_weight = 0.0f64;
            let cells = data
                .chunks_exact(ch.npol)
                .zip(flag.chunks_exact(ch.npol))
                .zip(wsp.chunks_exact(ch.npol))
                .zip(to_global);
            for (((d, f), w), g) in cells {
                let Some(g) = *g else {
                    continue;
                };
                let fl = f[ixx] || f[iyy];
                let wi = ImagingVis::stokes_i_weight(w[ixx], w[iyy], fl);
                let k = base + g;
                acc.weight[k] = wi;
                row_weight += wi as f64;
                acc.vis[k] = if wi > 0.0 {
                    (d[ixx] + d[iyy]) * 0.5
                } else {
                    Complex32::new(0.0, 0.0)
                };
            }
            *acc.time_weight.entry(t.to_bits()).or_insert(0.0) += row_weight;
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(mjd_s_to_iso(40_587.0 * 86_400.0), "1970-01-01T00:00:00.000");
        // MJD 60953.5 = 2025-10-05T12:00
        assert_eq!(mjd_s_to_iso(60_953.5 * 86_400.0), "2025-10-05T12:00:00.000");
        assert_eq!(
            mjd_s_to_iso(51_544.0 * 86_400.0 + 3661.25),
            "2000-01-01T01:01:01.250"
        );
    }
}
