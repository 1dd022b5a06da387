//! The prepared simulation ([`Plan`]) and the visibility computation of one
//! (subband, integration) chunk.
//!
//! Visibilities follow pyuvdata's convention (SPEC §2, astro crate docs):
//!
//! ```text
//! V_k(a1, a2, f, p) = g_{a1,p}(f) · conj(g_{a2,p}(f))
//!                     · Σ_src S (f/1.4 GHz)^α · A(θ_k, f) · G_src · exp(+2πi (f/c) b·(s_k − p_k))
//!                     + noise + RFI
//! ```
//!
//! with `b = pos(a2) − pos(a1)` in the local equatorial frame and `G_src` the
//! Gaussian envelope (1 for points). The fringe phase factorises per antenna,
//! `b·Δ = x_{a2}·Δ − x_{a1}·Δ`, so the per-antenna phasors `z_a(f) = exp(2πi f x_a·Δ/c)`
//! are computed once per chunk (exactly, with sin/cos, in f64: cheaper and more
//! accurate than a recurrence) and each visibility is `Σ_src amp·z_{a2}·conj(z_{a1})`.
//!
//! Autocorrelations use the same formula (b = 0 ⇒ `|g|² Σ S A`, imaginary part
//! exactly 0); with noise on they also get `noise_scale · SEFD · |g|²` and a real
//! Gaussian noise of σ_auto = √2 σ. Cross-correlation noise is complex Gaussian
//! with σ = noise_scale · SEFD / √(2 Δν Δt) per part (≈ 4.6 Jy at 244 kHz, 12.9 s).
//! Noise and RFI are added after the gains. Each chunk draws its noise from its own
//! ChaCha8 stream seeded by (seed, subband, integration), so the output does not
//! depend on the number of threads.
//!
//! Smearing is not modelled: each channel is evaluated at its centre frequency and
//! each integration at its mid-time (also for averaged channels, nchan < 48).

use std::path::PathBuf;

use dsa110_astro::constants::{channel_freq_hz, CHANNEL_WIDTH_HZ, C_M_S, DISH_DIAMETER_M};
use dsa110_astro::{airy_power, ObsTime};
use num_complex::{Complex32, Complex64};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::array::{build_array, ArrayModel};
use crate::config::{
    SimConfig, SourceSpec, NSUBBANDS, POLARIZATIONS, REAL_NCHAN_PER_SB, REF_FREQ_HZ, SEFD_JY,
};
use crate::gains::{apply_drift, random_gains, unit_gains, Gains};
use crate::sky::{default_sky, gaussian_coeffs, source_geometry, SourceGeom};
use crate::{seed_for, SimError};

/// A narrow-band RFI channel (contaminated at all times, all baselines, not flagged).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfiChannel {
    /// Subband.
    pub subband: u8,
    /// Channel in file order.
    pub channel: usize,
    /// Its centre frequency (Hz).
    pub freq_hz: f64,
    /// Amplitude added to every visibility (Jy), random phase per (baseline, time).
    pub amplitude_jy: f64,
}

/// A broadband RFI burst: one integration, every channel of every subband.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfiBurst {
    /// Integration index.
    pub time_index: usize,
    /// Amplitude added to every visibility (Jy), random phase per baseline.
    pub amplitude_jy: f64,
}

/// The RFI that was injected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RfiPlan {
    /// Narrow-band channels.
    pub channels: Vec<RfiChannel>,
    /// Broadband bursts.
    pub bursts: Vec<RfiBurst>,
}

/// One file of the group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Subband number.
    pub subband: u8,
    /// Name without extension, `YYYY-MM-DDTHH:MM:SS_sbNN`.
    pub stem: String,
    /// The file-name timestamp.
    pub timestamp_iso: String,
    /// Its offset from the group's nominal start (s, before rounding to whole seconds).
    pub jitter_s: f64,
}

