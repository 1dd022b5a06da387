//! The primary beam's drift through a group, in the major cycles' model
//! prediction.
//!
//! DSA-110's dishes stay pointed at the meridian while the sky drifts through
//! the beam: over a 5-minute group the pointing moves 1.25° in right ascension,
//! so a source 1° off-axis is seen at half its flux at one end of the group and
//! nearly at full flux at the other. Its visibilities are then not those of a
//! constant point source, its dirty image is not the PSF times a flux, and CLEAN
//! chases the difference (sidelobes it cannot model) for major cycle after major
//! cycle.
//!
//! The CLEAN model holds apparent fluxes with the group's mean beam
//! `Ā(l, m) = Σ_t w_t A_t(l, m) / Σ_t w_t` (the beam the primary-beam-corrected
//! image divides by). For the major cycles the integrations are split into
//! `K` consecutive chunks of about equal time, and the visibilities of chunk `k`
//! are predicted from the model times `A_k(l, m) / Ā(l, m)`, where `A_k` is the
//! chunk's own weighted mean beam. `K = 1` is the usual prediction. What is
//! left is the beam's change within a chunk, about `1/K` of the change
//! over the group. The cost is `K` model FFTs per w-plane in each major cycle;
//! every visibility is still degridded once.

use crate::pb::{beam_sum, pixel_radec, BandBeam};
use crate::{Gridder, ImagingVis};
use num_complex::Complex32;
use rayon::prelude::*;

/// The beam's drift: the chunks of integrations and their beams.
#[derive(Debug)]
pub struct BeamDrift {
    /// Per visibility row: its chunk.
    row_chunk: Vec<u8>,
    /// Per chunk: its pointings (ra, dec, weight; rad).
    chunks: Vec<Vec<(f64, f64, f64)>>,
    /// Per chunk: the sum of its pointings' weights.
    chunk_w: Vec<f64>,
    /// The sum of every pointing's weight.
    total_w: f64,
    beam: BandBeam,
    n: usize,
    cell_rad: f64,
    centre: (f64, f64),
}

/// Most chunks (a row's chunk is a byte).
pub const MAX_DRIFT_CHUNKS: usize = u8::MAX as usize;

/// Below this mean beam (a sidelobe or the null) the model is predicted as it is.
const MIN_BEAM: f64 = 1e-3;

impl BeamDrift {
    /// The drift for `vis` (each row's integration, an index into `pointings`:
    /// ra, dec, weight in rad, in time order) in `nchunks` chunks, for an image
    /// of side `n`, pixel `cell_rad`, centred on `centre` (rad); None when there
    /// is nothing to model (one chunk, one pointing, or rows without their
    /// integration).
    pub fn new(
        vis: &ImagingVis,
        pointings: &[(f64, f64, f64)],
        beam: BandBeam,
        (n, cell_rad, centre): (usize, f64, (f64, f64)),
        nchunks: usize,
    ) -> Option<Self> {
        let rp = &vis.obs.row_pointing;
        let np = pointings.len();
        if nchunks < 2 || np < 2 || rp.len() != vis.nrows() {
            return None;
        }
        let k = nchunks.min(np).min(MAX_DRIFT_CHUNKS);
        // pointing i (time order) → chunk i·k/np: consecutive, sizes differ by ≤ 1
        let chunk_of = |i: usize| (i * k / np) as u8;
        let mut chunks = vec![Vec::new(); k];
        for (i, p) in pointings.iter().enumerate() {
            chunks[chunk_of(i) as usize].push(*p);
        }
        let row_chunk = rp
            .iter()
            .map(|&i| chunk_of((i as usize).min(np - 1)))
            .collect();
        let chunk_w: Vec<f64> = chunks
            .iter()
            .map(|ps| ps.iter().map(|p| p.2).sum())
            .collect();
        Some(Self {
            row_chunk,
            chunks,
            total_w: chunk_w.iter().sum(),
            chunk_w,
            beam,
            n,
            cell_rad,
            centre,
        })
    }

    /// Number of chunks.
    pub fn nchunks(&self) -> usize {
        self.chunks.len()
    }

    /// Per chunk, `A_k / Ā` at pixel `i` (`[y][x]` index); 1 where `Ā` is
    /// below [`MIN_BEAM`].
    fn ratios(&self, i: usize) -> Vec<f64> {
        let (x, y) = ((i % self.n) as f64, (i / self.n) as f64);
        let k = self.chunks.len();
        let Some((ra, dec)) = pixel_radec(self.n, self.cell_rad, self.centre, x, y) else {
            return vec![1.0; k];
        };
        // each chunk's weighted beam sum; the mean beam Ā is their total over
        // the total weight
        let sums: Vec<f64> = self
            .chunks
            .iter()
            .map(|ps| beam_sum(&self.beam, ps, ra, dec))
            .collect();
        let mean = sums.iter().sum::<f64>() / self.total_w;
        if !(self.total_w > 0.0 && mean >= MIN_BEAM) {
            return vec![1.0; k];
        }
        sums.iter()
            .zip(&self.chunk_w)
            .map(|(s, w)| if *w > 0.0 { (s / w) / mean } else { 1.0 })
            .collect()
    }

