//! [`MsBlock`]: visibility rows already in the Measurement Set's own
//! convention, so that [`MsWriter`](crate::MsWriter) hands its arrays to
//! casacore without another copy.
//!
//! The conversion from a [`VisBlock`] (pyuvdata's UVH5 convention) happens in
//! place, in one parallel pass over the rows: `DATA = conj(V)`, channels
//! ascending, `UVW = −uvw`, `WEIGHT_SPECTRUM = nsamples`, and per row the
//! `WEIGHT`, `SIGMA` and `FLAG_ROW` derived from them. A caller that has its
//! own per-row work on the visibilities (the converter's rephasing) passes it
//! as a hook so the data are touched once.

use dsa110_astro::{AstroError, VisBlock};
use ndarray::{Array, Array2, Array3, Dimension};
use num_complex::Complex32;
use rayon::prelude::*;

/// `SIGMA` written for a polarisation whose `WEIGHT` is 0 (every channel
/// flagged or zero samples), following CASA's `statwt`.
pub const SIGMA_FOR_ZERO_WEIGHT: f32 = -1.0;

/// Rows at least this many per parallel task (keeps rayon's overhead small).
const MIN_ROWS_PER_TASK: usize = 256;

/// Rows of one spectral window in the MS convention (see the module docs).
///
/// Rows are time-major like the [`VisBlock`] they came from: row `r` is
/// integration `r / nbls`, baseline `r % nbls`.
#[derive(Clone, Debug, PartialEq)]
pub struct MsBlock {
    /// UTC Julian Date of each integration's centre (`ntimes`).
    pub(crate) times_jd_utc: Vec<f64>,
    /// Integration time (s).
    pub(crate) int_time_s: f64,
    /// First antenna per baseline (`nbls`).
    pub(crate) ant1: Vec<u32>,
    /// Second antenna per baseline (`nbls`).
    pub(crate) ant2: Vec<u32>,
    /// Channel frequencies (Hz), ascending.
    pub(crate) freqs_hz: Vec<f64>,
    /// Polarisation codes.
    pub(crate) pols: Vec<i32>,
    /// `UVW` (m), `(nrows, 3)`: the negated UVH5 uvw.
    pub(crate) uvw: Array2<f64>,
    /// `DATA`, `(nrows, nchan, npol)`: conjugated, channels ascending.
    pub(crate) data: Array3<Complex32>,
    /// `FLAG`, same shape and order.
    pub(crate) flag: Array3<bool>,
    /// `WEIGHT_SPECTRUM` (`nsamples`), same shape and order.
    pub(crate) weight_spectrum: Array3<f32>,
    /// `WEIGHT`, `(nrows, npol)`.
    pub(crate) weight: Array2<f32>,
    /// `SIGMA`, `(nrows, npol)`.
    pub(crate) sigma: Array2<f32>,
    /// `FLAG_ROW` (`nrows`).
    pub(crate) flag_row: Vec<bool>,
}

impl MsBlock {
    /// Convert a block (see the module docs). Fails if its arrays disagree
    /// with its declared sizes or it has no channels or polarisations.
    pub fn from_vis(block: VisBlock) -> Result<Self, AstroError> {
        Self::from_vis_with(block, |_, _, _| {})
    }

