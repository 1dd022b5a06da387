//! Forced photometry at fixed catalogue positions with a restoring-beam matched filter.
//!
//! ## Estimator
//! For a group of sources (one, or several closer than `blend_radius_fwhm` restoring-beam
//! FWHMs, linked transitively), on the pixels `i` of the union of their cutouts
//! (`±cutout_half_fwhm · BMAJ` around each position), with `d_i` = image − background map,
//! `σ_i` the noise map and `k_si` the restoring beam (peak 1) centred on source `s`'s exact
//! sub-pixel position (BMAJ/BMIN/BPA mapped onto the pixel grid through the local Jacobian
//! of the SIN projection at the source, which matters in mosaics several degrees wide), the fluxes minimise `Σ_i (d_i − Σ_s S_s k_si)² / σ_i²`:
//! `A S = b`, `A_st = Σ k_si k_ti / σ_i²`, `b_s = Σ k_si d_i / σ_i²`. For one source this is
//! the VAST pipeline's forced-photometry matched filter `S = Σ(d k/σ²)/Σ(k²/σ²)`. In Jy/beam
//! images `S` is both the peak (Jy/beam) and the integrated flux (Jy) of a point source.
//!
//! ## Errors (why the pulls are honest)
//! `1/√Σ(k²/σ²)` would be right for independent pixels, but in a synthesis image the
//! noise is correlated over the dirty beam's main lobe (a beam holds ~30 pixels here), and
//! that formula then underestimates the error by a factor of several. Condon (1997, PASP
//! 109, 166) handles this with an effective number of independent pixels. We compute the
//! exact variance of our linear estimator instead: with noise covariance
//! `C_ij = σ_i σ_j ρ(x_i − x_j)`, `Cov(S) = A⁻¹ M A⁻¹`, `M_st = Σ_ij (k_si/σ_i) ρ_ij (k_tj/σ_j)`,
//! where the noise autocorrelation `ρ` is modelled by the restoring beam itself (normalised
//! to 1 at zero lag; the restoring beam is the Gaussian fitted to the PSF main lobe, and
//! the noise autocorrelation of a synthesis image is the PSF). For an isolated source in a
//! large cutout this gives `σ_S = √(4/3)·σ_local ≈ 1.15 σ_local`, close to Condon's
//! `σ_S ≈ σ_local` for a fixed-shape amplitude fit. [`NoiseCorrelation::White`] gives the
//! independent-pixel formula. The PSF's sidelobes are not modelled: for images whose PSF
//! sidelobes are strong, errors may still be slightly optimistic.
//!
//! ## Flags
//! See [`Flags`]. Non-finite pixels are left out of the fit; a source whose retained
//! kernel weight `Σk²` falls below `min_kernel_frac` of the full cutout's is not measured
//! (`FIT_FAILED`, NaN flux).

use std::path::Path;

use dsa110_fits::{Beam, FitsImage, SinWcs};
use rayon::prelude::*;

use crate::background::{background_maps, BkgMaps, BkgOptions};
use crate::catalog::Source;
use crate::PhotError;

/// Measurement flags (a bit set; serialised as the integer).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Flags(pub u32);

impl Flags {
    /// Position outside the image (or the far hemisphere): not measured.
    pub const OFF_IMAGE: Flags = Flags(1);
    /// Cutout truncated by, or position within `edge_px` of, the image edge.
    pub const EDGE: Flags = Flags(2);
    /// Fitted jointly with at least one neighbour within the blend radius.
    pub const BLENDED: Flags = Flags(4);
    /// Primary-beam value below `min_pb` (or unknown where a PB image was given).
    pub const LOW_PB: Flags = Flags(8);
    /// Non-finite (blanked) pixels inside the cutout were left out.
    pub const NON_FINITE: Flags = Flags(16);
    /// No finite background/noise at the position.
    pub const NO_NOISE: Flags = Flags(32);
    /// The fit could not be made (too few valid pixels, singular joint system): NaN flux.
    pub const FIT_FAILED: Flags = Flags(64);

