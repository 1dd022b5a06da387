//! Writing and reading single-plane SIN images.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fitsio::images::{ImageDescription, ImageType};
use fitsio::FitsFile;

use crate::ffi;
use crate::{Beam, FitsError, FitsImage, ImageMeta, KeyValue, SinWcs};

/// Keywords interpreted (on read) or written (on write) by this crate; they never appear
/// in [`ImageMeta::extra`].
fn is_interpreted(name: &str) -> bool {
    const FIXED: &[&str] = &[
        "SIMPLE", "BITPIX", "NAXIS", "EXTEND", "BSCALE", "BZERO", "BLANK", "END", "LONPOLE",
        "LATPOLE", "RADESYS", "RADECSYS", "EQUINOX", "EPOCH", "SPECSYS", "BTYPE", "BMAJ", "BMIN",
        "BPA", "BUNIT", "DATE-OBS", "TELESCOP", "OBJECT", "HISTORY", "COMMENT", "",
    ];
    if FIXED.contains(&name) {
        return true;
    }
    const INDEXED: &[&str] = &[
        "NAXIS", "CTYPE", "CRPIX", "CRVAL", "CDELT", "CUNIT", "CROTA",
    ];
    for p in INDEXED {
        if let Some(rest) = name.strip_prefix(p) {
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                return true;
            }
        }
    }
    for p in ["PC", "CD", "PV"] {
        if let Some(rest) = name.strip_prefix(p) {
            let mut it = rest.split('_');
            if let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) {
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
                if digits(a) && digits(b) {
                    return true;
                }
            }
        }
    }
    false
}

fn tmp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = format!(".{name}.tmp{}", std::process::id());
    match path.parent() {
        Some(dir) => dir.join(tmp),
        None => PathBuf::from(tmp),
    }
}