    /// Convert a block, first calling `per_row(row, vis, uvw)` on every row
    /// while it is still in the UVH5 convention: `vis` is the row's
    /// `(nchan, npol)` visibilities in the block's channel order, `uvw` its
    /// three UVH5 uvw components. The hook runs on rayon's threads.
    pub fn from_vis_with<F>(block: VisBlock, per_row: F) -> Result<Self, AstroError>
    where
        F: Fn(usize, &mut [Complex32], &mut [f64]) + Sync,
    {
        block.validate()?;
        let (nrows, nchan, npol) = (block.nrows(), block.nchan(), block.npol());
        if nchan == 0 || npol == 0 {
            return Err(AstroError::Shape(format!(
                "a block needs channels and polarisations, this one has {nchan} × {npol}"
            )));
        }
        let reverse = nchan > 1 && block.freqs_hz[0] > block.freqs_hz[nchan - 1];
        let VisBlock {
            times_jd_utc,
            int_time_s,
            ant1,
            ant2,
            mut freqs_hz,
            pols,
            uvw_m,
            data,
            flags,
            nsamples,
            ..
        } = block;
        let mut uvw = standard(uvw_m);
        let mut data = standard(data);
        let mut flag = standard(flags);
        let mut weight_spectrum = standard(nsamples);
        let mut weight = Array2::<f32>::zeros((nrows, npol));
        let mut sigma = Array2::<f32>::zeros((nrows, npol));
        let mut flag_row = vec![false; nrows];
        let cell = nchan * npol;
        let (Some(d), Some(f), Some(w), Some(u), Some(wt), Some(sg)) = (
            data.as_slice_mut(),
            flag.as_slice_mut(),
            weight_spectrum.as_slice_mut(),
            uvw.as_slice_mut(),
            weight.as_slice_mut(),
            sigma.as_slice_mut(),
        ) else {
            // `standard` returned standard-layout arrays, which are contiguous
            return Err(AstroError::Shape("arrays not contiguous".into()));
        };
        (
            d.par_chunks_mut(cell),
            f.par_chunks_mut(cell),
            w.par_chunks_mut(cell),
            u.par_chunks_mut(3),
            wt.par_chunks_mut(npol),
            sg.par_chunks_mut(npol),
            flag_row.par_iter_mut(),
        )
            .into_par_iter()
            .with_min_len(MIN_ROWS_PER_TASK)
            .enumerate()
            .for_each_init(
                || Vec::with_capacity(nchan),
                |buf, (row, (d, f, w, u, wt, sg, fr))| {
                    per_row(row, d, u);
                    if reverse {
                        reverse_conj(d, npol);
                    } else {
                        d.iter_mut().for_each(|v| *v = v.conj());
                    }
                    u.iter_mut().for_each(|x| *x = -*x);
                    // The usual row: nothing flagged, the same nsamples in every
                    // channel. Reversing its flags or weights changes nothing
                    // and its WEIGHT is that one value.
                    let any_flagged = f.contains(&true);
                    let (w0, w_rest) = w.split_at(npol);
                    let uniform = w_rest.chunks_exact(npol).all(|c| c == w0);
                    if reverse {
                        if any_flagged {
                            reverse_channels(f, npol);
                        }
                        if !uniform {
                            reverse_channels(w, npol);
                        }
                    }
                    *fr = any_flagged && !f.contains(&false);
                    for p in 0..npol {
                        let wp = if !any_flagged && uniform {
                            w[p]
                        } else {
                            row_weight(&f[p..], &w[p..], npol, buf)
                        };
                        wt[p] = wp;
                        sg[p] = if wp > 0.0 {
                            1.0 / wp.sqrt()
                        } else {
                            SIGMA_FOR_ZERO_WEIGHT
                        };
                    }
                },
            );
        if reverse {
            freqs_hz.reverse();
        }
        Ok(Self {
            times_jd_utc,
            int_time_s,
            ant1,
            ant2,
            freqs_hz,
            pols,
            uvw,
            data,
            flag,
            weight_spectrum,
            weight,
            sigma,
            flag_row,
        })
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.flag_row.len()
    }
    /// Number of channels.
    pub fn nchan(&self) -> usize {
        self.freqs_hz.len()
    }
}

/// The array itself if it is in standard layout, else a standard-layout copy.
fn standard<T: Clone, D: Dimension>(a: Array<T, D>) -> Array<T, D> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// Reverse the channel order of one row of `(nchan, npol)` values in place.
fn reverse_channels<T>(row: &mut [T], npol: usize) {
    let nchan = row.len() / npol;
    let (lo, hi) = row.split_at_mut((nchan - nchan / 2) * npol);
    for (a, b) in lo.chunks_exact_mut(npol).zip(hi.rchunks_exact_mut(npol)) {
        a.swap_with_slice(b);
    }
}