    const NAMES: [(Flags, &'static str); 7] = [
        (Flags::OFF_IMAGE, "off_image"),
        (Flags::EDGE, "edge"),
        (Flags::BLENDED, "blended"),
        (Flags::LOW_PB, "low_pb"),
        (Flags::NON_FINITE, "non_finite"),
        (Flags::NO_NOISE, "no_noise"),
        (Flags::FIT_FAILED, "fit_failed"),
    ];

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// `|`-separated names, e.g. `edge|blended`; empty when no flag is set.
    pub fn names(self) -> String {
        Self::NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// Model of the image-noise autocorrelation used for the flux errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoiseCorrelation {
    /// ρ = the restoring beam (synthesis images). Default.
    #[default]
    Beam,
    /// Independent pixels.
    White,
}

/// Options of [`forced_photometry`].
#[derive(Debug, Clone, PartialEq)]
pub struct ForcedOptions {
    /// Cutout half-width, in units of BMAJ (default 1.5).
    pub cutout_half_fwhm: f64,
    /// Sources closer than this many BMAJ are fitted together (default 1.5).
    pub blend_radius_fwhm: f64,
    /// Primary-beam level below which `LOW_PB` is set (default 0.2).
    pub min_pb: f64,
    /// Flag `EDGE` within this many pixels of the border (default: the cutout half-width).
    pub edge_px: Option<usize>,
    /// Minimum retained fraction of the cutout's Σk² to measure (default 0.5).
    pub min_kernel_frac: f64,
    /// Background/noise box; default [`BkgOptions::for_beam`].
    pub bkg: Option<BkgOptions>,
    pub noise_correlation: NoiseCorrelation,
}

impl Default for ForcedOptions {
    fn default() -> Self {
        Self {
            cutout_half_fwhm: 1.5,
            blend_radius_fwhm: 1.5,
            min_pb: 0.2,
            edge_px: None,
            min_kernel_frac: 0.5,
            bkg: None,
            noise_correlation: NoiseCorrelation::Beam,
        }
    }
}

/// One source measured on one image (serde: NaN becomes `null` in JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Measurement {
    pub name: String,
    pub ra_deg: f64,
    pub dec_deg: f64,
    /// 0-based pixel position (NaN when off the image's projection).
    pub x_pix: f64,
    pub y_pix: f64,
    /// Fitted flux in image units (Jy/beam peak = Jy for a point source); NaN if not measured.
    pub flux_jy: f64,
    pub flux_err_jy: f64,
    /// Background-map and noise-map values at the position.
    pub bkg_jy: f64,
    pub local_rms_jy: f64,
    /// `flux_jy / flux_err_jy`.
    pub snr: f64,
    /// Primary-beam value at the position, if a PB image was given.
    pub pb: Option<f64>,
    pub flags: Flags,
    /// Number of sources fitted together (1 = isolated; 0 = not fitted).
    pub n_group: usize,
}

/// The header of [`measurements_csv`].
pub const MEASUREMENT_CSV_HEADER: &str =
    "name,ra_deg,dec_deg,x_pix,y_pix,peak_flux_jy,peak_flux_err_jy,bkg_jy,local_rms_jy,snr,pb,n_group,flags";

/// Measurements as CSV (header [`MEASUREMENT_CSV_HEADER`], one line each; NaN and a
/// missing PB are empty fields; `flags` as [`Flags::names`]). For a point source the peak
/// flux (Jy/beam) is also the integrated flux (Jy).
pub fn measurements_csv(m: &[Measurement]) -> String {
    let num = |v: f64, prec: usize| {
        if v.is_finite() {
            format!("{v:.prec$e}")
        } else {
            String::new()
        }
    };
    let mut out = String::from(MEASUREMENT_CSV_HEADER);
    out.push('\n');
    for r in m {
        let name = if r.name.contains([',', '"']) {
            format!("\"{}\"", r.name.replace('"', "\"\""))
        } else {
            r.name.clone()
        };
        out.push_str(&format!(
            "{name},{:.7},{:.7},{},{},{},{},{},{},{},{},{},{}\n",
            r.ra_deg,
            r.dec_deg,
            num(r.x_pix, 4),
            num(r.y_pix, 4),
            num(r.flux_jy, 6),
            num(r.flux_err_jy, 4),
            num(r.bkg_jy, 4),
            num(r.local_rms_jy, 4),
            if r.snr.is_finite() {
                format!("{:.2}", r.snr)
            } else {
                String::new()
            },
            r.pb.filter(|v| v.is_finite())
                .map(|v| format!("{v:.4}"))
                .unwrap_or_default(),
            r.n_group,
            r.flags.names()
        ));
    }
    out
}

/// Gaussian beam evaluated on pixel offsets.
#[derive(Debug, Clone, Copy)]
struct PixBeam {
    // Quadratic form coefficients: k = exp(-(a dx² + 2b dx dy + c dy²)).
    a: f64,
    b: f64,
    c: f64,
    bmaj_px: f64,
}

impl PixBeam {
    /// The beam on the pixel grid, for a grid whose pixel offsets map to sky offsets
    /// (east `dl`, north `dm`, degrees) through the Jacobian `j = [dl/dx, dl/dy, dm/dx, dm/dy]`.
    fn from_jacobian(beam: &Beam, j: [f64; 4]) -> Self {
        let f = 2.0 * (2.0 * std::f64::consts::LN_2).sqrt();
        let (smaj, smin) = (beam.bmaj_deg / f, beam.bmin_deg / f);
        let (st, ct) = beam.bpa_deg.to_radians().sin_cos();
        // u (along the major axis) = dl st + dm ct, v = dl ct − dm st.
        let (ux, uy) = (j[0] * st + j[2] * ct, j[1] * st + j[3] * ct);
        let (vx, vy) = (j[0] * ct - j[2] * st, j[1] * ct - j[3] * st);
        let (pu, pv) = (0.5 / (smaj * smaj), 0.5 / (smin * smin));
        let scale = (j[0] * j[3] - j[1] * j[2]).abs().sqrt();
        Self {
            a: pu * ux * ux + pv * vx * vx,
            b: pu * ux * uy + pv * vx * vy,
            c: pu * uy * uy + pv * vy * vy,
            bmaj_px: beam.bmaj_deg / scale,
        }
    }

