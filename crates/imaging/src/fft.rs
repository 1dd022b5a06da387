//! 2-D complex FFTs on square grids: rows with rayon, tiled in-place transpose,
//! rows again. The result is left transposed (`out[kc·n + kr]`), which the
//! gridder accounts for, saving the second transpose.

use num_complex::Complex32;
use rayon::prelude::*;
use rustfft::{FftDirection, FftPlanner};

/// Which rows of the first and second pass are (possibly) non-zero / needed.
#[derive(Clone, Copy, Debug)]
pub struct RowSel {
    /// Rows `[0, a) ∪ [n − b, n)` are the only ones that matter (wrapped band
    /// around index 0); `a + b ≥ n` means all.
    pub a: usize,
    /// See `a`.
    pub b: usize,
}

impl RowSel {
    /// All rows.
    pub fn all(n: usize) -> Self {
        Self { a: n, b: 0 }
    }
    fn contains(&self, n: usize, r: usize) -> bool {
        self.a + self.b >= n || r < self.a || r >= n - self.b
    }
}

/// In-place unnormalised 2-D FFT of an `n × n` row-major array; the output is
/// transposed. Rows of the first pass outside `first` are skipped (known zero
/// or not needed); rows of the second pass outside `second` are skipped (not
/// needed: left with garbage).
pub fn fft2_transposed(
    data: &mut [Complex32],
    n: usize,
    dir: FftDirection,
    first: RowSel,
    second: RowSel,
) {
    let mut planner = FftPlanner::<f32>::new();
    let fft = planner.plan_fft(n, dir);
    let scratch_len = fft.get_inplace_scratch_len();
    let pass = |data: &mut [Complex32], sel: RowSel| {
        data.par_chunks_mut(n)
            .enumerate()
            .with_min_len(16)
            .for_each_init(
                || vec![Complex32::new(0.0, 0.0); scratch_len],
                |scratch, (r, row)| {
                    if sel.contains(n, r) {
                        fft.process_with_scratch(row, scratch);
                    }
                },
            );
    };
    pass(data, first);
    transpose_in_place(data, n);
    pass(data, second);
}

/// Tiled in-place transpose of a square matrix, in parallel. The matrix is cut
/// into strips of `B` rows; tile (i, j) lies in strip i and its mirror (j, i)
/// in strip j. The diagonal tiles are transposed strip by strip, then the
/// strips are paired round-robin (the circle method: every pair of strips
/// once, in rounds of disjoint pairs), and each round's pairs swap their tiles
/// in parallel. (A sequential swap of an 8192² grid took 0.33 s, this 0.22 s;
/// four per FFT convolution of CLEAN's image-plane rounds.)
pub fn transpose_in_place(data: &mut [Complex32], n: usize) {
    const B: usize = 32;
    let data = &mut data[..n * n];
    // diagonal tiles
    data.par_chunks_mut(B * n)
        .enumerate()
        .for_each(|(i, strip)| {
            let (c0, c1) = (i * B, ((i + 1) * B).min(n));
            for r in 0..c1 - c0 {
                for c in r + 1..c1 - c0 {
                    strip.swap(r * n + c0 + c, c * n + c0 + r);
                }
            }
        });
    let mut strips: Vec<Option<&mut [Complex32]>> = data.chunks_mut(B * n).map(Some).collect();
    let nb = strips.len();
    if nb < 2 {
        return;
    }
    // circle method on an even number of slots (an odd count gets a slot with
    // no strip: its partner sits the round out)
    let slots = nb + nb % 2;
    for round in 0..slots - 1 {
        // the strip in slot q this round: slot 0 stays, the others rotate
        let pos = |q: usize| {
            if q == 0 {
                0
            } else {
                1 + (q - 1 + round) % (slots - 1)
            }
        };
        let mut pairs: Vec<(usize, &mut [Complex32], usize, &mut [Complex32])> =
            Vec::with_capacity(slots / 2);
        for k in 0..slots / 2 {
            let (i, j) = (pos(k), pos(slots - 1 - k));
            let (i, j) = (i.min(j), i.max(j));
            if j >= nb {
                continue;
            }
            if let (Some(a), Some(b)) = (strips[i].take(), strips[j].take()) {
                pairs.push((i, a, j, b));
            }
        }
        pairs.par_iter_mut().for_each(|(i, a, j, b)| {
            // tile (i, j) in strip i ↔ tile (j, i) in strip j
            let (ri, rj) = (a.len() / n, b.len() / n);
            let (ci, cj) = (*i * B, *j * B);
            for r in 0..ri {
                for c in 0..rj {
                    std::mem::swap(&mut a[r * n + cj + c], &mut b[c * n + ci + r]);
                }
            }
        });
        for (i, a, j, b) in pairs {
            strips[i] = Some(a);
            strips[j] = Some(b);
        }
    }
}