/// Reverse the channel order of one row of visibilities and conjugate them.
fn reverse_conj(row: &mut [Complex32], npol: usize) {
    let nchan = row.len() / npol;
    let (lo, hi) = row.split_at_mut((nchan - nchan / 2) * npol);
    for (a, b) in lo.chunks_exact_mut(npol).zip(hi.rchunks_exact_mut(npol)) {
        for (x, y) in a.iter_mut().zip(b.iter_mut()) {
            let t = x.conj();
            *x = y.conj();
            *y = t;
        }
    }
    if nchan % 2 == 1 {
        let mid = (nchan / 2) * npol;
        lo[mid..mid + npol].iter_mut().for_each(|v| *v = v.conj());
    }
}

/// WEIGHT of one row and polarisation: the median of `nsamples` over the
/// unflagged channels (every `stride`-th element from the start of the slices),
/// 0 when all are flagged. The usual case — equal `nsamples` — is found without
/// collecting or sorting.
pub(crate) fn row_weight(
    flags: &[bool],
    nsamples: &[f32],
    stride: usize,
    buf: &mut Vec<f32>,
) -> f32 {
    let unflagged = || {
        flags
            .iter()
            .step_by(stride)
            .zip(nsamples.iter().step_by(stride))
            .filter(|(f, _)| !**f)
            .map(|(_, w)| *w)
    };
    let mut it = unflagged();
    let Some(first) = it.next() else {
        return 0.0;
    };
    if it.all(|w| w == first) {
        return first;
    }
    buf.clear();
    buf.extend(unflagged());
    median(buf)
}

