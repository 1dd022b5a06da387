//! Linear convolution of CLEAN's images with the PSF by real-to-complex FFTs
//! (the image-plane rounds and the divergence prediction of [`crate::clean`]).

use std::sync::Arc;

use num_complex::Complex32;
use rayon::prelude::*;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftDirection, FftPlanner};

/// Columns of the half spectrum transformed together over y: one block's values of
/// a row are 16 neighbours (128 bytes), gathered into and scattered from a block of
/// column buffers instead of transposing the whole array twice.
const BLOCK: usize = 16;

/// Linear (not cyclic) convolution of `n × n` images with a PSF of the same
/// size centred on pixel (n/2, n/2) and taken as zero beyond it, by FFTs on a
/// `2n × 2n` grid: what subtracting a shifted copy of the PSF per component
/// does, for a whole model at once. The PSF's transform is computed once.
///
/// Image and PSF are real, so the transforms over x are real-to-complex: a
/// row's `2n` reals give `n + 1` complex values (the others are their
/// conjugates), and only those `n + 1` columns are transformed over y, in blocks
/// of [`BLOCK`]. The image's rows past `n` are zero and its convolution's rows
/// past `n` are not needed: neither is stored. Measured at 4096² (two cores):
/// 0.9–1.4 s a convolution with the complex `2n × 2n` transforms and their two
/// in-place transposes, which were most of it; see the README for this one.
pub struct PsfConv {
    n: usize,
    /// The PSF's half spectrum by blocks of columns: `[block][column][ky]`
    /// (`BLOCK × 2n` values a block, the last block's missing columns zero),
    /// divided by the inverse transforms' `(2n)²`.
    psf_ft: Vec<Complex32>,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
}