    /// The beam on a grid of increments `cdelt1`, `cdelt2` (degrees) without distortion.
    fn new(beam: &Beam, cdelt1_deg: f64, cdelt2_deg: f64) -> Self {
        let mut p = Self::from_jacobian(beam, [cdelt1_deg, 0.0, 0.0, cdelt2_deg]);
        p.bmaj_px = beam.bmaj_deg / cdelt1_deg.abs().min(cdelt2_deg.abs());
        p
    }

    /// The beam at pixel `(x, y)` of a SIN image, with the local Jacobian from pixel offsets
    /// to the sky tangent plane at that position: across a wide field (a mosaic several
    /// degrees across) the projection compresses and rotates the beam on the pixel grid by
    /// up to ~1 % and a few degrees; at the reference point this equals [`PixBeam::new`].
    fn local(beam: &Beam, w: &SinWcs, x: f64, y: f64) -> Self {
        let nominal = Self::new(beam, w.cdelt1_deg, w.cdelt2_deg);
        let Some((ra0, dec0)) = w.pixel_to_world(x, y) else {
            return nominal;
        };
        let t = SinWcs {
            crval_ra_deg: ra0,
            crval_dec_deg: dec0,
            ..*w
        };
        let lm = |px: f64, py: f64| -> Option<(f64, f64)> {
            let (ra, dec) = w.pixel_to_world(px, py)?;
            let (l, m) = t.lm_of(ra, dec)?;
            Some((l.to_degrees(), m.to_degrees()))
        };
        match (
            lm(x + 0.5, y),
            lm(x - 0.5, y),
            lm(x, y + 0.5),
            lm(x, y - 0.5),
        ) {
            (Some(xp), Some(xm), Some(yp), Some(ym)) => {
                let j = [xp.0 - xm.0, yp.0 - ym.0, xp.1 - xm.1, yp.1 - ym.1];
                if j.iter().all(|v| v.is_finite()) && (j[0] * j[3] - j[1] * j[2]).abs() > 0.0 {
                    let mut p = Self::from_jacobian(beam, j);
                    p.bmaj_px = p.bmaj_px.max(nominal.bmaj_px);
                    p
                } else {
                    nominal
                }
            }
            _ => nominal,
        }
    }

