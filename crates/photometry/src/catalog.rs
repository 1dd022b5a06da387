//! The source catalogue: a CSV with a header line naming at least `name,ra_deg,dec_deg,flux_mjy`
//! (any order, case-insensitive; further columns are kept as text in [`Source::extra`]).
//! Blank lines and lines starting with `#` are ignored; fields may be double-quoted (`""`
//! inside quotes is a literal quote).
//!
//! A row is bad when it has the wrong number of fields, an empty name, a non-numeric or
//! non-finite coordinate or flux, or a declination outside [−90, 90]. With
//! [`BadRowPolicy::Error`] the first bad row is an error naming its line and field; with
//! [`BadRowPolicy::Skip`] bad rows are skipped and returned in [`Catalog::skipped`] (so the
//! caller can log each one). RA is normalised to [0, 360).

use std::path::{Path, PathBuf};

use crate::PhotError;

/// One catalogue source.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    pub name: String,
    pub ra_deg: f64,
    pub dec_deg: f64,
    /// Catalogue flux density, mJy.
    pub flux_mjy: f64,
    /// Other columns, `(header name, text)`, in file order.
    pub extra: Vec<(String, String)>,
}

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadRowPolicy {
    /// The first bad row fails the whole read.
    #[default]
    Error,
    /// Bad rows are skipped and reported in [`Catalog::skipped`].
    Skip,
}

/// A parsed catalogue.
#[derive(Debug, Default)]
pub struct Catalog {
    pub sources: Vec<Source>,
    /// The rows skipped under [`BadRowPolicy::Skip`], each a [`PhotError::CatalogRow`].
    pub skipped: Vec<PhotError>,
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_q) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => in_q = !in_q,
            (',', false) => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Read a catalogue file.
pub fn read_catalog(path: impl AsRef<Path>, policy: BadRowPolicy) -> Result<Catalog, PhotError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| PhotError::CatalogIo {
        path: path.to_path_buf(),
        source,
    })?;
    parse_catalog(&text, path, policy)
}

/// Parse catalogue text; `path` only names the source in errors.
pub fn parse_catalog(text: &str, path: &Path, policy: BadRowPolicy) -> Result<Catalog, PhotError> {
    let pb = || PathBuf::from(path);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((_, header)) = lines.next() else {
        return Err(PhotError::CatalogEmpty { path: pb() });
    };
    let cols: Vec<String> = split_csv(header)
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let find = |name: &str| {
        cols.iter()
            .position(|c| c == name)
            .ok_or_else(|| PhotError::CatalogHeader {
                path: pb(),
                column: name.to_string(),
            })
    };
    let (i_name, i_ra, i_dec, i_flux) = (
        find("name")?,
        find("ra_deg")?,
        find("dec_deg")?,
        find("flux_mjy")?,
    );
    let mut cat = Catalog::default();
    for (line, l) in lines {
        let f = split_csv(l);
        let bad = |field: &str, value: &str, reason: &str| PhotError::CatalogRow {
            path: pb(),
            line,
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let parsed = (|| {
            if f.len() != cols.len() {
                return Err(bad(
                    "(row)",
                    l,
                    &format!("has {} fields, the header has {}", f.len(), cols.len()),
                ));
            }
            let num = |i: usize| -> Result<f64, PhotError> {
                match f[i].parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    _ => Err(bad(&cols[i], &f[i], "is not a finite number")),
                }
            };
            if f[i_name].is_empty() {
                return Err(bad("name", "", "is empty"));
            }
            let ra = num(i_ra)?;
            let dec = num(i_dec)?;
            if !(-90.0..=90.0).contains(&dec) {
                return Err(bad("dec_deg", &f[i_dec], "is outside [-90, 90]"));
            }
            let flux = num(i_flux)?;
            let extra = cols
                .iter()
                .enumerate()
                .filter(|(i, _)| ![i_name, i_ra, i_dec, i_flux].contains(i))
                .map(|(i, c)| (c.clone(), f[i].clone()))
                .collect();
            Ok(Source {
                name: f[i_name].clone(),
                ra_deg: ra.rem_euclid(360.0),
                dec_deg: dec,
                flux_mjy: flux,
                extra,
            })
        })();
        match (parsed, policy) {
            (Ok(s), _) => cat.sources.push(s),
            (Err(e), BadRowPolicy::Error) => return Err(e),
            (Err(e), BadRowPolicy::Skip) => cat.skipped.push(e),
        }
    }
    if cat.sources.is_empty() && cat.skipped.is_empty() {
        return Err(PhotError::CatalogEmpty { path: pb() });
    }
    Ok(cat)
}

/// Write a catalogue (`name,ra_deg,dec_deg,flux_mjy` plus the extra columns of the first
/// source), e.g. the simulator's sky, so that tests and the pipeline agree.
pub fn write_catalog(path: impl AsRef<Path>, sources: &[Source]) -> Result<(), PhotError> {
    let path = path.as_ref();
    let quote = |s: &str| {
        if s.contains([',', '"']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let extra_cols: Vec<String> = sources
        .first()
        .map(|s| s.extra.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut out = String::from("name,ra_deg,dec_deg,flux_mjy");
    for c in &extra_cols {
        out.push(',');
        out.push_str(&quote(c));
    }
    out.push('\n');
    for s in sources {
        out.push_str(&format!(
            "{},{:.9},{:.9},{}",
            quote(&s.name),
            s.ra_deg,
            s.dec_deg,
            s.flux_mjy
        ));
        for c in &extra_cols {
            let v = s
                .extra
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            out.push(',');
            out.push_str(&quote(v));
        }
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|source| PhotError::CatalogIo {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_split() {
        assert_eq!(
            split_csv(r#"a,"b, c","d""e",f"#),
            vec!["a", "b, c", "d\"e", "f"]
        );
    }
}