impl std::fmt::Debug for PsfConv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PsfConv")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl PsfConv {
    /// Transform `psf` (`n × n`, row-major, peak at (n/2, n/2)).
    pub fn new(psf: &[f64], n: usize) -> Self {
        let m = 2 * n;
        let h = n / 2;
        let mut planner = RealFftPlanner::<f32>::new();
        let mut cplanner = FftPlanner::<f32>::new();
        let mut conv = Self {
            n,
            psf_ft: Vec::new(),
            r2c: planner.plan_fft_forward(m),
            c2r: planner.plan_fft_inverse(m),
            fwd: cplanner.plan_fft(m, FftDirection::Forward),
            inv: cplanner.plan_fft(m, FftDirection::Inverse),
        };
        // the PSF's centre to index 0: offsets [−n/2, n/2) at [0, n/2) ∪ [m − n/2, m)
        let rows = conv.row_spectra(m, |r, line| {
            let y = (r + h) % m;
            if y >= n {
                return false;
            }
            for (c, v) in line.iter_mut().enumerate() {
                let x = (c + h) % m;
                *v = if x < n { psf[y * n + x] as f32 } else { 0.0 };
            }
            true
        });
        let k = n + 1;
        let nblocks = k.div_ceil(BLOCK);
        let norm = 1.0 / (m * m) as f32;
        let mut ft = crate::buf::zeros(nblocks * BLOCK * m, Complex32::new(0.0, 0.0));
        let scratch_len = conv.fwd.get_inplace_scratch_len();
        ft.par_chunks_mut(BLOCK * m).enumerate().for_each_init(
            || vec![Complex32::new(0.0, 0.0); scratch_len],
            |scratch, (b, block)| {
                let w = gather_block(&rows, k, b, block, m);
                for col in block.chunks_exact_mut(m).take(w) {
                    conv.fwd.process_with_scratch(col, scratch);
                    col.iter_mut().for_each(|v| *v *= norm);
                }
            },
        );
        conv.psf_ft = ft;
        conv
    }

    /// The real-to-complex transforms over x of rows `0..nrows` of a `2n`-wide real
    /// array (`nrows × (n + 1)`), row `r` as `fill(r, line)` writes it (false for a
    /// zero row: not transformed).
    fn row_spectra(
        &self,
        nrows: usize,
        fill: impl Fn(usize, &mut [f32]) -> bool + Sync,
    ) -> Vec<Complex32> {
        let m = 2 * self.n;
        let k = self.n + 1;
        // zeroed by the allocator (a `vec!` of a complex zero writes every cell on
        // one thread)
        let mut rows = crate::buf::zeros(nrows * k, Complex32::new(0.0, 0.0));
        rows.par_chunks_mut(k)
            .enumerate()
            .with_min_len(16)
            .for_each_init(
                || {
                    (
                        vec![0f32; m],
                        vec![Complex32::new(0.0, 0.0); self.r2c.get_scratch_len()],
                    )
                },
                |(line, scratch), (r, out)| {
                    if fill(r, line) {
                        // the lengths are the plan's: this cannot fail
                        let _ = self.r2c.process_with_scratch(line, out, scratch);
                    }
                },
            );
        rows
    }

    /// `img ⊛ psf` (row-major `n × n`): pixel (x, y) gets
    /// `Σ img[y'][x'] psf[y − y' + n/2][x − x' + n/2]` over the PSF's extent.
    pub fn convolve(&self, img: &[f64]) -> Vec<f64> {
        let n = self.n;
        let m = 2 * n;
        let k = n + 1;
        let rows = self.row_spectra(n, |r, line| {
            for (v, s) in line[..n].iter_mut().zip(&img[r * n..(r + 1) * n]) {
                *v = *s as f32;
            }
            line[n..].iter_mut().for_each(|v| *v = 0.0);
            true
        });
        // Each block of columns: gathered (rows past n are zero), transformed over
        // y, multiplied by the PSF's, transformed back, and its first n rows
        // kept: `[block][row][column]`.
        let nblocks = k.div_ceil(BLOCK);
        let mut blocks = crate::buf::zeros(nblocks * n * BLOCK, Complex32::new(0.0, 0.0));
        let scratch_len = self
            .fwd
            .get_inplace_scratch_len()
            .max(self.inv.get_inplace_scratch_len());
        blocks
            .par_chunks_mut(n * BLOCK)
            .zip(self.psf_ft.par_chunks(BLOCK * m))
            .enumerate()
            .for_each_init(
                || {
                    (
                        vec![Complex32::new(0.0, 0.0); BLOCK * m],
                        vec![Complex32::new(0.0, 0.0); scratch_len],
                    )
                },
                |(cols, scratch), (b, (out, psf))| {
                    let w = gather_block(&rows, k, b, cols, m);
                    for (col, p) in cols.chunks_exact_mut(m).zip(psf.chunks_exact(m)).take(w) {
                        col[n..]
                            .iter_mut()
                            .for_each(|v| *v = Complex32::new(0.0, 0.0));
                        self.fwd.process_with_scratch(col, scratch);
                        col.iter_mut().zip(p).for_each(|(v, p)| *v *= *p);
                        self.inv.process_with_scratch(col, scratch);
                    }
                    for (r, o) in out.chunks_exact_mut(BLOCK).enumerate() {
                        for (j, o) in o.iter_mut().enumerate().take(w) {
                            *o = cols[j * m + r];
                        }
                    }
                },
            );
        drop(rows);
        // complex-to-real over x, one image row at a time
        let mut img_out = crate::buf::zeros(n * n, 0f64);
        img_out
            .par_chunks_mut(n)
            .enumerate()
            .with_min_len(16)
            .for_each_init(
                || {
                    (
                        vec![Complex32::new(0.0, 0.0); k],
                        vec![0f32; m],
                        vec![Complex32::new(0.0, 0.0); self.c2r.get_scratch_len()],
                    )
                },
                |(spec, line, scratch), (r, o)| {
                    for (b, part) in spec.chunks_mut(BLOCK).enumerate() {
                        let src = &blocks[(b * n + r) * BLOCK..];
                        part.copy_from_slice(&src[..part.len()]);
                    }
                    // a real signal's spectrum is real at 0 and at the Nyquist
                    // frequency; rounding leaves a trace of imaginary part there
                    spec[0].im = 0.0;
                    spec[k - 1].im = 0.0;
                    // the lengths are the plan's and those imaginary parts cleared:
                    // this cannot fail
                    let _ = self.c2r.process_with_scratch(spec, line, scratch);
                    o.iter_mut()
                        .zip(line.iter())
                        .for_each(|(o, v)| *o = *v as f64);
                },
            );
        img_out
    }
}