    #[inline]
    fn at(&self, dx: f64, dy: f64) -> f64 {
        (-(self.a * dx * dx + 2.0 * self.b * dx * dy + self.c * dy * dy)).exp()
    }
}

fn check_beam(name: &str, img: &FitsImage) -> Result<Beam, PhotError> {
    let beam = img.meta.beam.ok_or_else(|| PhotError::NoBeam {
        image: name.to_string(),
    })?;
    if !(beam.bmaj_deg.is_finite()
        && beam.bmin_deg.is_finite()
        && beam.bmaj_deg > 0.0
        && beam.bmin_deg > 0.0)
    {
        return Err(PhotError::BadBeam {
            image: name.to_string(),
            bmaj_deg: beam.bmaj_deg,
            bmin_deg: beam.bmin_deg,
        });
    }
    Ok(beam)
}

/// Bilinear interpolation of an image at a 0-based pixel position; NaN outside or if a
/// neighbour is NaN.
pub(crate) fn bilinear(data: &[f32], nx: usize, ny: usize, x: f64, y: f64) -> f64 {
    if !(x >= 0.0 && y >= 0.0 && x <= (nx - 1) as f64 && y <= (ny - 1) as f64) {
        return f64::NAN;
    }
    let (ix, iy) = (
        (x.floor() as usize).min(nx.saturating_sub(2)),
        (y.floor() as usize).min(ny.saturating_sub(2)),
    );
    let (tx, ty) = (x - ix as f64, y - iy as f64);
    let g = |xx: usize, yy: usize| f64::from(data[yy.min(ny - 1) * nx + xx.min(nx - 1)]);
    let (ix1, iy1) = (
        if nx > 1 { ix + 1 } else { ix },
        if ny > 1 { iy + 1 } else { iy },
    );
    (g(ix, iy) * (1.0 - tx) + g(ix1, iy) * tx) * (1.0 - ty)
        + (g(ix, iy1) * (1.0 - tx) + g(ix1, iy1) * tx) * ty
}

/// Forced photometry with background/noise maps computed here ([`ForcedOptions::bkg`]).
/// `name` labels the image in errors. Returns one [`Measurement`] per catalogue source, in
/// catalogue order (off-image ones flagged `OFF_IMAGE` with NaN flux).
pub fn forced_photometry(
    name: &str,
    img: &FitsImage,
    pb: Option<&FitsImage>,
    sources: &[Source],
    opts: &ForcedOptions,
) -> Result<Vec<Measurement>, PhotError> {
    let beam = check_beam(name, img)?;
    let pbeam = PixBeam::new(&beam, img.meta.wcs.cdelt1_deg, img.meta.wcs.cdelt2_deg);
    let bo = opts
        .bkg
        .unwrap_or_else(|| BkgOptions::for_beam(pbeam.bmaj_px));
    if img.data.len() != img.nx * img.ny {
        return Err(PhotError::Shape {
            image: name.into(),
            nx: img.nx,
            ny: img.ny,
            len: img.data.len(),
        });
    }
    let maps = background_maps(&img.data, img.nx, img.ny, &bo)?;
    forced_photometry_with_maps(name, img, &maps, pb, sources, opts)
}

/// Forced photometry of the image at `image_path` (and its primary-beam image, if given).
pub fn forced_photometry_files(
    image_path: &Path,
    pb_path: Option<&Path>,
    sources: &[Source],
    opts: &ForcedOptions,
) -> Result<Vec<Measurement>, PhotError> {
    let img = dsa110_fits::read_image(image_path)?;
    let pb = pb_path.map(dsa110_fits::read_image).transpose()?;
    forced_photometry(
        &image_path.display().to_string(),
        &img,
        pb.as_ref(),
        sources,
        opts,
    )
}

struct Placed {
    idx: usize,
    x: f64,
    y: f64,
    beam: PixBeam,
}

/// Forced photometry with given background/noise maps (same grid as the image).
pub fn forced_photometry_with_maps(
    name: &str,
    img: &FitsImage,
    maps: &BkgMaps,
    pb: Option<&FitsImage>,
    sources: &[Source],
    opts: &ForcedOptions,
) -> Result<Vec<Measurement>, PhotError> {
    let beam = check_beam(name, img)?;
    let (nx, ny) = (img.nx, img.ny);
    if img.data.len() != nx * ny
        || maps.nx != nx
        || maps.ny != ny
        || maps.bkg.len() != nx * ny
        || maps.rms.len() != nx * ny
    {
        return Err(PhotError::Shape {
            image: name.into(),
            nx,
            ny,
            len: maps.bkg.len(),
        });
    }
    for (o, v) in [
        ("cutout_half_fwhm", opts.cutout_half_fwhm),
        ("blend_radius_fwhm", opts.blend_radius_fwhm),
    ] {
        if !(v.is_finite() && v > 0.0 && v < 50.0) {
            return Err(PhotError::BadOption {
                option: o.into(),
                reason: format!("{v} must be in (0, 50)"),
            });
        }
    }
    let w = &img.meta.wcs;
    let pbeam = PixBeam::new(&beam, w.cdelt1_deg, w.cdelt2_deg);
    let half = (opts.cutout_half_fwhm * pbeam.bmaj_px).ceil().max(1.0) as isize;
    let edge_px = opts.edge_px.unwrap_or(half as usize) as f64;

    let mut out: Vec<Measurement> = sources
        .iter()
        .map(|s| {
            let (x, y) = w
                .world_to_pixel(s.ra_deg, s.dec_deg)
                .unwrap_or((f64::NAN, f64::NAN));
            let pbv = pb.map(|p| match p.meta.wcs.world_to_pixel(s.ra_deg, s.dec_deg) {
                Some((px, py)) => bilinear(&p.data, p.nx, p.ny, px, py),
                None => f64::NAN,
            });
            let mut flags = Flags::default();
            if let Some(v) = pbv {
                if v.is_nan() || v < opts.min_pb {
                    flags.insert(Flags::LOW_PB);
                }
            }
            let on = x >= -0.5 && y >= -0.5 && x < nx as f64 - 0.5 && y < ny as f64 - 0.5;
            let (bkg, rms) = if on {
                maps.at(x.round() as usize, y.round() as usize)
            } else {
                flags.insert(Flags::OFF_IMAGE);
                (f64::NAN, f64::NAN)
            };
            if on
                && (x < edge_px
                    || y < edge_px
                    || x > nx as f64 - 1.0 - edge_px
                    || y > ny as f64 - 1.0 - edge_px)
            {
                flags.insert(Flags::EDGE);
            }
            if on && !(rms.is_finite() && rms > 0.0 && bkg.is_finite()) {
                flags.insert(Flags::NO_NOISE);
            }
            Measurement {
                name: s.name.clone(),
                ra_deg: s.ra_deg,
                dec_deg: s.dec_deg,
                x_pix: x,
                y_pix: y,
                flux_jy: f64::NAN,
                flux_err_jy: f64::NAN,
                bkg_jy: bkg,
                local_rms_jy: rms,
                snr: f64::NAN,
                pb: pbv,
                flags,
                n_group: 0,
            }
        })
        .collect();

    // Group on-image sources by proximity (grid hashing + union-find).
    let placed: Vec<Placed> = out
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.flags.contains(Flags::OFF_IMAGE))
        .map(|(idx, m)| Placed {
            idx,
            x: m.x_pix,
            y: m.y_pix,
            beam: PixBeam::local(&beam, w, m.x_pix, m.y_pix),
        })
        .collect();
    let groups = group_by_distance(&placed, opts.blend_radius_fwhm * pbeam.bmaj_px);

