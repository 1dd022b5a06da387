//! The calibrator catalogue: a built-in table of bright L-band calibrators
//! visible from OVRO (Dec > −30°) and a CSV loader that replaces it.
//!
//! Sources of the numbers (flux density at 1.4 GHz, spectral index α with
//! `S(ν) = S₁.₄ (ν / 1.4 GHz)^α`):
//! * **3C286, 3C48, 3C147, 3C138**: fluxes as given by the project (SPEC §5,
//!   Perley & Butler 2017 scale); α is the logarithmic slope at 1.4 GHz of the
//!   Perley & Butler (2017, ApJS 230, 7) polynomials.
//! * **3C295, 3C196, 3C123, 3C380**: flux and α from the Perley & Butler (2017)
//!   polynomials evaluated at 1.4 GHz (coefficients as recalled, not re-checked
//!   against the paper here: treat as ±3 %).
//! * the others: approximate NVSS (Condon et al. 1998) 1.4 GHz totals and
//!   typical VLA-calibrator-manual spectral indices, rounded; several are
//!   variable quasars (3C84, 3C273, 3C279, 3C345, 3C454.3: ±20 % or more over
//!   years) and are only fit for phase calibration or transit detection unless a
//!   CSV gives a current flux.
//!
//! Positions are J2000 (ICRS) in degrees from the VLA calibrator list /
//! NED to ~0.1″ (plenty for a 2.7° beam and arcminute-sized pixels).

use std::path::Path;

use serde::Serialize;

use crate::CalError;

/// Reference frequency of catalogue fluxes (Hz).
pub const REF_FREQ_HZ: f64 = 1.4e9;

/// One calibrator.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibrator {
    /// Name (e.g. `3C286`).
    pub name: String,
    /// J2000 right ascension (deg).
    pub ra_deg: f64,
    /// J2000 declination (deg).
    pub dec_deg: f64,
    /// Flux density at 1.4 GHz (Jy).
    pub flux_jy: f64,
    /// Spectral index α.
    pub spectral_index: f64,
}

impl Calibrator {
    /// Flux density (Jy) at `freq_hz`.
    pub fn flux_at_jy(&self, freq_hz: f64) -> f64 {
        self.flux_jy * (freq_hz / REF_FREQ_HZ).powf(self.spectral_index)
    }
}

/// A set of calibrators.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Catalog {
    /// The entries.
    pub sources: Vec<Calibrator>,
}

/// (name, RA deg, Dec deg, S1.4 Jy, α)
const BUILT_IN: &[(&str, f64, f64, f64, f64)] = &[
    // given by the project (Perley & Butler 2017 scale); α from P&B 2017 at 1.4 GHz
    ("3C286", 202.7845, 30.5092, 14.65, -0.50),
    ("3C48", 24.4220, 33.1597, 15.67, -0.81),
    ("3C147", 85.6505, 49.8520, 21.64, -0.75),
    ("3C138", 80.2912, 16.6394, 8.23, -0.54),
    // Perley & Butler 2017 polynomials at 1.4 GHz
    ("3C295", 212.8355, 52.2028, 22.5, -0.85),
    ("3C196", 123.4001, 48.2173, 14.4, -0.90),
    ("3C123", 69.2682, 29.6705, 48.3, -0.82),
    ("3C380", 277.3824, 48.7462, 13.1, -0.76),
    // approximate NVSS totals, typical α (several variable)
    ("3C84", 49.9507, 41.5117, 23.0, -0.10),
    ("3C273", 187.2779, 2.0524, 55.0, -0.25),
    ("3C279", 194.0465, -5.7893, 10.0, 0.00),
    ("3C345", 250.7450, 39.8103, 7.1, -0.10),
    ("3C454.3", 343.4906, 16.1482, 12.0, 0.00),
    ("3C309.1", 224.7816, 71.6722, 7.6, -0.60),
    ("3C216", 137.3896, 42.8963, 4.2, -0.80),
    ("3C418", 309.6543, 51.3202, 5.0, -0.60),
    ("3C161", 96.7920, -5.8847, 19.0, -0.70),
    ("3C111", 64.5887, 38.0266, 13.0, -0.75),
    ("J1800+7828", 270.1903, 78.4678, 2.2, 0.00),
];

impl Catalog {
    /// The built-in table (see the module docs for the provenance of each number).
    pub fn built_in() -> Self {
        Self {
            sources: BUILT_IN
                .iter()
                .map(
                    |&(name, ra_deg, dec_deg, flux_jy, spectral_index)| Calibrator {
                        name: name.to_string(),
                        ra_deg,
                        dec_deg,
                        flux_jy,
                        spectral_index,
                    },
                )
                .collect(),
        }
    }