/// Block `b`'s columns (`BLOCK` of them, fewer in the last block) of the row
/// spectra `rows` (rows of `k` values) into `cols`, one column every `m` values
/// (rows past those of `rows` left as they are); returns the block's width.
fn gather_block(rows: &[Complex32], k: usize, b: usize, cols: &mut [Complex32], m: usize) -> usize {
    let (c0, w) = (b * BLOCK, BLOCK.min(k - b * BLOCK));
    for (r, row) in rows.chunks_exact(k).enumerate() {
        for (j, v) in row[c0..c0 + w].iter().enumerate() {
            cols[j * m + r] = *v;
        }
    }
    w
}

/// Components up to which [`PsfModel::convolve`] sums shifted PSFs directly:
/// each costs one pass over the PSF (`n²` multiply-adds; measured at 4096²:
/// ≈ 40 ms a component, 1.25 s for one round's 32 component pixels). Set
/// against the complex FFT convolution of before (1.4–2.2 s, and the first time
/// 0.7–4.8 s more to transform the PSF); the real-to-complex one now takes
/// 0.72–1.1 s (and 0.7–1.2 s for the PSF), so the break-even is lower, at about
/// 20–30 components, but this limit has not been re-measured in CLEAN.
pub const DIRECT_COMPONENTS: usize = 64;

/// The PSF convolution of CLEAN's image-plane rounds and predictions: for a few
/// components (the first round of a field with a handful of bright sources) a
/// direct sum of shifted PSFs, for more the FFTs of a [`PsfConv`], built when
/// first needed. Both cut the PSF at its edges: the same linear convolution.
pub struct PsfModel<'a> {
    psf: &'a [f64],
    n: usize,
    conv: Option<PsfConv>,
}

impl std::fmt::Debug for PsfModel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PsfModel")
            .field("n", &self.n)
            .field("fft", &self.conv.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> PsfModel<'a> {
    /// For `psf` (`n × n`, row-major, peak at (n/2, n/2)).
    pub fn new(psf: &'a [f64], n: usize) -> Self {
        Self { psf, n, conv: None }
    }

    /// `img ⊛ psf`, as [`PsfConv::convolve`].
    pub fn convolve(&mut self, img: &[f64]) -> Vec<f64> {
        let (psf, n) = (self.psf, self.n);
        let mut comps: Vec<(usize, usize, f64)> = Vec::new();
        for (i, v) in img.iter().enumerate() {
            if *v != 0.0 {
                if comps.len() == DIRECT_COMPONENTS {
                    return self
                        .conv
                        .get_or_insert_with(|| PsfConv::new(psf, n))
                        .convolve(img);
                }
                comps.push((i % n, i / n, *v));
            }
        }
        shifted_psf_sum(psf, n, &comps)
    }
}