    /// [`BeamDrift::subtract_model`] for a few components `comps` (pixel index,
    /// flux) by [`Gridder::subtract_direct`]: each row's components scaled by
    /// its chunk's beam ratio, the same model as the chunks' degrids.
    pub fn subtract_direct(
        &self,
        g: &Gridder,
        vis: &ImagingVis,
        comps: &[(usize, f64)],
        resid: &mut [Complex32],
    ) {
        let per_comp: Vec<Vec<f64>> = comps.par_iter().map(|&(i, _)| self.ratios(i)).collect();
        let per_chunk: Vec<Vec<f64>> = (0..self.chunks.len())
            .map(|k| per_comp.iter().map(|r| r[k]).collect())
            .collect();
        g.subtract_direct(vis, comps, resid, Some((&self.row_chunk, &per_chunk)));
    }

    /// `resid −= ` the visibilities of `model` (apparent flux with the mean
    /// beam), each chunk's rows predicted with that chunk's beam.
    pub fn subtract_model(
        &self,
        g: &Gridder,
        vis: &ImagingVis,
        model: &[f64],
        resid: &mut [Complex32],
    ) {
        let nz: Vec<usize> = model
            .par_iter()
            .enumerate()
            .filter(|(_, m)| **m != 0.0)
            .map(|(i, _)| i)
            .collect();
        let ratios: Vec<Vec<f64>> = nz.par_iter().map(|&i| self.ratios(i)).collect();
        let mut scaled = vec![0.0f64; model.len()];
        for k in 0..self.chunks.len() {
            for (&i, r) in nz.iter().zip(&ratios) {
                scaled[i] = model[i] * r[k];
            }
            g.subtract_model_rows(vis, &scaled, resid, Some((&self.row_chunk, k as u8)));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{GridConfig, ObsInfo};
    use num_complex::Complex64;
    use std::f64::consts::PI;

    const C: f64 = 299_792_458.0;

    /// A drift scan of 8 integrations (the pointing moves 0.15° in right
    /// ascension between them) by 16 antennas, 4 channels; one source 0.9° off
    /// the phase centre whose flux follows the beam at each integration.
    /// Returns the visibilities, the image side and pixel, the source's pixel and
    /// the band beam.
    fn drifting_source() -> (ImagingVis, usize, f64, usize, BandBeam) {
        let (n, cell) = (256usize, (40.0f64 / 3600.0).to_radians());
        let (ra0, dec0) = (180.0f64, 30.0f64);
        let ants = crate::gridder::tests::spiral_ants(16, 10.0, 12.0, 0.2, 1.3);
        let freq_hz: Vec<f64> = (0..4).map(|c| 1.35e9 + c as f64 * 40e6).collect();
        let nt = 8usize;
        let pointings: Vec<(f64, f64, f64)> = (0..nt)
            .map(|t| (ra0 + (t as f64 - 3.5) * 0.15, dec0, 1.0))
            .collect();
        let beam = BandBeam::new(&freq_hz, &[1.0; 4], 4.65, 4f64.to_radians());
        // the source: 81 pixels (0.9°) east of the centre, 10 north
        let (sx, sy) = (n / 2 - 81, n / 2 + 10);
        let l = (n as f64 / 2.0 - sx as f64) * cell;
        let m = (sy as f64 - n as f64 / 2.0) * cell;
        let nm1 = (1.0 - l * l - m * m).sqrt() - 1.0;
        let (sra, sdec) = pixel_radec(
            n,
            cell,
            (ra0.to_radians(), dec0.to_radians()),
            sx as f64,
            sy as f64,
        )
        .unwrap();
        let flux = 2.0;
        let (mut uvw_m, mut row_pointing, mut vis) = (Vec::new(), Vec::new(), Vec::new());
        for (t, p) in pointings.iter().enumerate() {
            let a_t = beam.at(crate::pb::ang_dist(
                sra,
                sdec,
                p.0.to_radians(),
                p.1.to_radians(),
            ));
            for a in 0..ants.len() {
                for b in a + 1..ants.len() {
                    let s = 1.0 + 0.01 * t as f64;
                    let uvw = [
                        (ants[b][0] - ants[a][0]) * s,
                        ants[b][1] - ants[a][1],
                        (ants[b][2] - ants[a][2]) / s,
                    ];
                    for f in &freq_hz {
                        let k = f / C;
                        let ph = 2.0 * PI * k * (uvw[0] * l + uvw[1] * m + uvw[2] * nm1);
                        let v = Complex64::from_polar(flux * a_t, ph);
                        vis.push(Complex32::new(v.re as f32, v.im as f32));
                    }
                    uvw_m.push(uvw);
                    row_pointing.push(t as u32);
                }
            }
        }
        let weight = vec![1.0; vis.len()];
        let vis = ImagingVis {
            uvw_m,
            freq_hz,
            chan_width_hz: 40e6,
            vis,
            weight,
            obs: ObsInfo {
                phase_centre_ra_deg: ra0,
                phase_centre_dec_deg: dec0,
                pointing_ra_deg: ra0,
                pointing_dec_deg: dec0,
                pointings,
                row_pointing,
                ..Default::default()
            },
        };
        (vis, n, cell, sy * n + sx, beam)
    }

    /// The largest |visibility| left after subtracting the source's model (its
    /// flux times the group's mean beam) predicted in `chunks` chunks, by the
    /// degrid or (`direct`) by the direct sum.
    fn left_after(chunks: usize, direct: bool) -> (f64, f64) {
        let (vis, n, cell, pix, beam) = drifting_source();
        let g = Gridder::new(
            &GridConfig {
                npix: n,
                cell_rad: cell,
                eps: 1e-5,
                sigma: Some(2.0),
                wcorr: true,
                w_sigma: None,
            },
            &vis,
        )
        .unwrap();
        let o = &vis.obs;
        let (x, y) = ((pix % n) as f64, (pix / n) as f64);
        let centre = (
            o.phase_centre_ra_deg.to_radians(),
            o.phase_centre_dec_deg.to_radians(),
        );
        let (ra, dec) = pixel_radec(n, cell, centre, x, y).unwrap();
        let ps: Vec<(f64, f64, f64)> = o
            .pointings
            .iter()
            .map(|p| (p.0.to_radians(), p.1.to_radians(), p.2))
            .collect();
        let mean = beam_sum(&beam, &ps, ra, dec) / ps.len() as f64;
        let mut model = vec![0.0; n * n];
        model[pix] = 2.0 * mean;
        let mut resid = vis.vis.clone();
        let comps = [(pix, model[pix])];
        match (
            BeamDrift::new(&vis, &ps, beam, (n, cell, centre), chunks),
            direct,
        ) {
            (Some(d), false) => d.subtract_model(&g, &vis, &model, &mut resid),
            (Some(d), true) => d.subtract_direct(&g, &vis, &comps, &mut resid),
            (None, false) => g.subtract_model(&vis, &model, &mut resid),
            (None, true) => g.subtract_direct(&vis, &comps, &mut resid, None),
        }
        let left = resid.iter().map(|v| v.norm() as f64).fold(0.0, f64::max);
        (left, mean)
    }

    /// One chunk per integration predicts a source drifting through the beam to
    /// the gridding accuracy; the group's mean beam alone leaves the beam's change
    /// (tens of per cent of the flux here), and 2 and 4 chunks leave less and less.
    #[test]
    fn chunked_prediction_follows_a_source_through_the_beam() {
        let (none, mean) = left_after(0, false);
        let (two, _) = left_after(2, false);
        let (four, _) = left_after(4, false);
        let (every, _) = left_after(8, false);
        eprintln!("left: mean beam {none:.3e}, 2 chunks {two:.3e}, 4 {four:.3e}, 8 {every:.3e} (Jy; mean beam {mean:.3})");
        assert!(
            none > 0.1 * 2.0 * mean,
            "the beam must change through the group: {none:.3e}"
        );
        assert!(
            every < 1e-4 * 2.0,
            "one chunk per integration: {every:.3e} Jy left"
        );
        assert!(
            two < 0.6 * none && four < 0.6 * two,
            "{none:.3e} {two:.3e} {four:.3e}"
        );
    }

    /// The direct sum of a few components with the drift leaves what the
    /// chunks' degrids leave, to the degrid's accuracy, for every chunking; with
    /// one chunk per integration it removes the source to f32 rounding.
    #[test]
    fn direct_subtraction_follows_the_drift_as_the_degrid_does() {
        for chunks in [0, 2, 4, 8] {
            let (degrid, _) = left_after(chunks, false);
            let (direct, _) = left_after(chunks, true);
            assert!(
                (direct - degrid).abs() < 1e-4 * 2.0,
                "{chunks} chunks: direct leaves {direct:.3e}, degrid {degrid:.3e}"
            );
            if chunks == 8 {
                assert!(
                    direct < 1e-5 * 2.0,
                    "one chunk per integration: {direct:.3e} left"
                );
            }
        }
    }
}