    /// The entry named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Calibrator> {
        self.sources
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Load a CSV file with the header `name,ra_deg,dec_deg,flux_jy,spectral_index`
    /// (columns in any order, extra columns ignored; `#` lines and blank lines
    /// skipped). It replaces the built-in table. Errors name the file, the row
    /// (1-based line number) and the field.
    pub fn from_csv(path: &Path) -> Result<Self, CalError> {
        let text = std::fs::read_to_string(path).map_err(|source| CalError::CatalogIo {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_csv(&text, path)
    }

    /// Parse CSV text (see [`Catalog::from_csv`]); `path` is used in errors.
    pub fn parse_csv(text: &str, path: &Path) -> Result<Self, CalError> {
        let err = |row: usize, field: &str, reason: String| CalError::CatalogParse {
            path: path.to_path_buf(),
            row,
            field: field.to_string(),
            reason,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let Some((hrow, header)) = lines.next() else {
            return Err(err(
                1,
                "header",
                "empty file: header `name,ra_deg,dec_deg,flux_jy,spectral_index` required".into(),
            ));
        };
        let cols: Vec<String> = header
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        const FIELDS: [&str; 5] = ["name", "ra_deg", "dec_deg", "flux_jy", "spectral_index"];
        let mut idx = [0usize; 5];
        for (k, f) in FIELDS.iter().enumerate() {
            idx[k] = cols
                .iter()
                .position(|c| c == f)
                .ok_or_else(|| err(hrow, f, format!("missing from the header `{header}`")))?;
        }
        let mut sources = Vec::new();
        for (row, line) in lines {
            let vals: Vec<&str> = line.split(',').map(str::trim).collect();
            if vals.len() != cols.len() {
                return Err(err(
                    row,
                    "row",
                    format!("{} fields, the header has {}", vals.len(), cols.len()),
                ));
            }
            let name = vals[idx[0]];
            if name.is_empty() {
                return Err(err(row, "name", "empty".into()));
            }
            let num = |k: usize| -> Result<f64, CalError> {
                let s = vals[idx[k]];
                let v: f64 = s
                    .parse()
                    .map_err(|_| err(row, FIELDS[k], format!("`{s}` is not a number")))?;
                if !v.is_finite() {
                    return Err(err(row, FIELDS[k], format!("`{s}` is not finite")));
                }
                Ok(v)
            };
            let (ra, dec, flux, alpha) = (num(1)?, num(2)?, num(3)?, num(4)?);
            if !(0.0..360.0).contains(&ra) {
                return Err(err(row, "ra_deg", format!("{ra} not in [0, 360)")));
            }
            if !(-90.0..=90.0).contains(&dec) {
                return Err(err(row, "dec_deg", format!("{dec} not in [-90, 90]")));
            }
            if flux <= 0.0 {
                return Err(err(row, "flux_jy", format!("{flux} is not > 0")));
            }
            if alpha.abs() > 5.0 {
                return Err(err(
                    row,
                    "spectral_index",
                    format!("{alpha} is not in [-5, 5]"),
                ));
            }
            if sources.iter().any(|c: &Calibrator| c.name == name) {
                return Err(err(row, "name", format!("`{name}` listed twice")));
            }
            sources.push(Calibrator {
                name: name.to_string(),
                ra_deg: ra,
                dec_deg: dec,
                flux_jy: flux,
                spectral_index: alpha,
            });
        }
        if sources.is_empty() {
            return Err(err(hrow, "row", "no calibrators after the header".into()));
        }
        Ok(Self { sources })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_has_the_required_entries_and_all_visible() {
        let c = Catalog::built_in();
        assert!(c.sources.len() >= 16);
        for (n, ra, dec, s) in [
            ("3C286", 202.7845, 30.5092, 14.65),
            ("3C48", 24.4220, 33.1597, 15.67),
            ("3C147", 85.6505, 49.8520, 21.64),
            ("3C138", 80.2912, 16.6394, 8.23),
        ] {
            let e = c.get(n).unwrap();
            assert_eq!((e.ra_deg, e.dec_deg, e.flux_jy), (ra, dec, s));
        }
        assert!(c.sources.iter().all(|s| s.dec_deg > -30.0));
        let e = c.get("3c286").unwrap();
        assert!((e.flux_at_jy(1.4e9) - 14.65).abs() < 1e-12);
        assert!(e.flux_at_jy(2.8e9) < 14.65);
    }
}