/// Write `img` to `path` as a 4-axis WSClean-style image (see the crate docs for the
/// keywords). The file is written to a hidden temporary name in the same directory and
/// renamed, so `path` never holds a partial file; an existing file at `path` is replaced.
pub fn write_image(path: impl AsRef<Path>, img: &FitsImage) -> Result<(), FitsError> {
    let path = path.as_ref();
    if img.nx == 0 || img.ny == 0 || img.data.len() != img.nx * img.ny {
        return Err(FitsError::Shape {
            path: path.to_path_buf(),
            nx: img.nx,
            ny: img.ny,
            len: img.data.len(),
        });
    }
    for (k, _) in &img.meta.extra {
        if is_interpreted(&k.to_ascii_uppercase()) {
            return Err(FitsError::ReservedKeyword {
                path: path.to_path_buf(),
                keyword: k.clone(),
            });
        }
    }
    let tmp = tmp_path_for(path);
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|source| FitsError::Io {
            path: tmp.clone(),
            source,
        })?;
    }
    let result = write_to(&tmp, path, img).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|source| FitsError::Io {
            path: path.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_to(tmp: &Path, final_path: &Path, img: &FitsImage) -> Result<(), FitsError> {
    let p = || final_path.to_path_buf();
    let desc = ImageDescription {
        data_type: ImageType::Float,
        dimensions: &[1, 1, img.ny, img.nx],
    };
    let mut f = FitsFile::create(tmp)
        .with_custom_primary(&desc)
        .open()
        .map_err(|source| FitsError::Create { path: p(), source })?;
    let hdu = f
        .primary_hdu()
        .map_err(|source| FitsError::Hdu { path: p(), source })?;
    let m = &img.meta;
    let w = &m.wcs;

    macro_rules! key {
        ($name:expr, $val:expr) => {
            hdu.write_key(&mut f, $name, $val)
                .map_err(|source| FitsError::WriteKey {
                    path: p(),
                    keyword: $name.to_string(),
                    source,
                })?
        };
    }
    ffi::delete_key_if_present(&mut f, "EXTNAME").map_err(|source| FitsError::WriteRecord {
        path: p(),
        keyword: "EXTNAME".to_string(),
        source,
    })?;
    key!("BSCALE", 1.0_f64);
    key!("BZERO", 0.0_f64);
    key!("BUNIT", m.bunit.as_str());
    if let Some(b) = m.beam {
        key!("BMAJ", (b.bmaj_deg, "restoring beam major axis FWHM (deg)"));
        key!("BMIN", (b.bmin_deg, "restoring beam minor axis FWHM (deg)"));
        key!("BPA", (b.bpa_deg, "restoring beam position angle (deg)"));
    }
    key!("EQUINOX", 2000.0_f64);
    key!("BTYPE", "Intensity");
    key!("TELESCOP", m.telescope.as_str());
    key!("OBJECT", m.object.as_str());
    key!("CTYPE1", "RA---SIN");
    key!("CRPIX1", w.crpix1);
    key!("CRVAL1", w.crval_ra_deg.rem_euclid(360.0));
    key!("CDELT1", w.cdelt1_deg);
    key!("CUNIT1", "deg");
    key!("CTYPE2", "DEC--SIN");
    key!("CRPIX2", w.crpix2);
    key!("CRVAL2", w.crval_dec_deg);
    key!("CDELT2", w.cdelt2_deg);
    key!("CUNIT2", "deg");
    key!("CTYPE3", "FREQ");
    key!("CRPIX3", 1.0_f64);
    key!("CRVAL3", m.freq_hz);
    // A zero CDELT makes the WCS matrix singular (astropy/wcslib refuse it): an unknown
    // bandwidth is written as 1 Hz and read back as 0.
    let cdelt3 = if m.bandwidth_hz.is_finite() && m.bandwidth_hz > 1.0 {
        m.bandwidth_hz
    } else {
        1.0
    };
    key!("CDELT3", cdelt3);
    key!("CUNIT3", "Hz");
    key!("CTYPE4", "STOKES");
    key!("CRPIX4", 1.0_f64);
    key!("CRVAL4", 1.0_f64);
    key!("CDELT4", 1.0_f64);
    key!("CUNIT4", "");
    key!("SPECSYS", "TOPOCENT");
    key!("RADESYS", "ICRS");
    if !m.date_obs.is_empty() {
        key!("DATE-OBS", m.date_obs.as_str());
    }
    for (k, v) in &m.extra {
        let k = k.to_ascii_uppercase();
        match v {
            KeyValue::Bool(b) => {
                ffi::write_bool_key(&mut f, &k, *b).map_err(|source| FitsError::WriteRecord {
                    path: p(),
                    keyword: k.clone(),
                    source,
                })?
            }
            KeyValue::Int(i) => key!(k.as_str(), *i),
            KeyValue::Float(x) => key!(k.as_str(), *x),
            KeyValue::Str(s) => key!(k.as_str(), s.as_str()),
        }
    }
    for h in &m.history {
        ffi::write_history(&mut f, h).map_err(|source| FitsError::WriteRecord {
            path: p(),
            keyword: "HISTORY".to_string(),
            source,
        })?;
    }
    hdu.write_image(&mut f, &img.data)
        .map_err(|source| FitsError::WriteData { path: p(), source })?;
    ffi::flush(&mut f).map_err(|source| FitsError::WriteRecord {
        path: p(),
        keyword: "(flush)".to_string(),
        source,
    })?;
    drop(f);
    Ok(())
}

/// Parsed header: first value of each keyword, plus HISTORY and the order of keywords.
struct Header {
    path: PathBuf,
    values: HashMap<String, String>,
    order: Vec<String>,
    history: Vec<String>,
}

impl Header {
    fn raw(&self, k: &str) -> Option<&str> {
        self.values.get(k).map(String::as_str)
    }

    fn bad(&self, k: &str, v: &str, reason: &str) -> FitsError {
        FitsError::BadKeyword {
            path: self.path.clone(),
            keyword: k.to_string(),
            value: v.to_string(),
            reason: reason.to_string(),
        }
    }

    fn f64_opt(&self, k: &str) -> Result<Option<f64>, FitsError> {
        match self.raw(k) {
            None => Ok(None),
            Some(v) => match parse_value(v) {
                KeyValue::Float(x) if x.is_finite() => Ok(Some(x)),
                KeyValue::Int(i) => Ok(Some(i as f64)),
                _ => Err(self.bad(k, v, "expected a finite number")),
            },
        }
    }

    fn f64_req(&self, k: &str) -> Result<f64, FitsError> {
        self.f64_opt(k)?.ok_or_else(|| FitsError::MissingKeyword {
            path: self.path.clone(),
            keyword: k.to_string(),
        })
    }

    fn usize_req(&self, k: &str) -> Result<usize, FitsError> {
        let v = self.raw(k).ok_or_else(|| FitsError::MissingKeyword {
            path: self.path.clone(),
            keyword: k.to_string(),
        })?;
        match parse_value(v) {
            KeyValue::Int(i) if i >= 0 => {
                usize::try_from(i).map_err(|_| self.bad(k, v, "too large"))
            }
            _ => Err(self.bad(k, v, "expected a non-negative integer")),
        }
    }

    fn str_opt(&self, k: &str) -> Option<String> {
        self.raw(k).map(|v| match parse_value(v) {
            KeyValue::Str(s) => s,
            _ => v.trim().to_string(),
        })
    }

    fn unsupported(&self, what: impl Into<String>) -> FitsError {
        FitsError::Unsupported {
            path: self.path.clone(),
            what: what.into(),
        }
    }
}

/// Interpret a raw FITS value string.
fn parse_value(v: &str) -> KeyValue {
    let t = v.trim();
    if let Some(inner) = t.strip_prefix('\'') {
        let inner = inner.strip_suffix('\'').unwrap_or(inner);
        return KeyValue::Str(inner.replace("''", "'").trim_end().to_string());
    }
    match t {
        "T" => return KeyValue::Bool(true),
        "F" => return KeyValue::Bool(false),
        _ => {}
    }
    if let Ok(i) = t.parse::<i64>() {
        return KeyValue::Int(i);
    }
    if let Ok(x) = t.replace(['D', 'd'], "E").parse::<f64>() {
        return KeyValue::Float(x);
    }
    KeyValue::Str(t.to_string())
}

/// Read a single-plane image written by [`write_image`], WSClean or astropy: the primary
/// HDU, axes 1 and 2 `RA---SIN`/`DEC--SIN` (no rotation), any further axes of length 1
/// (a `FREQ` axis gives `freq_hz`/`bandwidth_hz`). No `BMAJ` gives `beam: None`.
pub fn read_image(path: impl AsRef<Path>) -> Result<FitsImage, FitsError> {
    read_impl(path.as_ref(), true)
}

/// Read only the header of an image (as [`read_image`] would interpret it): `(nx, ny, meta)`.
pub fn read_image_header(path: impl AsRef<Path>) -> Result<(usize, usize, ImageMeta), FitsError> {
    let img = read_impl(path.as_ref(), false)?;
    Ok((img.nx, img.ny, img.meta))
}

fn read_impl(path: &Path, with_data: bool) -> Result<FitsImage, FitsError> {
    let pb = || path.to_path_buf();
    if !path.exists() {
        return Err(FitsError::Io {
            path: pb(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let mut f = FitsFile::open(path).map_err(|source| FitsError::Open { path: pb(), source })?;
    let hdu = f
        .primary_hdu()
        .map_err(|source| FitsError::Hdu { path: pb(), source })?;
    let cards = ffi::read_cards(&mut f).map_err(|source| FitsError::ReadHeader {
        path: pb(),
        hdu: 0,
        source,
    })?;
    let mut h = Header {
        path: pb(),
        values: HashMap::new(),
        order: Vec::new(),
        history: Vec::new(),
    };
    for c in cards {
        if c.name == "HISTORY" {
            h.history.push(c.comment);
        } else if !c.name.is_empty() && c.name != "COMMENT" && !h.values.contains_key(&c.name) {
            h.order.push(c.name.clone());
            h.values.insert(c.name, c.value);
        }
    }

    let naxis = h.usize_req("NAXIS")?;
    if naxis < 2 {
        return Err(h.unsupported(format!("NAXIS = {naxis}, need at least 2")));
    }
    let nx = h.usize_req("NAXIS1")?;
    let ny = h.usize_req("NAXIS2")?;
    let ctype = |i: usize| {
        h.str_opt(&format!("CTYPE{i}"))
            .unwrap_or_default()
            .to_ascii_uppercase()
    };
    if ctype(1) != "RA---SIN" || ctype(2) != "DEC--SIN" {
        return Err(h.unsupported(format!(
            "axes 1 and 2 are {:?}/{:?}, need RA---SIN/DEC--SIN",
            ctype(1),
            ctype(2)
        )));
    }
    let (mut freq_hz, mut bandwidth_hz) = (0.0, 0.0);
    for i in 3..=naxis {
        let n = h.usize_req(&format!("NAXIS{i}"))?;
        if n != 1 {
            return Err(h.unsupported(format!("axis {i} ({}) has length {n}, need 1", ctype(i))));
        }
        if ctype(i) == "FREQ" {
            freq_hz = h.f64_opt(&format!("CRVAL{i}"))?.unwrap_or(0.0);
            bandwidth_hz = h.f64_opt(&format!("CDELT{i}"))?.unwrap_or(0.0).abs();
            if bandwidth_hz <= 1.0 {
                bandwidth_hz = 0.0; // placeholder for "unknown" (see write_image)
            }
        }
    }
    for i in 1..=2 {
        if let Some(u) = h.str_opt(&format!("CUNIT{i}")) {
            if !u.is_empty() && !u.eq_ignore_ascii_case("deg") {
                return Err(h.bad(&format!("CUNIT{i}"), &u, "only degrees are supported"));
            }
        }
    }
    // Pixel scale: CDELT × diagonal PC, or a diagonal CD matrix. Rotation is unsupported.
    let mut cdelt = [0.0_f64; 2];
    for i in 1..=2usize {
        for j in 1..=2usize {
            if i != j {
                for k in [format!("PC{i}_{j}"), format!("CD{i}_{j}")] {
                    if h.f64_opt(&k)?.unwrap_or(0.0) != 0.0 {
                        return Err(h.unsupported(format!("rotated WCS ({k} ≠ 0)")));
                    }
                }
            }
        }
        if h.f64_opt(&format!("CROTA{i}"))?.unwrap_or(0.0) != 0.0 {
            return Err(h.unsupported(format!("rotated WCS (CROTA{i} ≠ 0)")));
        }
        cdelt[i - 1] = match h.f64_opt(&format!("CD{i}_{i}"))? {
            Some(cd) => cd,
            None => {
                h.f64_req(&format!("CDELT{i}"))? * h.f64_opt(&format!("PC{i}_{i}"))?.unwrap_or(1.0)
            }
        };
        if cdelt[i - 1] == 0.0 {
            return Err(h.bad(&format!("CDELT{i}"), "0", "pixel scale must be non-zero"));
        }
    }
    for k in ["PV2_1", "PV2_2"] {
        if h.f64_opt(k)?.unwrap_or(0.0) != 0.0 {
            return Err(h.unsupported(format!("slant SIN projection ({k} ≠ 0)")));
        }
    }
    if let Some(lp) = h.f64_opt("LONPOLE")? {
        if (lp - 180.0).abs() > 1e-9 {
            return Err(h.bad(
                "LONPOLE",
                &lp.to_string(),
                "only LONPOLE = 180 is supported",
            ));
        }
    }
    if let Some(rs) = h.str_opt("RADESYS") {
        let u = rs.to_ascii_uppercase();
        if !u.is_empty() && u != "ICRS" && u != "FK5" {
            return Err(h.bad("RADESYS", &rs, "only ICRS and FK5 (J2000) are supported"));
        }
    }
    let wcs = SinWcs {
        crval_ra_deg: h.f64_req("CRVAL1")?.rem_euclid(360.0),
        crval_dec_deg: h.f64_req("CRVAL2")?,
        crpix1: h.f64_req("CRPIX1")?,
        crpix2: h.f64_req("CRPIX2")?,
        cdelt1_deg: cdelt[0],
        cdelt2_deg: cdelt[1],
    };
    let beam = match h.f64_opt("BMAJ")? {
        None => None,
        Some(bmaj_deg) => Some(Beam {
            bmaj_deg,
            bmin_deg: h.f64_req("BMIN")?,
            bpa_deg: h.f64_opt("BPA")?.unwrap_or(0.0),
        }),
    };
    let extra = h
        .order
        .iter()
        .filter(|k| !is_interpreted(k))
        .filter_map(|k| h.raw(k).map(|v| (k.clone(), parse_value(v))))
        .collect();
    let meta = ImageMeta {
        wcs,
        freq_hz,
        bandwidth_hz,
        beam,
        bunit: h.str_opt("BUNIT").unwrap_or_default(),
        date_obs: h.str_opt("DATE-OBS").unwrap_or_default(),
        telescope: h.str_opt("TELESCOP").unwrap_or_default(),
        object: h.str_opt("OBJECT").unwrap_or_default(),
        history: h.history.clone(),
        extra,
    };
    if !with_data {
        return Ok(FitsImage {
            nx,
            ny,
            data: Vec::new(),
            meta,
        });
    }
    let data: Vec<f32> = hdu
        .read_image(&mut f)
        .map_err(|source| FitsError::ReadData { path: pb(), source })?;
    if data.len() != nx * ny {
        return Err(FitsError::Shape {
            path: pb(),
            nx,
            ny,
            len: data.len(),
        });
    }
    Ok(FitsImage { nx, ny, data, meta })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse() {
        assert_eq!(parse_value("'JY/BEAM '"), KeyValue::Str("JY/BEAM".into()));
        assert_eq!(parse_value("'it''s'"), KeyValue::Str("it's".into()));
        assert_eq!(parse_value("T"), KeyValue::Bool(true));
        assert_eq!(parse_value("42"), KeyValue::Int(42));
        assert_eq!(parse_value("1.5D3"), KeyValue::Float(1500.0));
    }

    #[test]
    fn interpreted_keywords() {
        for k in [
            "CRVAL1", "NAXIS4", "PC1_2", "CD2_2", "PV2_1", "HISTORY", "BMAJ",
        ] {
            assert!(is_interpreted(k), "{k}");
        }
        for k in ["CRVALX", "PC1", "OBSERVER", "ORIGIN", "DATE"] {
            assert!(!is_interpreted(k), "{k}");
        }
    }
}