    let results: Vec<Vec<(usize, GroupFit)>> = groups
        .par_iter()
        .map(|g| {
            let members: Vec<&Placed> = g.iter().map(|&k| &placed[k]).collect();
            fit_group(
                img,
                maps,
                &members,
                opts.noise_correlation,
                half,
                opts.min_kernel_frac,
            )
        })
        .collect();
    for (g, res) in groups.iter().zip(results) {
        for (k, fit) in res {
            let m = &mut out[k];
            m.n_group = g.len();
            if g.len() > 1 {
                m.flags.insert(Flags::BLENDED);
            }
            m.flags.insert(fit.flags);
            m.flux_jy = fit.flux;
            m.flux_err_jy = fit.err;
            m.snr = fit.flux / fit.err;
        }
    }
    Ok(out)
}

fn group_by_distance(p: &[Placed], radius_px: f64) -> Vec<Vec<usize>> {
    let n = p.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let cell = radius_px.max(1e-9);
    let mut grid: std::collections::HashMap<(i64, i64), Vec<usize>> =
        std::collections::HashMap::new();
    for (i, q) in p.iter().enumerate() {
        grid.entry(((q.x / cell).floor() as i64, (q.y / cell).floor() as i64))
            .or_default()
            .push(i);
    }
    for (i, q) in p.iter().enumerate() {
        let (cx, cy) = ((q.x / cell).floor() as i64, (q.y / cell).floor() as i64);
        for dx in -1..=1 {
            for dy in -1..=1 {
                if let Some(v) = grid.get(&(cx + dx, cy + dy)) {
                    for &j in v {
                        if j > i && (p[j].x - q.x).hypot(p[j].y - q.y) < radius_px {
                            let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                            if a != b {
                                parent[a] = b;
                            }
                        }
                    }
                }
            }
        }
    }
    let mut by_root: std::collections::BTreeMap<usize, Vec<usize>> =
        std::collections::BTreeMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        by_root.entry(r).or_default().push(i);
    }
    by_root.into_values().collect()
}