impl FileEntry {
    /// Final file name.
    pub fn file_name(&self) -> String {
        format!("{}.hdf5", self.stem)
    }
    /// Name while being written.
    pub fn incomplete_name(&self) -> String {
        format!("{}_incomplete.hdf5", self.stem)
    }
}

/// Everything computed before any file is written.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The (validated) configuration.
    pub cfg: SimConfig,
    /// Pointing declination (rad).
    pub dec_rad: f64,
    /// The array.
    pub array: ArrayModel,
    /// Integration mid-times.
    pub times: Vec<ObsTime>,
    /// Their UTC Julian Dates.
    pub times_jd: Vec<f64>,
    /// Channel centres (Hz), `[subband][channel in file order]`, all 16 subbands.
    pub freqs_hz: Vec<Vec<f64>>,
    /// Channel width (Hz).
    pub chan_width_hz: f64,
    /// The sky actually simulated.
    pub sources: Vec<SourceSpec>,
    /// Whether `sources` is the default sky.
    pub default_sky: bool,
    /// Source geometry per integration.
    pub geoms: Vec<Vec<SourceGeom>>,
    /// Gains.
    pub gains: Gains,
    /// Cross-correlation noise σ per real/imaginary part (Jy), if noise is on.
    pub noise_sigma_jy: Option<f64>,
    /// RFI.
    pub rfi: RfiPlan,
    /// (time, baseline) rows with nsamples = 0.
    pub zero_rows: Vec<(usize, usize)>,
    /// The files, in subband order of `cfg.subbands`.
    pub files: Vec<FileEntry>,
    /// Group id (nominal start, `YYYY-MM-DDTHH:MM:SS`).
    pub group_id: String,
    /// Output directory.
    pub out_dir: PathBuf,
}

/// Channel centres of subband `sb` with `nchan` channels (k = 48/nchan real channels averaged).
pub fn subband_freqs_hz(sb: usize, nchan: usize) -> Vec<f64> {
    let k = REAL_NCHAN_PER_SB / nchan;
    (0..nchan)
        .map(|j| (0..k).map(|m| channel_freq_hz(sb, j * k + m)).sum::<f64>() / k as f64)
        .collect()
}

impl Plan {
    /// Validate `cfg` and prepare the array, times, sky, gains, RFI and file names.
    pub fn new(cfg: &SimConfig) -> Result<Self, SimError> {
        cfg.validate()?;
        let dec_rad = cfg.dec_deg.to_radians();
        let array = build_array(&cfg.stations_csv, cfg.nants, cfg.seed, dec_rad)?;
        let eop = dsa110_astro::Eop {
            dut1_s: cfg.dut1_s,
            ..Default::default()
        };
        let int_time = cfg.int_time_s();
        let times = (0..cfg.ntimes)
            .map(|k| cfg.start.plus_seconds((k as f64 + 0.5) * int_time))
            .collect::<Result<Vec<_>, _>>()?;
        let times_jd = times.iter().map(ObsTime::jd_utc).collect();
        let freqs_hz: Vec<Vec<f64>> = (0..NSUBBANDS)
            .map(|sb| subband_freqs_hz(sb, cfg.nchan_per_sb))
            .collect();
        let chan_width_hz = CHANNEL_WIDTH_HZ * (REAL_NCHAN_PER_SB / cfg.nchan_per_sb) as f64;
        let (sources, is_default) = if cfg.sources.is_empty() {
            let t_mid = cfg.start.plus_seconds(cfg.ntimes as f64 * int_time / 2.0)?;
            (
                default_sky(&t_mid, &array.site, &eop, dec_rad, cfg.seed)?,
                true,
            )
        } else {
            (cfg.sources.clone(), false)
        };
        let geoms = times
            .iter()
            .map(|t| source_geometry(t, &array.site, &eop, dec_rad, &sources))
            .collect::<Result<Vec<_>, _>>()?;
        let npol = POLARIZATIONS.len();
        let mut gains = if cfg.unit_gains {
            unit_gains(npol, NSUBBANDS * cfg.nchan_per_sb)
        } else {
            random_gains(&freqs_hz, npol, cfg.seed)
        };
        if cfg.gain_drift_hours != 0.0 {
            apply_drift(&mut gains, cfg.gain_drift_hours, cfg.seed);
        }
        let noise_sigma_jy = cfg
            .noise_scale
            .map(|x| x * SEFD_JY / (2.0 * chan_width_hz * int_time).sqrt());
        let rfi = if cfg.rfi {
            plan_rfi(cfg, &freqs_hz)
        } else {
            RfiPlan::default()
        };
        let zero_rows = plan_zero_rows(cfg, array.nbls());
        let files = plan_files(cfg)?;
        Ok(Self {
            cfg: cfg.clone(),
            dec_rad,
            array,
            times,
            times_jd,
            freqs_hz,
            chan_width_hz,
            sources,
            default_sky: is_default,
            geoms,
            gains,
            noise_sigma_jy,
            rfi,
            zero_rows,
            files,
            group_id: cfg.group_id(),
            out_dir: cfg.out_dir.clone(),
        })
    }