/// `Σ_c a_c psf[y − y_c + n/2][x − x_c + n/2]` over the PSF's extent, for the
/// components `(x_c, y_c, a_c)`; image rows in parallel.
fn shifted_psf_sum(psf: &[f64], n: usize, comps: &[(usize, usize, f64)]) -> Vec<f64> {
    let h = n / 2;
    let mut out = vec![0f64; n * n];
    out.par_chunks_mut(n).enumerate().for_each(|(y, row)| {
        for &(xc, yc, a) in comps {
            // PSF row y − y_c + h, if inside it
            let Some(dy) = (y + h).checked_sub(yc).filter(|dy| *dy < n) else {
                continue;
            };
            // columns with 0 ≤ x − x_c + h < n
            let x0 = xc.saturating_sub(h);
            let x1 = (xc + n - h).min(n);
            let p0 = dy * n + x0 + h - xc;
            let (Some(dst), Some(src)) = (row.get_mut(x0..x1), psf.get(p0..p0 + (x1 - x0))) else {
                continue;
            };
            for (o, p) in dst.iter_mut().zip(src) {
                *o += a * p;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocked transforms for sizes whose half spectrum is narrower than a
    /// block, one more than whole blocks, and blocks plus a partial one; and
    /// enough blocks (19) that a thread's buffers serve several in turn.
    #[test]
    fn psf_convolution_matches_shifted_sum_at_any_size() {
        for n in [6usize, 10, 30, 40, 300] {
            let every = if n > 100 { 97 } else { 11 };
            let h = n as f64 / 2.0;
            let psf: Vec<f64> = (0..n * n)
                .map(|i| {
                    let (x, y) = ((i % n) as f64 - h, (i / n) as f64 - h);
                    (-(x * x + 2.0 * y * y) / 7.0).exp() + 0.05 * (0.9 * x - 0.4 * y).sin()
                })
                .collect();
            let img: Vec<f64> = (0..n * n)
                .map(|i| {
                    let edge = i % n == 0 || i % n == n - 1 || i / n == 0 || i / n == n - 1;
                    if (i * 7) % every == 3 || (edge && i % (every / 3) == 0) {
                        ((i * 13) % 17) as f64 / 17.0 - 0.4
                    } else {
                        0.0
                    }
                })
                .collect();
            let comps: Vec<(usize, usize, f64)> = (0..n * n)
                .filter(|i| img[*i] != 0.0)
                .map(|i| (i % n, i / n, img[i]))
                .collect();
            let want = shifted_psf_sum(&psf, n, &comps);
            let got = PsfConv::new(&psf, n).convolve(&img);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() < 1e-4, "n = {n}, pixel {i}: {g} vs {w}");
            }
        }
    }

    /// The FFT convolution equals the direct sum of shifted PSFs, cut where the
    /// PSF ends, for components at the centre and next to the edges; so does
    /// [`PsfModel`], by its direct sum for these few components and by the FFTs
    /// for more than [`DIRECT_COMPONENTS`].
    #[test]
    fn psf_convolution_matches_shifted_sum() {
        let n = 16;
        let h = n / 2;
        let psf: Vec<f64> = (0..n * n)
            .map(|i| {
                let (x, y) = ((i % n) as f64 - h as f64, (i / n) as f64 - h as f64);
                (-(x * x + 0.5 * y * y) / 9.0).exp() + 0.1 * (0.7 * x + 0.3 * y).cos()
            })
            .collect();
        let mut img = vec![0f64; n * n];
        for (x, y, f) in [(8, 8, 1.0), (0, 1, -0.5), (15, 14, 2.0), (3, 15, 0.25)] {
            img[y * n + x] = f;
        }
        let got = PsfConv::new(&psf, n).convolve(&img);
        // the direct sum PsfModel takes for few components
        let direct = PsfModel::new(&psf, n).convolve(&img);
        for y in 0..n as i64 {
            for x in 0..n as i64 {
                let mut want = 0.0;
                for yp in 0..n as i64 {
                    for xp in 0..n as i64 {
                        let f = img[(yp * n as i64 + xp) as usize];
                        let (dy, dx) = (y - yp + h as i64, x - xp + h as i64);
                        if f != 0.0 && (0..n as i64).contains(&dy) && (0..n as i64).contains(&dx) {
                            want += f * psf[(dy * n as i64 + dx) as usize];
                        }
                    }
                }
                let g = got[(y * n as i64 + x) as usize];
                assert!((g - want).abs() < 1e-5, "({x}, {y}): {g} vs {want}");
                let d = direct[(y * n as i64 + x) as usize];
                assert!((d - want).abs() < 1e-12, "direct ({x}, {y}): {d} vs {want}");
            }
        }
        // one component more than the direct sum takes: PsfModel switches to
        // the FFTs, and they equal the direct sum of all the components
        let many: Vec<f64> = (0..n * n)
            .map(|i| {
                if i % 3 == 0 && i / 3 <= DIRECT_COMPONENTS {
                    0.1 + (i % 7) as f64
                } else {
                    0.0
                }
            })
            .collect();
        assert_eq!(
            many.iter().filter(|v| **v != 0.0).count(),
            DIRECT_COMPONENTS + 1
        );
        let mut model = PsfModel::new(&psf, n);
        let fft = model.convolve(&many);
        assert!(
            model.conv.is_some(),
            "more than {DIRECT_COMPONENTS} components: FFTs"
        );
        let want = shifted_psf_sum(
            &psf,
            n,
            &(0..n * n)
                .filter(|i| many[*i] != 0.0)
                .map(|i| (i % n, i / n, many[i]))
                .collect::<Vec<_>>(),
        );
        for (i, (f, w)) in fft.iter().zip(&want).enumerate() {
            assert!((f - w).abs() < 1e-4, "many, pixel {i}: {f} vs {w}");
        }
    }
}