/// Noise autocorrelation at integer pixel lags, truncated where it falls below 1e-4.
struct RhoTable {
    r: isize,
    v: Vec<f64>,
}

impl RhoTable {
    fn new(b: &PixBeam, model: NoiseCorrelation) -> Self {
        match model {
            NoiseCorrelation::White => Self { r: 0, v: vec![1.0] },
            NoiseCorrelation::Beam => {
                let r = (1.9 * b.bmaj_px).ceil() as isize;
                let n = (2 * r + 1) as usize;
                let mut v = vec![0.0; n * n];
                for dy in -r..=r {
                    for dx in -r..=r {
                        let val = b.at(dx as f64, dy as f64);
                        v[((dy + r) as usize) * n + (dx + r) as usize] =
                            if val < 1e-4 { 0.0 } else { val };
                    }
                }
                Self { r, v }
            }
        }
    }
}

struct GroupFit {
    flux: f64,
    err: f64,
    flags: Flags,
}

fn fit_group(
    img: &FitsImage,
    maps: &BkgMaps,
    members: &[&Placed],
    noise_correlation: NoiseCorrelation,
    half: isize,
    min_kernel_frac: f64,
) -> Vec<(usize, GroupFit)> {
    let (nx, ny) = (img.nx as isize, img.ny as isize);
    let ns = members.len();
    // Noise autocorrelation: the (local) beam of the group's first source.
    let rho = match members.first() {
        Some(m) => RhoTable::new(&m.beam, noise_correlation),
        None => return Vec::new(),
    };
    let centre: Vec<(isize, isize)> = members
        .iter()
        .map(|m| (m.x.round() as isize, m.y.round() as isize))
        .collect();
    // Union bounding box (clipped to the image).
    let x0 = centre.iter().map(|c| c.0 - half).min().unwrap_or(0).max(0);
    let x1 = centre
        .iter()
        .map(|c| c.0 + half)
        .max()
        .unwrap_or(0)
        .min(nx - 1);
    let y0 = centre.iter().map(|c| c.1 - half).min().unwrap_or(0).max(0);
    let y1 = centre
        .iter()
        .map(|c| c.1 + half)
        .max()
        .unwrap_or(0)
        .min(ny - 1);
    let (bw, bh) = ((x1 - x0 + 1) as usize, (y1 - y0 + 1) as usize);
    let in_box = |s: usize, x: isize, y: isize| {
        (x - centre[s].0).abs() <= half && (y - centre[s].1).abs() <= half
    };
    let mut flags = vec![Flags::default(); ns];
    let mut full_k2 = vec![0.0_f64; ns];
    let mut kept_k2 = vec![0.0_f64; ns];
    for s in 0..ns {
        for y in centre[s].1 - half..=centre[s].1 + half {
            for x in centre[s].0 - half..=centre[s].0 + half {
                let k = members[s]
                    .beam
                    .at(x as f64 - members[s].x, y as f64 - members[s].y);
                full_k2[s] += k * k;
                if x < 0 || y < 0 || x >= nx || y >= ny {
                    flags[s].insert(Flags::EDGE);
                }
            }
        }
    }
    // Pixel arrays on the box grid: a_s = k_s/σ (0 where excluded), d/σ.
    let mut a = vec![vec![0.0_f64; bw * bh]; ns];
    let mut dw = vec![0.0_f64; bw * bh];
    let mut any = false;
    for y in y0..=y1 {
        for x in x0..=x1 {
            if !(0..ns).any(|s| in_box(s, x, y)) {
                continue;
            }
            let i = (y as usize) * img.nx + x as usize;
            let (d, b, r) = (
                f64::from(img.data[i]),
                f64::from(maps.bkg[i]),
                f64::from(maps.rms[i]),
            );
            let ok = d.is_finite() && b.is_finite() && r.is_finite() && r > 0.0;
            let g = ((y - y0) as usize) * bw + (x - x0) as usize;
            for s in 0..ns {
                let k = members[s]
                    .beam
                    .at(x as f64 - members[s].x, y as f64 - members[s].y);
                if ok {
                    a[s][g] = k / r;
                    if in_box(s, x, y) {
                        kept_k2[s] += k * k;
                    }
                } else if in_box(s, x, y) && k > 0.01 {
                    flags[s].insert(Flags::NON_FINITE);
                }
            }
            if ok {
                dw[g] = (d - b) / r;
                any = true;
            }
        }
    }
    let fail = |flags: &mut Vec<Flags>| -> Vec<(usize, GroupFit)> {
        (0..ns)
            .map(|s| {
                let mut f = flags[s];
                f.insert(Flags::FIT_FAILED);
                (
                    members[s].idx,
                    GroupFit {
                        flux: f64::NAN,
                        err: f64::NAN,
                        flags: f,
                    },
                )
            })
            .collect()
    };
    if !any || (0..ns).any(|s| kept_k2[s].is_nan() || kept_k2[s] < min_kernel_frac * full_k2[s]) {
        return fail(&mut flags);
    }
    // Normal equations.
    let mut am = vec![0.0_f64; ns * ns];
    let mut bv = vec![0.0_f64; ns];
    for s in 0..ns {
        for t in s..ns {
            let v: f64 = a[s].iter().zip(&a[t]).map(|(p, q)| p * q).sum();
            am[s * ns + t] = v;
            am[t * ns + s] = v;
        }
        bv[s] = a[s].iter().zip(&dw).map(|(p, q)| p * q).sum();
    }
    let Some(ainv) = invert_spd(&am, ns) else {
        return fail(&mut flags);
    };
    let flux: Vec<f64> = (0..ns)
        .map(|s| (0..ns).map(|t| ainv[s * ns + t] * bv[t]).sum())
        .collect();
    // M = Σ_ij a_s(i) ρ(i−j) a_t(j): correlate each a_s with ρ on the box grid.
    let r = rho.r;
    let rn = (2 * r + 1) as usize;
    let corr: Vec<Vec<f64>> = a
        .iter()
        .map(|as_| {
            let mut c = vec![0.0_f64; bw * bh];
            for gy in 0..bh as isize {
                for gx in 0..bw as isize {
                    let mut acc = 0.0;
                    for dy in (-r).max(-gy)..=r.min(bh as isize - 1 - gy) {
                        let row = ((gy + dy) as usize) * bw;
                        let rrow = ((dy + r) as usize) * rn;
                        for dx in (-r).max(-gx)..=r.min(bw as isize - 1 - gx) {
                            let av = as_[row + (gx + dx) as usize];
                            if av != 0.0 {
                                acc += av * rho.v[rrow + (dx + r) as usize];
                            }
                        }
                    }
                    c[(gy as usize) * bw + gx as usize] = acc;
                }
            }
            c
        })
        .collect();
    let mut mm = vec![0.0_f64; ns * ns];
    for s in 0..ns {
        for t in 0..ns {
            mm[s * ns + t] = a[t].iter().zip(&corr[s]).map(|(p, q)| p * q).sum();
        }
    }
    // Cov = A⁻¹ M A⁻¹; only the diagonal is needed.
    (0..ns)
        .map(|s| {
            let mut var = 0.0;
            for p in 0..ns {
                for q in 0..ns {
                    var += ainv[s * ns + p] * mm[p * ns + q] * ainv[q * ns + s];
                }
            }
            let err = if var > 0.0 { var.sqrt() } else { f64::NAN };
            let mut f = flags[s];
            if !err.is_finite() || !flux[s].is_finite() {
                f.insert(Flags::FIT_FAILED);
            }
            (
                members[s].idx,
                GroupFit {
                    flux: flux[s],
                    err,
                    flags: f,
                },
            )
        })
        .collect()
}