/// Median (mean of the middle two for an even count); 0 for none.
pub(crate) fn median(v: &mut [f32]) -> f32 {
    let Some((&first, rest)) = v.split_first() else {
        return 0.0;
    };
    if rest.iter().all(|&x| x == first) {
        return first;
    }
    let (m, odd) = (v.len() / 2, v.len() % 2 == 1);
    let (lower, &mut hi, _) = v.select_nth_unstable_by(m, f32::total_cmp);
    if odd {
        hi
    } else {
        let lo = lower.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        0.5 * (lo + hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    #[test]
    fn row_weight_takes_the_median_of_unflagged_channels() {
        let mut buf = Vec::new();
        // two pols interleaved: pol 0 = [1, 9(flagged), 5, 3], pol 1 = [2, 2, 2, 2]
        let flags = [false, false, true, false, false, false, false, false];
        let ns = [1.0, 2.0, 9.0, 2.0, 5.0, 2.0, 3.0, 2.0];
        assert_eq!(row_weight(&flags, &ns, 2, &mut buf), 3.0);
        assert_eq!(row_weight(&flags[1..], &ns[1..], 2, &mut buf), 2.0);
        assert_eq!(row_weight(&[true, true], &[1.0, 1.0], 1, &mut buf), 0.0);
        assert_eq!(row_weight(&[false, false], &[1.0, 4.0], 1, &mut buf), 2.5);
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
        assert_eq!(median(&mut [1.0, 1.0, 1.0, 1.0]), 1.0);
        assert_eq!(median(&mut [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]), 4.0);
    }

    #[test]
    fn reverse_channels_keeps_polarisations_together() {
        let mut row = [0, 1, 10, 11, 20, 21];
        reverse_channels(&mut row, 2);
        assert_eq!(row, [20, 21, 10, 11, 0, 1]);
        let mut row = [0, 10, 20, 30];
        reverse_channels(&mut row, 1);
        assert_eq!(row, [30, 20, 10, 0]);
        let c = |re: f32| Complex32::new(re, re);
        let mut row = [c(0.0), c(1.0), c(2.0)];
        reverse_conj(&mut row, 1);
        assert_eq!(row, [c(2.0).conj(), c(1.0).conj(), c(0.0).conj()]);
        let mut row = [c(0.0), c(1.0), c(2.0), c(3.0)];
        reverse_conj(&mut row, 2);
        assert_eq!(
            row,
            [c(2.0).conj(), c(3.0).conj(), c(0.0).conj(), c(1.0).conj()]
        );
    }

    pub(crate) fn block(nrows: usize, nchan: usize, npol: usize) -> VisBlock {
        VisBlock {
            times_jd_utc: vec![2_460_000.5],
            int_time_s: 10.0,
            ant1: (0..nrows as u32).collect(),
            ant2: (0..nrows as u32).map(|a| a + 1).collect(),
            freqs_hz: (0..nchan).map(|c| 1e9 - c as f64).collect(),
            chan_width_hz: 1.0,
            pols: vec![-5; npol],
            uvw_m: Array2::from_elem((nrows, 3), 2.0),
            data: Array3::from_shape_fn((nrows, nchan, npol), |(r, c, p)| {
                Complex32::new(r as f32, (10 * c + p) as f32)
            }),
            flags: Array3::from_elem((nrows, nchan, npol), false),
            nsamples: Array3::from_elem((nrows, nchan, npol), 4.0),
            phase_centre: dsa110_astro::PhaseCentre::Unprojected,
        }
    }

    #[test]
    fn conversion_conjugates_reverses_negates_and_weights() {
        let mut b = block(2, 3, 2);
        b.nsamples[[0, 0, 0]] = 100.0;
        b.flags[[0, 0, 0]] = true; // excluded from the median
        b.flags.slice_mut(s![1, .., ..]).fill(true);
        let m = MsBlock::from_vis(b).unwrap();
        assert_eq!(m.freqs_hz, vec![1e9 - 2.0, 1e9 - 1.0, 1e9]);
        assert_eq!(m.data[[0, 0, 1]], Complex32::new(0.0, -21.0)); // chan 2 → 0, conj
        assert_eq!(m.data[[1, 2, 0]], Complex32::new(1.0, 0.0)); // chan 0 → 2
        assert!(m.flag[[0, 2, 0]]); // chan 0 → 2
        assert!(!m.flag[[0, 0, 0]]);
        assert_eq!(m.weight_spectrum[[0, 2, 0]], 100.0);
        assert_eq!(m.uvw[[1, 2]], -2.0);
        assert_eq!(m.weight[[0, 0]], 4.0);
        assert_eq!(m.sigma[[0, 0]], 0.5);
        assert_eq!(m.weight[[1, 1]], 0.0);
        assert_eq!(m.sigma[[1, 1]], SIGMA_FOR_ZERO_WEIGHT);
        assert_eq!(m.flag_row, vec![false, true]);
    }

    #[test]
    fn ascending_blocks_keep_their_order_and_the_hook_sees_uvh5_order() {
        let mut b = block(3, 4, 1);
        b.freqs_hz.reverse(); // ascending
        let m = MsBlock::from_vis_with(b, |row, vis, uvw| {
            assert_eq!(vis[3], Complex32::new(row as f32, 30.0));
            vis[0] = Complex32::new(0.0, 1.0);
            uvw[0] = row as f64;
        })
        .unwrap();
        assert_eq!(m.data[[2, 0, 0]], Complex32::new(0.0, -1.0));
        assert_eq!(m.data[[2, 3, 0]], Complex32::new(2.0, -30.0));
        assert_eq!(m.uvw[[2, 0]], -2.0);
    }

    #[test]
    fn non_standard_layouts_are_accepted_and_bad_shapes_rejected() {
        let mut b = block(2, 3, 2);
        b.data = b.data.permuted_axes([0, 1, 2]).to_owned();
        let mut t = Array3::<Complex32>::zeros((2, 2, 3));
        t.assign(&b.data.view().permuted_axes([0, 2, 1]));
        b.data = t.permuted_axes([0, 2, 1]); // same values, Fortran-like strides
        assert!(!b.data.is_standard_layout());
        let want = b.data[[1, 2, 1]].conj();
        let m = MsBlock::from_vis(b).unwrap();
        assert_eq!(m.data[[1, 0, 1]], want);

        let mut bad = block(2, 3, 2);
        bad.nsamples = Array3::zeros((2, 3, 1));
        assert!(MsBlock::from_vis(bad).is_err());
        let empty = block(2, 0, 2);
        assert!(MsBlock::from_vis(empty).is_err());
    }
}
