//! A light-curve plot drawn by hand into an RGB buffer and encoded with the
//! `png` crate (no plotting framework): points with 1σ error bars against
//! MJD, axes, grid lines and numeric tick labels in a small bitmap font.

use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};

/// Plot size (pixels).
pub const WIDTH: usize = 800;
/// Plot size (pixels).
pub const HEIGHT: usize = 480;
const LEFT: usize = 90;
const RIGHT: usize = 20;
const TOP: usize = 20;
const BOTTOM: usize = 50;

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];
const GRID: [u8; 3] = [225, 225, 225];
/// Colour of the points and error bars.
pub const POINT: [u8; 3] = [31, 119, 180];

/// One point: x, y, 1σ error of y (NaN or 0 = none).
pub type Point = (f64, f64, f64);

/// An RGB image, row 0 at the top.
#[derive(Debug, Clone)]
pub struct Canvas {
    /// Width.
    pub w: usize,
    /// Height.
    pub h: usize,
    /// `3·(y·w + x)` RGB bytes.
    pub rgb: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            rgb: WHITE.repeat(w * h),
        }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = 3 * (y as usize * self.w + x as usize);
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Colour at (x, y).
    #[cfg(test)]
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.w + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    fn hline(&mut self, x0: i64, x1: i64, y: i64, c: [u8; 3]) {
        for x in x0.min(x1)..=x0.max(x1) {
            self.set(x, y, c);
        }
    }

    fn vline(&mut self, x: i64, y0: i64, y1: i64, c: [u8; 3]) {
        for y in y0.min(y1)..=y0.max(y1) {
            self.set(x, y, c);
        }
    }

    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        for y in y0..=y1 {
            self.hline(x0, x1, y, c);
        }
    }

    /// Text in the 3×5 font scaled by `s`, top-left at (x, y).
    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            let g = glyph(ch);
            let ox = x + k as i64 * 4 * scale;
            for (row, bits) in g.iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        self.rect(
                            ox + col * scale,
                            y + row as i64 * scale,
                            ox + col * scale + scale - 1,
                            y + row as i64 * scale + scale - 1,
                            c,
                        );
                    }
                }
            }
        }
    }
}

/// Width in pixels of `s` in the font at `scale`.
fn text_width(s: &str, scale: i64) -> i64 {
    (s.chars().count() as i64 * 4 - 1).max(0) * scale
}

/// 3×5 glyphs (rows top to bottom, bit 2 = left column); unknown characters are blank.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b001, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '+' => [0b000, 0b010, 0b111, 0b010, 0b000],
        '(' => [0b001, 0b010, 0b010, 0b010, 0b001],
        ')' => [0b100, 0b010, 0b010, 0b010, 0b100],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b111],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        _ => [0; 5],
    }
}

/// "Nice" tick positions covering [lo, hi] (about `n` of them) and the decimals to print.
fn ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, usize) {
    let span = (hi - lo).abs().max(f64::MIN_POSITIVE);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let mut out = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + 1e-9 * step && out.len() < 50 {
        out.push(t);
        t += step;
    }
    (out, decimals)
}

/// The range of `v` padded by 5 % (or ±1 around a single value, ±|v|/10 when v ≠ 0).
fn padded_range(v: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = v
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    if !lo.is_finite() {
        return None;
    }
    if hi - lo <= 1e-12 * hi.abs().max(1e-300) {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() / 10.0 };
        return Some((lo - d, hi + d));
    }
    let pad = 0.05 * (hi - lo);
    Some((lo - pad, hi + pad))
}

