//! Colour-mapped PNG previews of images and mosaics.

use std::io::BufWriter;
use std::path::Path;

use crate::FitsError;

/// How pixel values map to colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StretchKind {
    /// Linear between the clip levels.
    Linear,
    /// `asinh(t / soft) / asinh(1 / soft)` of the linear fraction `t` in [0, 1]: linear for
    /// faint pixels, logarithmic for bright ones (`soft` ≈ 0.02–0.1 suits radio images).
    Asinh { soft: f32 },
}

/// A preview stretch: percentile clip levels (of the finite pixels) and the mapping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stretch {
    pub kind: StretchKind,
    /// Lower clip, percent of finite pixels (e.g. 0.5).
    pub lo_pct: f32,
    /// Upper clip, percent of finite pixels (e.g. 99.5).
    pub hi_pct: f32,
    /// Longest side of the PNG; larger images are block-averaged (NaN-aware) by an integer
    /// factor. 0 means no downsampling.
    pub max_side_px: usize,
}

impl Default for Stretch {
    /// asinh (soft 0.02), clip 1–99.99 %, at most 1024 px: radio images are mostly noise,
    /// so a 99.5 % clip would saturate every source; this keeps the noise dark and the
    /// sources' structure visible.
    fn default() -> Self {
        Self {
            kind: StretchKind::Asinh { soft: 0.02 },
            lo_pct: 1.0,
            hi_pct: 99.99,
            max_side_px: 1024,
        }
    }
}

/// Blanked (NaN) pixels are drawn in this neutral grey.
pub const NAN_RGB: [u8; 3] = [128, 128, 128];

fn block_average(data: &[f32], nx: usize, ny: usize, f: usize) -> (Vec<f32>, usize, usize) {
    if f <= 1 {
        return (data.to_vec(), nx, ny);
    }
    let (ox, oy) = (nx.div_ceil(f), ny.div_ceil(f));
    let mut out = vec![f32::NAN; ox * oy];
    for by in 0..oy {
        for bx in 0..ox {
            let (mut s, mut n) = (0.0_f64, 0usize);
            for y in by * f..((by + 1) * f).min(ny) {
                for x in bx * f..((bx + 1) * f).min(nx) {
                    let v = data[y * nx + x];
                    if v.is_finite() {
                        s += f64::from(v);
                        n += 1;
                    }
                }
            }
            if n > 0 {
                out[by * ox + bx] = (s / n as f64) as f32;
            }
        }
    }
    (out, ox, oy)
}

fn percentile(sorted: &[f32], pct: f32) -> f32 {
    if sorted.is_empty() {
        return f32::NAN;
    }
    let pos = (pct.clamp(0.0, 100.0) / 100.0) * (sorted.len() - 1) as f32;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    let t = pos - i as f32;
    sorted[i] * (1.0 - t) + sorted[j] * t
}

/// Render `data` (`nx × ny`, row-major, y = 0 the bottom row as in FITS) as an RGB PNG with
/// the inferno colour map, north up (the bottom FITS row is the last PNG row). NaN pixels
/// are grey. Written to a temporary name in the same directory, then renamed.
pub fn write_png_preview(
    path: impl AsRef<Path>,
    data: &[f32],
    nx: usize,
    ny: usize,
    stretch: Stretch,
) -> Result<(), FitsError> {
    let path = path.as_ref();
    if nx == 0 || ny == 0 || data.len() != nx * ny {
        return Err(FitsError::Shape {
            path: path.to_path_buf(),
            nx,
            ny,
            len: data.len(),
        });
    }
    let f = if stretch.max_side_px == 0 {
        1
    } else {
        nx.max(ny).div_ceil(stretch.max_side_px)
    };
    let (img, w, h) = block_average(data, nx, ny, f);
    let mut finite: Vec<f32> = img.iter().copied().filter(|v| v.is_finite()).collect();
    finite.sort_unstable_by(f32::total_cmp);
    let lo = percentile(&finite, stretch.lo_pct);
    let hi = percentile(&finite, stretch.hi_pct);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let map = |v: f32| -> [u8; 3] {
        if !v.is_finite() {
            return NAN_RGB;
        }
        let t = ((v - lo) / span).clamp(0.0, 1.0);
        let t = match stretch.kind {
            StretchKind::Linear => t,
            StretchKind::Asinh { soft } => {
                let s = if soft > 0.0 { soft } else { 0.05 };
                (t / s).asinh() / (1.0 / s).asinh()
            }
        };
        let c = colorous::INFERNO.eval_continuous(f64::from(t));
        [c.r, c.g, c.b]
    };
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in (0..h).rev() {
        for x in 0..w {
            rgb.extend_from_slice(&map(img[y * w + x]));
        }
    }
    let io_err = |source| FitsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp_name = format!(".{name}.tmp{}", std::process::id());
    let tmp = path
        .parent()
        .map(|d| d.join(&tmp_name))
        .unwrap_or_else(|| tmp_name.clone().into());
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(io_err)?;
        let (w32, h32) = (
            u32::try_from(w).map_err(|_| FitsError::Shape {
                path: path.to_path_buf(),
                nx,
                ny,
                len: data.len(),
            })?,
            u32::try_from(h).map_err(|_| FitsError::Shape {
                path: path.to_path_buf(),
                nx,
                ny,
                len: data.len(),
            })?,
        );
        let mut enc = png::Encoder::new(BufWriter::new(file), w32, h32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let png_err = |source| FitsError::Png {
            path: path.to_path_buf(),
            source,
        };
        let mut writer = enc.write_header().map_err(png_err)?;
        writer.write_image_data(&rgb).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
        std::fs::rename(&tmp, path).map_err(io_err)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_average_ignores_nan() {
        let d = [
            1.0,
            f32::NAN,
            3.0,
            5.0,
            f32::NAN,
            f32::NAN,
            f32::NAN,
            f32::NAN,
            7.0,
        ];
        let (o, w, h) = block_average(&d, 3, 3, 2);
        assert_eq!((w, h), (2, 2));
        assert_eq!(o[0], 3.0); // (1 + 5) / 2
        assert_eq!(o[1], 3.0);
        assert!(o[2].is_nan());
        assert_eq!(o[3], 7.0);
    }

    #[test]
    fn percentile_interpolates() {
        let s = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&s, 50.0), 2.0);
        assert_eq!(percentile(&s, 100.0), 4.0);
        assert_eq!(percentile(&s, 12.5), 0.5);
    }
}