/// Inverse of a small symmetric positive-definite matrix by Gauss–Jordan with partial
/// pivoting; `None` if it is (numerically) singular.
fn invert_spd(m: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut a = m.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    let scale = (0..n).map(|i| a[i * n + i].abs()).fold(0.0_f64, f64::max);
    if scale.is_nan() || scale <= 0.0 {
        return None;
    }
    for col in 0..n {
        let piv =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[piv * n + col].abs() < 1e-9 * scale {
            return None;
        }
        if piv != col {
            for k in 0..n {
                a.swap(piv * n + k, col * n + k);
                inv.swap(piv * n + k, col * n + k);
            }
        }
        let p = a[col * n + col];
        for k in 0..n {
            a[col * n + k] /= p;
            inv[col * n + k] /= p;
        }
        for i in 0..n {
            if i != col {
                let f = a[i * n + col];
                if f != 0.0 {
                    for k in 0..n {
                        a[i * n + k] -= f * a[col * n + k];
                        inv[i * n + k] -= f * inv[col * n + k];
                    }
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beam_kernel_is_half_at_hwhm_along_major_axis() {
        // PA = 0: major axis north (+y with cdelt2 > 0).
        let b = Beam {
            bmaj_deg: 10.0,
            bmin_deg: 5.0,
            bpa_deg: 0.0,
        };
        let p = PixBeam::new(&b, -1.0, 1.0);
        assert!((p.at(0.0, 5.0) - 0.5).abs() < 1e-12);
        assert!((p.at(2.5, 0.0) - 0.5).abs() < 1e-12);
        // PA = 90: major axis east = −x.
        let b = Beam {
            bmaj_deg: 10.0,
            bmin_deg: 5.0,
            bpa_deg: 90.0,
        };
        let p = PixBeam::new(&b, -1.0, 1.0);
        assert!((p.at(-5.0, 0.0) - 0.5).abs() < 1e-12);
        assert!((p.at(0.0, 2.5) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn local_beam_is_nominal_at_the_centre_and_compressed_far_out() {
        let b = Beam {
            bmaj_deg: 17.0 / 3600.0,
            bmin_deg: 12.0 / 3600.0,
            bpa_deg: 30.0,
        };
        let w = SinWcs::centered(100.0, 30.0, 8000, 2000, 3.0 / 3600.0);
        let n = PixBeam::new(&b, w.cdelt1_deg, w.cdelt2_deg);
        let c = PixBeam::local(&b, &w, 4000.0, 1000.0);
        for (p, q) in [(n.a, c.a), (n.b, c.b), (n.c, c.c)] {
            assert!((p - q).abs() < 1e-6 * n.a, "{p} {q}");
        }
        // 3.3° east of the centre, the projection compresses x (radial) by cos(3.3°): a
        // circular beam is narrower along x in pixels, so `a` grows by 1/cos², `c` does not.
        let circ = Beam {
            bmaj_deg: 15.0 / 3600.0,
            bmin_deg: 15.0 / 3600.0,
            bpa_deg: 0.0,
        };
        let n = PixBeam::new(&circ, w.cdelt1_deg, w.cdelt2_deg);
        let f = PixBeam::local(&circ, &w, 0.0, 1000.0);
        let l = (4000.0 * 3.0 / 3600.0_f64).to_radians(); // direction cosine of pixel x = 0
        let want = 1.0 / (1.0 - l * l); // 1 / cos²θ with sin θ = l
        assert!((f.a / n.a - want).abs() < 1e-4, "{} vs {want}", f.a / n.a);
        assert!(
            (f.c / n.c - 1.0).abs() < 1e-4 && (f.b / n.a).abs() < 1e-4,
            "{} {}",
            f.c / n.c,
            f.b
        );
    }

    #[test]
    fn inverse_of_2x2() {
        let inv = invert_spd(&[4.0, 1.0, 1.0, 3.0], 2).unwrap_or_default();
        let want = [3.0 / 11.0, -1.0 / 11.0, -1.0 / 11.0, 4.0 / 11.0];
        for (a, b) in inv.iter().zip(want) {
            assert!((a - b).abs() < 1e-12);
        }
        assert!(invert_spd(&[1.0, 1.0, 1.0, 1.0], 2).is_none());
    }

    #[test]
    fn csv_lines() {
        let m = Measurement {
            name: "a,b".into(),
            ra_deg: 1.0,
            dec_deg: 2.0,
            x_pix: 3.0,
            y_pix: f64::NAN,
            flux_jy: 0.5,
            flux_err_jy: 0.01,
            bkg_jy: 0.0,
            local_rms_jy: 0.001,
            snr: 50.0,
            pb: None,
            flags: Flags::EDGE,
            n_group: 1,
        };
        let csv = measurements_csv(&[m]);
        let line = csv.lines().nth(1).unwrap_or_default();
        assert!(
            line.starts_with("\"a,b\",1.0000000,2.0000000,3.0000e0,,5.000000e-1,"),
            "{line}"
        );
        assert!(line.ends_with(",50.00,,1,edge"), "{line}");
    }

    #[test]
    fn flag_names() {
        let mut f = Flags::EDGE;
        f.insert(Flags::BLENDED);
        assert_eq!(f.names(), "edge|blended");
        assert_eq!(Flags::default().names(), "");
    }
}
