//! Robust background and noise maps on a sliding box.
//!
//! Boxes of `box_px × box_px` pixels are centred on a grid of nodes every `step_px` pixels
//! (the first and last node on each axis sit on the first and last pixel); at each node the
//! background is the median and the noise 1.4826 × the median absolute deviation of the
//! finite pixels in the box (sampled every `sample_stride` pixels on each axis, which with
//! beam-correlated noise loses almost nothing and saves time). Between nodes both maps are
//! interpolated bilinearly. Nodes whose box has fewer than `min_finite_frac` finite samples
//! take the value of the nearest valid node; if no node is valid the maps are all NaN.
//!
//! Sources inside a box raise its MAD only slightly (the median and MAD have a 50 %
//! breakdown point); boxes should be many beams across (≥ 20) so that a source covers a
//! small fraction of each.

use rayon::prelude::*;

use crate::PhotError;

/// Box geometry for [`background_maps`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BkgOptions {
    pub box_px: usize,
    pub step_px: usize,
    pub sample_stride: usize,
    /// Minimum fraction of finite samples for a node to count.
    pub min_finite_frac: f64,
}

impl BkgOptions {
    /// Box ≈ 24 beams (at least 32 px), step = box/2, stride 2 when the beam is ≥ 3 px.
    pub fn for_beam(beam_fwhm_px: f64) -> Self {
        let b = if beam_fwhm_px.is_finite() && beam_fwhm_px > 0.0 {
            beam_fwhm_px
        } else {
            4.0
        };
        let box_px = ((24.0 * b).round() as usize).max(32);
        Self {
            box_px,
            step_px: (box_px / 2).max(1),
            sample_stride: if b >= 3.0 { 2 } else { 1 },
            min_finite_frac: 0.3,
        }
    }

    fn check(&self) -> Result<(), PhotError> {
        let bad = |o: &str, r: &str| {
            Err(PhotError::BadOption {
                option: o.into(),
                reason: r.into(),
            })
        };
        if self.box_px < 3 {
            return bad("box_px", "must be at least 3");
        }
        if self.step_px == 0 {
            return bad("step_px", "must be positive");
        }
        if self.sample_stride == 0 {
            return bad("sample_stride", "must be positive");
        }
        if !(0.0..=1.0).contains(&self.min_finite_frac) {
            return bad("min_finite_frac", "must be in [0, 1]");
        }
        Ok(())
    }
}

/// Background and noise maps, same grid as the image (`[y * nx + x]`), image units.
#[derive(Debug, Clone, PartialEq)]
pub struct BkgMaps {
    pub nx: usize,
    pub ny: usize,
    pub bkg: Vec<f32>,
    pub rms: Vec<f32>,
}

impl BkgMaps {
    /// (background, rms) at pixel `(x, y)`; NaN outside.
    pub fn at(&self, x: usize, y: usize) -> (f64, f64) {
        if x >= self.nx || y >= self.ny {
            return (f64::NAN, f64::NAN);
        }
        let i = y * self.nx + x;
        (f64::from(self.bkg[i]), f64::from(self.rms[i]))
    }
}

/// Median and 1.4826·MAD of the finite values (reorders `values`); `None` if there are none.
pub fn robust_stats(values: &mut Vec<f32>) -> Option<(f64, f64)> {
    values.retain(|v| v.is_finite());
    let n = values.len();
    if n == 0 {
        return None;
    }
    let med = median_in_place(values);
    for v in values.iter_mut() {
        *v = (f64::from(*v) - med).abs() as f32;
    }
    let mad = median_in_place(values);
    Some((med, 1.4826 * mad))
}

fn median_in_place(v: &mut [f32]) -> f64 {
    let n = v.len();
    let (_, m, _) = v.select_nth_unstable_by(n / 2, f32::total_cmp);
    let hi = f64::from(*m);
    if n % 2 == 1 {
        hi
    } else {
        let lo = v[..n / 2].iter().copied().fold(f32::NEG_INFINITY, f32::max);
        0.5 * (hi + f64::from(lo))
    }
}

fn nodes(n: usize, step: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).step_by(step).collect();
    if v.last() != Some(&(n - 1)) {
        v.push(n - 1);
    }
    v
}