    /// Number of channels per file.
    pub fn nchan(&self) -> usize {
        self.cfg.nchan_per_sb
    }
    /// Number of polarisations.
    pub fn npol(&self) -> usize {
        POLARIZATIONS.len()
    }
    /// Number of baselines.
    pub fn nbls(&self) -> usize {
        self.array.nbls()
    }
}

fn plan_files(cfg: &SimConfig) -> Result<Vec<FileEntry>, SimError> {
    let mut out = Vec::with_capacity(cfg.subbands.len());
    for &sb in &cfg.subbands {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_for(cfg.seed, &[0x71, u64::from(sb)]));
        let jitter_s = if cfg.jitter_s > 0.0 {
            rng.random_range(-cfg.jitter_s..=cfg.jitter_s)
        } else {
            0.0
        };
        let ts = cfg.start.plus_seconds(jitter_s)?.to_iso_seconds();
        out.push(FileEntry {
            subband: sb,
            stem: format!("{ts}_sb{sb:02}"),
            timestamp_iso: ts,
            jitter_s,
        });
    }
    Ok(out)
}

fn plan_rfi(cfg: &SimConfig, freqs: &[Vec<f64>]) -> RfiPlan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed_for(cfg.seed, &[0x2F]));
    let mut channels: Vec<RfiChannel> = Vec::new();
    for _ in 0..3 {
        let sb = cfg.subbands[rng.random_range(0..cfg.subbands.len())];
        let channel = rng.random_range(0..cfg.nchan_per_sb);
        let amplitude_jy = rng.random_range(200.0..1000.0);
        if channels
            .iter()
            .any(|c| c.subband == sb && c.channel == channel)
        {
            continue;
        }
        channels.push(RfiChannel {
            subband: sb,
            channel,
            freq_hz: freqs[sb as usize][channel],
            amplitude_jy,
        });
    }
    let time_index = if cfg.ntimes > 1 {
        rng.random_range(1..cfg.ntimes)
    } else {
        0
    };
    let bursts = vec![RfiBurst {
        time_index,
        amplitude_jy: rng.random_range(20.0..60.0),
    }];
    RfiPlan { channels, bursts }
}

fn plan_zero_rows(cfg: &SimConfig, nbls: usize) -> Vec<(usize, usize)> {
    let total = cfg.ntimes * nbls;
    let n = cfg.zero_nsamples_rows.min(total);
    let mut rng = ChaCha8Rng::seed_from_u64(seed_for(cfg.seed, &[0x05]));
    let mut rows = rand::seq::index::sample(&mut rng, total, n).into_vec();
    rows.sort_unstable();
    rows.into_iter().map(|r| (r / nbls, r % nbls)).collect()
}

/// One integration of one subband: arrays in the layout of `Data/*` rows
/// `(nbls, 1, nchan, npol)`, C order.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// Visibilities.
    pub vis: Vec<Complex32>,
    /// Flags.
    pub flags: Vec<bool>,
    /// Number of samples.
    pub nsamples: Vec<f32>,
}