/// Linear (not cyclic) convolution of `n × n` images with a PSF of the same
/// size centred on pixel (n/2, n/2) and taken as zero beyond it, by FFTs on a
/// `2n × 2n` grid: what subtracting a shifted copy of the PSF per component
/// does, for a whole model at once. The PSF's transform is computed once.
pub struct PsfConv {
    n: usize,
    /// The PSF's transform (transposed, as [`fft2_transposed`] leaves it),
    /// divided by the inverse FFT's `(2n)²`.
    psf_ft: Vec<Complex32>,
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
        let mut a = vec![Complex32::new(0.0, 0.0); m * m];
        // the PSF's centre to index 0: offsets [−n/2, n/2) at [0, n/2) ∪ [m − n/2, m)
        a.par_chunks_mut(m).enumerate().for_each(|(r, row)| {
            let y = (r + h) % m;
            if y < n {
                for (c, v) in row.iter_mut().enumerate() {
                    let x = (c + h) % m;
                    if x < n {
                        *v = Complex32::new(psf[y * n + x] as f32, 0.0);
                    }
                }
            }
        });
        let rows = RowSel { a: h, b: h };
        fft2_transposed(&mut a, m, FftDirection::Forward, rows, RowSel::all(m));
        let norm = 1.0 / (m * m) as f32;
        a.par_iter_mut().for_each(|v| *v *= norm);
        Self { n, psf_ft: a }
    }

    /// `img ⊛ psf` (row-major `n × n`): pixel (x, y) gets
    /// `Σ img[y'][x'] psf[y − y' + n/2][x − x' + n/2]` over the PSF's extent.
    pub fn convolve(&self, img: &[f64]) -> Vec<f64> {
        let n = self.n;
        let m = 2 * n;
        let mut a = vec![Complex32::new(0.0, 0.0); m * m];
        a.par_chunks_mut(m)
            .take(n)
            .enumerate()
            .for_each(|(y, row)| {
                for (v, s) in row[..n].iter_mut().zip(&img[y * n..(y + 1) * n]) {
                    *v = Complex32::new(*s as f32, 0.0);
                }
            });
        let top = RowSel { a: n, b: 0 };
        fft2_transposed(&mut a, m, FftDirection::Forward, top, RowSel::all(m));
        a.par_iter_mut()
            .zip(self.psf_ft.par_iter())
            .for_each(|(v, p)| *v *= *p);
        // the inverse of a transposed spectrum comes out untransposed
        fft2_transposed(&mut a, m, FftDirection::Inverse, RowSel::all(m), top);
        let mut out = vec![0f64; n * n];
        out.par_chunks_mut(n).enumerate().for_each(|(y, row)| {
            for (o, v) in row.iter_mut().zip(&a[y * m..y * m + n]) {
                *o = v.re as f64;
            }
        });
        out
    }
}

/// Components up to which [`PsfModel::convolve`] sums shifted PSFs directly:
/// each costs one pass over the PSF (`n²` multiply-adds; measured at 4096²:
/// ≈ 40 ms a component, 1.25 s for one round's 32 component pixels), against
/// 1.4–2.2 s for the FFT convolution and, the first time, 0.7 s (alone) to
/// 4.8 s (inside a full group's CLEAN) more to transform the PSF.
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

    /// The parallel transpose equals the definition, for sizes with an even,
    /// an odd and a single number of strips and a partial last strip.
    #[test]
    fn transpose_matches_definition() {
        for n in [8usize, 64, 96, 100, 130] {
            let a: Vec<Complex32> = (0..n * n)
                .map(|i| Complex32::new(i as f32, -(i as f32)))
                .collect();
            let mut t = a.clone();
            transpose_in_place(&mut t, n);
            for r in 0..n {
                for c in 0..n {
                    assert_eq!(t[c * n + r], a[r * n + c], "n = {n}, ({r}, {c})");
                }
            }
        }
    }

    #[test]
    fn matches_direct_dft() {
        let n = 12;
        let a: Vec<Complex32> = (0..n * n)
            .map(|i| Complex32::new((i as f32 * 0.37).sin(), (i as f32 * 0.11).cos()))
            .collect();
        let mut b = a.clone();
        fft2_transposed(
            &mut b,
            n,
            FftDirection::Forward,
            RowSel::all(n),
            RowSel::all(n),
        );
        for kr in 0..n {
            for kc in 0..n {
                let mut s = num_complex::Complex64::new(0.0, 0.0);
                for r in 0..n {
                    for c in 0..n {
                        let ph =
                            -2.0 * std::f64::consts::PI * ((r * kr + c * kc) as f64) / n as f64;
                        let v = a[r * n + c];
                        s += num_complex::Complex64::new(v.re as f64, v.im as f64)
                            * num_complex::Complex64::from_polar(1.0, ph);
                    }
                }
                let got = b[kc * n + kr];
                assert!((got.re as f64 - s.re).abs() < 1e-3 && (got.im as f64 - s.im).abs() < 1e-3);
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