/// Compute background and noise maps of `data` (`nx × ny`, NaN = blank).
pub fn background_maps(
    data: &[f32],
    nx: usize,
    ny: usize,
    opts: &BkgOptions,
) -> Result<BkgMaps, PhotError> {
    opts.check()?;
    if nx == 0 || ny == 0 || data.len() != nx * ny {
        return Err(PhotError::Shape {
            image: "(background)".into(),
            nx,
            ny,
            len: data.len(),
        });
    }
    let xs = nodes(nx, opts.step_px);
    let ys = nodes(ny, opts.step_px);
    let half = opts.box_px / 2;
    let s = opts.sample_stride;
    // Node statistics, row-major over (ys, xs).
    let node_stats: Vec<Option<(f64, f64)>> = ys
        .par_iter()
        .flat_map_iter(|&cy| {
            let xs = &xs;
            let mut buf = Vec::new();
            xs.iter()
                .map(move |&cx| {
                    let (x0, x1) = (cx.saturating_sub(half), (cx + half).min(nx - 1));
                    let (y0, y1) = (cy.saturating_sub(half), (cy + half).min(ny - 1));
                    buf.clear();
                    let mut total = 0usize;
                    for y in (y0..=y1).step_by(s) {
                        let row = &data[y * nx..(y + 1) * nx];
                        for x in (x0..=x1).step_by(s) {
                            total += 1;
                            buf.push(row[x]);
                        }
                    }
                    let finite = buf.iter().filter(|v| v.is_finite()).count();
                    if total == 0
                        || (finite as f64) < opts.min_finite_frac * total as f64
                        || finite < 5
                    {
                        return None;
                    }
                    robust_stats(&mut buf).filter(|(_, r)| *r > 0.0 && r.is_finite())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let (gx, gy) = (xs.len(), ys.len());
    let valid: Vec<(usize, usize)> = (0..gy)
        .flat_map(|j| (0..gx).map(move |i| (i, j)))
        .filter(|&(i, j)| node_stats[j * gx + i].is_some())
        .collect();
    if valid.is_empty() {
        return Ok(BkgMaps {
            nx,
            ny,
            bkg: vec![f32::NAN; nx * ny],
            rms: vec![f32::NAN; nx * ny],
        });
    }
    // Fill invalid nodes from the nearest valid one (in node units).
    let mut nb = vec![0.0_f64; gx * gy];
    let mut nr = vec![0.0_f64; gx * gy];
    for j in 0..gy {
        for i in 0..gx {
            let k = j * gx + i;
            let (b, r) = match node_stats[k] {
                Some(v) => v,
                None => {
                    let mut best = (usize::MAX, (f64::NAN, f64::NAN));
                    for &(vi, vj) in &valid {
                        let d = vi.abs_diff(i).pow(2) + vj.abs_diff(j).pow(2);
                        if d < best.0 {
                            best = (d, node_stats[vj * gx + vi].unwrap_or((f64::NAN, f64::NAN)));
                        }
                    }
                    best.1
                }
            };
            nb[k] = b;
            nr[k] = r;
        }
    }
    // Bilinear interpolation between nodes.
    let mut bkg = vec![0.0_f32; nx * ny];
    let mut rms = vec![0.0_f32; nx * ny];
    // For each pixel coordinate, the node interval and fraction.
    let locate = |nodes: &[usize], p: usize| -> (usize, f64) {
        if nodes.len() == 1 {
            return (0, 0.0);
        }
        let k = nodes
            .partition_point(|&n| n <= p)
            .saturating_sub(1)
            .min(nodes.len() - 2);
        let (a, b) = (nodes[k], nodes[k + 1]);
        (k, (p - a) as f64 / (b - a) as f64)
    };
    let xloc: Vec<(usize, f64)> = (0..nx).map(|x| locate(&xs, x)).collect();
    bkg.par_chunks_mut(nx)
        .zip(rms.par_chunks_mut(nx))
        .enumerate()
        .for_each(|(y, (brow, rrow))| {
            let (j, ty) = locate(&ys, y);
            let j1 = (j + 1).min(gy - 1);
            // Interpolate the node rows j and j1 to this y once, then lerp along x.
            let colb: Vec<f64> = (0..gx)
                .map(|i| nb[j * gx + i] * (1.0 - ty) + nb[j1 * gx + i] * ty)
                .collect();
            let colr: Vec<f64> = (0..gx)
                .map(|i| nr[j * gx + i] * (1.0 - ty) + nr[j1 * gx + i] * ty)
                .collect();
            for (x, (bo, ro)) in brow.iter_mut().zip(rrow.iter_mut()).enumerate() {
                let (i, tx) = xloc[x];
                let i1 = (i + 1).min(gx - 1);
                *bo = (colb[i] + (colb[i1] - colb[i]) * tx) as f32;
                *ro = (colr[i] + (colr[i1] - colr[i]) * tx) as f32;
            }
        });
    Ok(BkgMaps { nx, ny, bkg, rms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_stats_known_answer() {
        let mut v = vec![1.0, 2.0, 3.0, 4.0, 100.0, f32::NAN];
        let (m, s) = robust_stats(&mut v).unwrap_or((0.0, 0.0));
        assert_eq!(m, 3.0);
        assert!((s - 1.4826).abs() < 1e-9); // deviations 2,1,0,1,97 → MAD 1
        assert!(robust_stats(&mut vec![f32::NAN]).is_none());
    }

    #[test]
    fn nodes_cover_both_ends() {
        assert_eq!(nodes(10, 4), vec![0, 4, 8, 9]);
        assert_eq!(nodes(9, 4), vec![0, 4, 8]);
        assert_eq!(nodes(1, 4), vec![0]);
    }

    #[test]
    fn gradient_background_is_recovered() {
        let (nx, ny) = (64, 48);
        let data: Vec<f32> = (0..nx * ny)
            .map(|i| ((i % nx) as f32) * 0.5 + ((i / nx) as f32))
            .collect();
        let o = BkgOptions {
            box_px: 9,
            step_px: 4,
            sample_stride: 1,
            min_finite_frac: 0.3,
        };
        let m = background_maps(&data, nx, ny, &o).unwrap_or_else(|e| panic!("{e}"));
        // Interior pixels: the box median of a linear ramp is the ramp at the centre.
        let (b, _) = m.at(30, 20);
        assert!((b - (15.0 + 20.0)).abs() < 1e-4, "{b}");
    }
}