/// Compute integration `k` of subband `sb`.
pub fn compute_chunk(plan: &Plan, sb: u8, k: usize) -> Chunk {
    let nchan = plan.nchan();
    let npol = plan.npol();
    let nbls = plan.nbls();
    let arr = &plan.array;
    let nin = arr.input_order.len();
    let freqs = &plan.freqs_hz[sb as usize];
    let geoms = &plan.geoms[k];
    let nsrc = plan.sources.len();
    let band_c0 = sb as usize * nchan;

    // Per-source amplitude per channel and per-input phasors.
    let mut amp = vec![0.0f64; nsrc * nchan];
    let mut z = vec![Complex64::new(0.0, 0.0); nsrc * nin * nchan];
    let mut y = z.clone();
    for (s, (src, g)) in plan.sources.iter().zip(geoms).enumerate() {
        for (c, &f) in freqs.iter().enumerate() {
            amp[s * nchan + c] = src.flux_jy
                * (f / REF_FREQ_HZ).powf(src.spectral_index)
                * airy_power(g.theta_rad, f, DISH_DIAMETER_M);
        }
        for (i, &ant) in arr.input_order.iter().enumerate() {
            let x = arr.antenna_local_m[ant];
            let tau_m = x[0] * g.delta[0] + x[1] * g.delta[1] + x[2] * g.delta[2];
            let base = (s * nin + i) * nchan;
            for (c, &f) in freqs.iter().enumerate() {
                let (sn, cs) = (std::f64::consts::TAU * f * tau_m / C_M_S).sin_cos();
                z[base + c] = Complex64::new(cs, sn);
                y[base + c] = z[base + c] * amp[s * nchan + c];
            }
        }
    }
    let gauss: Vec<Option<(f64, f64, f64, f64)>> = plan
        .sources
        .iter()
        .map(|s| s.shape.as_ref().map(gaussian_coeffs))
        .collect();
    let freq2: Vec<f64> = freqs.iter().map(|f| f * f / (C_M_S * C_M_S)).collect();

    let seed = plan.cfg.seed;
    let mut noise_rng = ChaCha8Rng::seed_from_u64(seed_for(seed, &[0x4E, u64::from(sb), k as u64]));
    let mut rfi_rng = ChaCha8Rng::seed_from_u64(seed_for(seed, &[0x2E, u64::from(sb), k as u64]));
    let rfi_chans: Vec<&RfiChannel> = plan
        .rfi
        .channels
        .iter()
        .filter(|c| c.subband == sb)
        .collect();
    let burst: f64 = plan
        .rfi
        .bursts
        .iter()
        .filter(|b| b.time_index == k)
        .map(|b| b.amplitude_jy)
        .sum();
    let sigma = plan.noise_sigma_jy;
    let sefd_term = plan.cfg.noise_scale.map(|x| x * SEFD_JY);

    let mut vis = vec![Complex32::new(0.0, 0.0); nbls * nchan * npol];
    let mut m = vec![Complex64::new(0.0, 0.0); nchan];
    let mut rfi_add = vec![Complex64::new(0.0, 0.0); nchan];
    for (bl, &(i1, i2)) in arr.inputs.iter().enumerate() {
        let (a1, a2) = (arr.ant1[bl], arr.ant2[bl]);
        let auto = i1 == i2;
        m.fill(Complex64::new(0.0, 0.0));
        for s in 0..nsrc {
            let y2 = &y[(s * nin + i2) * nchan..(s * nin + i2 + 1) * nchan];
            let z1 = &z[(s * nin + i1) * nchan..(s * nin + i1 + 1) * nchan];
            match gauss[s] {
                Some((kmaj, kmin, sp, cp)) if !auto => {
                    let (p1, p2) = (arr.antenna_local_m[a1], arr.antenna_local_m[a2]);
                    let b = [p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]];
                    let uvw = geoms[s].basis.project(b);
                    let umaj = uvw[0] * sp + uvw[1] * cp;
                    let umin = uvw[0] * cp - uvw[1] * sp;
                    let q = kmaj * umaj * umaj + kmin * umin * umin;
                    for c in 0..nchan {
                        m[c] += y2[c] * z1[c].conj() * (-q * freq2[c]).exp();
                    }
                }
                _ => {
                    for c in 0..nchan {
                        m[c] += y2[c] * z1[c].conj();
                    }
                }
            }
        }
        // RFI (same for both pols): random phase per (baseline, time).
        let has_rfi = !rfi_chans.is_empty() || burst > 0.0;
        if has_rfi {
            rfi_add.fill(Complex64::new(0.0, 0.0));
            for rc in &rfi_chans {
                rfi_add[rc.channel] += rfi_phasor(&mut rfi_rng, rc.amplitude_jy, auto);
            }
            if burst > 0.0 {
                let v = rfi_phasor(&mut rfi_rng, burst, auto);
                for r in rfi_add.iter_mut() {
                    *r += v;
                }
            }
        }
        let row = &mut vis[bl * nchan * npol..(bl + 1) * nchan * npol];
        for c in 0..nchan {
            for p in 0..npol {
                let g1 = plan.gains.get(a1, p, band_c0 + c);
                let g2 = plan.gains.get(a2, p, band_c0 + c);
                let mut v = if auto {
                    let gg = f64::from(g1.norm_sqr());
                    Complex64::new(gg * (m[c].re + sefd_term.unwrap_or(0.0)), 0.0)
                } else {
                    let g = Complex64::new(f64::from(g1.re), f64::from(g1.im))
                        * Complex64::new(f64::from(g2.re), -f64::from(g2.im));
                    g * m[c]
                };
                if let Some(sig) = sigma {
                    if auto {
                        let n: f64 = noise_rng.sample(StandardNormal);
                        v.re += std::f64::consts::SQRT_2 * sig * n;
                    } else {
                        let nr: f64 = noise_rng.sample(StandardNormal);
                        let ni: f64 = noise_rng.sample(StandardNormal);
                        v.re += sig * nr;
                        v.im += sig * ni;
                    }
                }
                if has_rfi {
                    v += rfi_add[c];
                }
                row[c * npol + p] = Complex32::new(v.re as f32, v.im as f32);
            }
        }
    }
    let mut nsamples = vec![1.0f32; nbls * nchan * npol];
    for &(t, bl) in &plan.zero_rows {
        if t == k {
            nsamples[bl * nchan * npol..(bl + 1) * nchan * npol].fill(0.0);
        }
    }
    Chunk {
        vis,
        flags: vec![false; nbls * nchan * npol],
        nsamples,
    }
}

