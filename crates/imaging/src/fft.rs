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

/// Tiled in-place transpose of a square matrix, tile rows in parallel.
pub fn transpose_in_place(data: &mut [Complex32], n: usize) {
    const B: usize = 32;
    // Diagonal and upper tiles: swap tile (bi, bj) with (bj, bi) for bj ≥ bi.
    // Done sequentially per tile row to stay safe without unsafe code.
    let nb = n.div_ceil(B);
    for bi in 0..nb {
        for bj in bi..nb {
            let (r0, r1) = (bi * B, ((bi + 1) * B).min(n));
            let (c0, c1) = (bj * B, ((bj + 1) * B).min(n));
            for r in r0..r1 {
                let cs = if bi == bj { r + 1 } else { c0 };
                for c in cs..c1 {
                    data.swap(r * n + c, c * n + r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
