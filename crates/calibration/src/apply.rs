//! Applying B and G solutions: `corrected = V / (g_i conj(g_j))` with
//! `g = B(channel) · G(time)` per receptor, weights `w · |g_i|² |g_j|²`
//! (CASA `applycal` with `calwt=True`), and the sample flagged where a
//! solution it needs is flagged or missing (CASA's `applymode='calflag'`); a
//! flagged sample keeps its uncorrected value.
//!
//! Matching (CASA's `interp='nearest'`): the G solution nearest in time to the
//! integration (also outside the table's span, as for a target group hours
//! after its calibrator); the B channel with the same frequency (within 1 Hz);
//! tables are per spectral window and the caller passes the window's tables.

use num_complex::Complex32;
use rayon::prelude::*;
use serde::Serialize;

use dsa110_astro::VisBlock;

use crate::solve::{pol_map, DenseGains, SolutionTable};
use crate::CalError;

/// What an application did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApplyReport {
    /// Samples corrected.
    pub n_corrected: u64,
    /// Samples newly flagged because a solution was flagged or missing.
    pub n_newly_flagged: u64,
}

/// Apply `bandpass` and/or `gains` (tables of this block's spectral window) to
/// `block` in place: data corrected, `nsamples` scaled as weights, flags set
/// where a solution is missing.
pub fn apply_to_block(
    block: &mut VisBlock,
    bandpass: Option<&SolutionTable>,
    gains: Option<&SolutionTable>,
) -> Result<ApplyReport, CalError> {
    block.validate().map_err(|source| CalError::Astro {
        what: "visibility block shape",
        source,
    })?;
    let pm = pol_map(&block.pols)?;
    let max_ant = block
        .ant1
        .iter()
        .chain(&block.ant2)
        .copied()
        .max()
        .unwrap_or(0) as usize;
    let (nt, nbls, nc, np) = (block.ntimes(), block.nbls(), block.nchan(), block.npol());
    let dense = |t: Option<&SolutionTable>| {
        t.map(|t| DenseGains::new(t, &block.times_jd_utc, &block.freqs_hz, max_ant))
            .transpose()
    };
    let (db, dg) = (dense(bandpass)?, dense(gains)?);
    // combined gain per (integration, antenna number): nc × 2 receptors, 0 = unusable
    let nrec = 2usize;
    let na = max_ant + 1;
    let mut comb = vec![Complex32::new(0.0, 0.0); nt * na * nc * nrec];
    comb.par_chunks_mut(nc * nrec)
        .enumerate()
        .for_each(|(k, out)| {
            let (t, a) = (k / na, (k % na) as u32);
            let gb = db.as_ref().map(|d| (d, d.antenna(t, a)));
            let gg = dg.as_ref().map(|d| (d, d.antenna(t, a)));
            for c in 0..nc {
                for r in 0..nrec {
                    let mut g = Complex32::new(1.0, 0.0);
                    for (d, s) in [gb, gg].into_iter().flatten() {
                        g *= match s {
                            Some(s) if r < d.nrec() => s[d.at(c, r)],
                            _ => Complex32::new(0.0, 0.0),
                        };
                    }
                    out[c * nrec + r] = g;
                }
            }
        });
    let ant1 = &block.ant1;
    let ant2 = &block.ant2;
    let (Some(data), Some(flags), Some(wts)) = (
        block.data.as_slice_mut(),
        block.flags.as_slice_mut(),
        block.nsamples.as_slice_mut(),
    ) else {
        return Err(CalError::Shape {
            what: "block",
            detail: "arrays not in standard layout".into(),
        });
    };
    let row_len = nc * np;
    let (n_corr, n_new) = data
        .par_chunks_mut(row_len)
        .zip(flags.par_chunks_mut(row_len))
        .zip(wts.par_chunks_mut(row_len))
        .enumerate()
        .map(|(row, ((d, f), w))| {
            let (t, b) = (row / nbls, row % nbls);
            let (a1, a2) = (ant1[b] as usize, ant2[b] as usize);
            let g1 = &comb[(t * na + a1) * nc * nrec..(t * na + a1 + 1) * nc * nrec];
            let g2 = &comb[(t * na + a2) * nc * nrec..(t * na + a2 + 1) * nc * nrec];
            let (mut nc_ok, mut nnew) = (0u64, 0u64);
            for c in 0..nc {
                for (p, pair) in pm.pairs.iter().enumerate() {
                    let Some((r1, r2)) = *pair else { continue };
                    let k = c * np + p;
                    let gg = g1[c * nrec + r1] * g2[c * nrec + r2].conj();
                    let n = gg.norm_sqr();
                    if n > 0.0 && n.is_finite() {
                        d[k] /= gg;
                        w[k] *= n;
                        nc_ok += 1;
                    } else {
                        if !f[k] {
                            nnew += 1;
                        }
                        f[k] = true;
                    }
                }
            }
            (nc_ok, nnew)
        })
        .reduce(|| (0, 0), |x, y| (x.0 + y.0, x.1 + y.1));
    Ok(ApplyReport {
        n_corrected: n_corr,
        n_newly_flagged: n_new,
    })
}