fn rfi_phasor(rng: &mut ChaCha8Rng, amp: f64, auto: bool) -> Complex64 {
    let ph: f64 = rng.random_range(0.0..std::f64::consts::TAU);
    if auto {
        Complex64::new(amp, 0.0)
    } else {
        Complex64::from_polar(amp, ph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averaged_channels_descend_and_match_real_ones() {
        let f48 = subband_freqs_hz(0, 48);
        assert_eq!(f48[0], channel_freq_hz(0, 0));
        assert!(f48.windows(2).all(|w| w[0] > w[1]));
        let f8 = subband_freqs_hz(3, 8);
        let expect = (0..6).map(|m| channel_freq_hz(3, m)).sum::<f64>() / 6.0;
        assert!((f8[0] - expect).abs() < 1e-6);
        assert!(f8
            .windows(2)
            .all(|w| (w[0] - w[1] - 6.0 * CHANNEL_WIDTH_HZ).abs() < 1e-3));
        // subbands are contiguous and sb00 is the highest
        let f1 = subband_freqs_hz(1, 8);
        assert!(f8[0] < f1[7]);
        assert!((f1[7] - subband_freqs_hz(2, 8)[0] - 6.0 * CHANNEL_WIDTH_HZ).abs() < 1e-3);
    }
}