/// Draw `points` (x = MJD, y = flux, error) with axis labels `xlabel`, `ylabel`.
pub fn draw(points: &[Point], xlabel: &str, ylabel: &str) -> Canvas {
    let mut c = Canvas::new(WIDTH, HEIGHT);
    let (px0, px1) = (LEFT as i64, (WIDTH - RIGHT) as i64);
    let (py0, py1) = (TOP as i64, (HEIGHT - BOTTOM) as i64);
    let good: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let err = |p: &Point| if p.2.is_finite() { p.2.abs() } else { 0.0 };
    let xr = padded_range(good.iter().map(|p| p.0)).unwrap_or((0.0, 1.0));
    let yr =
        padded_range(good.iter().flat_map(|p| [p.1 - err(p), p.1 + err(p)])).unwrap_or((0.0, 1.0));
    let sx = |x: f64| px0 as f64 + (x - xr.0) / (xr.1 - xr.0) * (px1 - px0) as f64;
    let sy = |y: f64| py1 as f64 - (y - yr.0) / (yr.1 - yr.0) * (py1 - py0) as f64;
    // grid and tick labels
    let (xt, xd) = ticks(xr.0, xr.1, 5);
    for t in &xt {
        let x = sx(*t).round() as i64;
        c.vline(x, py0, py1, GRID);
        c.vline(x, py1, py1 + 5, BLACK);
        let label = format!("{t:.xd$}");
        c.text(x - text_width(&label, 2) / 2, py1 + 9, &label, 2, BLACK);
    }
    let (yt, yd) = ticks(yr.0, yr.1, 6);
    for t in &yt {
        let y = sy(*t).round() as i64;
        c.hline(px0, px1, y, GRID);
        c.hline(px0 - 5, px0, y, BLACK);
        let label = format!("{t:.yd$}");
        c.text(px0 - 9 - text_width(&label, 2), y - 5, &label, 2, BLACK);
    }
    // axes box
    c.hline(px0, px1, py0, BLACK);
    c.hline(px0, px1, py1, BLACK);
    c.vline(px0, py0, py1, BLACK);
    c.vline(px1, py0, py1, BLACK);
    c.text(
        (px0 + px1) / 2 - text_width(xlabel, 2) / 2,
        HEIGHT as i64 - 16,
        xlabel,
        2,
        BLACK,
    );
    c.text(4, 4, ylabel, 2, BLACK);
    // points with error bars
    for p in &good {
        let x = sx(p.0).round() as i64;
        let y = sy(p.1).round() as i64;
        let e = err(p);
        if e > 0.0 {
            let (ya, yb) = (sy(p.1 + e).round() as i64, sy(p.1 - e).round() as i64);
            c.vline(x, ya, yb, POINT);
            c.hline(x - 4, x + 4, ya, POINT);
            c.hline(x - 4, x + 4, yb, POINT);
        }
        c.rect(x - 3, y - 3, x + 3, y + 3, POINT);
    }
    c
}

/// Encode `c` as an 8-bit RGB PNG at `path`.
pub fn write_png(c: &Canvas, path: &Path) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut enc = png::Encoder::new(BufWriter::new(file), c.w as u32, c.h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc
        .write_header()
        .with_context(|| format!("writing the PNG header of {}", path.display()))?;
    w.write_image_data(&c.rgb)
        .with_context(|| format!("writing the PNG {}", path.display()))?;
    w.finish()
        .with_context(|| format!("finishing the PNG {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn ticks_are_nice_and_cover_the_range() {
        let (t, d) = ticks(0.03, 0.97, 5);
        assert_eq!(d, 1);
        let want = [0.2, 0.4, 0.6, 0.8];
        assert_eq!(t.len(), want.len(), "{t:?}");
        assert!(
            t.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{t:?}"
        );
        let (t, d) = ticks(60950.1, 60953.9, 5);
        assert_eq!(d, 0);
        assert_eq!(t, vec![60951.0, 60952.0, 60953.0]);
    }

    #[test]
    fn points_and_error_bars_land_where_they_should() {
        let pts = [(1.0, 1.0, 0.1), (2.0, 2.0, 0.1), (3.0, 1.5, f64::NAN)];
        let c = draw(&pts, "MJD", "FLUX (JY)");
        let n_point = (0..c.h)
            .flat_map(|y| (0..c.w).map(move |x| (x, y)))
            .filter(|&(x, y)| c.get(x, y) == POINT)
            .count();
        // three 7×7 markers plus two error bars with caps
        assert!(n_point > 3 * 49, "{n_point}");
        // the highest point (x = 2) is to the right of and above the first
        let col = |xpix: usize| {
            (0..c.h)
                .filter(|&y| c.get(xpix, y) == POINT)
                .collect::<Vec<_>>()
        };
        let xs: Vec<usize> = (0..c.w).filter(|&x| !col(x).is_empty()).collect();
        assert!(xs.first().unwrap() > &LEFT && xs.last().unwrap() < &(WIDTH - RIGHT));
        // an empty plot still draws axes
        let e = draw(&[], "MJD", "");
        assert_eq!(e.get(LEFT, TOP + 10), BLACK);
    }
}
